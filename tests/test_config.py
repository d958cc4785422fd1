import json
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from tzoo.config import apply_overrides, from_dict, parse_override_args, to_dict
from tzoo.errors import TzooError


@dataclass
class Inner:
    depth: int = 2
    rate: float = 0.1
    name: Optional[str] = None
    flag: bool = False
    kind: Literal["a", "b"] = "a"

    def validate(self):
        if self.depth < 1:
            raise ValueError(f"depth: must be >= 1, got {self.depth}")


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    steps: int = 10


def test_parse_forms():
    assert parse_override_args(["--a.b=1", "--c", "x=y"]) == {"a.b": "1", "c": "x=y"}
    with pytest.raises(TzooError, match="needs a value"):
        parse_override_args(["--a"])
    with pytest.raises(TzooError, match="unexpected argument"):
        parse_override_args(["stray"])


def test_types_are_checked():
    cfg = apply_overrides(Outer(), {"inner.depth": "4", "inner.rate": "1e-3", "inner.flag": "true",
                                    "inner.kind": "b", "inner.name": "x", "steps": "1_000"})
    assert cfg.inner == Inner(4, 1e-3, "x", True, "b") and cfg.steps == 1000
    assert apply_overrides(cfg, {"inner.name": "none"}).inner.name is None
    for key, bad in [("inner.depth", "1.5"), ("inner.rate", "fast"), ("inner.flag", "maybe"),
                     ("inner.kind", "c"), ("inner.rate", "nan")]:
        with pytest.raises(TzooError, match=f"--{key}="):
            apply_overrides(Outer(), {key: bad})


def test_unknown_key_lists_valid_keys():
    with pytest.raises(TzooError) as e:
        apply_overrides(Outer(), {"inner.dept": "3"})
    assert "--inner.dept" in str(e.value) and "inner.depth" in str(e.value) and "steps" in str(e.value)


def test_validation_names_the_key():
    with pytest.raises(TzooError, match="--inner.depth: must be >= 1"):
        apply_overrides(Outer(), {"inner.depth": "0"})


def test_json_round_trip_and_damaged_json():
    cfg = apply_overrides(Outer(), {"inner.depth": "5", "inner.kind": "b"})
    again = from_dict(Outer(), json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg
    with pytest.raises(TzooError, match="config.json"):
        from_dict(Outer(), {"inner": {"depth": "deep"}}, source="config.json")
    with pytest.raises(TzooError, match="config.json"):
        from_dict(Outer(), {"inner": {"depth": True}}, source="config.json")
