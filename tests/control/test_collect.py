"""Collecting behaviour-policy episodes into Minari datasets: content, determinism, atomicity."""
from __future__ import annotations

import minari
import numpy as np
import pytest

from tzoo.control.collect import check_dataset_id, cmd_collect, collect
from tzoo.control.episodes import load_episodes
from tzoo.control.policies import FLAWS, POLICIES, episode_policies
from tzoo.control.rollout import episode_seed, reference_seeds
from tzoo.errors import TzooError

from .helpers import rows

CARTPOLE = "tzoo/cartpole/mixed-v0"


def small(dataset_id: str = CARTPOLE, **kw):
    args = dict(policy="mixed", episodes=7, seed=0, ref_episodes=3, progress=False)
    return collect("CartPole-v1", dataset_id, **{**args, **kw})


def test_cartpole_dataset_content(minari_root):
    path = small()
    assert path == minari_root / CARTPOLE and (path / "data" / "main_data.hdf5").is_file()
    assert CARTPOLE in minari.list_local_datasets()
    ds = minari.load_dataset(CARTPOLE)
    meta = ds.storage.metadata
    assert ds.total_episodes == 7
    assert meta["ref_max_score"] == 500.0 and 5.0 < meta["ref_min_score"] < 60.0
    assert meta["num_episodes_average_score"] == 3
    assert meta["tzoo"]["episode_policies"] == ["expert", *FLAWS, "random"]
    seeds = [int(m["seed"]) for m in ds.storage.get_episode_metadata(range(7))]
    assert seeds == [episode_seed(0, i) for i in range(7)]
    eps = load_episodes(ds)
    assert eps.obs_dim == 4 and eps.action_space.discrete and eps.action_space.n == 2
    assert eps.returns[0] == 500.0 and eps.returns[-1] < 100.0  # expert first, random last
    for o, a, r in zip(eps.observations, eps.actions, eps.rewards):
        assert o.shape == (len(r), 4) and o.dtype == np.float32
        assert a.shape == (len(r),) and a.dtype == np.int64
    assert eps.ref_max_score == 500.0


def test_same_seed_same_data(minari_root):
    small("tzoo/cartpole/a-v0")
    small("tzoo/cartpole/b-v0")
    small("tzoo/cartpole/c-v0", seed=1)
    a, b, c = (load_episodes(f"tzoo/cartpole/{n}-v0") for n in "abc")
    for x, y in zip(a.observations + a.actions + a.rewards, b.observations + b.actions + b.rewards):
        np.testing.assert_array_equal(x, y)
    assert a.ref_min_score == b.ref_min_score == c.ref_min_score
    assert not all(np.array_equal(x, y) for x, y in zip(a.observations, c.observations))


def test_reference_seeds_avoid_data_seeds():
    first = reference_seeds(3, [])
    skipped = reference_seeds(3, [first[1][0]])
    assert first[1][0] not in [s for s, _ in skipped] and skipped[0] == first[0] and len(skipped) == 3


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_collection_leaves_nothing(minari_root, monkeypatch, error):
    calls = []

    def broken(env, rng):
        def act(obs):  # fails in the middle of the second episode
            calls.append(1)
            if len(calls) == 15:
                raise error("boom")
            return 0
        return act

    monkeypatch.setitem(POLICIES["CartPole-v1"], "weak_gains", broken)
    with pytest.raises(error):
        small(policy="weak_gains", episodes=3)
    assert len(calls) == 15
    assert CARTPOLE not in minari.list_local_datasets()
    assert not any("cartpole" in p or "tzoo-collect" in p for p in rows(minari_root))


def test_refuses_to_overwrite(minari_root):
    small(episodes=1)
    with pytest.raises(TzooError, match="already exists.*--overwrite"):
        small(episodes=2)
    assert minari.load_dataset(CARTPOLE).total_episodes == 1
    small(episodes=2, overwrite=True)
    assert minari.load_dataset(CARTPOLE).total_episodes == 2
    assert [p for p in rows(minari_root) if "tzoo-collect" in p] == []
    (minari_root / "tzoo/cartpole/other-v0").mkdir()
    with pytest.raises(TzooError, match="exists and is not a dataset"):
        small("tzoo/cartpole/other-v0", overwrite=True)


def test_failed_overwrite_keeps_the_old_dataset(minari_root, monkeypatch):
    small(episodes=1)

    def broken(env, rng):
        raise RuntimeError("boom")

    monkeypatch.setitem(POLICIES["CartPole-v1"], "stall", broken)
    with pytest.raises(RuntimeError):
        small(policy="stall", episodes=2, overwrite=True)
    assert minari.load_dataset(CARTPOLE).total_episodes == 1


