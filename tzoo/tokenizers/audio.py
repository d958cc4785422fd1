"""Audio tokenizer: waveform -> log-mel spectrogram -> time slices of a few frames -> one token each.

Padding never changes a clip's tokens: frames are taken without centering (`center=False`), so a
frame covers only samples [i * hop, i * hop + n_fft); only frames that lie inside the clip's own
length are real, the others are zeroed and their slices masked. Level is normalised per clip
(DC offset and peak of the waveform, then mean and variance of the real log-mel values).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.transforms import FrequencyMasking, MelSpectrogram, TimeMasking

from ..backbone import TokenSet
from .spec_stem import SpectrogramStem
from .types import AUDIO

LOG_FLOOR = 1e-6  # added to mel power before the log (the waveform peak is 1 by then)


@dataclass
class MelConfig:
    """Features and slicing of the audio tokenizer.

    Attributes:
        rate: sample rate in Hz the waveforms arrive at.
        n_fft: FFT size in samples.
        win_length: analysis window in samples (<= n_fft).
        hop: samples between frames.
        n_mels: mel bands.
        f_min: lowest mel band edge in Hz.
        frames_per_token: frames per time slice (one token each).
        proj: how a slice becomes a token: "linear" (one matrix over its frames x bands), "conv"
            (three small convolutions over the slice's bands and frames with pooling along the bands,
            then a matrix) or "stem" (the same convolutions over the whole clip, pooling along time
            too, so a token also sees its neighbours' frames; frames_per_token 1, 2, 4 or 8).
        conv_channels: channels of the "conv" and "stem" projections.
        conv_depth: convolutions per stage of the "stem" projection.
        norm: what is subtracted from each clip's log-mel values before scaling them to unit
            variance: "clip" its mean, "band" each band's mean over the clip's frames (removes the
            colour a microphone adds, and part of the word too), "both" gives the tokens both
            versions side by side (2 x n_mels values per frame).
        eq_db: random equalisation while training: each clip's log-mel spectrum gets a smooth random
            tilt (three cosines across the bands, each up to this many dB), as another microphone or
            room would give; 0 = off.
        freq_masks: SpecAugment frequency masks per clip (training only).
        freq_mask_width: widest frequency mask, in mel bands.
        time_masks: SpecAugment time masks per clip (training only).
        time_mask_width: widest time mask, in frames.
    """

    rate: int = 8000
    n_fft: int = 256
    win_length: int = 200
    hop: int = 80
    n_mels: int = 40
    f_min: float = 20.0
    frames_per_token: int = 4
    proj: Literal["linear", "conv", "stem"] = "linear"
    conv_channels: int = 16
    conv_depth: int = 1
    norm: Literal["clip", "band", "both"] = "clip"
    eq_db: float = 0.0
    freq_masks: int = 2
    freq_mask_width: int = 6
    time_masks: int = 2
    time_mask_width: int = 8

    def validate(self) -> None:
        for name in ("rate", "n_fft", "win_length", "hop", "n_mels", "frames_per_token", "conv_channels",
                     "conv_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length: must be <= n_fft ({self.n_fft}), got {self.win_length}")
        if not 0 <= self.f_min < self.rate / 2:
            raise ValueError(f"f_min: must be in [0, rate / 2), got {self.f_min}")
        if self.proj != "linear" and self.n_mels < 8:
            raise ValueError(f"n_mels: the {self.proj} projection needs at least 8, got {self.n_mels}")
        if self.proj == "stem" and self.frames_per_token not in (1, 2, 4, 8):
            raise ValueError(f"frames_per_token: the stem projection needs 1, 2, 4 or 8, got {self.frames_per_token}")
        for name in ("eq_db", "freq_masks", "freq_mask_width", "time_masks", "time_mask_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")

    @property
    def bands(self) -> int:
        """Feature values per frame: n_mels, twice that with norm "both"."""
        return self.n_mels * (2 if self.norm == "both" else 1)

    def frames(self, samples: Tensor) -> Tensor:
        """Frames that lie wholly inside a clip of `samples` samples (clips shorter than n_fft get one)."""
        return (samples.clamp(min=self.n_fft) - self.n_fft) // self.hop + 1

    def tokens(self, samples: int) -> int:
        """Tokens for a clip of `samples` samples: one per started slice of frames."""
        return math.ceil(int(self.frames(torch.tensor(samples))) / self.frames_per_token)


def level(wave: Tensor, lengths: Tensor) -> Tensor:
    """Each clip without its DC offset and scaled to peak 1 over its real samples; padding stays 0. (B, T)"""
    real = (torch.arange(wave.shape[1], device=wave.device)[None] < lengths[:, None]).to(wave.dtype)  # (B, T)
    dc = (wave * real).sum(dim=1, keepdim=True) / real.sum(dim=1, keepdim=True).clamp(min=1)
    wave = (wave - dc) * real  # some recorders add a constant offset
    return wave / wave.abs().amax(dim=1, keepdim=True).clamp(min=1e-8)


def normalise(x: Tensor, w: Tensor, per_band: bool) -> Tensor:
    """Zero mean (per clip, or per band with per_band) and unit variance over the real frames of
    log-mel values x (B, M, T); w (B, 1, T) is 1 on real frames. Padded frames become 0."""
    frames = w.sum(dim=2, keepdim=True)  # (B, 1, 1)
    mean = (x * w).sum(dim=2, keepdim=True) / frames  # (B, M, 1)
    if not per_band:
        mean = mean.mean(dim=1, keepdim=True)  # (B, 1, 1)
    var = ((x - mean).pow(2) * w).sum(dim=(1, 2), keepdim=True) / (frames * x.shape[1])
    return (x - mean) * torch.rsqrt(var + 1e-5) * w


class LogMel(nn.Module):
    """(wave (B, T), lengths (B,)) -> normalised log-mel (B, M, T) with padded frames zeroed, frame mask (B, T).

    In training mode SpecAugment frequency and time masks are applied (independently per clip).
    """

    def __init__(self, cfg: MelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.mel = MelSpectrogram(cfg.rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop,
                                  f_min=cfg.f_min, n_mels=cfg.n_mels, center=False, power=2.0)
        self.freq_mask = FrequencyMasking(cfg.freq_mask_width, iid_masks=True) if cfg.freq_mask_width else None
        self.time_mask = TimeMasking(cfg.time_mask_width, iid_masks=True) if cfg.time_mask_width else None

    def forward(self, wave: Tensor, lengths: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        wave = wave.float()
        if lengths is None:
            lengths = torch.full((wave.shape[0],), wave.shape[1], dtype=torch.long, device=wave.device)
        lengths = lengths.to(wave.device)
        if wave.shape[1] < cfg.n_fft:
            wave = F.pad(wave, (0, cfg.n_fft - wave.shape[1]))
        x = torch.log(self.mel(level(wave, lengths)) + LOG_FLOOR)  # (B, M, T) frames
        frame_mask = torch.arange(x.shape[-1], device=x.device)[None] < cfg.frames(lengths)[:, None]  # (B, T)
        if self.training and cfg.eq_db > 0:
            x = x + self.random_eq(x.shape[0], x.shape[1], x.device)
        w = frame_mask[:, None, :].to(x.dtype)  # (B, 1, T)
        if cfg.norm == "both":
            x = torch.cat([normalise(x, w, False), normalise(x, w, True)], dim=1)  # (B, 2M, T)
        else:
            x = normalise(x, w, cfg.norm == "band")
        if self.training:
            x = self.spec_augment(x)
        return x, frame_mask

    def random_eq(self, b: int, m: int, device: torch.device) -> Tensor:
        """(B, M, 1) smooth random gains in log-power units, from the global RNG."""
        k = torch.arange(1, 4, device=device, dtype=torch.float32)  # (3,)
        bands = torch.arange(m, device=device, dtype=torch.float32) + 0.5
        basis = torch.cos(math.pi * k[:, None] * bands[None] / m)  # (3, M)
        gains = (torch.rand(b, 3, device=device) * 2 - 1) * self.cfg.eq_db * math.log(10) / 10  # dB -> ln
        return (gains @ basis).unsqueeze(-1)

    def spec_augment(self, x: Tensor) -> Tensor:
        """Frequency and time masks with value 0 (the clip's mean), drawn from the global RNG."""
        x = x.unsqueeze(1)  # (B, 1, M, T)
        for _ in range(self.cfg.freq_masks if self.freq_mask is not None else 0):
            x = self.freq_mask(x, 0.0)
        for _ in range(self.cfg.time_masks if self.time_mask is not None else 0):
            x = self.time_mask(x, 0.0)
        return x.squeeze(1)


class ConvSliceEmbed(nn.Module):
    """One slice (K frames x M bands) -> one D vector: three 3x3 convolutions (C, 2C, 2C channels), each
    followed by max pooling over pairs of bands, then a linear layer. Sees nothing outside its slice.

    The convolutions share their weights along the bands, so a formant pattern moved by a few bands
    (another speaker's voice) gives the same features moved along, which pooling then mostly absorbs.

    Args:
        n_mels: bands M.
        frames: frames per slice K.
        channels: channels C of the first convolution.
        dim: output width D.
    """

    def __init__(self, n_mels: int, frames: int, channels: int, dim: int) -> None:
        super().__init__()
        widths = (1, channels, 2 * channels, 2 * channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1] * (n_mels // 8) * frames, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, k, m = x.shape  # (B, N, K, M)
        h = x.reshape(b * n, 1, k, m).transpose(2, 3)  # (B*N, 1, M, K)
        for conv in self.convs:
            h = F.max_pool2d(F.gelu(conv(h)), (2, 1))  # (B*N, C_i, M / 2^i, K)
        return self.out(h.reshape(b, n, -1))  # (B, N, D)


class AudioTokenizer(nn.Module):
    """(wave (B, T), lengths (B,)) -> TokenSet of log-mel slices: positions = slice index, type AUDIO.

    Args:
        cfg: features and slicing.
        dim: backbone width D.
        max_tokens: most slices a clip may have (the recipe crops clips to fit).
    """

    type_id = AUDIO

    def __init__(self, cfg: MelConfig, dim: int, max_tokens: int) -> None:
        super().__init__()
        self.cfg, self.max_tokens = cfg, max_tokens
        self.logmel = LogMel(cfg)
        k, m = cfg.frames_per_token, cfg.bands
        if cfg.proj == "stem":
            self.proj: nn.Module = SpectrogramStem(m // cfg.n_mels, cfg.n_mels, k, cfg.conv_channels, dim,
                                                    cfg.conv_depth)
        else:
            self.proj = nn.Linear(m * k, dim) if cfg.proj == "linear" else ConvSliceEmbed(m, k, cfg.conv_channels, dim)

    def forward(self, wave: Tensor, lengths: Optional[Tensor] = None) -> TokenSet:
        """wave: (B, T) float, zero-padded; lengths: (B,) real samples per clip (None = all real)."""
        x, frame_mask = self.logmel(wave, lengths)  # (B, M, T), (B, T)
        k = self.cfg.frames_per_token
        b, m, t = x.shape
        n = math.ceil(t / k)
        if n > self.max_tokens:
            raise ValueError(f"clip gives {n} slices, more than max_tokens={self.max_tokens}; crop it first")
        x, frame_mask = F.pad(x, (0, n * k - t)), F.pad(frame_mask, (0, n * k - t))  # (B, M, N*K), (B, N*K)
        mask = frame_mask.view(b, n, k).any(dim=-1)  # (B, N)
        if self.cfg.proj == "stem":  # norm "both": the two versions are two input channels
            embeds = self.proj(x.view(b, -1, self.cfg.n_mels, n * k), frame_mask)  # (B, N, D)
        else:
            x = x.transpose(1, 2).reshape(b, n, k, m)  # (B, N, K, M)
            embeds = self.proj(x if self.cfg.proj == "conv" else x.flatten(2))  # (B, N, D)
        return TokenSet.of(embeds, self.type_id, torch.arange(n, device=x.device), mask)
