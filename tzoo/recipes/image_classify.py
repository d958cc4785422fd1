"""Recipe `image-classify`: a Vision Transformer on your images.

    tzoo train image-classify --data.dataset=photos/ --data.image_size=64 --loop.epochs=30

`--data.dataset` is a folder in the imagefolder layout (class folders, split folders, metadata.csv /
metadata.jsonl), a folder of parquet files or a Hub id; images of any format, mode and size are
converted to `--data.image_size` squares with `--data.channels` channels (one note line says what was
converted). The model, batches and scoring are `vit-cifar10`'s; the data comes from `yourdata.py`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
from torch import Tensor

from ..backbone import BackboneConfig
from ..errors import TzooError
from ..modalities.cifar import ImageSplit
from ..modalities.convert import ImageConverter
from ..modalities.images import Augment
from ..modalities.table import Table
from .base import Loaded, TaskData, TaskHead
from .classify import ranked, save_class_names
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig
from .vit import VitConfig, VitModelConfig, VitRecipe, image_data, vit_head
from .yourdata import UserData, gather_inputs, load_user_data, splits_finish


@dataclass
class ImageData(UserData):
    """Your images (see `UserData` for the dataset, splits and cache), and the size the model takes.

    Attributes:
        image_column: the image column of a parquet folder / Hub dataset; "" = its first Image column.
        image_size: side of the square every image is converted to.
        channels: 3 (RGB) or 1 (greyscale), every image converted to it; 0 = from the data: 1 when
            the training images looked at (up to 256, spread over the split) are all greyscale, else 3
            (the run's config records the number chosen).
        fit: "crop" scales the shorter side and keeps the centre square; "squash" stretches.
    """

    image_column: str = ""
    image_size: int = 32
    channels: int = 0
    fit: Literal["crop", "squash"] = "crop"

    def validate(self) -> None:
        super().validate()
        if self.channels not in (0, 1, 3):
            raise ValueError(f"channels: must be 1, 3 or 0 (from the data), got {self.channels}")
        if self.image_size < 1:
            raise ValueError(f"image_size: must be >= 1, got {self.image_size}")

    def converter(self) -> ImageConverter:
        return ImageConverter(self.image_size, self.channels or 3, self.fit)


GREY = {"1", "L", "LA", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


def data_channels(table: Table, looked_at: int = 256) -> int:
    """1 when the images looked at (up to `looked_at`, spread over the table) are all greyscale, else 3;
    only headers are read, and an unreadable one is left to the decoder to report."""
    from PIL import Image

    n = len(table)
    m = min(n, looked_at)
    for i in sorted({round(k * (n - 1) / max(m - 1, 1)) for k in range(m)}):
        try:
            with Image.open(io.BytesIO(table.rows.read(i))) as im:
                if im.mode not in GREY:
                    return 3
        except Exception:  # the decoding pass names the file
            return 3
    return 1


@dataclass
class ImageClassifyConfig(VitConfig):
    data: ImageData = field(default_factory=ImageData)  # type: ignore[assignment]


class ImageClassifyRecipe(VitRecipe):
    """ViT image classification on a user's dataset: splits from the data or carved, epochs as the budget."""

    name = "image-classify"
    task = "image"
    summary = "Vision Transformer on your images (--data.dataset: class folders, parquet folder or Hub id)"
    verbs = ("predict",)
    option_defaults = {"predict": {"top_k": 5, "resize": True}}

    def task_parts(self, cfg: ImageClassifyConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        d = cfg.data
        data = load_user_data(d, "image", lambda train: self._converter(d, train, is_main), d.image_column, is_main)
        save_class_names(run, data.class_names, is_main)
        split = {name: ImageSplit(s, s.labels, data.class_names) for name, s in data.splits.items()}
        return vit_head(cfg, len(data.class_names)), image_data(
            cfg, split["train"], split["validation"], split.get("test"), splits_finish(data.record, data.lines))

    @staticmethod
    def _converter(d: ImageData, train: Table, is_main: bool) -> ImageConverter:
        """The converter for `d`; with channels 0, the data's channels, recorded in `d` (saved with the run)."""
        if not d.channels:
            d.channels = data_channels(train)
            if is_main:
                print(f"data: {'greyscale' if d.channels == 1 else 'colour'} images: {d.channels} channel"
                      f"{'s' if d.channels > 1 else ''} (--data.channels=1 or 3 to choose)", flush=True)
        return d.converter()

    def predict(self, loaded: Loaded, cfg: ImageClassifyConfig, inputs: list[Any], **options: Any) -> list[dict]:
        """The `top_k` (5) most probable classes of each input: image files (any format, mode or size,
        converted as in training), folders of them, PIL images, (H, W[, C]) arrays or (C, H, W) tensors.
        `resize=False` refuses an image whose size is not the model's instead of converting it."""
        o = self.verb_options("predict", options)
        items = gather_inputs(inputs, "image")
        conv = cfg.data.converter()
        images = torch.stack([image_input(x, name, conv, o["resize"]) for name, x in items])
        device, logits = loaded.device, []
        with torch.no_grad():
            for s in range(0, len(images), 256):
                batch = {"image": images[s:s + 256].to(device)}
                logits.append(loaded.model(batch, task=loaded.task).outputs["logits"].float().cpu())
        return ranked([name for name, _ in items], torch.cat(logits), loaded.artefacts["class_names"], o["top_k"])


def to_pil(x: Any, name: str):
    """A PIL image of an in-memory image: PIL as is, (H, W[, C]) arrays, (C, H, W) or (H, W) tensors
    (uint8, or floats in [0, 1] / [0, 255])."""
    from PIL import Image

    if isinstance(x, Image.Image):
        return x
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        if x.dim() == 3 and x.shape[0] in (1, 3, 4) and x.shape[-1] not in (1, 3, 4):
            x = x.permute(1, 2, 0)
        x = x.numpy()
    if not isinstance(x, np.ndarray) or x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] not in (1, 3, 4)):
        shape = getattr(x, "shape", None)
        raise TzooError(f"{name}: {type(x).__name__}{'' if shape is None else ' of shape ' + str(tuple(shape))} is "
                        "not an image; give a file, a folder, a PIL image, an (H, W[, C]) array or a (C, H, W) tensor")
    if x.dtype != np.uint8:
        x = x.astype(np.float64)
        x = np.nan_to_num(x * (255.0 if x.size and np.nanmax(x) <= 1.0 else 1.0))
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return Image.fromarray(x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x)


