"""The run directory: config.json, model.safetensors, metrics.json, log.jsonl, *.png, state/."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import to_dict
from ..errors import TzooError
from ..storage import read_json, write_json, write_text

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.json"
LOG = "log.jsonl"
STATE = "state"
# Files a run writes before its first checkpoint; a fresh run refuses a folder that holds any of them,
# so it never silently reuses another run's codec or class names.
ARTEFACTS = ("vocab.json", "tokenizer.json", "classes.json", "state_stats.json", "tasks", WEIGHTS, LOG, STATE)


class RunDir:
    """A folder holding one training run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run, or a one-line error if `path` is not one."""
        run = cls(path)
        if not run.path.is_dir():
            raise TzooError(f"{run.path}: no such run directory; pass the --out folder of a `tzoo train` run")
        if not (run / CONFIG).is_file():
            raise TzooError(f"{run.path}: not a tzoo run directory (no {CONFIG}); "
                            "pass the --out folder of a `tzoo train` run")
        return run

    def check_new(self) -> None:
        """Refuse to start a fresh run on top of an existing one."""
        if (self / CONFIG).exists():
            raise TzooError(f"{self.path} already holds a run; continue it with "
                            f"`tzoo train --resume {self.path}` or pass another --out")
        if self.path.exists() and not self.path.is_dir():
            raise TzooError(f"{self.path}: exists and is not a directory; pass another --out")
        stale = [name for name in ARTEFACTS if (self / name).exists()]
        if stale:
            raise TzooError(f"{self / stale[0]}: left by an earlier run; a new run needs a folder without it "
                            "(pass another --out or remove the file)")

    def save_config(self, recipe: str, cfg: Any) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self / CONFIG, {"recipe": recipe, "tzoo_version": __version__, "config": to_dict(cfg)})

    def load_config(self) -> tuple[str, dict]:
        """(recipe name, config dict) as saved."""
        data = read_json(self / CONFIG, "run config")
        if not isinstance(data, dict) or not isinstance(data.get("recipe"), str) \
                or not isinstance(data.get("config"), dict):
            raise TzooError(f"{self / CONFIG}: expected keys 'recipe' (string) and 'config' (object)")
        return data["recipe"], data["config"]

    def save_metrics(self, metrics: dict) -> None:
        write_json(self / METRICS, metrics)

    def append_log(self, record: dict) -> None:
        """Add one record; the file is rewritten atomically (it holds one line per evaluation)."""
        lines = [json.dumps(r) for r in self.read_log()] + [json.dumps(record)]
        write_text(self / LOG, "".join(line + "\n" for line in lines))

    def save_json(self, name: str, obj: Any) -> None:
        """An artefact of the run (class names, statistics) as JSON, written atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self / name, obj)

    def load_json(self, name: str, what: str) -> Any:
        return read_json(self / name, what)

    def read_log(self) -> list[dict]:
        """Every complete record of log.jsonl (a torn last line from a crash is dropped)."""
        path = self / LOG
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_log(self, step: int) -> None:
        """Drop records after `step` (used on resume, so the log matches the checkpoint)."""
        kept = [r for r in self.read_log() if r.get("step", 0) <= step]
        write_text(self / LOG, "".join(json.dumps(r) + "\n" for r in kept))
