"""Scripted expert controllers: noiseless functions of the observation, with tunable gains.

The flawed behaviour policies reuse them with other gains or wrap them (see `flaws`), so every
policy in a mixed dataset shares one underlying skill, done well or badly.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

PENDULUM_A = 15.0  # theta'' = A sin(theta) + B u  (g = 10, m = l = 1)
PENDULUM_B = 3.0
PENDULUM_MAX_TORQUE = 2.0


@dataclass
class CartPoleRule:
    """Push right when a linear score of (x, x', theta, theta') is positive (plus an optional bias)."""

    gains: tuple[float, float, float, float] = (0.1, 0.5, 10.0, 2.0)
    bias: float = 0.0

    def __call__(self, obs: np.ndarray) -> int:
        return int(float(np.dot(self.gains, obs)) + self.bias > 0.0)


@dataclass
class LunarHeuristic:
    """gymnasium's own LunarLander heuristic: float32 in [-1, 1] (continuous), an int (discrete)."""

    env: gym.Env

    def __call__(self, obs: np.ndarray) -> np.ndarray | int:
        from gymnasium.envs.box2d.lunar_lander import heuristic

        action = heuristic(self.env, obs)
        if isinstance(self.env.action_space, gym.spaces.Discrete):
            return int(action)
        return np.asarray(action, dtype=np.float32)


@dataclass
class AcrobotPump:
    """Energy pumping: torque on the elbow against the first link's angular velocity (actions 0, 1, 2
    = torque -1, 0, +1); `one_sided` pumps only while the first link swings one way (idle otherwise)."""

    one_sided: bool = False

    def __call__(self, obs: np.ndarray) -> int:
        if float(obs[4]) > 0:
            return 0
        return 1 if self.one_sided else 2


@dataclass
class MountainCarFollow:
    """Push the way the car is moving (velocity following builds up the swing), clipped to [-1, 1]."""

    gain: float = 0.3

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        speed = float(obs[1])
        push = self.gain * (1.0 if speed >= 0.0 else -1.0)
        return np.array([np.clip(push, -1.0, 1.0)], dtype=np.float32)


@dataclass
class PendulumSwingUp:
    """Energy pumping toward the upright energy, then a PD (LQR-like) balance near the top.

    Energy E = theta'^2 / 2 + A (cos theta - 1) is 0 upright at rest; dE/dt = B u theta', so
    u = k_e (E* - E) sign(theta') pumps it toward E* (0: just reach the top).
    Within `catch` radians of the top a PD law takes over.
    """

    kp: float = 11.0
    kd: float = 2.0
    k_energy: float = 5.0
    catch: float = 0.5
    target_energy: float = 0.0
    max_torque: float = PENDULUM_MAX_TORQUE

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        cos, sin, speed = (float(v) for v in obs)
        theta = float(np.arctan2(sin, cos))
        if abs(theta) < self.catch:
            u = -self.kp * theta - self.kd * speed
        else:
            energy = 0.5 * speed**2 + PENDULUM_A * (cos - 1.0)
            u = self.k_energy * (self.target_energy - energy) * np.sign(speed if speed != 0.0 else 1.0)
        u = float(np.clip(u, -self.max_torque, self.max_torque))
        return np.array([u], dtype=np.float32)
