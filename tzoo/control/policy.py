"""A trained trajectory model as a policy you call from your own environment loop.

    policy = tzoo.load("runs/dt").policy()          # the run's evaluation target, one environment
    obs, _ = env.reset(seed=0)
    policy.reset()
    reward = None
    while True:
        action = policy.act(obs, reward)           # numpy, in the environment's action space
        obs, reward, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break

`act` keeps the episode's history and a KV cache (see `tzoo.control.context`); the evaluation
rollouts (`tzoo eval`, training) drive this very class, so a loop like the one above scores what
they score on the same seeds.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..backbone import Backbone
from ..errors import TzooError
from ..tokenizers.actions import ActionSpec
from ..tokenizers.trajectory import TrajectoryTokenizer
from .context import ContextPolicy, History


class TrajectoryPolicy:
    """Greedy actions of a Decision Transformer / behaviour-cloning model, one step at a time.

    Args:
        tokenizer, backbone, task: the trained model's parts (`TrajectoryTokenizer`, `Backbone`, `ActionTask`).
        target_return: the return to condition on (R_1); ignored by behaviour cloning.
        return_scale: returns-to-go are fed divided by this.
        state_mean, state_std: observations are fed as (obs - mean) / std.
        context: the training window K (steps the model sees at most).
        num_envs: rows acted for at once; `act` takes (num_envs, S) observations (or (S,) when 1).
        use_cache: keep a KV cache (the same actions as recomputing the window each step).
        device: where the model lives.
    """

    def __init__(self, tokenizer: TrajectoryTokenizer, backbone: Backbone, task: nn.Module, *, target_return: float,
                 return_scale: float, state_mean: Sequence[float] | np.ndarray, state_std: Sequence[float] | np.ndarray,
                 context: int, num_envs: int = 1, use_cache: bool = True, device: str | torch.device = "cpu") -> None:
        if num_envs < 1:
            raise TzooError(f"num_envs: must be >= 1, got {num_envs}")
        if return_scale <= 0:
            raise ValueError(f"return_scale: must be positive, got {return_scale}")
        if not np.isfinite(target_return):
            raise TzooError(f"target_return: must be a finite number, got {target_return}")
        self.modules = (tokenizer, backbone, task)
        self.action: ActionSpec = task.action
        self.num_envs, self.target_return, self.return_scale = num_envs, float(target_return), float(return_scale)
        self.uses_returns = bool(tokenizer.use_returns)
        self.device = torch.device(device)
        self.mean = torch.as_tensor(np.asarray(state_mean, np.float32), device=self.device)
        self.std = torch.as_tensor(np.asarray(state_std, np.float32), device=self.device)
        self.state_dim = int(self.mean.shape[0])
        self.context = ContextPolicy(tokenizer, backbone, task, context, num_envs, use_cache)
        self.reset()

    def reset(self, mask: Optional[Sequence[bool] | np.ndarray] = None) -> None:
        """Start new episodes. `mask` (num_envs,) bools: only those rows; all rows share one context
        window, so a partial reset is accepted only when every row resets (see `act`)."""
        if mask is not None:
            m = np.asarray(mask, dtype=bool).reshape(-1)
            if m.shape != (self.num_envs,):
                raise TzooError(f"reset: mask has {m.size} values, the policy acts for num_envs={self.num_envs}")
            if not m.any():
                return
            if not m.all():
                raise TzooError("reset: rows of one policy run in lockstep and share one context window, so they "
                                "reset together; make one policy per environment for independent resets")
        self.history = History(self.action, self.num_envs, self.device)
        self.context.reset()
        self.to_go = np.full(self.num_envs, self.target_return)
        self.t = 0

    def act(self, observation: Any, reward: Any = None) -> np.ndarray:
        """The action for `observation`, given `reward`, the reward of the previous action (ignored
        on the first call after `reset`).

        Args:
            observation: (num_envs, S) numbers, or (S,) when num_envs is 1.
            reward: a number or (num_envs,) numbers.

        Returns:
            numpy actions in the environment's space: (num_envs,) ints / (num_envs, A) floats within
            the bounds, or one action when `observation` was one (S,) row.
        """
        single = self.num_envs == 1 and np.ndim(observation) == 1
        obs = self._observation(observation)
        if self.t > 0:
            self.to_go = self.to_go - self._reward(reward)
        with eval_mode(*self.modules), torch.inference_mode():
            states = (torch.as_tensor(obs, device=self.device) - self.mean) / self.std
            self.history.append(torch.as_tensor(self.to_go / self.return_scale), states, self.t)
            a = self.context.act(self.history)  # (B,) or (B, A)
            self.history.set_action(a)
        self.t += 1
        out = env_actions(a, self.action)
        return out[0] if single else out

    def _observation(self, observation: Any) -> np.ndarray:
        """(num_envs, S) float32, or a one-line error naming the shape or dtype expected."""
        obs = np.asarray(observation)
        if obs.dtype == object or not (np.issubdtype(obs.dtype, np.floating) or np.issubdtype(obs.dtype, np.integer)
                                       or obs.dtype == bool):
            raise TzooError(f"act: observation must hold real numbers, got dtype {obs.dtype}")
        if self.num_envs == 1 and obs.ndim == 1:
            obs = obs[None]
        want = (self.num_envs, self.state_dim)
        if obs.shape != want:
            hint = f"({self.state_dim},) or " if self.num_envs == 1 else ""
            raise TzooError(f"act: observation has shape {obs.shape}, the policy takes {hint}{want} "
                            f"(num_envs={self.num_envs} rows of {self.state_dim} values)")
        return obs.astype(np.float32, copy=False)

    def _reward(self, reward: Any) -> np.ndarray:
        """(num_envs,) float64 rewards of the previous actions."""
        if reward is None:
            if self.uses_returns:
                raise TzooError("act: pass the reward of the previous action (act(observation, reward)); "
                                "it lowers the return-to-go the policy is conditioned on")
            return np.zeros(self.num_envs)
        r = np.asarray(reward)
        if r.dtype == object or not (np.issubdtype(r.dtype, np.number) or r.dtype == bool):
            raise TzooError(f"act: reward must be a number or {self.num_envs} numbers, got dtype {r.dtype}")
        if r.size == 1 and self.num_envs == 1:
            r = r.reshape(1)
        if r.shape != (self.num_envs,):
            raise TzooError(f"act: reward has shape {r.shape}, the policy takes ({self.num_envs},) "
                            f"(one reward per environment)")
        return r.astype(np.float64)


def env_actions(a: Tensor, action: ActionSpec) -> np.ndarray:
    """Model actions as the environment wants them: ids from `start`, or float32 values within bounds."""
    if action.discrete:
        return a.long().cpu().numpy() + action.start
    low, high = np.asarray(action.low, np.float32), np.asarray(action.high, np.float32)
    return np.clip(a.float().cpu().numpy(), low, high)


def target_range_note(target: float, stats: dict, stream=None) -> Optional[str]:
    """A one-line note on stderr when `target` lies outside the returns of the run's dataset (allowed:
    the policy is asked for what the data never shows); the note, or None."""
    lo, hi = stats.get("worst_return"), stats.get("best_return")
    if hi is None or (lo is None and target <= hi) or (lo is not None and lo <= target <= hi):
        return None
    span = f"{lo:g} to {hi:g}" if lo is not None else f"at most {hi:g}"
    dataset = stats.get("dataset", "the dataset")
    note = (f"tzoo: note: target return {target:g} is outside the episode returns of {dataset} "
            f"({span}); the policy is conditioned on a return the data never shows")
    print(note, file=stream or sys.stderr)
    return note


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Modules in eval mode inside the block; their training flags restored after."""
    flags = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, flag in zip(modules, flags):
            m.train(flag)
