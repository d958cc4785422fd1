"""A MuJoCo round trip: Hopper-v5 episodes from minari.DataCollector -> Episodes -> a batch -> the env back."""
from __future__ import annotations

import warnings

import minari
import numpy as np
import pytest
import torch

from tzoo.control.envs import make_env
from tzoo.control.episodes import load_episodes, open_dataset, recover_env, state_stats
from tzoo.control.windows import TrajectoryBatches


@pytest.mark.mujoco
def test_hopper_round_trip(minari_root):
    env = minari.DataCollector(make_env("Hopper-v5", max_episode_steps=40))
    rng = np.random.default_rng(0)
    for i in range(3):
        env.reset(seed=i)
        done = False
        while not done:
            action = rng.uniform(-1, 1, 3).astype(np.float32)
            _, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env.create_dataset("test/hopper/random-v0", algorithm_name="random", author="test", description="test")
    env.close()

    eps = load_episodes(open_dataset("test/hopper/random-v0"))
    assert len(eps) == 3 and eps.obs_dim == 11 and eps.action_space.dim == 3
    assert eps.action_space.low == (-1.0,) * 3 and all(1 <= n <= 40 for n in eps.lengths)
    assert all(o.shape == (len(r), 11) and a.shape == (len(r), 3) for o, a, r in
               zip(eps.observations, eps.actions, eps.rewards))
    mean, std = state_stats(eps)
    t = TrajectoryBatches(eps, 8, 4, 0, mean, std, 100.0).batch(0)["trajectory"]
    assert t["states"].shape == (4, 8, 11) and t["actions"].shape == (4, 8, 3) and t["mask"].any()
    assert torch.isfinite(t["states"]).all()

    back = recover_env(open_dataset("test/hopper/random-v0"))
    obs, _ = back.reset(seed=0)
    obs, reward, *_ = back.step(back.action_space.sample())
    assert obs.shape == (11,) and np.isfinite(reward)
    back.close()
