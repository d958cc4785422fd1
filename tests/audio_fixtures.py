"""Generated audio for the tests: tone 'digits' written as WAV files, and a tiny FSDD-like folder."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

SPEAKERS = ("ann", "bob", "cyd")


def tone(digit: int, seconds: float = 0.3, rate: int = 8000, pitch: float = 1.0, amplitude: float = 0.5,
         seed: int = 0) -> np.ndarray:
    """A 'spoken digit' the tests can learn: two partials gliding from and to frequencies set by the digit
    (a glide, not a steady tone, so per-band normalisation leaves something to recognise)."""
    t = np.arange(int(seconds * rate)) / rate
    frac = t / max(t[-1], 1e-9)
    f1 = (250 + 150 * digit + (300 - 60 * digit) * frac) * pitch  # instantaneous frequencies (Hz)
    f2 = (900 + 230 * (9 - digit) - 400 * frac) * pitch
    phase1, phase2 = (2 * math.pi * np.cumsum(f) / rate for f in (f1, f2))
    envelope = np.sin(np.pi * frac)
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (amplitude * envelope * (np.sin(phase1) + 0.5 * np.sin(phase2)) / 1.5 + noise).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), samples, rate, subtype=subtype, format="WAV")
    return path


def fake_fsdd(folder: Path, indices=(0, 5, 6, 7), speakers=SPEAKERS) -> Path:
    """`{digit}_{speaker}_{index}.wav` for every digit, speaker and index; lengths vary from 0.15 to 0.6 s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for index in indices:
                seconds = float(rng.uniform(0.15, 0.6))
                x = tone(digit, seconds, pitch=1.0 + 0.03 * s, amplitude=0.1 + 0.3 * s, seed=index)
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", x)
    return folder
