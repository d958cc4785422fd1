"""A one-lever environment and a Minari dataset of two behaviours with clearly different returns.

Every step the agent pulls the lever (action 1, reward 1) or rests (action 0, reward 0); an episode
is `STEPS` steps and the observation is the elapsed fraction of it. The return is the number of
pulls, so only a policy that reads its target return can reach a low return and a high one alike.
"""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np

ENV_ID = "tzoo-test/Lever-v0"
STEPS = 20
BEHAVIOURS = {"rest": 0.2, "pull": 0.8}  # each behaviour's probability of pulling at a step


class Lever(gym.Env):
    """Reward = the action; the observation is t / STEPS (episodes are cut at STEPS by the TimeLimit)."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action), False, False, {}

    def _obs(self) -> np.ndarray:
        return np.array([self.t / STEPS], np.float32)


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=f"{__name__}:Lever", max_episode_steps=STEPS)


def write_lever_dataset(dataset_id: str, episodes_per_behaviour: int, seed: int = 0) -> dict[str, list[int]]:
    """A Minari dataset (in $MINARI_DATASETS_PATH) whose episodes alternate between the behaviours;
    {behaviour: the indices of its episodes}."""
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    rng = np.random.default_rng(seed)
    names = list(BEHAVIOURS) * episodes_per_behaviour
    buffers = []
    for name in names:
        actions = (rng.random(STEPS) < BEHAVIOURS[name]).astype(np.int64).tolist()
        obs = [np.array([t / STEPS], np.float32) for t in range(STEPS + 1)]
        buffers.append(EpisodeBuffer(observations=obs, actions=actions, rewards=[float(a) for a in actions],
                                     terminations=[False] * STEPS, truncations=[False] * (STEPS - 1) + [True]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(dataset_id, buffers, env=gym.spec(ENV_ID), algorithm_name="test",
                                           author="test", description="two lever-pulling behaviours")
    return {name: [i for i, n in enumerate(names) if n == name] for name in BEHAVIOURS}
