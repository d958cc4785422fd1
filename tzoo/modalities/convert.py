"""Converters from any encoded image or WAV to the tensor a model takes, counting what they changed.

`ImageConverter`: PNG / JPEG / WebP / BMP / GIF (first frame) / TIFF in any mode (1, L, LA, P, RGB,
RGBA, CMYK, I;16, I, F) -> uint8 (C, H, W) at `size` x `size` and `channels` (1 or 3).
`AudioConverter`: WAV of any rate, channel count, 8/16/24/32-bit PCM or float -> mono float32 (T,) at
`rate`, any length. Both raise one-line `TzooError`s naming the row for unreadable input, and add
what they converted to a `Conversions` tally, whose `summary()` is the one note line a recipe prints:
"converted 12 RGBA -> RGB, 40 resized 64x64 -> 32x32".
"""
from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import TzooError
from .wav import decode_wav, parse_header

Fit = Literal["crop", "squash"]
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


@dataclass
class Conversions:
    """How many rows each conversion touched, in first-seen order."""

    counts: Counter = field(default_factory=Counter)

    def add(self, what: str) -> None:
        self.counts[what] += 1

    def summary(self) -> str:
        """"converted 12 RGBA -> RGB, 40 resized 64x64 -> 32x32", or "" when nothing was converted."""
        if not self.counts:
            return ""
        return "converted " + ", ".join(f"{n} {what}" for what, n in self.counts.items())


def _bad(name: str, what: str, e: BaseException) -> TzooError:
    reason = " ".join(str(e).split())[:100] or type(e).__name__
    return TzooError(f"{name}: not a readable {what} ({reason}); replace or remove the file, "
                     "or pass skip_bad=True to leave such rows out")


def _to_8bit(im):
    """16-bit and 32-bit greyscale ('I;16', 'I') and float ('F') images -> 8-bit 'L'."""
    from PIL import Image

    a = np.asarray(im)
    if im.mode == "F":
        scale = 255.0 if float(np.nanmax(a, initial=0.0)) <= 1.0 else 1.0
        a = np.nan_to_num(a.astype(np.float64) * scale)
    else:
        a = a.astype(np.float64) / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def _fit(im, size: int, fit: Fit, tally: Optional[Conversions]):
    from PIL import Image

    w, h = im.size
    if (w, h) == (size, size):
        return im
    if tally is not None:
        tally.add(f"resized {w}x{h} -> {size}x{size}" + (" (centre crop)" if fit == "crop" and w != h else ""))
    if fit == "crop" and w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
    return im.resize((size, size), Image.BILINEAR)


@dataclass(frozen=True)
class ImageConverter:
    """Encoded image bytes -> uint8 (channels, size, size).

    Attributes:
        size: output height and width.
        channels: 1 (greyscale) or 3 (RGB); alpha is dropped, palettes expanded.
        fit: "crop" scales the shorter side to `size` and keeps the centre square; "squash" stretches.
    """

    size: int
    channels: int = 3
    fit: Fit = "crop"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3) or self.size < 1 or self.fit not in ("crop", "squash"):
            raise TzooError(f"image converter: channels must be 1 or 3, size >= 1 and fit crop|squash; "
                            f"got channels={self.channels}, size={self.size}, fit={self.fit!r}")

    @property
    def row_bytes(self) -> int:
        """Bytes of one decoded row."""
        return self.channels * self.size * self.size

    def __call__(self, raw: bytes, name: str, tally: Optional[Conversions] = None) -> Tensor:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(raw)) as im:
                im.seek(0)  # the first frame of a GIF / animated WebP
                im.load()
                return self._convert(im, tally)
        except TzooError:
            raise
        except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
            raise _bad(name, "image", e) from None

    def _convert(self, im, tally: Optional[Conversions]) -> Tensor:
        target = "L" if self.channels == 1 else "RGB"
        mode = im.mode
        if mode in SIXTEEN_BIT or mode == "F":
            im = _to_8bit(im)
        if im.mode != target:
            im = im.convert(target)
        if mode != target and tally is not None:
            tally.add(f"{mode} -> {target}")
        im = _fit(im, self.size, self.fit, tally)
        a = torch.from_numpy(np.array(im, dtype=np.uint8))
        return (a[None] if a.dim() == 2 else a.permute(2, 0, 1)).contiguous()  # (C, H, W)


@dataclass(frozen=True)
class AudioConverter:
    """WAV bytes -> mono float32 (T,) at `rate` Hz (the project's `decode_wav`), noting what changed."""

    rate: int

    def __call__(self, raw: bytes, name: str, tally: Optional[Conversions] = None) -> Tensor:
        fmt = parse_header(raw, name)
        wave = decode_wav(raw, name, self.rate)
        if tally is not None:
            if fmt.channels > 1:
                tally.add(f"{fmt.channels}-channel -> mono")
            if fmt.rate != self.rate:
                tally.add(f"resampled {fmt.rate} -> {self.rate} Hz")
        return wave

    def row_bytes_of(self, raw: bytes, name: str) -> int:
        """Bytes of the decoded row, from the header alone."""
        fmt = parse_header(raw, name)
        return 4 * int(fmt.frames * self.rate / fmt.rate + 1)
