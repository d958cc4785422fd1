"""TrajectoryBatches: layout, determinism, process slices, padding and return-to-go values."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tzoo.control.episodes import Episodes
from tzoo.tokenizers.actions import ActionSpec
from tzoo.control.windows import TrajectoryBatches
from tzoo.errors import TzooError

S = 3


def episodes(rewards: list[list[float]], discrete: bool = True) -> Episodes:
    """Episode k's observation at step t is (100 k + t) in every dimension; action t is t % 2 (or t / 10)."""
    info = ActionSpec(True, n=2) if discrete else ActionSpec(False, dim=2, low=(-1, -1), high=(1, 1))
    obs, acts, rews = [], [], []
    for k, r in enumerate(rewards):
        t = np.arange(len(r))
        obs.append(np.repeat((100.0 * k + t)[:, None], S, 1).astype(np.float32))
        acts.append(t % 2 if discrete else np.stack([t / 10, -t / 10], 1).astype(np.float32))
        rews.append(np.asarray(r, np.float32))
    return Episodes(obs, acts, rews, np.array([sum(r) for r in rewards]), list(range(len(rewards))), info, S, "toy")


def source(eps: Episodes, context: int = 4, batch_size: int = 6, seed: int = 0, scale: float = 1.0):
    return TrajectoryBatches(eps, context, batch_size, seed, np.zeros(S), np.ones(S), scale)


def test_layout():
    for discrete, (shape, dtype) in [(True, ((6, 4), torch.int64)), (False, ((6, 4, 2), torch.float32))]:
        batch = source(episodes([[1.0] * 10, [2.0] * 7], discrete)).batch(0)
        t = batch["trajectory"]
        assert set(batch) == {"trajectory"} and set(t) == {"returns", "states", "actions", "timesteps", "mask"}
        assert t["returns"].shape == (6, 4) and t["returns"].dtype == torch.float32
        assert t["states"].shape == (6, 4, S) and t["states"].dtype == torch.float32
        assert t["actions"].shape == shape and t["actions"].dtype == dtype
        assert t["timesteps"].shape == (6, 4) and t["timesteps"].dtype == torch.int64
        assert t["mask"].shape == (6, 4) and t["mask"].dtype == torch.bool


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a["trajectory"][k], b["trajectory"][k]) for k in a["trajectory"])


def test_batch_is_a_function_of_the_index():
    eps = episodes([[1.0] * 30, [2.0] * 20, [0.5] * 9])
    assert same(source(eps).batch(5), source(eps).batch(5))
    assert not same(source(eps).batch(5), source(eps).batch(6))
    assert not same(source(eps).batch(5), source(eps, seed=1).batch(5))


def test_rank_slices_make_the_global_batch():
    eps = episodes([[1.0] * 30, [2.0] * 20, [0.5] * 9])
    parts = [source(eps, batch_size=2).batch(3, rank, 3)["trajectory"] for rank in range(3)]
    whole = source(eps, batch_size=6).batch(3)["trajectory"]
    for key, value in whole.items():
        assert torch.equal(torch.cat([p[key] for p in parts]), value)


def test_right_padding_and_returns_to_go():
    src = source(episodes([[1.0, 2.0, 3.0]]), context=5, batch_size=32, scale=2.0)
    t = src.batch(0)["trajectory"]
    rtg = np.array([6.0, 5.0, 3.0]) / 2.0
    starts = t["timesteps"][:, 0].tolist()
    assert set(starts) == {0, 1, 2}
    for row, s in enumerate(starts):
        n = 3 - s
        assert t["mask"][row].tolist() == [True] * n + [False] * (5 - n)
        assert t["timesteps"][row].tolist() == list(range(s, 3)) + [0] * (5 - n)
        np.testing.assert_allclose(t["returns"][row, :n], rtg[s:])
        np.testing.assert_allclose(t["states"][row, :n, 0], np.arange(s, 3))
        assert t["actions"][row, :n].tolist() == [i % 2 for i in range(s, 3)]
        assert not t["returns"][row, n:].any() and not t["states"][row, n:].any() and not t["actions"][row, n:].any()
    assert src.items({"trajectory": t}) == sum(3 - s for s in starts)
    assert src.max_timestep == 2


def test_normalised_states():
    eps = episodes([[1.0] * 4])
    t = TrajectoryBatches(eps, 4, 8, 0, np.full(S, 1.0), np.full(S, 2.0), 1.0).batch(0)["trajectory"]
    s = t["timesteps"]
    np.testing.assert_allclose(t["states"][..., 1][t["mask"]], ((s - 1.0) / 2.0)[t["mask"]])


def test_episodes_drawn_in_proportion_to_length():
    src = source(episodes([[1.0] * 90, [1.0] * 10]), batch_size=500)
    first = src.batch(0)["trajectory"]["states"][:, 0, 0]
    share = float((first < 100).float().mean())
    assert 0.85 < share < 0.95


def test_bad_arguments():
    eps = episodes([[1.0]])
    with pytest.raises(TzooError, match="context"):
        TrajectoryBatches(eps, 0, 2, 0, np.zeros(S), np.ones(S), 1.0)
    with pytest.raises(TzooError, match="return_scale"):
        TrajectoryBatches(eps, 2, 2, 0, np.zeros(S), np.ones(S), 0.0)
    with pytest.raises(TzooError, match="state_mean"):
        TrajectoryBatches(eps, 2, 2, 0, np.zeros(S + 1), np.ones(S), 1.0)