@pytest.mark.parametrize("bad", ["cartpole", "cartpole-v0", "tzoo/cartpole", "tzoo/cart pole-v0", "tzoo/x-vA"])
def test_bad_dataset_ids(bad):
    with pytest.raises(TzooError, match="namespace/name-vN"):
        check_dataset_id(bad)


def test_bad_policy_env_and_counts(minari_root):
    with pytest.raises(TzooError, match="unknown policy or mixture 'nope'.*mixed"):
        small(policy="nope")
    with pytest.raises(TzooError, match="Hopper-v5: no behaviour policies.*CartPole-v1"):
        collect("Hopper-v5", "tzoo/hopper/x-v0")
    with pytest.raises(TzooError, match="--episodes"):
        small(episodes=0)


def test_mixtures_are_deterministic():
    assert episode_policies("Pendulum-v1", "expert", 3) == ["expert"] * 3
    assert set(episode_policies("Pendulum-v1", "medium", 4)) == {"left_bias"}
    mixed = episode_policies("Pendulum-v1", "mixed", 21)
    assert mixed == episode_policies("Pendulum-v1", "mixed", 21)
    assert all(mixed.count(n) == 3 for n in ["expert", *FLAWS, "random"]) and len(mixed) == 21


def test_pendulum_box_actions(minari_root):
    collect("Pendulum-v1", "tzoo/pendulum/expert-v0", policy="expert", episodes=2, ref_episodes=2, progress=False)
    eps = load_episodes("tzoo/pendulum/expert-v0")
    assert eps.lengths.tolist() == [200, 200] and eps.obs_dim == 3
    assert eps.actions[0].shape == (200, 1) and eps.actions[0].dtype == np.float32
    assert eps.action_space.dim == 1 and eps.action_space.low == (-2.0,) and eps.action_space.high == (2.0,)
    assert eps.ref_min_score < -500 and eps.ref_max_score > -400


def test_cli(minari_root, capsys):
    assert cmd_collect(["CartPole-v1", "--out", "tzoo/cartpole/expert-v0", "--policy", "expert",
                        "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert str(minari_root / "tzoo/cartpole/expert-v0") in out and "ref_max_score 500.00" in out
    with pytest.raises(SystemExit):
        cmd_collect(["--help"])
    text = capsys.readouterr().out
    assert all(s in text for s in ["LunarLanderContinuous-v3", "overcorrect", "mixed", "--overwrite"])


@pytest.mark.parametrize("env_id, obs_dim, discrete, margin", [
    ("Acrobot-v1", 6, True, 300.0),  # expert about -80, random -500
    ("MountainCarContinuous-v0", 2, False, 100.0),  # expert about 98 (reaches the flag), random -33
    ("LunarLander-v3", 8, True, 250.0),  # gymnasium's heuristic, discrete actions
])
def test_new_behaviour_tables_collect_valid_datasets(minari_root, env_id, obs_dim, discrete, margin):
    dataset_id = f"tzoo/{env_id.split('-')[0].lower()}/mixed-v0"
    collect(env_id, dataset_id, policy="mixed", episodes=7, seed=0, ref_episodes=2, progress=False)
    eps = load_episodes(dataset_id)
    assert len(eps) == 7 and eps.obs_dim == obs_dim and eps.action_space.discrete is discrete
    assert eps.ref_max_score > eps.ref_min_score + margin  # the expert is far better than random
    assert eps.returns[0] > eps.returns[-1]  # expert first, random last
    for a in eps.actions:
        if discrete:
            assert a.dtype == np.int64 and a.min() >= 0 and a.max() < eps.action_space.n
        else:
            assert a.dtype == np.float32 and np.all(np.abs(a) <= 1.0)


def test_lucky_and_sparse_mixtures():
    lucky = episode_policies("CartPole-v1", "lucky", 20)
    assert [lucky.count(n) for n in ("expert", "noisy", "random")] == [2, 8, 10] and len(lucky) == 20
    sparse = episode_policies("Acrobot-v1", "sparse", 40)
    assert sparse.count("expert") == 2 and sparse.count("random") == 8
    assert all(sparse.count(f) == 6 for f in FLAWS)


def test_noisy_takes_the_other_action_at_its_rate():
    from tzoo.control.flaws import Noisy

    policy = Noisy(lambda obs: 1, lambda obs: 0, np.random.default_rng(0), eps=0.3)
    taken = [policy(np.zeros(2)) for _ in range(2000)]
    assert 0.25 < taken.count(0) / len(taken) < 0.35
    assert set(Noisy(lambda obs: 1, lambda obs: 0, np.random.default_rng(0), eps=0.0)(np.zeros(2))
               for _ in range(50)) == {1}
