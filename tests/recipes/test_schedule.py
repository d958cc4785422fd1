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


def test_spread_schedule_trains_exact_counts_each_in_order_and_evenly():
    from tzoo.recipes.schedule import SpreadSchedule

    counts = {"a": 20, "b": 70, "c": 60}
    s = SpreadSchedule(list(counts), list(counts.values()))
    total = sum(counts.values())
    assert s.draws(total) == counts
    seen: dict[str, list[int]] = {n: [] for n in counts}
    for i in range(total):
        name, k = s.at(i)
        seen[name].append(k)
        assert abs((k + 0.5) / counts[name] - (i + 0.5) / total) < 0.05  # k-th batch at the run's same fraction
    assert all(ks == list(range(counts[n])) for n, ks in seen.items())
    with pytest.raises(IndexError):
        s.at(total)


def test_own_learning_rate_follows_each_task_s_recipe_schedule_at_its_own_budget():
    from dataclasses import replace

    from tzoo.config import apply_overrides, parse_override_args
    from tzoo.recipes import get_recipe
    from tzoo.recipes.multitask import AUTO_WARMUP, MULTITASK, make_schedule, own_lr
    from tzoo.recipes.optim import lr_at

    cfg = apply_overrides(MULTITASK.default(), parse_override_args(
        ["--tasks.names=char-lm,dt", "--tasks.batches=char-lm:100,dt:450", "--loop.max_steps=550", "--tasks.lr=own"]))
    schedule = make_schedule(cfg.tasks, cfg.loop.seed)
    lr_of = own_lr(cfg, schedule, schedule.draws(550))
    for name, n in (("char-lm", 100), ("dt", 450)):
        default = get_recipe(name).default()
        optim, steps = default.optim, default.loop.max_steps
        share = AUTO_WARMUP if optim.warmup_steps is None or not steps else optim.warmup_steps / steps  # dt: auto
        warm = replace(optim, warmup_steps=round(share * n))
        got = {k: lr_of(i) for i in range(550) for t, k in [schedule.at(i)] if t == name}
        assert sorted(got) == list(range(n))
        assert all(got[k] == lr_at(k, warm, n) for k in got)
        assert max(got.values()) == pytest.approx(optim.lr, rel=0.05)  # each task's own peak
    from tzoo.errors import TzooError

    with pytest.raises(TzooError, match="add up to 550"):
        apply_overrides(cfg, parse_override_args(["--loop.max_steps=551"]))
