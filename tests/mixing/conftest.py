"""Tiny synthetic MNIST parquet files and av-digits sides whose pixels and samples encode their digit."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from tzoo.modalities.av_digits import AvSide


def write_mnist_parquet(folder: Path, split: str, labels: list[int], names: list[str] | None = None) -> Path:
    """A parquet file with MNIST's Hub schema (image: Image of 8-bit grayscale PNGs, label: ClassLabel '0'..'9').

    Image i is flat gray 20 * label + 10 with one pixel (0, 0) set to i % 256, so tests can check labels
    and row order.
    """
    import datasets
    from PIL import Image

    records = []
    for i, label in enumerate(labels):
        im = Image.new("L", (28, 28), 20 * label + 10)
        im.putpixel((0, 0), i % 256)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        records.append({"bytes": buf.getvalue(), "path": None})
    names = names or [str(d) for d in range(10)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    ds = datasets.Dataset.from_dict({"image": records, "label": labels}, features=features)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}-00000-of-00001.parquet"
    ds.to_parquet(str(path))
    return path


def digit_of_image(images: torch.Tensor) -> torch.Tensor:
    """The digit a synthetic image encodes (gray 20 * d + 10), read at its centre: (B, 1, H, W) -> (B,)."""
    return ((images[:, 0, 14, 14].float() - 10) / 20).round().long()


def digit_of_wave(wave: torch.Tensor) -> torch.Tensor:
    """The digit a synthetic clip encodes (constant (d + 1) / 20): (B, T) -> (B,)."""
    return (wave[:, 0] * 20 - 1).round().long()


def synthetic_side(images_per_digit: int = 6, clips_per_digit: int = 4) -> AvSide:
    """Images of flat gray 20 * d + 10 and clips of constant (d + 1) / 20 with varied lengths."""
    labels = torch.arange(10).repeat(images_per_digit)
    images = (20 * labels + 10).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    clip_labels = torch.arange(10).repeat(clips_per_digit)
    waves = [torch.full((200 + 37 * i,), (d + 1) / 20) for i, d in enumerate(clip_labels.tolist())]
    return AvSide(images, labels, waves, clip_labels)


@pytest.fixture
def side() -> AvSide:
    return synthetic_side()
