"""Loading Minari datasets as episodes: checks, statistics, filtering, environments."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tzoo.control.envs import make_env
from tzoo.control.episodes import (load_episodes, open_dataset, recover_env, returns_to_go, state_stats,
                                   top_fraction)
from tzoo.errors import TzooError

from .helpers import write_dataset


def test_load_hand_made_dataset(minari_root):
    write_dataset("test/toy-v0", [[1.0, 2.0, 3.0], [5.0], [0.5, 0.5]])
    eps = load_episodes("test/toy-v0")
    assert len(eps) == 3 and eps.lengths.tolist() == [3, 1, 2] and eps.ids == [0, 1, 2]
    np.testing.assert_allclose(eps.returns, [6.0, 5.0, 1.0])
    assert eps.observations[0].shape == (3, 3)  # the final (T+1-th) observation is dropped
    np.testing.assert_allclose(eps.observations[0][:, 0], [0.0, 0.1, 0.2], rtol=1e-6)
    assert eps.actions[0].tolist() == [0, 1, 0]
    assert eps.ref_min_score is None and eps.ref_max_score is None and eps.dataset_id == "test/toy-v0"


def test_returns_to_go():
    np.testing.assert_allclose(returns_to_go(np.array([1.0, 2.0, 3.0])), [6.0, 5.0, 3.0])
    np.testing.assert_allclose(returns_to_go(np.array([1.0, 2.0, 4.0]), gamma=0.5), [1 + 1 + 1, 2 + 2, 4])
    assert returns_to_go(np.array([1, 2])).dtype == np.float64
    assert returns_to_go(np.zeros(0, np.float32)).shape == (0,)


def test_state_stats(minari_root):
    write_dataset("test/toy-v0", [[1.0, 1.0], [1.0]])
    eps = load_episodes("test/toy-v0")
    mean, std = state_stats(eps)
    values = np.array([0.0, 0.1, 1.0])
    np.testing.assert_allclose(mean, [values.mean()] * 3, rtol=1e-6)
    np.testing.assert_allclose(std, [values.std()] * 3, rtol=1e-5)
    eps.observations = [np.ones((2, 3), np.float32)]
    assert state_stats(eps)[1].tolist() == pytest.approx([1e-6] * 3)


def test_top_fraction(minari_root):
    write_dataset("test/toy-v0", [[1.0], [9.0], [5.0], [7.0]])
    eps = load_episodes("test/toy-v0")
    assert top_fraction(eps, 0.5).returns.tolist() == [9.0, 7.0]  # original order kept
    assert top_fraction(eps, 0.01).returns.tolist() == [9.0]  # at least one
    assert len(top_fraction(eps, 1.0)) == 4
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(TzooError, match="--data.top_pct"):
            top_fraction(eps, bad)


def test_missing_dataset_lists_local_ids(minari_root):
    write_dataset("test/toy-v0", [[1.0]])
    with pytest.raises(TzooError, match=r"test/nope-v0: .*not found.*test/toy-v0.*tzoo collect.*minari download"):
        open_dataset("test/nope-v0")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rewards(minari_root, bad):
    write_dataset("test/bad-v0", [[1.0, 2.0], [1.0, bad, 3.0]])
    with pytest.raises(TzooError, match=r"test/bad-v0: episode 1 has NaN or inf in its rewards"):
        load_episodes("test/bad-v0")


def test_no_episodes(minari_root):
    write_dataset("test/empty-v0", [])
    with pytest.raises(TzooError, match="test/empty-v0: has no episodes"):
        load_episodes("test/empty-v0")


def test_unsupported_spaces(minari_root):
    import minari

    with pytest.warns(UserWarning):
        minari.create_dataset_from_buffers(
            "test/multi-v0", [], observation_space=gym.spaces.Box(-1, 1, (2,)),
            action_space=gym.spaces.MultiBinary(3), algorithm_name="t", author="t", description="t")
    with pytest.raises(TzooError, match="MultiBinary.*Discrete or bounded Box"):
        load_episodes("test/multi-v0")


@pytest.mark.box2d
def test_make_env_alias():
    assert make_env("LunarLanderContinuous-v3").unwrapped.continuous


def test_make_env_errors(monkeypatch):
    with pytest.raises(TzooError, match="Nope-v0: unknown environment id.*CartPole-v1"):
        make_env("Nope-v0")

    def missing(*args, **kw):
        raise gym.error.DependencyNotInstalled("Box2D is not installed")

    monkeypatch.setattr(gym, "make", missing)
    with pytest.raises(TzooError, match=r'LunarLander-v3 needs Box2D: pip install "tzoo\[box2d\]"'):
        make_env("LunarLander-v3")
    with pytest.raises(TzooError, match=r'Hopper-v5 needs mujoco: pip install "tzoo\[mujoco\]"'):
        make_env("Hopper-v5")


@pytest.mark.box2d
def test_recover_env_names_extra(minari_root, monkeypatch):
    from tzoo.control.collect import collect

    collect("LunarLanderContinuous-v3", "tzoo/lunar/x-v0", policy="random", episodes=1, ref_episodes=1,
            progress=False)
    ds = open_dataset("tzoo/lunar/x-v0")
    env = recover_env(ds)
    assert env.unwrapped.continuous and env.action_space.shape == (2,)

    def missing(*args, **kw):
        raise ImportError("No module named 'Box2D'")

    monkeypatch.setattr(gym, "make", missing)
    with pytest.raises(TzooError, match=r'LunarLander-v3 needs Box2D: pip install "tzoo\[box2d\]"'):
        recover_env(ds)


def test_empty_episode(minari_root, monkeypatch):
    from minari import EpisodeData

    write_dataset("test/toy-v0", [[1.0]])
    ds = open_dataset("test/toy-v0")
    nothing = np.zeros(0)
    empty = EpisodeData(id=7, observations=np.zeros((1, 3), np.float32), actions=nothing.astype(np.int64),
                        rewards=nothing, terminations=nothing.astype(bool), truncations=nothing.astype(bool), infos={})
    monkeypatch.setattr(ds, "iterate_episodes", lambda: iter([empty]))
    with pytest.raises(TzooError, match="test/toy-v0: episode 7 has no steps"):
        load_episodes(ds)
