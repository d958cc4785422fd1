"""WAV decoding behind one function, `read_wav`: checked header, soundfile decoding, mono, resampling.

Not `torchaudio.load`: from torchaudio 2.9 it needs TorchCodec and FFmpeg. The RIFF header is
walked here first because libsndfile quietly decodes a truncated file and accepts odd sample
widths; a bad file must instead fail with one line that names it.
"""
from __future__ import annotations

import io
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import soundfile as sf
import torch
import torchaudio.functional as AF
from torch import Tensor

from ..errors import TzooError

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
SUPPORTED = {PCM: (8, 16, 24, 32), FLOAT: (32, 64)}
SILENCE_PEAK = 1e-4  # below this peak amplitude (about -80 dBFS) a clip counts as silent
OnLong = Literal["crop", "error"]


@dataclass(frozen=True)
class WavFormat:
    """What the header of a WAV file says."""

    encoding: int  # PCM or FLOAT
    channels: int
    rate: int
    bits: int
    frames: int


def _chunks(raw: bytes):
    """(id, offset of payload, declared size) of each RIFF chunk after the WAVE tag."""
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = struct.unpack_from("<4sI", raw, pos)
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)  # chunks are padded to an even length


def _fmt(raw: bytes, at: int, size: int, name: str) -> tuple[int, int, int, int, int]:
    if size < 16 or at + 16 > len(raw):
        raise TzooError(f"{name}: truncated WAV header (fmt chunk too short); re-export the file")
    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", raw, at)
    if tag == EXTENSIBLE and size >= 40 and at + 26 <= len(raw):
        tag = struct.unpack_from("<H", raw, at + 24)[0]  # first two bytes of the sub-format GUID
    return tag, channels, rate, align, bits


def parse_header(raw: bytes, name: str) -> WavFormat:
    """Check that `raw` is a complete PCM or float WAV file and return its format."""
    if not raw:
        raise TzooError(f"{name}: file is empty; give a WAV file")
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise TzooError(f"{name}: not a WAV file (no RIFF/WAVE header); convert it to WAV")
    fmt = None
    for cid, at, size in _chunks(raw):
        if cid == b"fmt ":
            fmt = _fmt(raw, at, size, name)
        elif cid == b"data":
            if fmt is None:
                break
            tag, channels, rate, align, bits = fmt
            if tag not in SUPPORTED or bits not in SUPPORTED[tag]:
                kind = {PCM: "PCM", FLOAT: "float"}.get(tag, f"format tag {tag:#x}")
                raise TzooError(f"{name}: unsupported sample format ({bits}-bit {kind}); "
                                "use 8/16/24/32-bit PCM or 32/64-bit float WAV")
            if channels < 1 or rate < 1 or align != channels * bits // 8:
                raise TzooError(f"{name}: damaged WAV header ({channels} channels, {rate} Hz, "
                                f"block align {align}); re-export the file")
            available = len(raw) - at
            if size > available:
                raise TzooError(f"{name}: truncated WAV file (header declares {size} bytes of audio, "
                                f"file holds {available}); re-export or remove it")
            frames = size // align
            if frames == 0:
                raise TzooError(f"{name}: WAV file holds no audio samples")
            return WavFormat(tag, channels, rate, bits, frames)
    raise TzooError(f"{name}: truncated or damaged WAV file (no fmt/data chunk); re-export or remove it")


def read_wav(path: str | Path, rate: int) -> Tensor:
    """Decode a WAV file to mono float32 samples at `rate` Hz, (T,).

    8/16/24/32-bit PCM and 32/64-bit float; channels are averaged; another sample rate is
    resampled with `torchaudio.functional.resample`. Raises a one-line TzooError naming the file
    when it is missing, empty, truncated, not a WAV, of an unsupported sample width, or silent.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TzooError(f"{path}: cannot read ({e.strerror or e}); give an existing WAV file") from None
    return decode_wav(raw, str(path), rate)


def decode_wav(raw: bytes, path: str, rate: int) -> Tensor:
    """`read_wav` on the bytes of a WAV file already in memory (`path` names it in errors)."""
    fmt = parse_header(raw, str(path))
    try:
        data, _ = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)  # (T, channels)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise TzooError(f"{path}: cannot decode WAV ({' '.join(str(e).split())[:100]})") from None
    wave = torch.from_numpy(data).mean(dim=1)  # (T,)
    if not torch.isfinite(wave).all():
        bad = int((~torch.isfinite(wave)).sum())
        raise TzooError(f"{path}: {bad} samples are NaN or infinite (a damaged float WAV); re-export or remove it")
    peak = float(wave.abs().max()) if wave.numel() else 0.0
    if peak < SILENCE_PEAK:
        raise TzooError(f"{path}: clip is silent (peak amplitude {peak:.1e}); record it again or remove it")
    if fmt.rate != rate:
        wave = AF.resample(wave, fmt.rate, rate)
    return wave.contiguous()


def fit_length(wave: Tensor, max_samples: int, on_long: OnLong, name: str, rate: int) -> Tensor:
    """`wave` cut to `max_samples` with a warning (on_long="crop") or a one-line error ("error")."""
    if wave.numel() <= max_samples:
        return wave
    have, limit = wave.numel() / rate, max_samples / rate
    if on_long == "error":
        raise TzooError(f"{name}: clip is {have:.2f} s, longer than the model's maximum of {limit:.2f} s; "
                        "trim it, or pass --data.on_long=crop")
    warn(f"{name}: clip is {have:.2f} s, longer than the model's maximum of {limit:.2f} s; "
         f"using its first {limit:.2f} s")
    return wave[:max_samples]


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"tzoo: warning: {' '.join(message.split())}", file=sys.stderr, flush=True)
