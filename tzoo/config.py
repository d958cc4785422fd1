"""Typed dataclass configs: dotted `--key=value` overrides checked for existence and type,
and a JSON round trip for the run directory."""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import types
from typing import Any, Iterable, Literal, Optional, Union, get_args, get_origin, get_type_hints

from .errors import TzooError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


def parse_override_args(args: Iterable[str]) -> dict[str, str]:
    """`["--a.b=1", "--c", "2"]` -> {"a.b": "1", "c": "2"}."""
    out: dict[str, str] = {}
    args = list(args)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise TzooError(f"unexpected argument {arg!r}: overrides look like --section.key=value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise TzooError(f"--{key} needs a value: write --{key}=VALUE")
            i += 1
            value = args[i]
        out[key] = value
        i += 1
    return out


def flat_fields(cfg: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Every leaf key of a nested config: dotted name -> (type, current value)."""
    out: dict[str, tuple[Any, Any]] = {}
    hints = get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value):
            out.update(flat_fields(value, name + "."))
        else:
            out[name] = (hints[f.name], value)
    return out


def _type_name(tp: Any) -> str:
    if _is_list(tp):
        return f"comma-separated list of {_type_name(get_args(tp)[0])}"
    if get_origin(tp) is Literal:
        return "one of " + "|".join(str(a) for a in get_args(tp))
    if _is_optional(tp):
        return _type_name(_strip_optional(tp)) + " or none"
    return getattr(tp, "__name__", str(tp))


def _is_optional(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)


def _is_list(tp: Any) -> bool:
    """tuple[X, ...]: a list-valued key (tuples keep configs immutable and hashable)."""
    return get_origin(tp) is tuple and len(get_args(tp)) == 2 and get_args(tp)[1] is Ellipsis


def _strip_optional(tp: Any) -> Any:
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0]


def coerce(key: str, tp: Any, raw: Any) -> Any:
    """Convert a string (from the command line) or JSON value to `tp`, or raise TzooError."""
    text = str(raw).strip()
    if _is_optional(tp):
        if raw is None or text.lower() in _NONE:
            return None
        tp = _strip_optional(tp)
    bad = TzooError(f"--{key}={raw!r} is not a valid {_type_name(tp)}")
    if _is_list(tp):
        items = raw if isinstance(raw, (list, tuple)) else [p for p in text.split(",") if p.strip()]
        if not items and not isinstance(raw, (list, tuple)):  # an empty list from config.json is fine
            raise TzooError(f"--{key}={raw!r}: give at least one value, separated by commas")
        return tuple(coerce(key, get_args(tp)[0], item) for item in items)
    if get_origin(tp) is Literal:
        choices = get_args(tp)
        for c in choices:
            if text == str(c):
                return c
        raise bad
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise bad
    if tp is int:
        if isinstance(raw, bool):
            raise bad
        if isinstance(raw, int):
            return raw
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise bad from None
    if tp is float:
        if isinstance(raw, bool):
            raise bad
        try:
            value = float(raw) if isinstance(raw, (int, float)) else float(text)
        except ValueError:
            raise bad from None
        if value != value or value in (float("inf"), float("-inf")):
            raise TzooError(f"--{key}={raw!r}: must be a finite number")
        return value
    if tp is str:
        if not isinstance(raw, str):
            raise bad
        return raw
    raise TypeError(f"config field {key} has unsupported type {tp}")


def nearest_key(key: str, keys: Iterable[str]) -> Optional[str]:
    """The valid key `key` was most likely meant to be (difflib), matched whole or by its last part."""
    keys = list(keys)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if close:
        return close[0]
    last = key.rsplit(".", 1)[-1]
    by_last = {k.rsplit(".", 1)[-1]: k for k in reversed(keys)}  # the first section's key wins a tie
    close = difflib.get_close_matches(last, list(by_last), n=1, cutoff=0.75)
    return by_last[close[0]] if close else None


def apply_overrides(cfg: Any, overrides: dict[str, Any], check: bool = True) -> Any:
    """Return a copy of `cfg` with dotted overrides applied, type-checked and (unless `check` is
    False, when more overrides follow) validated."""
    fields = flat_fields(cfg)
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        near = nearest_key(unknown[0], fields)
        hint = f"did you mean --{near}? " if near else ""
        raise TzooError(f"unknown config key --{unknown[0]}; {hint}valid keys: {', '.join(sorted(fields))}")
    for key, raw in overrides.items():
        cfg = _replace(cfg, key.split("."), coerce(key, fields[key][0], raw))
    if check:
        validate(cfg)
    return cfg


def _replace(cfg: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return dataclasses.replace(cfg, **{path[0]: value})
    child = getattr(cfg, path[0])
    return dataclasses.replace(cfg, **{path[0]: _replace(child, path[1:], value)})


def validate(cfg: Any, prefix: str = "") -> None:
    """Run every section's `validate()`; its ValueError('field: why') becomes a TzooError naming the key."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, prefix + f.name + ".")
    check = getattr(cfg, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as e:
            raise TzooError(f"--{prefix}{e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict, ready for JSON."""
    return dataclasses.asdict(cfg)


def from_dict(default: Any, data: dict[str, Any], source: str = "config") -> Any:
    """Rebuild a config of the same class as `default` from `to_dict` output (checked)."""
    flat: dict[str, Any] = {}

    def walk(d: Any, prefix: str) -> None:
        if not isinstance(d, dict):
            raise TzooError(f"{source}: section {prefix.rstrip('.') or '<top>'} must be an object")
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, prefix + k + ".")
            else:
                flat[prefix + k] = v

    walk(data, "")
    try:
        return apply_overrides(default, flat)
    except TzooError as e:
        raise TzooError(f"{source}: {e}") from None


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> one-line description, from the `Attributes:` sections of the docstrings of a
    dataclass and its bases (Google style: `name: text`, continuation lines indented deeper)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's description wins
        out.update(_attributes(inspect.getdoc(klass) if klass.__doc__ else ""))
    return out


def _attributes(doc: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = doc.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Attributes:"]
    if not starts:
        return out
    section = _indent(lines[starts[0]])
    entry_indent, names = None, []
    for line in lines[starts[0] + 1:]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= section:
            break
        entry_indent = indent if entry_indent is None else entry_indent
        m = re.match(r"(\w+(?:\s*,\s*\w+)*)\s*(?:\([^)]*\))?:\s*(.*)", line.strip())
        if indent == entry_indent and m:  # `name: text` or `a, b: text` (one text for several fields)
            names = [n.strip() for n in m.group(1).split(",")]
            out.update({n: m.group(2) for n in names})
        elif names:
            out.update({n: f"{out[n]} {line.strip()}".strip() for n in names})
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def flat_docs(cfg: Any, prefix: str = "") -> dict[str, str]:
    """Every leaf key of a nested config: dotted name -> its description ("" where none is written)."""
    out: dict[str, str] = {}
    docs = field_docs(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flat_docs(value, prefix + f.name + "."))
        else:
            out[prefix + f.name] = docs.get(f.name, "")
    return out


def describe(cfg: Any) -> list[str]:
    """One line per key for --help: `--key=value  (type)  description`, in aligned columns."""
    def show(v: Any) -> str:
        if isinstance(v, str) and not v.isprintable():
            return repr(v)
        return ",".join(str(x) for x in v) if isinstance(v, tuple) else str(v)
    docs = flat_docs(cfg)
    rows = [(f"--{k}={show(v)}", f"({_type_name(tp)})", docs[k]) for k, (tp, v) in flat_fields(cfg).items()]
    w1 = min(max(len(r[0]) for r in rows), 36)
    w2 = min(max(len(r[1]) for r in rows), 24)
    return [f"{a:<{w1}}  {b:<{w2}}  {c}".rstrip() for a, b, c in rows]


__all__ = ["apply_overrides", "coerce", "describe", "field_docs", "flat_docs", "flat_fields", "from_dict",
           "nearest_key", "parse_override_args", "to_dict", "validate"]
