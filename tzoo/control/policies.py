"""Behaviour policies per environment, and D4RL-style named mixtures of them.

A policy is a callable `obs -> action` made by a factory `(env, rng) -> policy`; make a fresh
one per episode (some keep state: a delay line, a step counter). `expert` is noiseless; the
flawed ones are systematically biased (wrong gains, a preferred side, delay, over-correction,
giving up), each clearly worse than the expert and better than `random`; `noisy` is the expert taking
a random action half of the steps (now and then a good return by luck).
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from ..errors import TzooError
from .experts import AcrobotPump, CartPoleRule, LunarHeuristic, MountainCarFollow, PendulumSwingUp
from .flaws import Affine, Delayed, Noisy, Perceived, Policy, Stall, Sticky, Uniform

Factory = Callable[[gym.Env, np.random.Generator], Policy]
FLAWS = ("weak_gains", "left_bias", "delayed", "overcorrect", "stall")
MIXTURES = ("expert", "medium", "mixed", "lucky", "sparse")
MEDIUM = "left_bias"  # the flawed policy behind the `medium` mixture (about half the expert's normalised score)
NOISE = 0.5  # `noisy`: the expert, but a random action half of the steps
MEMBERS = {  # mixture -> the policy names its episodes cycle through
    "mixed": ["expert", *FLAWS, "random"],  # equal shares
    "lucky": ["expert", *["noisy"] * 4, *["random"] * 5],  # 10% expert, 40% noisy, 50% random
    "sparse": ["expert", *[f for f in FLAWS for _ in range(3)], *["random"] * 4],  # 5% expert, 75% flawed, 20% random
}


def _random(env: gym.Env, rng: np.random.Generator) -> Policy:
    return Uniform(env.action_space, rng)


def _cartpole() -> dict[str, Factory]:
    return {
        "expert": lambda env, rng: CartPoleRule(),
        "weak_gains": lambda env, rng: CartPoleRule(gains=(0.1, 0.5, 10.0, 0.5)),  # under-damped
        "left_bias": lambda env, rng: CartPoleRule(bias=-0.5),  # action 0 pushes left
        "delayed": lambda env, rng: Delayed(CartPoleRule(), lag=int(rng.integers(4, 6))),
        "overcorrect": lambda env, rng: Sticky(CartPoleRule(), hold=5),
        "stall": lambda env, rng: Stall(CartPoleRule(), after=int(rng.integers(50, 450)), idle=0),
        "random": _random,
    }


def _lunar() -> dict[str, Factory]:
    lander = LunarHeuristic
    return {
        "expert": lambda env, rng: lander(env),
        "weak_gains": lambda env, rng: Affine(lander(env), env.action_space, scale=0.65),
        # believes it is right of the pad, so it lands to the left of it
        "left_bias": lambda env, rng: Perceived(lander(env), offset=[0.6, 0, 0, 0, 0, 0, 0, 0]),
        "delayed": lambda env, rng: Delayed(lander(env), lag=7),
        # sees its tilt and spin five times larger than they are
        "overcorrect": lambda env, rng: Perceived(lander(env), scale=[1, 1, 1, 1, 5, 5, 1, 1]),
        "stall": lambda env, rng: Stall(lander(env), after=int(rng.integers(60, 200)),
                                        idle=np.array([-1.0, 0.0], dtype=np.float32)),  # engines off
        "random": _random,
    }


def _pendulum() -> dict[str, Factory]:
    return {
        "expert": lambda env, rng: PendulumSwingUp(),
        "weak_gains": lambda env, rng: PendulumSwingUp(kp=4.0, kd=0.5),  # too weak to hold the top
        "left_bias": lambda env, rng: Affine(PendulumSwingUp(), env.action_space, offset=1.1),  # constant twist
        "delayed": lambda env, rng: Delayed(PendulumSwingUp(), lag=3),
        "overcorrect": lambda env, rng: PendulumSwingUp(target_energy=6.0),  # pumps past the top
        "stall": lambda env, rng: Stall(PendulumSwingUp(), after=int(rng.integers(20, 120)),
                                        idle=np.zeros(1, dtype=np.float32)),
        "random": _random,
    }


def _lunar_discrete() -> dict[str, Factory]:
    lander = LunarHeuristic
    return {
        "expert": lambda env, rng: lander(env),
        "weak_gains": lambda env, rng: Perceived(lander(env), scale=[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1]),  # errors look smaller
        "left_bias": lambda env, rng: Perceived(lander(env), offset=[0.6, 0, 0, 0, 0, 0, 0, 0]),
        "delayed": lambda env, rng: Delayed(lander(env), lag=7),
        "overcorrect": lambda env, rng: Perceived(lander(env), scale=[1, 1, 1, 1, 5, 5, 1, 1]),
        "stall": lambda env, rng: Stall(lander(env), after=int(rng.integers(60, 200)), idle=0),  # engines off
        "random": _random,
    }


def _acrobot() -> dict[str, Factory]:
    return {
        "expert": lambda env, rng: AcrobotPump(),
        "weak_gains": lambda env, rng: AcrobotPump(one_sided=True),  # pumps on one half of the swing only
        "left_bias": lambda env, rng: Perceived(AcrobotPump(), offset=[0, 0, 0, 0, 0.3, 0]),  # believes it swings one way
        "delayed": lambda env, rng: Delayed(AcrobotPump(), lag=int(rng.integers(1, 3))),
        "overcorrect": lambda env, rng: Sticky(AcrobotPump(), hold=6),
        "stall": lambda env, rng: Stall(AcrobotPump(), after=int(rng.integers(20, 80)), idle=1),  # elbow idle
        "random": _random,
    }


def _mountain_car() -> dict[str, Factory]:
    return {
        "expert": lambda env, rng: MountainCarFollow(),
        "weak_gains": lambda env, rng: MountainCarFollow(gain=0.12),  # needs many swings, or never climbs out
        "left_bias": lambda env, rng: Affine(MountainCarFollow(), env.action_space, offset=-0.2),
        "delayed": lambda env, rng: Delayed(MountainCarFollow(), lag=int(rng.integers(8, 15))),
        "overcorrect": lambda env, rng: Sticky(MountainCarFollow(), hold=25),
        "stall": lambda env, rng: Stall(MountainCarFollow(), after=int(rng.integers(20, 90)),
                                        idle=np.zeros(1, dtype=np.float32)),
        "random": _random,
    }


def _with_noisy(table: dict[str, Factory]) -> dict[str, Factory]:
    """`table` plus `noisy`: its expert taking a random action with probability NOISE each step."""
    expert = table["expert"]
    return {**table, "noisy": lambda env, rng: Noisy(expert(env, rng), Uniform(env.action_space, rng), rng, NOISE)}


POLICIES: dict[str, dict[str, Factory]] = {env_id: _with_noisy(table()) for env_id, table in {
    "CartPole-v1": _cartpole,
    "LunarLanderContinuous-v3": _lunar,
    "LunarLander-v3": _lunar_discrete,
    "Pendulum-v1": _pendulum,
    "Acrobot-v1": _acrobot,
    "MountainCarContinuous-v0": _mountain_car,
}.items()}


def policy_table(env_id: str) -> dict[str, Factory]:
    """The policies of one environment, or a one-line error listing the supported ones."""
    if env_id not in POLICIES:
        raise TzooError(f"{env_id}: no behaviour policies for this environment; "
                        f"use one of {', '.join(POLICIES)}")
    return POLICIES[env_id]


def mixture_members(env_id: str, name: str) -> list[str]:
    """The policy names a mixture (or a single policy) cycles through, in order."""
    table = policy_table(env_id)
    if name in MEMBERS:
        return list(MEMBERS[name])
    if name == "medium":
        return [MEDIUM]
    if name in table:
        return [name]
    raise TzooError(f"--policy: unknown policy or mixture {name!r} for {env_id}; "
                    f"use a mixture ({', '.join(MIXTURES)}) or a policy ({', '.join(table)})")


def episode_policies(env_id: str, policy_or_mixture: str, episodes: int) -> list[str]:
    """The policy name of each episode: a mixture's members in turn, so each gets an equal share."""
    if episodes < 1:
        raise TzooError(f"--episodes: must be at least 1, got {episodes}")
    members = mixture_members(env_id, policy_or_mixture)
    return [members[i % len(members)] for i in range(episodes)]


def make_policy(env_id: str, name: str, env: gym.Env, rng: np.random.Generator) -> Policy:
    """A fresh policy `name` of `env_id` acting in `env`, drawing any randomness from `rng`."""
    table = policy_table(env_id)
    if name not in table:
        raise TzooError(f"--policy: unknown policy {name!r} for {env_id}; use one of {', '.join(table)}")
    return table[name](env, rng)


def describe() -> str:
    """Environments, their policies and the mixtures, for `--help`."""
    lines = [f"  {env_id}: {', '.join(table)}" for env_id, table in POLICIES.items()]
    return "\n".join(["policies per environment:", *lines,
                      f"mixtures: expert (all expert), medium (all {MEDIUM}), "
                      "mixed (equal shares of expert, each flawed policy and random), "
                      f"lucky (10% expert, 40% noisy: the expert with {NOISE:.0%} random steps, 50% random), "
                      "sparse (5% expert, 15% each flawed policy, 20% random)"])
