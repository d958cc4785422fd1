"""Tiny generated `qa` manifests: coloured images of any mode and size, tone WAVs, context text."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.audio_fixtures import tone, write_wav
from tests.modalities.data_fixtures import save

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
MODES = ("RGB", "RGBA", "L", "P")  # every image mode the converters take, mixed in one manifest


def colour_image(colour: str, seed: int, size: int = 12) -> Image.Image:
    """A noisy patch of `colour` (noise so no two images are equal), in a mode and size set by `seed`."""
    rng = np.random.default_rng(seed)
    side = size + 4 * (seed % 3)  # 12, 16 or 20 pixels: the converter resizes
    a = np.clip(np.array(COLOURS[colour])[None, None] + rng.normal(0, 25, (side, side, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(a, "RGB")
    mode = MODES[seed % len(MODES)]
    return im.convert(mode) if mode != "L" else im  # "L" would lose the colour: keep those RGB


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def colour_rows(root: Path, n: int, start: int = 0, audio_every: int = 0, text_every: int = 0) -> list[dict]:
    """n rows "what colour is it?" -> the image's colour; every `audio_every`-th row also gets a tone
    clip, every `text_every`-th a context text (0 = never)."""
    rows = []
    for i in range(start, start + n):
        colour = list(COLOURS)[i % 3]
        image = save(colour_image(colour, i), root / "img" / f"{i}.png")
        row = {"image": str(image.relative_to(root)), "question": "what colour is it?", "answer": colour}
        if audio_every and i % audio_every == 0:
            wav = write_wav((root / "wav").mkdir(parents=True, exist_ok=True) or root / "wav" / f"{i}.wav",
                            tone(i % 10, 0.2 + 0.05 * (i % 3), rate=8000 if i % 2 else 16000),
                            rate=8000 if i % 2 else 16000)
            row["audio"] = str(wav.relative_to(root))
        if text_every and i % text_every == 0:
            row["text"] = f"row {i}"
        rows.append(row)
    return rows


def colour_manifest(root: Path, n_train: int = 60, n_test: int = 30, **extra) -> Path:
    """root/train.jsonl and root/test.jsonl of colour rows (validation carved)."""
    write_rows(root / "train.jsonl", colour_rows(root, n_train, **extra))
    write_rows(root / "test.jsonl", colour_rows(root, n_test, start=1000, **extra))
    return root
