"""TrajectoryPolicy: the step-by-step policy a user's loop calls (KV cache vs recomputation, bad input)."""
import numpy as np
import pytest

from tzoo.control.policy import TrajectoryPolicy, target_range_note
from tzoo.errors import TzooError

from .tiny import CONTINUOUS, DISCRETE, tiny_model


def _policy(action, kind="dt", num_envs=3, use_cache=True, context=4):
    tok, backbone, task = tiny_model(action, kind)
    return TrajectoryPolicy(tok, backbone, task, target_return=50.0, return_scale=100.0, state_mean=np.zeros(4),
                            state_std=np.full(4, 2.0), context=context, num_envs=num_envs, use_cache=use_cache)


@pytest.mark.parametrize("kind", ["dt", "bc"])
@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
def test_cached_act_equals_recomputation(kind, action):
    """13 steps with a context of 4 (two window refills), two episodes: the same actions with and without the cache."""
    cached, full = _policy(action, kind), _policy(action, kind, use_cache=False)
    rng = np.random.default_rng(0)
    for _ in range(2):
        cached.reset()
        full.reset()
        reward = None
        for _ in range(13):
            obs = rng.normal(size=(3, 4)).astype(np.float32)
            a, b = cached.act(obs, reward), full.act(obs, reward)
            if action.discrete:
                assert a.dtype.kind == "i" and a.shape == (3,) and np.array_equal(a, b)
                assert ((0 <= a) & (a < action.n)).all()
            else:
                assert a.dtype == np.float32 and a.shape == (3, 2)
                np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
                assert (a >= np.asarray(action.low)).all() and (a <= np.asarray(action.high)).all()
            reward = rng.normal(size=3)
    assert cached.context.cache.length == cached.context.tps * (13 - cached.context.start) - 1


def test_reward_lowers_the_return_to_go_and_reset_restores_the_target():
    p = _policy(DISCRETE, num_envs=2)
    obs = np.zeros((2, 4))
    p.act(obs, np.array([99.0, 99.0]))  # first call after reset: the reward is ignored
    assert p.to_go.tolist() == [50.0, 50.0]
    p.act(obs, np.array([1.0, 2.5]))
    assert p.to_go.tolist() == [49.0, 47.5]
    np.testing.assert_allclose([r.tolist() for r in p.history.returns], [[0.5, 0.5], [0.49, 0.475]], rtol=1e-6)
    p.reset(np.array([True, True]))
    assert p.t == 0 and p.to_go.tolist() == [50.0, 50.0] and len(p.history) == 0


def test_one_environment_takes_and_returns_one_row():
    p = _policy(CONTINUOUS, num_envs=1)
    a = p.act(np.ones(4), None)
    assert a.shape == (2,)
    assert p.act(np.ones((1, 4)), 1.0).shape == (1, 2)


@pytest.mark.parametrize("obs, reward, needle", [
    (np.zeros((3, 5)), None, "shape (3, 5), the policy takes (3, 4)"),
    (np.zeros((2, 4)), None, "shape (2, 4), the policy takes (3, 4)"),  # a batch of the wrong size
    (np.zeros(4), None, "shape (4,), the policy takes (3, 4)"),  # one row for three environments
    (np.array([["a"] * 4] * 3), None, "real numbers, got dtype <U1"),
    (np.zeros((3, 4)), np.zeros(2), "reward has shape (2,)"),
    (np.zeros((3, 4)), "x", "reward must be a number"),
])
def test_bad_input_is_one_line(obs, reward, needle):
    p = _policy(DISCRETE)
    p.act(np.zeros((3, 4)))
    with pytest.raises(TzooError) as e:
        p.act(obs, reward)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_dt_needs_the_reward_after_the_first_step_and_bc_does_not():
    p = _policy(DISCRETE)
    p.act(np.zeros((3, 4)))
    with pytest.raises(TzooError, match="pass the reward"):
        p.act(np.zeros((3, 4)))
    bc = _policy(DISCRETE, kind="bc")
    bc.act(np.zeros((3, 4)))
    bc.act(np.zeros((3, 4)))


def test_partial_reset_is_refused_in_one_line():
    p = _policy(DISCRETE)
    p.act(np.zeros((3, 4)))
    p.reset([False, False, False])  # nothing to reset
    assert p.t == 1
    with pytest.raises(TzooError, match="reset together"):
        p.reset([True, False, False])
    with pytest.raises(TzooError, match="mask has 2 values"):
        p.reset([True, True])


def test_target_range_note(capsys):
    stats = {"dataset": "d", "worst_return": 8.0, "best_return": 500.0}
    assert target_range_note(100.0, stats) is None
    note = target_range_note(2000.0, stats)
    assert "8 to 500" in note and "2000" in note and "\n" not in note
    assert capsys.readouterr().err.strip() == note
    assert target_range_note(1.0, stats) is not None
    assert target_range_note(1.0, {"best_return": 500.0}) is None  # an older run: only the best return known
