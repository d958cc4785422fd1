"""Recipe dt's auto defaults: every setting the data decides (context, return scale, updates,
evaluation interval, warmup, weight average, target) resolved from dataset statistics by one rule,
and the resolved values recorded in the run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tzoo.config import apply_overrides
from tzoo.recipes import dt

from .test_dt_recipe import CARTPOLE, minari_root  # noqa: F401  (the module's datasets fixture)


def cfg(**overrides: str) -> dt.DTConfig:
    return apply_overrides(dt.DT.default(), overrides)


def test_updates_evaluations_warmup_and_average_follow_the_dataset_size():
    got = dt.auto_training(cfg(), total_steps=40_000)  # 8 passes of 64-window batches: 5,000 updates
    assert got == {"loop.max_steps": 5000, "loop.eval_every": 500, "loop.save_every": 500,
                   "optim.warmup_steps": 100, "optim.ema_decay": 0.995}
    assert dt.auto_training(cfg(), total_steps=80_000)["loop.max_steps"] == 10_000  # twice the data, twice the updates
    assert dt.auto_training(cfg(), total_steps=100)["loop.max_steps"] == dt.UPDATES[0]  # clipped below ...
    assert dt.auto_training(cfg(), total_steps=10**8)["loop.max_steps"] == dt.UPDATES[1]  # ... and above
    assert dt.auto_training(cfg(**{"loop.batch_size": "128"}), total_steps=40_000)["loop.max_steps"] == 2500


def test_explicit_values_are_kept():
    fixed = cfg(**{"loop.max_steps": "900", "loop.eval_every": "50", "optim.warmup_steps": "0",
                   "optim.ema_decay": "0"})
    assert dt.auto_training(fixed, total_steps=40_000) == {}
    assert dt.auto_training(cfg(**{"loop.max_steps": "900"}), 40_000) == {
        "loop.eval_every": 100, "loop.save_every": 100, "optim.warmup_steps": 18, "optim.ema_decay": 0.972222}
    returns = np.array([1.0, 2.0])
    explicit = cfg(**{"data.context": "5", "data.return_scale": "3", "eval.targets": "7"})
    assert dt.auto_data(explicit, returns, (4,)) == {}


def test_context_scale_and_target_follow_the_episodes():
    returns = np.random.default_rng(0).permutation(np.arange(20) * 10.0 - 40.0)
    got = dt.auto_data(cfg(), returns, (4,))
    assert got["data.context"] == 1  # a flat state vector
    assert got["data.return_scale"] == 150.0  # the largest absolute return
    assert got["eval.targets"] == (145.0,)  # the mean of the best 10%: 150 and 140
    assert dt.auto_data(cfg(), returns, (3, 8, 8))["data.context"] == dt.DEEP_CONTEXT  # images: history
    assert dt.auto_data(cfg(), np.array([-3.0, -5.0]), (4,))["data.return_scale"] == 5.0
    assert dt.auto_data(cfg(), np.zeros(3), (4,))["data.return_scale"] == 1.0


def test_bad_auto_values_are_refused():
    from tzoo.errors import TzooError

    for key, bad in (("data.context", "-1"), ("loop.max_steps", "-5"), ("loop.eval_every", "-2"),
                     ("optim.ema_decay", "1.5"), ("optim.warmup_steps", "-1")):
        with pytest.raises(TzooError, match=key.split(".")[1]):
            cfg(**{key: bad})
    back = cfg(**{"optim.ema_decay": "0.9", "data.context": "3"})
    assert cfg(**{"optim.ema_decay": "none", "data.context": "0"}) == cfg() != back  # none / 0: auto again


def test_resolved_values_are_recorded_in_the_run(minari_root, tmp_path, monkeypatch):  # noqa: F811
    """Everything left auto is resolved from the dataset, saved in config.json (so --resume, `tzoo
    eval` and `tzoo.load` see the values trained with) and listed in state_stats.json."""
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.cli import main
    from tzoo.control.episodes import load_episodes

    monkeypatch.setattr(dt, "UPDATES", (6, 6))  # the rule's clip, shrunk to a test's budget
    torch.set_num_threads(1)
    out = tmp_path / "run"
    try:
        assert main(["train", "dt", "--out", str(out), f"--data.dataset={CARTPOLE}", "--backbone.dim=32",
                     "--backbone.depth=1", "--loop.batch_size=8", "--loop.eval_batches=2", "--eval.episodes=2",
                     "--eval.num_envs=2", "--eval.max_steps=50", "--eval.select_episodes=2"]) == 0
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    saved = json.loads((out / "config.json").read_text())["config"]
    stats = json.loads((out / "state_stats.json").read_text())
    episodes = load_episodes(CARTPOLE)
    best = float(np.sort(episodes.returns)[-1])  # 8 episodes: the best 10% is the best one
    assert saved["loop"]["max_steps"] == 6 and saved["loop"]["eval_every"] == 100
    assert saved["data"]["context"] == 1 and saved["data"]["return_scale"] == float(np.abs(episodes.returns).max())
    assert saved["eval"]["targets"] == [best] and saved["optim"]["warmup_steps"] == 0
    assert saved["optim"]["ema_decay"] == 0.9
    assert stats["auto"] == {"loop.max_steps": 6, "loop.eval_every": 100, "loop.save_every": 100,
                             "optim.warmup_steps": 0, "optim.ema_decay": 0.9, "data.context": 1,
                             "data.return_scale": saved["data"]["return_scale"], "eval.targets": [best]}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 6 and metrics["targets"][0]["target"] == best
