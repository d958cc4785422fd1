"""Episodes as videos: gymnasium's `RecordVideo` (MP4) where moviepy is installed, else animated GIFs.

`recording_maker` turns a function making an environment into one making the same environment
rendering `rgb_array` frames, each episode written to a folder as it ends (or when it is cut).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from ..errors import TzooError


def can_write_mp4() -> bool:
    """Whether gymnasium's RecordVideo can write MP4 here (it needs moviepy)."""
    return importlib.util.find_spec("moviepy") is not None


def recording_maker(make_env: Callable[[], gym.Env], folder: str | Path, prefix: str,
                    where: str = "--eval.record") -> tuple[Callable[[], gym.Env], Callable[[int], list[Path]]]:
    """(make a recording environment, the files of its first n episodes), after checking once that
    the environment renders `rgb_array` frames (else a one-line error naming `where`)."""
    probe = make_env()
    spec, modes = probe.spec, list(probe.metadata.get("render_modes", []))
    probe.close()
    name = spec.id if spec is not None else type(probe.unwrapped).__name__
    if spec is None or "rgb_array" not in modes:
        raise TzooError(f"{where}: {name} cannot render rgb_array frames (its render modes: {modes or 'none'}); "
                        "record episodes of an environment that renders, or leave it out")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen without a display warning
    _check_renders(spec, name, where)
    folder = Path(folder)
    mp4 = can_write_mp4()

    def make() -> gym.Env:
        env = gym.make(spec, render_mode="rgb_array")
        if mp4:
            return gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda i: True, name_prefix=prefix,
                                            disable_logger=True)
        return GifRecorder(env, folder, prefix)

    def files(n: int) -> list[Path]:
        return [folder / f"{prefix}-episode-{i}.{'mp4' if mp4 else 'gif'}" for i in range(n)]
    return make, files


def _check_renders(spec: Any, name: str, where: str) -> None:
    """One frame from a fresh rendering environment, or a one-line error (a missing pygame, no display)."""
    try:
        env = gym.make(spec, render_mode="rgb_array")
        try:
            env.reset(seed=0)
            frame = env.render()
        finally:
            env.close()
    except (gym.error.Error, ImportError, OSError, RuntimeError) as e:
        raise TzooError(f"{where}: {name} cannot render frames here ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise TzooError(f"{where}: {name} renders no rgb_array frames (got {type(frame).__name__})")


class GifRecorder(gym.Wrapper):
    """Writes every episode of `env` (render_mode "rgb_array") as `{prefix}-episode-{i}.gif` in `folder`
    when it ends, when the next one starts, or on close; each file appears whole (written, then renamed)."""

    def __init__(self, env: gym.Env, folder: str | Path, prefix: str) -> None:
        super().__init__(env)
        self.folder, self.prefix = Path(folder), prefix
        self.frames: list[np.ndarray] = []
        self.episode = 0
        self.fps = float(env.metadata.get("render_fps") or 30)

    def reset(self, **kwargs: Any):
        self._flush()
        out = self.env.reset(**kwargs)
        self.frames = [self.env.render()]
        return out

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.frames.append(self.env.render())
        if terminated or truncated:
            self._flush()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self._flush()
        super().close()

    def _flush(self) -> None:
        if not self.frames:
            return
        from PIL import Image

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.prefix}-episode-{self.episode}.gif"
        tmp = path.with_suffix(".gif.tmp")
        images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in self.frames]
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, round(1000 / self.fps)), loop=0)
        os.replace(tmp, path)
        self.frames, self.episode = [], self.episode + 1
