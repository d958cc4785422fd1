"""Splits: the data's own when present, else seeded, stratified carves from train, and a record of which."""
import pytest
import torch

from tzoo.errors import TzooError
from tzoo.modalities.carve import settle_splits
from tzoo.modalities.table import FileRows, Table


def table(labels, origin="train folder", names=("a", "b", "c")):
    rows = FileRows(tuple(f"{origin}/{i}.png" for i in range(len(labels))))
    return Table("image", rows, torch.tensor(labels), list(names), origin)


def test_carves_disjoint_stratified_fixed_splits_and_records_them():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    splits, record = settle_splits({"train": table(labels)}, 0.1, 0.2, seed=3)
    names = {s: {t.name(i) for i in range(len(t))} for s, t in splits.items()}
    assert not names["train"] & names["validation"] and not names["train"] & names["test"]
    assert not names["validation"] & names["test"]
    assert len(names["train"] | names["validation"] | names["test"]) == 100
    assert splits["test"].class_counts().tolist() == [10, 6, 4]  # 20% of each class
    assert splits["validation"].class_counts().tolist() == [4, 2, 2]  # 10% of the 80 left, by largest remainder
    assert record == {"train": {"size": 72, "from": "train folder, less the carved validation and test rows"},
                      "validation": {"size": 8, "from": "carved 10% of train, seed 3, stratified"},
                      "test": {"size": 20, "from": "carved 20% of train, seed 3, stratified"}}
    again, _ = settle_splits({"train": table(labels)}, 0.1, 0.2, seed=3)
    assert [again["validation"].name(i) for i in range(8)] == [splits["validation"].name(i) for i in range(8)]
    other, _ = settle_splits({"train": table(labels)}, 0.1, 0.2, seed=4)
    assert {other["test"].name(i) for i in range(20)} != names["test"]


def test_the_datas_own_splits_are_kept():
    splits, record = settle_splits({"train": table([0, 1] * 5), "validation": table([0, 1], "validation folder"),
                                    "test": table([1, 0, 1], "test folder")})
    assert [len(t) for t in splits.values()] == [10, 2, 3]
    assert record["validation"]["from"] == "validation folder" and record["train"]["from"] == "train folder"


def test_zero_fraction_leaves_the_split_out():
    splits, record = settle_splits({"train": table([0, 1] * 5)}, 0.2, 0.0)
    assert list(splits) == ["train", "validation"] and record["train"]["from"] == "train folder, less the carved validation rows"


def test_a_test_class_the_training_split_lacks():
    with pytest.raises(TzooError, match=r"test folder: the test split holds classes \['c'\] that the training split lacks"):
        settle_splits({"train": table([0, 1, 0, 1]), "test": table([2, 0], "test folder")})


def test_too_few_rows_to_carve():
    with pytest.raises(TzooError, match="too few"):
        settle_splits({"train": table([0])}, 0.5, 0.0)
