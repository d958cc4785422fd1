"""Recipe `audio-classify`: an audio transformer (log-mel slices) on your clips.

    tzoo train audio-classify --data.dataset=sounds/ --data.max_seconds=4 --loop.epochs=50

`--data.dataset` is a folder in the audiofolder layout (class folders, split folders, metadata.csv /
metadata.jsonl), a folder of parquet files or a Hub id with an Audio and a ClassLabel column. Any WAV
(rate, channels, sample width) is converted to mono at `--mel.rate`. Clips of any length: a batch is
padded and masked; a clip longer than `--data.max_seconds` is cropped at a random place in training
and, at evaluation and prediction, cut into windows of that length whose probabilities are averaged.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

from ..backbone import BackboneConfig
from ..devices import to_device
from ..errors import TzooError
from ..modalities.clips import ClipBatches, WaveAugment, windowed_batches
from ..modalities.convert import AudioConverter
from ..tasks import TzooModel
from ..tokenizers.audio import MelConfig
from .audio import AudioConfig, AudioModelConfig, audio_head
from .base import Loaded, RecipeBase, TaskData, TaskHead
from .classify import classifier_data, load_class_names, ranked, save_class_names
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig
from .yourdata import UserData, gather_inputs, load_user_data, splits_finish

TASK = "audio"


@dataclass
class AudioData(UserData):
    """Your clips (see `UserData` for the dataset, splits and cache), and the longest stretch the model takes.

    Attributes:
        audio_column: the audio column of a parquet folder / Hub dataset; "" = its first Audio column.
        max_seconds: the model's window: longer clips are cropped (training) or cut into windows whose
            predictions are averaged (evaluation, predict).
    """

    audio_column: str = ""
    max_seconds: float = 4.0

    def validate(self) -> None:
        super().validate()
        if not 0 < self.max_seconds <= 3600:
            raise ValueError(f"max_seconds: must be in (0, 3600], got {self.max_seconds}")


@dataclass
class AudioClassifyConfig(AudioConfig):
    data: AudioData = field(default_factory=AudioData)  # type: ignore[assignment]


@torch.no_grad()
def windowed_probs(model: TzooModel, waves: Sequence[Tensor], rows: Sequence[int], size: int, batch_size: int,
                   num_classes: int, task: Optional[str]) -> Tensor:
    """(len(rows), K) class probabilities of each clip: the mean over its windows of `size` samples."""
    device = next(model.parameters()).device
    where = {r: i for i, r in enumerate(rows)}
    total, count = torch.zeros(len(rows), num_classes, dtype=torch.float64), torch.zeros(len(rows), dtype=torch.float64)
    for owners, batch in windowed_batches(waves, size, batch_size, rows):
        logits = model(to_device(batch, device), task=task).outputs["logits"].float()
        at = torch.tensor([where[o] for o in owners])
        total.index_add_(0, at, logits.softmax(dim=-1).double().cpu())
        count.index_add_(0, at, torch.ones(len(owners), dtype=torch.float64))
    return total / count.clamp(min=1)[:, None]


def windowed_sums(model: TzooModel, waves: Sequence[Tensor], labels: Tensor, rows: Sequence[int], size: int,
                  batch_size: int, num_classes: int, task: Optional[str]) -> dict[str, Tensor]:
    """`tasks.classify`'s sums (loss, confusion) with each clip scored by its windows' mean probabilities."""
    device = next(model.parameters()).device
    probs = windowed_probs(model, waves, rows, size, batch_size, num_classes, task)
    targets = labels[list(rows)]
    loss = -probs.gather(1, targets[:, None]).clamp(min=1e-12).log().sum()
    pairs = targets * num_classes + probs.argmax(dim=-1)
    confusion = torch.bincount(pairs, minlength=num_classes ** 2).view(num_classes, num_classes).double()
    return {"loss_sum": loss.to(device), "confusion": confusion.to(device)}


def clip_data(cfg: AudioClassifyConfig, splits: dict[str, Any], names: list[str],
              extra_finish: Callable[[TzooModel, str, RunDir, dict], None]) -> TaskData:
    """Randomly cropped, augmented training clips; windowed validation and test scoring."""
    bs, seed, k, size = cfg.loop.batch_size, cfg.loop.seed, len(names), cfg.max_samples()
    augment = cfg.augment if any(vars(cfg.augment).values()) else None
    train = splits["train"]
    source = ClipBatches(train, train.labels, bs, seed, cfg.mel.rate, augment, size, k, crop=True)

    def scorer(split) -> Callable[[TzooModel, str, bool, int, int], dict[str, Tensor]]:
        def score(m: TzooModel, task: str, final: bool, rank: int, world: int) -> dict[str, Tensor]:
            n = len(split) if final or not cfg.loop.eval_batches else min(len(split), cfg.loop.eval_batches * bs * world)
            return windowed_sums(m, split, split.labels, list(range(n))[rank::world], size, bs, k, task)
        return score

    # classifier_data's summaries, checkpoint choice and confusion PNG, with windowed scorers
    no_batches = lambda rows, rank, world: iter(())  # noqa: E731
    data = classifier_data(source, no_batches, no_batches if "test" in splits else None, names, None, extra_finish)
    test = scorer(splits["test"]) if "test" in splits else None
    return replace(data, validate=scorer(splits["validation"]),
                   test=None if test is None else lambda m, task, rank, world: test(m, task, True, rank, world))


def wave_input(x: Any, name: str, rate: int) -> Tensor:
    """One input as mono float32 at `rate`: a WAV path (converted as in training) or (waveform, sample_rate)
    with the waveform (T,), (channels, T) or (T, channels), as an array or tensor."""
    if isinstance(x, Path):
        try:
            raw = x.read_bytes()
        except OSError as e:
            raise TzooError(f"{x}: cannot read ({e.strerror or e})") from None
        return AudioConverter(rate)(raw, name)
    if not (isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], (int, np.integer)) and x[1] > 0):
        raise TzooError(f"{name}: {type(x).__name__} is not audio; give a WAV file, a folder of them, or a "
                        "(waveform, sample_rate) pair")
    wave = torch.as_tensor(np.asarray(x[0]) if not isinstance(x[0], Tensor) else x[0].detach().cpu()).float()
    if wave.dim() == 2:
        wave = wave.mean(dim=0 if wave.shape[0] <= wave.shape[1] else 1)
    if wave.dim() != 1 or wave.numel() == 0 or not torch.isfinite(wave).all():
        raise TzooError(f"{name}: the waveform must be a non-empty (T,) or (channels, T) array of finite samples, "
                        f"got shape {tuple(wave.shape)}")
    return AF.resample(wave, int(x[1]), rate) if int(x[1]) != rate else wave


class AudioClassifyRecipe(RecipeBase):
    """Audio classification on a user's clips: any WAV, any length, splits from the data or carved."""

    name = "audio-classify"
    task = TASK
    headline = ("test_acc", True)
    summary = "audio transformer on your clips (--data.dataset: class folders, parquet folder or Hub id; any WAV)"
    verbs = ("predict",)
    modalities = ("audio",)
    hub_task = "audio-classification"
    option_defaults = {"predict": {"top_k": 5}}

    def task_parts(self, cfg: AudioClassifyConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        d = cfg.data
        data = load_user_data(d, "audio", AudioConverter(cfg.mel.rate), d.audio_column, is_main)
        save_class_names(run, data.class_names, is_main)
        finish = splits_finish(data.record, data.lines)
        return audio_head(cfg, len(data.class_names)), clip_data(cfg, data.splits, data.class_names, finish)

    def task_head(self, cfg: AudioClassifyConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        names = load_class_names(run)
        return audio_head(cfg, len(names)), {"class_names": names}

    def predict(self, loaded: Loaded, cfg: AudioClassifyConfig, inputs: list[Any], **options: Any) -> list[dict]:
        """The `top_k` (5) most probable classes of each input: WAV files (any rate, channels, length),
        folders of them, or (waveform, sample_rate) pairs; a clip longer than the model's window is cut
        into windows whose probabilities are averaged."""
        o = self.verb_options("predict", options)
        items = gather_inputs(inputs, "audio")
        waves = [wave_input(x, name, cfg.mel.rate) for name, x in items]  # every input checked first
        names = loaded.artefacts["class_names"]
        probs = windowed_probs(loaded.model, waves, range(len(waves)), cfg.max_samples(), cfg.loop.batch_size,
                               len(names), loaded.task)
        return ranked([name for name, _ in items], probs.clamp(min=1e-12).log(), names, o["top_k"])


def _cpu() -> AudioClassifyConfig:
    """A small model for a 2-core CPU: 16 kHz, 64 mel bands, 4 s windows (100 tokens), a conv stem,
    light augmentation, 50 epochs (at most 20,000 steps)."""
    return AudioClassifyConfig(
        data=AudioData(max_seconds=4.0),
        mel=MelConfig(rate=16000, n_fft=512, win_length=400, hop=160, n_mels=64, norm="both", proj="stem",
                      conv_channels=32, conv_depth=2),
        augment=WaveAugment(speed=0.1, shift=0.05, noise_snr_db=15.0),
        backbone=BackboneConfig(dim=128, depth=4, heads=4, dropout=0.1, drop_path=0.1),
        model=AudioModelConfig(pool="mean", label_smoothing=0.1),
        loop=LoopConfig(batch_size=32, epochs=50, max_steps=20000, eval_every=500, eval_batches=0, save_every=500),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=200, weight_decay=0.05),
    )


def _gpu() -> AudioClassifyConfig:
    """One GPU, bf16, a wider and deeper backbone, workers decoding ahead."""
    cfg = _cpu()
    return replace(cfg, backbone=BackboneConfig(dim=384, depth=8, heads=6, dropout=0.1, drop_path=0.1),
                   loop=replace(cfg.loop, batch_size=128, mixed_precision="bf16", workers=8, max_steps=50000))


AUDIO_CLASSIFY = AudioClassifyRecipe({"cpu": _cpu, "gpu": _gpu})
