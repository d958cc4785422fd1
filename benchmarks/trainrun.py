"""Shared by the benchmarks: train a recipe in this process into a kept run directory, reusing a
finished run only when it was trained with the same config."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Optional


def digest_of(stored: dict) -> str:
    """A short digest of a config in config.json form."""
    return hashlib.sha1(json.dumps(stored, sort_keys=True).encode()).hexdigest()[:8]


def config_digest(cfg: Any) -> tuple[dict, str]:
    """(the config as config.json holds it, its digest)."""
    from tzoo.config import to_dict

    wanted = json.loads(json.dumps(to_dict(cfg)))  # tuples become lists, as in config.json
    return wanted, digest_of(wanted)


def finished_run(out: Path, cfg: Any) -> Optional[dict]:
    """metrics.json of the run in `out` if it finished all of `cfg.loop.max_steps` with exactly `cfg`
    (equal config digest), else None."""
    from tzoo.recipes.rundir import CONFIG, METRICS
    from tzoo.storage import read_json

    if not ((out / METRICS).is_file() and (out / CONFIG).is_file()):
        return None
    stored = read_json(out / CONFIG, "config").get("config")
    if not isinstance(stored, dict) or digest_of(stored) != config_digest(cfg)[1]:
        return None
    metrics = read_json(out / METRICS, "metrics")
    return metrics if metrics.get("step") == cfg.loop.max_steps else None


def recipe_config(recipe: str, args: list[str]) -> Any:
    """The config `tzoo train RECIPE ARGS` trains with (first preset unless --preset, then the overrides)."""
    from tzoo.config import apply_overrides, parse_override_args
    from tzoo.recipes import get_recipe

    r = get_recipe(recipe)
    overrides = parse_override_args(args)
    preset = overrides.pop("preset", None) or next(iter(r.presets))
    return apply_overrides(r.presets[preset](), overrides)


def resumable_run(out: Path, cfg: Any) -> bool:
    """True when `out` holds an unfinished run of exactly `cfg` (equal digest) with a checkpoint."""
    from tzoo.recipes.rundir import CONFIG, STATE
    from tzoo.storage import read_json

    if not ((out / CONFIG).is_file() and (out / STATE).is_dir()):
        return False
    stored = read_json(out / CONFIG, "config").get("config")
    return isinstance(stored, dict) and digest_of(stored) == config_digest(cfg)[1]


def train_run(recipe: str, out: Path, args: list[str], resume: bool = False) -> tuple[dict, float]:
    """`tzoo train RECIPE --out OUT ARGS` in this process; (metrics.json, wall seconds).

    A finished run of the same config (equal digest, every step done) is reused, with wall seconds
    NaN. With `resume`, an unfinished run of the same config continues from its last checkpoint;
    any other folder at `out` (unfinished, or trained with other settings) is removed and the run
    trained again from scratch.
    """
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.cli import main

    cfg = recipe_config(recipe, args)
    metrics = finished_run(out, cfg)
    if metrics is not None:
        print(f"[reuse] {out}", flush=True)
        return metrics, float("nan")
    command = ["train", recipe, "--out", str(out), *args]
    if resume and resumable_run(out, cfg):
        print(f"[resume] {out}", flush=True)
        command = ["train", "--resume", str(out)]
    elif out.exists():
        print(f"[retrain] {out}: unfinished or trained with another config", flush=True)
        shutil.rmtree(out)
    began = time.perf_counter()
    code = main(command)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    if code != 0:
        raise SystemExit(f"training {out} failed with exit status {code}")
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - began
