"""Recipe `audio-fsdd`: spoken-digit recognition on the Free Spoken Digit Dataset.

Clip -> AudioTokenizer (log-mel slices) [+ a learned CLS token] -> backbone (full attention)
-> ClassificationTask over the ten digits.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal, Optional

import torch

from ..backbone import Backbone, BackboneConfig
from ..errors import TzooError
from ..modalities.clips import ClipBatches, WaveAugment, eval_batches, pad_batch
from ..modalities.fsdd import Clips, decode_all, find_recordings, scan, split
from ..modalities.wav import OnLong, fit_length, read_wav
from ..tasks import ClassificationTask, TzooModel, classification_metrics, classify, top_k
from ..tokenizers import QueryTokenizer
from ..tokenizers.audio import AudioTokenizer, MelConfig
from .base import Parts
from .checkpoint import load_weights, model_sha
from .classify import classifier_parts, print_top_k
from .rundir import WEIGHTS, RunDir
from .settings import LoopConfig, OptimConfig, sized_backbone

DIGITS = tuple(str(d) for d in range(10))


@dataclass
class AudioDataConfig:
    """Where the clips come from and how they are split.

    Attributes:
        dir: folder of `{digit}_{speaker}_{index}.wav` files; unset = $TZOO_DATA/fsdd/recordings.
        holdout_speaker: test on this speaker, train on the others; unset = the official split
            (recording index 0-4 test, 5-49 train).
        max_seconds: longest clip the model takes; longer ones are cropped or refused (on_long).
        on_long: "crop" (keep the first max_seconds, with a warning) or "error".
        max_bad_fraction: a dataset with more unusable files than this fraction is refused;
            fewer are reported and skipped.
    """

    dir: Optional[str] = None
    holdout_speaker: Optional[str] = None
    max_seconds: float = 3.0
    on_long: Literal["crop", "error"] = "crop"
    max_bad_fraction: float = 0.05

    def validate(self) -> None:
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds: must be > 0, got {self.max_seconds}")
        if not 0 <= self.max_bad_fraction < 1:
            raise ValueError(f"max_bad_fraction: must be in [0, 1), got {self.max_bad_fraction}")


@dataclass
class AudioModelConfig:
    """Head of the classifier.

    Attributes:
        pool: "cls" (a learned query token first, its state is classified) or "mean" (mean of the
            real audio token states).
        label_smoothing: cross-entropy label smoothing while training.
    """

    pool: Literal["cls", "mean"] = "mean"
    label_smoothing: float = 0.1

    def validate(self) -> None:
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing: must be in [0, 1), got {self.label_smoothing}")


@dataclass
class AudioConfig:
    """The audio-fsdd recipe: data, features, augmentation, backbone, loop, optimizer, head."""

    data: AudioDataConfig = field(default_factory=AudioDataConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    augment: WaveAugment = field(default_factory=WaveAugment)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    model: AudioModelConfig = field(default_factory=AudioModelConfig)
    eval_clips: int = 320  # test clips scored at each periodic evaluation (the final one scores all)

    def validate(self) -> None:
        if self.eval_clips < 1:
            raise ValueError(f"eval_clips: must be >= 1, got {self.eval_clips}")

    def max_samples(self) -> int:
        return max(round(self.data.max_seconds * self.mel.rate), 1)

    def max_tokens(self) -> int:
        return self.mel.tokens(self.max_samples())


def make_model(cfg: AudioConfig) -> TzooModel:
    """Tokenizers, backbone and head for `cfg`; the position table fits the longest allowed clip."""
    backbone_cfg = sized_backbone(cfg.backbone, cfg.max_tokens(), f"--data.max_seconds={cfg.data.max_seconds:g}")
    dim = backbone_cfg.dim
    tokenizers = {"audio": AudioTokenizer(cfg.mel, dim, cfg.max_tokens())}
    inputs: tuple[str, ...] = ("audio",)
    if cfg.model.pool == "cls":
        tokenizers = {"query": QueryTokenizer(1, dim), **tokenizers}
        inputs = ("query", "audio")
    task = ClassificationTask(dim, len(DIGITS), inputs, cfg.model.pool, cfg.model.label_smoothing)
    return TzooModel(tokenizers, Backbone(backbone_cfg), task)


def clip_reader(cfg: AudioConfig, on_long: Optional[OnLong] = None) -> Callable[[Path], torch.Tensor]:
    """path -> mono waveform at the recipe's rate, cut to the model's maximum (or refused)."""
    rate, limit, policy = cfg.mel.rate, cfg.max_samples(), on_long or cfg.data.on_long

    def read(path: Path) -> torch.Tensor:
        return fit_length(read_wav(path, rate), limit, policy, str(path), rate)
    return read


def load_splits(cfg: AudioConfig) -> tuple[Clips, Clips]:
    """Decoded (train, test) clips of the configured split."""
    folder = find_recordings(cfg.data.dir)
    train, test = split(scan(folder), cfg.data.holdout_speaker, folder)
    read, bad = clip_reader(cfg), cfg.data.max_bad_fraction
    return decode_all(train, read, "training", bad), decode_all(test, read, "test", bad)


class AudioRecipe:
    """Spoken-digit classifier on log-mel slices."""

    name = "audio-fsdd"
    summary = "spoken-digit recognition on the Free Spoken Digit Dataset (log-mel slices, 8 kHz)"

    def __init__(self, presets: dict[str, Callable[[], AudioConfig]]) -> None:
        self.presets = presets

    def default(self) -> AudioConfig:
        return next(iter(self.presets.values()))()

    def build(self, cfg: AudioConfig, run: RunDir, device: torch.device, is_main: bool,
              barrier: Callable[[], None]) -> Parts:
        train, test = load_splits(cfg)
        model = make_model(cfg)
        bs, seed = cfg.loop.batch_size, cfg.loop.seed
        augment = cfg.augment if any(vars(cfg.augment).values()) else None
        source = ClipBatches(train.waves, train.labels, bs, seed, cfg.mel.rate, augment, cfg.max_samples(),
                             len(DIGITS))
        probe = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
        probe = probe[: cfg.eval_clips].tolist()  # the same clips whatever the batch size and process count

        def batches(final: bool, rank: int, world: int):
            ids = range(len(test)) if final else probe
            return eval_batches([test.waves[i] for i in ids], test.labels[list(ids)], bs, rank, world)

        return classifier_parts(model, source, batches, DIGITS)

    # -- using a trained run ---------------------------------------------------------------
    def load(self, cfg: AudioConfig, run: RunDir) -> TzooModel:
        model = make_model(cfg)
        load_weights(model, run / WEIGHTS, model_sha(run))
        return model.eval()

    def predict(self, cfg: AudioConfig, run: RunDir, paths: list[str]) -> None:
        """Print the most probable digits of each WAV file (any rate, mono or stereo)."""
        read = clip_reader(cfg)
        waves = [read(Path(p)) for p in paths]  # every file is checked before anything is printed
        model, bs, logits = self.load(cfg, run), cfg.loop.batch_size, []
        with torch.no_grad():
            for s in range(0, len(waves), bs):
                wave, lengths = pad_batch(waves[s:s + bs])
                batch = {"audio": {"wave": wave, "lengths": lengths}, "targets": torch.zeros_like(lengths)}
                logits.append(model(batch).outputs["logits"])  # the loss against dummy targets is unused
        print_top_k(paths, top_k(torch.cat(logits), DIGITS, k=3))

    def evaluate_run(self, cfg: AudioConfig, run: RunDir, overrides: dict[str, str]) -> dict:
        """Accuracy on the run's test split, or with --data.dir on every `{digit}_*.wav` in a folder."""
        extra = sorted(set(overrides) - {"data.dir"})
        if extra:
            raise TzooError(f"tzoo eval of {self.name} takes only --data.dir, not --{extra[0]}")
        folder = overrides.get("data.dir")
        if folder is None:
            clips, where = load_splits(cfg)[1], "test split"
        else:
            path = find_recordings(folder)
            clips = decode_all(scan(path, strict=False), clip_reader(cfg), "evaluation", cfg.data.max_bad_fraction)
            where = str(path)
        model = self.load(cfg, run)
        sums = classify(model, eval_batches(clips.waves, clips.labels, cfg.loop.batch_size), len(DIGITS),
                        torch.device("cpu"))
        m = classification_metrics(sums, DIGITS, prefix="eval")
        return {"data": where, "clips": len(clips), "skipped": clips.skipped, "per_digit_acc": m["eval_per_class_acc"],
                "loss": m["eval_loss"], "accuracy": m["eval_acc"]}


