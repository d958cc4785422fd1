"""--data.train_fraction: a fixed, class-stratified part of a training split."""
import pytest
import torch

from tzoo.errors import TzooError
from tzoo.modalities.splits import fraction_rows


def test_a_training_fraction_is_stratified_and_fixed_by_its_seed():
    labels = torch.arange(1000) % 4
    labels[:100] = 0  # unequal classes
    rows = fraction_rows(labels, 0.1, seed=0)
    assert len(rows) == 100 and len(set(rows.tolist())) == 100
    for c in range(4):  # each class keeps its share
        assert (labels[rows] == c).sum().item() == pytest.approx((labels == c).sum().item() / 10, abs=1)
    assert torch.equal(rows, fraction_rows(labels, 0.1, seed=0))
    assert not torch.equal(rows, fraction_rows(labels, 0.1, seed=1))
    assert torch.equal(fraction_rows(labels, 1.0), torch.arange(1000))
    with pytest.raises(TzooError, match="train_fraction"):
        fraction_rows(labels, 0.0001)
