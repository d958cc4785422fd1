"""A trained `dt` run as a policy: act() in the user's own loop, rollout(), recorded episodes, bad input.

Uses the tiny CartPole run of test_dt_recipe (6 updates, one block of width 32, rollouts cut at 50 steps).
"""
from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest

import tzoo
from tests.conftest import run_cli
from tests.recipes.test_dt_recipe import CARTPOLE, cartpole_run, last_json, minari_root, one_thread  # noqa: F401
from tests.test_cli import assert_clean_error
from tzoo.control.evaluate import eval_seed
from tzoo.errors import TzooError


def user_loop(policy, env, seeds, max_steps):
    """What a user writes: reset, then act on each observation with the previous reward."""
    returns, lengths = [], []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        policy.reset()
        reward, total, t, done = None, 0.0, 0, False
        while not done and t < max_steps:
            action = policy.act(obs, reward)
            assert env.action_space.contains(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, t, done = total + reward, t + 1, terminated or truncated
        returns.append(total)
        lengths.append(t)
    return returns, lengths


def test_a_user_loop_scores_what_tzoo_eval_scores(cartpole_run, capsys):
    """The episodes end on their own (135 to 185 steps) and differ by start and by target."""
    code, out, err = run_cli(capsys, "eval", cartpole_run, "--eval.episodes=4", "--eval.targets=40",
                             "--eval.max_steps=500", "--eval.seed=1")
    assert code == 0, err
    figures = last_json(out)
    trained = tzoo.load(cartpole_run)
    seeds = [eval_seed(1, i) for i in range(4)]
    env = gym.make("CartPole-v1")
    returns, lengths = user_loop(trained.policy(target_return=40), env, seeds, max_steps=500)
    assert len(set(returns)) > 1 and max(lengths) < 500
    assert np.mean(returns) == figures["return_mean"] and np.std(returns) == figures["return_std"]
    assert np.mean(lengths) == figures["targets"][0]["length_mean"]

    out = trained.rollout(env, episodes=4, seed=1, target_return=40, max_steps=500)  # an env object: left open
    assert out["returns"] == returns and out["lengths"] == lengths and out["seeds"] == seeds
    env.reset(seed=0)  # still open
    by_id = trained.rollout("CartPole-v1", episodes=4, seed=1, target_return=40, num_envs=3, max_steps=500)
    assert by_id["returns"] == returns and by_id["target"] == 40.0
    other = trained.rollout("CartPole-v1", episodes=4, seed=1, target_return=500, max_steps=500)
    assert other["returns"] != returns  # the target conditions the policy: the rewards fed back matter
    # without a target: the run's evaluation target (500 here), as `tzoo eval` without --eval.targets
    default = trained.rollout("CartPole-v1", episodes=2)
    code, out, err = run_cli(capsys, "eval", cartpole_run, "--eval.episodes=2")
    assert default["target"] == 500.0 and default["return_mean"] == last_json(out)["return_mean"]


def test_rollout_in_another_environment_is_refused(cartpole_run):
    trained = tzoo.load(cartpole_run)
    with pytest.raises(TzooError, match="rollout in Pendulum-v1: .*3 observation values.*trained on 4"):
        trained.rollout("Pendulum-v1", episodes=1)
    with pytest.raises(TzooError, match="rollout in MountainCar-v0: .*2 observation values.*trained on 4"):
        trained.rollout(gym.make("MountainCar-v0"), episodes=1)
    with pytest.raises(TzooError, match="one episode at a time"):
        trained.rollout(gym.make("CartPole-v1"), episodes=2, num_envs=2)
    with pytest.raises(TzooError, match="unknown environment id"):
        trained.rollout("NoSuchEnv-v0", episodes=1)


def test_act_bad_input_through_the_api(cartpole_run):
    policy = tzoo.load(cartpole_run).policy(num_envs=2)
    with pytest.raises(TzooError, match=r"shape \(3, 4\), the policy takes \(2, 4\)"):
        policy.act(np.zeros((3, 4)))
    with pytest.raises(TzooError, match="dtype"):
        policy.act(np.array([[None] * 4] * 2))
    with pytest.raises(TzooError, match="num_envs must be a positive integer"):
        tzoo.load(cartpole_run).policy(num_envs=0)


def test_a_target_outside_the_data_is_allowed_with_a_note(cartpole_run, capsys, tmp_path):
    trained = tzoo.load(cartpole_run)
    trained.policy(target_return=100)
    assert capsys.readouterr().err == ""
    policy = trained.policy(target_return=5000)
    err = capsys.readouterr().err.strip()
    assert policy.target_return == 5000.0
    assert len(err.splitlines()) == 1 and "target return 5000" in err and "to 500)" in err
    run = tmp_path / "dt"
    shutil.copytree(cartpole_run, run)
    code, out, err = run_cli(capsys, "eval", run, "--eval.targets=5000", "--eval.episodes=1")
    assert code == 0 and "tzoo: note: target return 5000" in err and "Traceback" not in err


def test_eval_records_episodes(cartpole_run, capsys, tmp_path):
    from PIL import Image

    run = tmp_path / "dt"
    shutil.copytree(cartpole_run, run)
    code, out, err = run_cli(capsys, "eval", run, "--eval.record=2", "--eval.episodes=2", "--eval.max_steps=12")
    assert code == 0, err
    figures = last_json(out)
    videos = figures["videos"]
    assert f"wrote 2 episode video(s) to {run / 'videos'}" in err
    assert videos["folder"] == str(run / "videos") and len(videos["files"]) == 2
    assert sorted(p.name for p in (run / "videos").iterdir()) == [
        "dt-target500-episode-0.gif", "dt-target500-episode-1.gif"]  # nothing half-written left
    # the recorded episodes are the first evaluation episodes (seeds 0, 1 of --eval.seed)
    assert np.mean(videos["returns"]) == figures["return_mean"]
    for path, ret in zip(videos["files"], videos["returns"]):
        with Image.open(path) as gif:  # the reset frame and one a step (CartPole pays 1 a step), 20 ms each;
            assert gif.size == (600, 400)  # GIF merges identical neighbours, adding up their durations
            assert sum(_durations(gif)) == 20 * (int(ret) + 1)


def _durations(gif) -> list[int]:
    out = []
    for i in range(gif.n_frames):
        gif.seek(i)
        out.append(gif.info["duration"])
    return out


class NoRender(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (4,))
    action_space = gym.spaces.Discrete(2)
    metadata = {"render_modes": []}


def test_record_refuses_an_environment_that_cannot_render(tmp_path):
    from tzoo.control.video import recording_maker

    gym.register("tzoo-test/NoRender-v0", entry_point=NoRender)
    try:
        with pytest.raises(TzooError, match="--eval.record: tzoo-test/NoRender-v0 cannot render rgb_array frames"):
            recording_maker(lambda: gym.make("tzoo-test/NoRender-v0"), tmp_path / "videos", "x")
    finally:
        gym.registry.pop("tzoo-test/NoRender-v0")
    assert not (tmp_path / "videos").exists()


def test_eval_record_of_an_environment_that_cannot_render_fails_before_anything_runs(cartpole_run, capsys,
                                                                                     tmp_path, monkeypatch):
    import tzoo.recipes.dt as dt

    run = tmp_path / "dt"
    shutil.copytree(cartpole_run, run)
    before = sorted(p.name for p in run.iterdir())
    gym.register("tzoo-test/NoRender-v0", entry_point=NoRender)
    monkeypatch.setattr(dt, "env_maker", lambda dataset, stats: lambda: gym.make("tzoo-test/NoRender-v0"))
    try:
        code, out, err = run_cli(capsys, "eval", run, "--eval.record=1", "--eval.episodes=1")
    finally:
        gym.registry.pop("tzoo-test/NoRender-v0")
    assert_clean_error(code, out, err, "--eval.record: tzoo-test/NoRender-v0 cannot render rgb_array frames")
    assert sorted(p.name for p in run.iterdir()) == before  # no eval_returns.png, no videos/
