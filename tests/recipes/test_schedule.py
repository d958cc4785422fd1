"""The multi-task schedule: proportions, determinism, each task's own batch order."""
from __future__ import annotations

import pytest
import torch

from tzoo.recipes.schedule import MixedBatches, TaskSchedule


def test_proportions_follow_the_weights():
    s = TaskSchedule(["a", "b", "c"], [1.0, 2.0, 5.0], seed=3)
    n = 40_000
    counts = s.draws(n)
    for name, w in zip("abc", (1, 2, 5)):
        assert counts[name] / n == pytest.approx(w / 8, abs=0.01)


def test_same_seed_same_schedule_and_longer_runs_extend_it():
    a, b = TaskSchedule(["x", "y"], [1, 1], 7), TaskSchedule(["x", "y"], [1, 1], 7)
    late = [b.at(i) for i in range(9000, 9010)]  # drawing far ahead first does not change anything
    assert [a.at(i) for i in range(9000, 9010)] == late
    assert [a.at(i) for i in range(50)] == [b.at(i) for i in range(50)]
    other = TaskSchedule(["x", "y"], [1, 1], 8)
    assert [a.at(i)[0] for i in range(200)] != [other.at(i)[0] for i in range(200)]


def test_each_task_reads_its_batches_in_order():
    s = TaskSchedule(["x", "y"], [1, 3], 0)
    seen: dict[str, list[int]] = {"x": [], "y": []}
    for i in range(500):
        name, k = s.at(i)
        seen[name].append(k)
    for ks in seen.values():
        assert ks == list(range(len(ks)))


class Counting:
    unit = "things"

    def __init__(self, tag: int) -> None:
        self.tag = tag

    def batch(self, index, rank=0, world=1):
        return {"x": torch.full((2,), self.tag * 1000 + index)}

    def items(self, batch):
        return 2 * self.tag


def test_mixed_batches_name_their_task():
    s = TaskSchedule(["one", "two"], [1, 1], 0)
    mixed = MixedBatches({"one": Counting(1), "two": Counting(2)}, s)
    for i in range(20):
        b = mixed.batch(i)
        name, k = s.at(i)
        assert b["task"] == name
        assert int(b["x"][0]) == (1 if name == "one" else 2) * 1000 + k
        assert mixed.items(b) == (2 if name == "one" else 4)


@pytest.mark.parametrize("weights", [[1, 0], [1, -1]])
def test_weights_must_be_positive(weights):
    with pytest.raises(ValueError, match="> 0"):
        TaskSchedule(["a", "b"], weights, 0)
