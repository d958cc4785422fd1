"""Config files for `tzoo train --config FILE`: YAML or JSON, nested sections or dotted keys.

A run's own config.json ({"recipe", "tzoo_version", "config"}) is one too: it names its recipe
and holds every key, so training from it rebuilds the run's configuration exactly.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from .errors import TzooError

META = ("recipe", "tzoo_version")  # top-level keys that are not config keys


def read_config_file(path: str | Path) -> tuple[Optional[str], dict[str, Any]]:
    """(the recipe the file names, or None; its settings as dotted key -> value), or a one-line
    error naming the file (and the key) for a missing, unparsable or misshapen file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TzooError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TzooError(f"{path}: cannot read the config file ({e})") from None
    data = _parse(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TzooError(f"{path}: a config file holds a mapping of keys (sections or dotted keys), "
                        f"not a {type(data).__name__}")
    recipe = data.get("recipe")
    if recipe is not None and not isinstance(recipe, str):
        raise TzooError(f"{path}: recipe: must be a recipe name (see `tzoo list`), got {recipe!r}")
    if isinstance(data.get("config"), dict):  # a run's config.json
        extra = sorted(set(data) - {*META, "config"})
        if extra:
            raise TzooError(f"{path}: unknown top-level key {extra[0]!r} beside 'config' "
                            "(a run's config.json holds recipe, tzoo_version and config)")
        body = data["config"]
    else:
        body = {k: v for k, v in data.items() if k not in META}
    return recipe, flatten(body, path)


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise TzooError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise TzooError(f"{path}: not valid YAML or JSON ({where}{problem})") from None


def flatten(body: dict, path: Path, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c.d": 2} -> {"a.b": 1, "c.d": 2}; a key given twice is an error."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str) or not key:
            raise TzooError(f"{path}: key {key!r} under {prefix.rstrip('.') or 'the top level'} must be a name")
        name = prefix + key
        items = flatten(value, path, name + ".") if isinstance(value, dict) else {name: value}
        for k, v in items.items():
            if k in out:
                raise TzooError(f"{path}: {k} is given twice")
            out[k] = v
    return out


__all__ = ["read_config_file", "flatten"]