def image_input(x: Any, name: str, conv: ImageConverter, resize: bool) -> Tensor:
    """One input as (C, size, size) uint8, converted as in training (or refused if not `resize`
    and its size is not the model's)."""
    if isinstance(x, Path):
        try:
            raw = x.read_bytes()
        except OSError as e:
            raise TzooError(f"{x}: cannot read ({e.strerror or e})") from None
        if not resize:
            check_size(to_pil_bytes(raw, name, conv), name, conv.size)
        return conv(raw, name)
    im = to_pil(x, name)
    if not resize:
        check_size(im, name, conv.size)
    try:
        return conv._convert(im, None)
    except Exception as e:  # PIL's many errors on odd modes
        raise TzooError(f"{name}: cannot convert this image ({' '.join(str(e).split())[:100]})") from None


def to_pil_bytes(raw: bytes, name: str, conv: ImageConverter):
    import io

    from PIL import Image

    try:
        return Image.open(io.BytesIO(raw))
    except Exception:
        return conv(raw, name)  # raises the converter's one-line error


def check_size(im, name: str, size: int) -> None:
    if tuple(im.size) != (size, size):
        raise TzooError(f"{name}: image is {im.size[0]}x{im.size[1]}, the model takes {size}x{size}; "
                        "let predict convert it (resize=True, the default) or resize it first")


def _cpu() -> ImageClassifyConfig:
    """A small ViT for a 2-core CPU: 32x32 images, a conv stem giving 16 tokens, 30 epochs (at most
    20,000 steps), the whole validation split at each evaluation."""
    return ImageClassifyConfig(
        data=ImageData(image_size=32),
        backbone=BackboneConfig(dim=128, depth=6, heads=4, mlp_ratio=2.0, bias=True),
        model=VitModelConfig(patch_size=8, pool="cls", label_smoothing=0.1, stem="conv", stem_channels=32),
        loop=LoopConfig(batch_size=64, epochs=30, max_steps=20000, eval_every=500, eval_batches=0, save_every=500,
                        log_every=50),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=100, weight_decay=0.05, beta2=0.999),
    )


def _gpu() -> ImageClassifyConfig:
    """One GPU, bf16, compiled, RandAugment: 64x64 images, 100 epochs (at most 50,000 steps), workers decoding."""
    cfg = _cpu()
    return replace(
        cfg, data=ImageData(image_size=64),
        backbone=BackboneConfig(dim=384, depth=8, heads=6, mlp_ratio=3.0, bias=True, drop_path=0.1),
        model=VitModelConfig(patch_size=8, pool="cls", label_smoothing=0.1),
        augment=Augment(crop_padding=4, flip=True, randaugment="rand-m9-mstd0.5"),
        loop=LoopConfig(batch_size=256, epochs=100, max_steps=50000, eval_every=1000, eval_batches=0, save_every=1000,
                        log_every=200, mixed_precision="bf16", compile=True, workers=8),
    )


IMAGE_CLASSIFY = ImageClassifyRecipe({"cpu": _cpu, "gpu": _gpu})
