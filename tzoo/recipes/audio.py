"""Recipe `audio-fsdd`: spoken-digit recognition on the Free Spoken Digit Dataset.

Clip -> AudioTokenizer (log-mel slices) [+ a learned CLS token] -> backbone (full attention)
-> ClassificationTask over the ten digits.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import torch

from ..backbone import BackboneConfig
from ..devices import to_device
from ..modalities.clips import ClipBatches, WaveAugment, eval_batches, pad_batch
from ..modalities.fsdd import Clips, decode_all, find_recordings, scan, split, split_validation
from ..modalities.splits import fraction_rows
from ..modalities.streams import Stream, step_generator
from ..modalities.wav import OnLong, fit_length, read_wav
from ..tasks import ClassificationTask, TzooModel, classification_metrics, classify
from ..tokenizers import QueryTokenizer
from ..tokenizers.audio import AudioTokenizer, MelConfig
from .base import Loaded, RecipeBase, TaskData, TaskHead, build_model
from .classify import classifier_data, ranked
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig

DIGITS = tuple(str(d) for d in range(10))
TASK = "fsdd"


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
        val_indices: recording indices [first, last] of the training speakers held out for
            validation (checkpoints and presets are chosen on them; the test split is scored once).
        train_fraction: train on this digit-stratified fraction of the remaining training clips (a
            fixed choice; validation and test stay whole): 0.1 = a tenth of the data.
    """

    dir: Optional[str] = None
    holdout_speaker: Optional[str] = None
    max_seconds: float = 3.0
    on_long: Literal["crop", "error"] = "crop"
    max_bad_fraction: float = 0.05
    val_indices: tuple[int, ...] = (5, 9)
    train_fraction: float = 1.0

    def validate(self) -> None:
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction: must be in (0, 1], got {self.train_fraction}")
        if len(self.val_indices) != 2 or not 0 <= self.val_indices[0] <= self.val_indices[1]:
            raise ValueError(f"val_indices: expected FIRST,LAST with 0 <= FIRST <= LAST, got {self.val_indices}")
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

    def max_samples(self) -> int:
        return max(round(self.data.max_seconds * self.mel.rate), 1)

    def max_tokens(self) -> int:
        return self.mel.tokens(self.max_samples())


def audio_head(cfg: AudioConfig, num_classes: int = len(DIGITS)) -> TaskHead:
    """Mel-slice tokens [+ a CLS token] -> full attention -> the classes (ten digits); positions fit the longest clip."""
    def make(dim: int):
        tokenizers: dict[str, Any] = {"audio": AudioTokenizer(cfg.mel, dim, cfg.max_tokens())}
        inputs: tuple[str, ...] = ("audio",)
        if cfg.model.pool == "cls":
            tokenizers = {"query": QueryTokenizer(1, dim), **tokenizers}
            inputs = ("query", "audio")
        return tokenizers, ClassificationTask(dim, num_classes, inputs, cfg.model.pool, cfg.model.label_smoothing)
    return TaskHead(cfg.max_tokens(), make, f"--data.max_seconds={cfg.data.max_seconds:g}")


def make_model(cfg: AudioConfig) -> TzooModel:
    return build_model(cfg.backbone, {TASK: audio_head(cfg)})


def clip_reader(cfg: AudioConfig, on_long: Optional[OnLong] = None) -> Callable[[Path], torch.Tensor]:
    """path -> mono waveform at the recipe's rate, cut to the model's maximum (or refused)."""
    rate, limit, policy = cfg.mel.rate, cfg.max_samples(), on_long or cfg.data.on_long

    def read(path: Path) -> torch.Tensor:
        return fit_length(read_wav(path, rate), limit, policy, str(path), rate)
    return read


def load_splits(cfg: AudioConfig) -> tuple[Clips, Clips, Clips]:
    """Decoded (train, validation, test) clips of the configured split."""
    folder = find_recordings(cfg.data.dir)
    train, test = split(scan(folder), cfg.data.holdout_speaker, folder)
    train, val = split_validation(train, cfg.data.val_indices, folder)
    train = [train[i] for i in fraction_rows(torch.tensor([r.digit for r in train]), cfg.data.train_fraction).tolist()]
    read, bad = clip_reader(cfg), cfg.data.max_bad_fraction
    return (decode_all(train, read, "training", bad), decode_all(val, read, "validation", bad),
            decode_all(test, read, "test", bad))


