"""Tiny generated datasets for the data-layer tests: image files in every mode / format, WAVs, folders."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.audio_fixtures import tone, write_wav


def image(mode: str = "RGB", size: tuple[int, int] = (8, 8), value: int = 0) -> Image.Image:
    """A small image whose pixels depend on `value`, in `mode`."""
    w, h = size
    rng = np.random.default_rng(value)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, np.full((h, w), 128, np.uint8)]), "RGBA")
    if mode == "I;16":
        return Image.fromarray((rgb[..., 0].astype(np.uint16) * 257))
    return im.convert(mode) if mode != "RGB" else im


def save(im: Image.Image, path: Path, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt)
    return path


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    b = io.BytesIO()
    im.save(b, format=fmt)
    return b.getvalue()


def class_folders(root: Path, classes=("cat", "dog"), per_class: int = 5, size=(8, 8)) -> Path:
    """root/<class>/<i>.png, distinct pixels per file."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            save(image("RGB", size, 100 * c + i), root / name / f"{i}.png")
    return root


def wav_folders(root: Path, classes=("one", "two"), per_class: int = 3, rate: int = 8000) -> Path:
    """root/<class>/<i>.wav of different lengths."""
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            write_wav(root / name / f"{i}.wav", tone(c + 1, 0.1 + 0.05 * i, rate=rate), rate=rate)
    return root
