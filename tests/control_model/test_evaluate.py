"""Context-window acting (KV cache vs recomputation) and batched rollouts on gymnasium envs."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from tzoo.control.context import ContextPolicy, History, window_sizes
from tzoo.control.evaluate import eval_seed, normalized_score, rollout
from tzoo.tokenizers.actions import ActionSpec

from .tiny import CONTINUOUS, DISCRETE, random_actions, tiny_model


def test_window_grows_to_context_then_restarts_from_half():
    assert window_sizes(12, 4) == [1, 2, 3, 4, 2, 3, 4, 2, 3, 4, 2, 3]
    assert window_sizes(4, 5) == [1, 2, 3, 4]
    assert window_sizes(3, 1) == [1, 1, 1]


def _reference(tok, backbone, task, history, size):
    """State-token output of the last step, from scratch over the last `size` steps."""
    tokens = tok(**history.window(len(history) - size))
    h = backbone(tokens, "causal")[:, -2]  # s_t: the token before the pending a_t
    return task.raw(h)


@pytest.mark.parametrize("kind", ["dt", "bc"])
@pytest.mark.parametrize("action", [DISCRETE, CONTINUOUS])
@torch.inference_mode()
def test_cache_matches_recomputation_across_refills(kind, action):
    tok, backbone, task = tiny_model(action, kind)
    context, steps, b = 4, 13, 3
    cached = ContextPolicy(tok, backbone, task, context, b, use_cache=True)
    full = ContextPolicy(tok, backbone, task, context, b, use_cache=False)
    g = torch.Generator().manual_seed(0)
    history = History(action, b)
    sizes = window_sizes(steps, context)
    for t in range(steps):
        history.append(torch.randn(b, generator=g), torch.randn(b, 4, generator=g), t)
        a_cached, a_full = cached.act(history), full.act(history)
        ref = _reference(tok, backbone, task, history, sizes[t])
        if action.discrete:
            assert torch.equal(a_cached, a_full) and torch.equal(a_full, ref.argmax(-1))
        else:
            torch.testing.assert_close(a_cached, a_full, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(a_full, ref, atol=1e-5, rtol=1e-5)
        history.set_action(random_actions(action, b, 1, g)[:, 0])  # teacher-forced actions
    assert cached.cache.length == task.tokens_per_step * sizes[-1] - 1


def _model(env_id, kind="dt"):
    env = gym.make(env_id)
    spec, s = ActionSpec.from_space(env.action_space), env.observation_space.shape[0]
    env.close()
    tok, backbone, task = tiny_model(spec, kind, state_dim=s, max_timestep=64)
    return (tok, backbone, task), s


def _rollout(env_id, parts, s, **kw):
    args = dict(episodes=5, target_return=100.0, return_scale=100.0, state_mean=np.zeros(s),
                state_std=np.ones(s), context=6, seed=3, num_envs=3, max_steps=20)
    args.update(kw)
    return rollout(*parts, lambda: gym.make(env_id), **args)


def test_cartpole_rollout_is_deterministic_and_batch_independent():
    parts, s = _model("CartPole-v1")
    out = _rollout("CartPole-v1", parts, s)
    assert len(out["returns"]) == len(out["lengths"]) == 5
    assert all(1 <= n <= 20 for n in out["lengths"]) and out["returns"] == [float(n) for n in out["lengths"]]
    assert out["seeds"] == [eval_seed(3, i) for i in range(5)] and all(x < 2 ** 31 for x in out["seeds"])
    assert out["env_steps"] == sum(out["lengths"]) and out["env_steps_per_s"] > 0
    assert _rollout("CartPole-v1", parts, s)["returns"] == out["returns"]
    assert _rollout("CartPole-v1", parts, s, num_envs=5, use_cache=False)["returns"] == out["returns"]
    assert parts[1].training  # modes restored


def test_validation_rollouts_start_apart_from_evaluation_episodes():
    """Checkpoints are chosen on rollouts of their own seed stream: never an evaluation episode's start."""
    from tzoo.modalities.streams import Stream

    parts, s = _model("CartPole-v1")
    out = _rollout("CartPole-v1", parts, s, stream=Stream.SELECT_ROLLOUT)
    assert out["seeds"] == [eval_seed(3, i, Stream.SELECT_ROLLOUT) for i in range(5)]
    validation = {eval_seed(0, i, Stream.SELECT_ROLLOUT) for i in range(1000)}
    evaluation = {eval_seed(seed, i) for seed in range(3) for i in range(1000)}
    assert len(validation) == 1000 and validation.isdisjoint(evaluation)


def test_pendulum_rollout_bc_and_dt():
    for kind in ("dt", "bc"):
        parts, s = _model("Pendulum-v1", kind)
        out = _rollout("Pendulum-v1", parts, s, episodes=4, max_steps=12)
        assert out["lengths"] == [12] * 4 and all(np.isfinite(out["returns"]))
        other = _rollout("Pendulum-v1", parts, s, episodes=4, max_steps=12, use_cache=False)
        np.testing.assert_allclose(other["returns"], out["returns"], rtol=1e-4)


def test_normalized_score():
    assert normalized_score(50.0, 0.0, 200.0) == 25.0
    np.testing.assert_allclose(normalized_score([10.0, 110.0], 10.0, 110.0), [0.0, 100.0])


def test_discrete_ids_are_shifted_by_the_space_start():
    from tzoo.control.policy import env_actions as _env_actions

    assert _env_actions(torch.tensor([0, 2]), ActionSpec.discrete_of(3, start=-1)).tolist() == [-1, 1]
    np.testing.assert_allclose(_env_actions(torch.tensor([[5.0, -5.0]]), CONTINUOUS), [[3.0, 0.0]])