def _default() -> AudioConfig:
    """About 6 minutes on a 2-core CPU: 6000 steps of 32 clips (about 70 epochs), linear slice tokens.

    Transformers from scratch need many epochs and strong augmentation to generalise to unseen
    speakers: speed perturbation, time shift, noise, mixup, random equalisation and SpecAugment,
    with the log-mel values normalised per clip and per band side by side (see the README for
    what each was measured to give).
    """
    return AudioConfig(
        mel=MelConfig(norm="both", eq_db=10.0),
        augment=WaveAugment(speed=0.15, shift=0.05, noise_snr_db=10.0, mixup=0.4),
        backbone=BackboneConfig(dim=128, depth=4, heads=4, dropout=0.1, drop_path=0.1),
        loop=LoopConfig(batch_size=32, max_steps=6000, eval_every=1000, eval_batches=10, save_every=1000),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=200, weight_decay=0.05),
    )


def _conv() -> AudioConfig:
    """The default with a small convolution stack turning each slice into its token: generalises
    better to unseen speakers, costs about 2.6x the default's time on a CPU (about 16 minutes)."""
    cfg = _default()
    return replace(cfg, mel=replace(cfg.mel, proj="conv", conv_channels=16))


def _stem() -> AudioConfig:
    """The default with a convolutional stem over the whole clip making the tokens (three stages of
    two convolutions, 32, 64, 64 channels; each token sees its neighbours' frames too): generalises
    best to unseen speakers; the slowest preset (about 1.3x the conv preset's time on a CPU)."""
    cfg = _default()
    return replace(cfg, mel=replace(cfg.mel, proj="stem", conv_channels=32, conv_depth=2))


AUDIO_FSDD = AudioRecipe({"default": _default, "conv": _conv, "stem": _stem})