def audio_data(cfg: AudioConfig, train: Clips, val: Clips, test: Clips) -> TaskData:
    """Augmented training clips; validation clips in a fixed shuffled order; the test split."""
    bs, seed = cfg.loop.batch_size, cfg.loop.seed
    augment = cfg.augment if any(vars(cfg.augment).values()) else None
    source = ClipBatches(train.waves, train.labels, bs, seed, cfg.mel.rate, augment, cfg.max_samples(), len(DIGITS))
    order = torch.randperm(len(val), generator=step_generator(0, Stream.EVAL_PROBE)).tolist()

    def val_batches(rows: Optional[int], rank: int, world: int):
        ids = order[:rows]  # the same clips whatever the batch size and process count
        return eval_batches([val.waves[i] for i in ids], val.labels[ids], bs, rank, world)

    def test_batches(rows: Optional[int], rank: int, world: int):
        return eval_batches(test.waves, test.labels, bs, rank, world)

    periodic = cfg.loop.eval_batches * bs if cfg.loop.eval_batches else None
    return classifier_data(source, val_batches, test_batches, DIGITS, periodic)


class AudioRecipe(RecipeBase):
    """Spoken-digit classifier on log-mel slices."""

    name = "audio-fsdd"
    task = TASK
    headline = ("test_acc", True)
    modalities = ("audio",)
    hub_task = "audio-classification"
    summary = "spoken-digit recognition on the Free Spoken Digit Dataset (log-mel slices, 8 kHz)"
    verbs = ("predict", "eval")
    obsolete = ("eval_clips",)
    option_defaults = {"predict": {"top_k": 3}}
    eval_keys = ("data.dir",)

    def task_parts(self, cfg: AudioConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        train, val, test = load_splits(cfg)
        return audio_head(cfg), audio_data(cfg, train, val, test)

    # -- using a trained run ---------------------------------------------------------------
    def task_head(self, cfg: AudioConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        return audio_head(cfg), {"class_names": list(DIGITS)}

    def predict(self, loaded: Loaded, cfg: AudioConfig, inputs: list[str], **options: Any) -> list[dict]:
        """The `top_k` (3) most probable digits of each WAV file (any rate, mono or stereo)."""
        k = self.verb_options("predict", options)["top_k"]
        read = clip_reader(cfg)
        waves = [read(Path(p)) for p in inputs]  # every file is checked before anything is scored
        bs, logits = cfg.loop.batch_size, []
        with torch.no_grad():
            for s in range(0, len(waves), bs):
                wave, lengths = pad_batch(waves[s:s + bs])
                batch = to_device({"audio": {"wave": wave, "lengths": lengths}}, loaded.device)
                logits.append(loaded.model(batch, task=loaded.task).outputs["logits"])
        return ranked(inputs, torch.cat(logits), DIGITS, k)

    def evaluate(self, loaded: Loaded, cfg: AudioConfig, overrides: dict[str, str]) -> dict:
        """Accuracy on the run's test split, or with --data.dir on every `{digit}_*.wav` in a folder."""
        folder = self.eval_overrides(overrides).get("data.dir")
        if folder is None:
            clips, where = load_splits(cfg)[2], "test split"
        else:
            path = find_recordings(folder)
            clips = decode_all(scan(path, strict=False), clip_reader(cfg), "evaluation", cfg.data.max_bad_fraction)
            where = str(path)
        sums = classify(loaded.model, eval_batches(clips.waves, clips.labels, cfg.loop.batch_size), len(DIGITS),
                        loaded.device, loaded.task)
        m = classification_metrics(sums, DIGITS, prefix="eval")
        return {"data": where, "clips": len(clips), "skipped": clips.skipped, "per_digit_acc": m["eval_per_class_acc"],
                "loss": m["eval_loss"], "accuracy": m["eval_acc"]}


def _fast() -> AudioConfig:
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
        loop=LoopConfig(batch_size=32, max_steps=6000, eval_every=1000, eval_batches=0, save_every=1000),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=200, weight_decay=0.05),
    )


def _conv() -> AudioConfig:
    """`fast` with a small convolution stack turning each slice into its token: generalises better to
    unseen speakers, costs about 2.6x fast's time on a CPU (about 16 minutes)."""
    cfg = _fast()
    return replace(cfg, mel=replace(cfg.mel, proj="conv", conv_channels=16))


def _stem() -> AudioConfig:
    """The default: `fast` with a convolutional stem over the whole clip making the tokens (three stages
    of two convolutions, 32, 64, 64 channels; each token sees its neighbours' frames too): generalises
    best to unseen speakers; the slowest preset (about 1.3x the conv preset's time on a CPU)."""
    cfg = _fast()
    return replace(cfg, mel=replace(cfg.mel, proj="stem", conv_channels=32, conv_depth=2))


AUDIO_FSDD = AudioRecipe({"stem": _stem, "fast": _fast, "conv": _conv})
