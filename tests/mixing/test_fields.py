"""FieldTokenizer: one FIELD token per field, position = field index, missing values masked."""
import math

import pytest
import torch

from tzoo.errors import TzooError
from tzoo.tokenizers.fields import FieldSpec, FieldTokenizer
from tzoo.tokenizers.types import FIELD

SPECS = [FieldSpec("speed", "scalar", mean=10.0, std=5.0), ("colour", "categorical", 4), {"name": "age"}]


def values(b=3):
    return {"speed": torch.tensor([5.0, math.nan, 20.0])[:b], "colour": torch.tensor([0, 3, -1])[:b],
            "age": torch.tensor([1.0, 2.0, 3.0])[:b]}


def test_shapes_types_positions_and_missing_values():
    tok = FieldTokenizer(SPECS, 8)
    assert tok.type_ids == (FIELD,) and tok.names == ["speed", "colour", "age"]
    out = tok(**values())
    assert out.embeds.shape == (3, 3, 8) and torch.isfinite(out.embeds).all()
    assert (out.type_ids == FIELD).all() and out.positions.tolist() == [[0, 1, 2]]
    assert out.mask.tolist() == [[True, True, True], [False, True, True], [True, False, True]]  # NaN, -1


def test_present_as_mapping_or_tensor():
    tok = FieldTokenizer(SPECS, 8)
    by_name = tok(present={"age": torch.tensor([True, False, True])}, **values())
    assert by_name.mask[:, 2].tolist() == [True, False, True] and by_name.mask[0].all()
    table = torch.tensor([[False, True, True]] * 3)
    assert not tok(present=table, **values()).mask[:, 0].any()


def test_a_missing_value_does_not_leak_and_present_ones_matter():
    tok = FieldTokenizer(SPECS, 8)
    a, b = values(), values()
    b["speed"] = torch.tensor([5.0, 123.0, 20.0])
    absent = {"speed": torch.tensor([True, False, True])}
    assert torch.equal(tok(present=absent, **values()).embeds, tok(present=absent, **b).embeds)
    a["colour"] = torch.tensor([1, 3, -1])
    assert not torch.equal(tok(**a).embeds[0, 1], tok(**values()).embeds[0, 1])


def test_bad_inputs_are_errors():
    tok = FieldTokenizer(SPECS, 8)
    with pytest.raises(TzooError, match="no values for 'age'"):
        tok(speed=torch.zeros(2), colour=torch.zeros(2, dtype=torch.long))
    with pytest.raises(TzooError, match="unknown field 'size'"):
        tok(size=torch.zeros(3), **values())
    with pytest.raises(TzooError, match="num_categories=4"):
        tok(**{**values(), "colour": torch.tensor([0, 4, 1])})
    with pytest.raises(TzooError, match="categorical field needs num_categories"):
        FieldTokenizer([("c", "categorical")], 8)
    with pytest.raises(TzooError, match="unique names"):
        FieldTokenizer([("a", "scalar"), ("a", "scalar")], 8)
