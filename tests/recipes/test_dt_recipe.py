"""Recipe dt: Decision Transformer and behaviour cloning on tiny local Minari datasets, scored online.

The datasets (CartPole, discrete; Pendulum, continuous) and one trained CartPole run are made once
per module; rollouts are cut at 50 steps and the model is one block of width 32, so the whole file
runs in seconds. Everything runs on one thread: tiny models are fastest there (and immune to the
other processes' load on the cores).
"""
from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import tzoo
from tests.conftest import run_cli
from tests.test_cli import assert_clean_error
from tzoo.errors import TzooError

CARTPOLE = "tzoo/cartpole/mixed-v0"
PENDULUM = "tzoo/pendulum/mixed-v0"
HOPPER = "test/hopper/random-v0"
TINY = ["--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=1", "--loop.batch_size=8",
        "--loop.max_steps=6", "--loop.eval_every=3", "--loop.eval_batches=2", "--optim.warmup_steps=2",
        "--data.context=8", "--eval.episodes=2", "--eval.num_envs=2", "--eval.max_steps=50",
        "--eval.select_episodes=3"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def minari_root(tmp_path_factory):
    """A private Minari root for the module, holding a CartPole and a Pendulum `mixed` dataset."""
    from tzoo.control.collect import collect

    root = tmp_path_factory.mktemp("minari")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        collect("CartPole-v1", CARTPOLE, policy="mixed", episodes=8, seed=0, ref_episodes=2, progress=False)
        collect("Pendulum-v1", PENDULUM, policy="mixed", episodes=4, seed=0, ref_episodes=2, progress=False)
        yield root


def train(out: Path, *args: str) -> dict:
    """`tzoo train dt ARGS --out OUT` in-process; its metrics.json."""
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures train before the per-test one_thread fixture starts
    try:
        assert main(["train", "dt", "--out", str(out), *TINY, *map(str, args)]) == 0
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def cartpole_run(minari_root, tmp_path_factory) -> Path:
    """A Decision Transformer trained for 6 steps on the CartPole dataset (do not modify: copy).
    Its target is given (the dataset's ref_max_score, 500), so the tests that load it do not depend
    on the default-target round trip, which test_the_default_config_loads_back checks alone."""
    run = tmp_path_factory.mktemp("runs") / "dt"
    train(run, f"--data.dataset={CARTPOLE}", "--eval.targets=500")
    return run


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def without_speed(figures: dict) -> dict:
    """Evaluation figures without the wall-clock ones (env steps per second)."""
    rows = [{k: v for k, v in row.items() if k != "env_steps_per_s"} for row in figures["targets"]]
    return {**{k: v for k, v in figures.items() if k != "targets"}, "targets": rows}


def test_dt_trains_and_scores_online(cartpole_run, minari_root):
    from tzoo.control.episodes import load_episodes

    metrics = json.loads((cartpole_run / "metrics.json").read_text())
    stats = json.loads((cartpole_run / "state_stats.json").read_text())
    eps = load_episodes(CARTPOLE)
    assert stats["dataset"] == CARTPOLE and len(stats["state_mean"]) == len(stats["state_std"]) == 4
    assert stats["action"] == {"discrete": True, "n": 2, "start": 0}
    assert stats["return_scale"] == float(np.abs(eps.returns).max()) == 500.0
    assert stats["max_timestep"] == 500 and stats["ref_max_score"] == eps.ref_max_score == 500.0
    np.testing.assert_allclose(stats["state_mean"], np.concatenate(eps.observations).mean(0), rtol=1e-5, atol=1e-6)

    assert metrics["recipe"] == "dt" and metrics["step"] == 6 and math.isfinite(metrics["val_loss"])
    (row,) = metrics["targets"]  # one row per target
    assert row["target"] == 500.0 and row["episodes"] == 2 and 1 <= row["length_mean"] <= 50
    assert metrics["return_mean"] == row["return_mean"] and metrics["return_std"] == row["return_std"]
    assert 1 <= row["return_mean"] <= 50  # CartPole pays 1 a step; rollouts are cut at 50 steps
    lo, hi = stats["ref_min_score"], stats["ref_max_score"]
    assert math.isfinite(metrics["normalized_score"])
    assert metrics["normalized_score"] == row["normalized_score"] == pytest.approx(
        100 * (row["return_mean"] - lo) / (hi - lo))
    assert (cartpole_run / "returns.png").read_bytes().startswith(PNG)

    # the checkpoint kept is the one with the best logged validation return (the earlier on a tie) ...
    log = [json.loads(line) for line in (cartpole_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6]
    assert metrics["chosen_step"] == max(log, key=lambda r: r["val_return"])["step"]
    assert metrics["val_score"] == pytest.approx(100 * (metrics["val_return"] - lo) / (hi - lo))
    assert (cartpole_run / "val_returns.png").read_bytes().startswith(PNG)
    # ... and model.safetensors holds it: its validation rollouts give the reported val_return, its
    # loss on the held-out episodes the reported val_loss
    from tzoo.control.windows import TrajectoryBatches
    from tzoo.recipes.dt import action_loss, split_episodes, validation_return

    trained = tzoo.load(cartpole_run)
    cfg = trained.cfg
    _, val = split_episodes(eps, cfg.data.val_fraction, cfg.data.top_pct)
    held = TrajectoryBatches(val, cfg.data.context, cfg.loop.batch_size, cfg.loop.seed, stats["state_mean"],
                             stats["state_std"], stats["return_scale"])
    sums = action_loss(trained.model, trained.loaded.task, held.tiling())
    assert float(sums["loss_sum"] / sums["steps"]) == pytest.approx(metrics["val_loss"], rel=1e-5)
    from tzoo.recipes.dt import env_maker

    again = validation_return(trained.model, trained.loaded.task, cfg, stats, env_maker(CARTPOLE, stats))
    assert again == pytest.approx(metrics["val_return"], rel=1e-9)


def test_select_episodes_zero_chooses_on_the_action_loss(minari_root, tmp_path):
    metrics = train(tmp_path / "dt", f"--data.dataset={CARTPOLE}", "--eval.select_episodes=0")
    log = [json.loads(line) for line in (tmp_path / "dt" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6] and not any("val_return" in r for r in log)
    assert "val_return" not in metrics and "val_score" not in metrics
    assert metrics["chosen_step"] == min(log, key=lambda r: r["val_loss"])["step"]
    assert not (tmp_path / "dt" / "val_returns.png").exists()


def test_bc_on_a_continuous_dataset_ignores_the_target(minari_root, tmp_path):
    from tzoo.control.episodes import load_episodes

    run = tmp_path / "bc"
    metrics = train(run, f"--data.dataset={PENDULUM}", "--task.kind=bc")
    stats = json.loads((run / "state_stats.json").read_text())
    eps = load_episodes(PENDULUM)
    assert stats["action"]["discrete"] is False and stats["action"]["low"] == [-2.0]
    assert stats["action"]["high"] == [2.0] and len(stats["state_mean"]) == 3
    (row,) = metrics["targets"]  # no --eval.targets: auto, the mean of the best 10% (of 4: the best one)
    assert row["target"] == round(float(eps.returns.max()), 4) and row["length_mean"] == 50  # Pendulum never ends early
    assert math.isfinite(metrics["val_loss"]) and math.isfinite(metrics["normalized_score"])
    assert (run / "returns.png").read_bytes().startswith(PNG)
    # behaviour cloning never sees returns: two very different targets give the same episodes
    figures = tzoo.load(run).evaluate({"eval.targets": "-1000,0", "eval.episodes": "2"})
    low, high = figures["targets"]
    assert low["target"] == -1000.0 and high["target"] == 0.0
    assert low["return_mean"] == high["return_mean"] and low["return_std"] == high["return_std"]
    assert low["return_mean"] < 0  # Pendulum's rewards are negative


def test_top_pct_keeps_the_best_episodes(minari_root, tmp_path):
    from tzoo.config import apply_overrides
    from tzoo.control.episodes import load_episodes
    from tzoo.recipes.dt import DT, TASK, split_episodes
    from tzoo.recipes.rundir import RunDir

    eps = load_episodes(CARTPOLE)
    all_train, all_val = split_episodes(eps, 0.25, 1.0)
    half_train, half_val = split_episodes(eps, 0.25, 0.5)
    assert len(all_train) + len(all_val) == len(eps) == 8 and len(all_val) == 2
    assert len(half_train) == 3 and len(half_val) == 1  # round(6 / 2), round(2 / 2)
    assert set(half_train.ids) <= set(all_train.ids) and set(all_val.ids).isdisjoint(all_train.ids)
    dropped = [r for i, r in zip(all_train.ids, all_train.returns) if i not in half_train.ids]
    assert min(half_train.returns) >= max(dropped)
    # the recipe trains on the cut: its training windows come from the kept episodes only
    cfg = apply_overrides(DT.default(), {"data.dataset": CARTPOLE, "data.val_fraction": "0.25", "data.top_pct": "0.5"})
    parts = DT.build(cfg, RunDir(tmp_path / "unused"), False, lambda: None)
    assert sorted(parts.tasks[TASK].train.lengths.tolist()) == sorted(half_train.lengths.tolist())
    assert not (tmp_path / "unused").exists()


def test_the_default_config_loads_back():
    """config.json of a run with the default --eval.targets (none given: the dataset's reference
    score) must load again, or `tzoo eval`, `tzoo.load` and `--resume` refuse every such run."""
    from tzoo.config import from_dict, to_dict
    from tzoo.recipes.dt import DT

    assert from_dict(DT.default(), json.loads(json.dumps(to_dict(DT.default())))) == DT.default()


def test_targets_default_to_the_best_return_without_reference_scores():
    from tzoo.recipes.dt import DTEvalConfig, targets_of

    assert targets_of(DTEvalConfig(), {"ref_max_score": None, "best_return": 7.5}) == [7.5]
    assert targets_of(DTEvalConfig(), {"ref_max_score": 90.0, "best_return": 7.5}) == [90.0]
    assert targets_of(DTEvalConfig(targets=(1.0, 2.0)), {"ref_max_score": 90.0, "best_return": 7.5}) == [1.0, 2.0]


def test_eval_cli_and_python_api(cartpole_run, capsys, tmp_path):
    run = tmp_path / "dt"
    shutil.copytree(cartpole_run, run)
    code, out, err = run_cli(capsys, "eval", run, "--eval.targets=10,20", "--eval.episodes=2")
    assert code == 0, err
    figures = last_json(out)
    assert figures["dataset"] == CARTPOLE
    assert [r["target"] for r in figures["targets"]] == [10.0, 20.0]
    assert all(r["episodes"] == 2 and 1 <= r["length_mean"] <= 50 for r in figures["targets"])
    assert figures["return_mean"] == figures["targets"][0]["return_mean"]
    assert math.isfinite(figures["normalized_score"])
    assert (run / "eval_returns.png").read_bytes().startswith(PNG)

    # the same target, episodes and seeds as training's final evaluation: the same episodes
    metrics = json.loads((run / "metrics.json").read_text())
    code, out, err = run_cli(capsys, "eval", run, "--eval.targets=500")
    assert code == 0, err
    again = last_json(out)
    assert without_speed(again) == without_speed({"dataset": CARTPOLE, **{k: metrics[k] for k in again if k != "dataset"}})

    trained = tzoo.load(run)
    assert trained.verbs == ("eval",)
    api = trained.evaluate({"eval.episodes": "2", "eval.targets": "10,20"})
    assert without_speed(api) == without_speed(figures)
    with pytest.raises(TzooError, match="takes only --eval"):
        trained.evaluate({"data.top_pct": "0.5"})
    with pytest.raises(TzooError, match="has no `predict`"):
        trained.predict(["x"])
    with pytest.raises(TzooError, match="has no `sample`"):
        trained.generate("x")


def test_predict_and_sample_are_one_line_errors(cartpole_run, capsys):
    assert_clean_error(*run_cli(capsys, "predict", cartpole_run, "x"), "recipe dt has no `predict`")
    code, out, err = run_cli(capsys, "sample", cartpole_run)
    assert_clean_error(code, out, err, "recipe dt has no `sample`; use tzoo eval")
    assert "predict" not in err  # it suggests only the verbs dt has


@pytest.mark.parametrize("bad, needles", [("abc", ["--eval.targets", "abc"]), ("nan", ["--eval.targets", "finite"]),
                                          ("", ["--eval.targets", "at least one"])])
def test_eval_bad_targets(cartpole_run, capsys, bad, needles):
    before = sorted(p.name for p in cartpole_run.iterdir())
    assert_clean_error(*run_cli(capsys, "eval", cartpole_run, f"--eval.targets={bad}"), *needles)
    assert sorted(p.name for p in cartpole_run.iterdir()) == before  # no eval_returns.png


def test_eval_in_another_environment_is_refused(cartpole_run, capsys, tmp_path):
    run = tmp_path / "dt"
    shutil.copytree(cartpole_run, run)
    stats = json.loads((run / "state_stats.json").read_text())
    (run / "state_stats.json").write_text(json.dumps({**stats, "dataset": PENDULUM}))
    code, out, err = run_cli(capsys, "eval", run, "--eval.episodes=1")
    assert_clean_error(code, out, err, PENDULUM, "3 observation values", "trained on 4", "its own dataset")
    assert not (run / "eval_returns.png").exists()


def test_check_env():
    import gymnasium as gym

    from tzoo.recipes.dt import check_env

    cartpole = {"state_mean": [0.0] * 4, "action": {"discrete": True, "n": 2, "start": 0}}
    check_env(gym.make("CartPole-v1"), cartpole, "here")  # its own environment: no error
    with pytest.raises(TzooError, match="here: .*3 observation values.*trained on 4"):
        check_env(gym.make("Pendulum-v1"), cartpole, "here")
    with pytest.raises(TzooError, match="trained on 4"):  # same observation size, other actions
        check_env(gym.make("CartPole-v1"), {**cartpole, "action": {"discrete": True, "n": 3, "start": 0}}, "here")
    pendulum = {"state_mean": [0.0] * 3, "action": {"discrete": False, "dim": 1, "low": [-1.0], "high": [1.0]}}
    with pytest.raises(TzooError, match="trained on 3"):  # same shapes, other action bounds
        check_env(gym.make("Pendulum-v1"), pendulum, "here")


def test_a_failed_fresh_run_leaves_nothing(minari_root, capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "dt", "--out", out, *TINY, "--data.dataset=tzoo/cartpole/nope-v0")
    assert_clean_error(code, stdout, err, "tzoo/cartpole/nope-v0", "not found", CARTPOLE, PENDULUM)
    assert not out.exists()


@pytest.mark.mujoco
def test_hopper_round_trip_through_the_recipe(minari_root, tmp_path):
    """The D4RL path: a MuJoCo dataset (from minari.DataCollector, with D4RL-style reference scores) -> train -> online score."""
    import minari

    from tzoo.control.envs import make_env
    from tzoo.control.episodes import load_episodes

    env = minari.DataCollector(make_env("Hopper-v5", max_episode_steps=40))
    rng = np.random.default_rng(0)
    for i in range(3):
        env.reset(seed=i)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 3).astype(np.float32))
            done = terminated or truncated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env.create_dataset(HOPPER, algorithm_name="random", author="test", description="test",
                           ref_min_score=-20.0, ref_max_score=3234.0)
    env.close()

    run = tmp_path / "hopper"
    metrics = train(run, f"--data.dataset={HOPPER}", "--loop.max_steps=4", "--loop.eval_every=2",
                    "--eval.episodes=1", "--eval.num_envs=1", "--eval.max_steps=10")
    stats = json.loads((run / "state_stats.json").read_text())
    assert len(stats["state_mean"]) == 11 and stats["max_timestep"] == 40
    assert stats["action"] == {"discrete": False, "dim": 3, "low": [-1.0] * 3, "high": [1.0] * 3}
    (row,) = metrics["targets"]  # no --eval.targets: auto, the mean of the best 10% (of 3: the best one)
    best = round(float(load_episodes(HOPPER).returns.max()), 4)
    assert row["target"] == best < 3234.0 and row["episodes"] == 1 and 1 <= row["length_mean"] <= 10
    assert math.isfinite(metrics["val_loss"])
    assert metrics["normalized_score"] == pytest.approx(100 * (row["return_mean"] + 20.0) / 3254.0)
