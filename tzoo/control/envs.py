"""Gymnasium environments by id, with tzoo's aliases and one-line errors for missing extras."""
from __future__ import annotations

from typing import Any

import gymnasium as gym

from ..errors import TzooError

# tzoo id -> (gymnasium id, keyword arguments)
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "LunarLanderContinuous-v3": ("LunarLander-v3", {"continuous": True}),
}
# the environments `tzoo collect` has behaviour policies for
COLLECT_IDS = ("CartPole-v1", "LunarLanderContinuous-v3", "LunarLander-v3", "Pendulum-v1", "Acrobot-v1",
               "MountainCarContinuous-v0")
EXTRAS = {"box2d": "Box2D", "mujoco": "mujoco"}


def extra_for(env_id: str) -> str | None:
    """The pip extra ("box2d", "mujoco") an environment id needs, or None."""
    name = ALIASES.get(env_id, (env_id, {}))[0]
    try:
        entry = str(gym.spec(name).entry_point)
    except gym.error.Error:
        entry = name.lower()
    return next((extra for extra in EXTRAS if extra in entry), None)


def missing_extra(env_id: str, error: BaseException) -> TzooError:
    """The one-line error for an environment whose optional dependency failed to import."""
    extra = extra_for(env_id)
    if extra is None:
        return TzooError(f"{env_id}: cannot be created ({error}); install its dependencies")
    return TzooError(f'{env_id} needs {EXTRAS[extra]}: pip install "tzoo[{extra}]" ({error})')


def make_env(env_id: str, **kw: Any) -> gym.Env:
    """`gymnasium.make` for a gymnasium id or a tzoo alias (`LunarLanderContinuous-v3`)."""
    name, alias_kw = ALIASES.get(env_id, (env_id, {}))
    try:
        return gym.make(name, **{**alias_kw, **kw})
    except gym.error.UnregisteredEnv:
        raise TzooError(f"{env_id}: unknown environment id; use a gymnasium id, "
                        f"e.g. one of the collection ids {', '.join(COLLECT_IDS)}") from None
    except (gym.error.DependencyNotInstalled, ImportError) as e:
        raise missing_extra(env_id, e) from None
    except gym.error.Error as e:  # deprecated version, malformed id
        raise TzooError(f"{env_id}: {str(e).rstrip('.')}; use a registered gymnasium id, e.g. one of the collection ids "
                        f"{', '.join(COLLECT_IDS)}") from None
