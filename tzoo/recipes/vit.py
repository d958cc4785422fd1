"""Recipe `vit-cifar10`: a Vision Transformer through the shared backbone on CIFAR-10."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import torch
from torch import Tensor

from ..backbone import BackboneConfig
from ..errors import TzooError
from ..modalities.cifar import HUB_ID, ImageSplit, load_images
from ..modalities.images import Augment, ImageBatches, eval_batches
from ..modalities.splits import fraction_rows, stratified_split
from ..modalities.streams import Stream, step_generator
from ..tasks import ClassificationTask, TzooModel, classification_metrics, classify
from ..tokenizers import QueryTokenizer
from ..tokenizers.image import ImageTokenizer
from .base import Loaded, RecipeBase, TaskData, TaskHead, build_model
from .classify import classifier_data, load_class_names, ranked, save_class_names
from .plots import attention_overlays
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig

TASK = "cifar10"


@dataclass
class ImageDataConfig:
    """Where the images come from.

    Attributes:
        dir: folder with train-*.parquet / test-*.parquet (the Hub's layout); unset = $TZOO_DATA/cifar10,
            else the Hub dataset `hub_id`.
        hub_id: Hugging Face Hub dataset id, used when no local folder is found.
        image_size: expected side of the square images.
        on_wrong_size: "error" (name the record) or "resize" images of another size.
        val_size: images carved from the training split for validation (class-stratified); checkpoints
            and presets are chosen on them, the test split is scored once at the end.
        val_seed: seed of that carving (fixed, so every run validates on the same images).
        train_fraction: train on this class-stratified fraction of the remaining training images
            (fixed by val_seed; validation and test stay whole): 0.1 = a tenth of the data.
    """

    dir: Optional[str] = None
    hub_id: str = HUB_ID
    image_size: int = 32
    on_wrong_size: Literal["error", "resize"] = "error"
    val_size: int = 5000
    val_seed: int = 0
    train_fraction: float = 1.0

    def validate(self) -> None:
        if self.val_size < 1:
            raise ValueError(f"val_size: must be >= 1, got {self.val_size}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction: must be in (0, 1], got {self.train_fraction}")


@dataclass
class VitModelConfig:
    """Tokenizer and head.

    Attributes:
        patch_size: side of a square patch (image_size must be a multiple).
        pool: "cls" (a learned query token) or "mean" (mean of the patch tokens).
        registers: extra learned query tokens beside the CLS token.
        label_smoothing: for hard targets (Mixup/CutMix put it into their soft targets).
        patch_keep: fraction of patches each training image keeps (patch dropout; 1.0 = all).
        stem: "linear" (one linear map per patch, as ViT) or "conv" (3x3 stride-2 convolutions,
            one token per patch_size x patch_size cell; patch_size a power of two).
        stem_channels: width of the conv stem's first convolution (doubled at each further one).
    """

    patch_size: int = 4
    pool: Literal["cls", "mean"] = "cls"
    registers: int = 0
    label_smoothing: float = 0.1
    patch_keep: float = 1.0
    stem: Literal["linear", "conv"] = "linear"
    stem_channels: int = 32

    def validate(self) -> None:
        if not 0.0 < self.patch_keep <= 1.0:
            raise ValueError(f"patch_keep: must be in (0, 1], got {self.patch_keep}")
        p = self.patch_size
        if self.stem == "conv" and (p < 2 or p & (p - 1)):
            raise ValueError(f"patch_size: the conv stem needs a power of two >= 2, got {p}")
        if self.stem_channels < 1:
            raise ValueError(f"stem_channels: must be >= 1, got {self.stem_channels}")


@dataclass
class VitConfig:
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    augment: Augment = field(default_factory=Augment)
    model: VitModelConfig = field(default_factory=VitModelConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def validate(self) -> None:
        if self.data.image_size % self.model.patch_size:
            raise ValueError(f"model.patch_size: {self.model.patch_size} does not divide "
                             f"data.image_size {self.data.image_size}")
        if (self.augment.mixup_alpha or self.augment.cutmix_alpha) and self.loop.batch_size % 2:
            raise ValueError("loop.batch_size: Mixup/CutMix need an even batch size")
        if not 0 <= self.model.label_smoothing < 1:
            raise ValueError("model.label_smoothing: must be in [0, 1)")


def vit_head(cfg: VitConfig, num_classes: int) -> TaskHead:
    """Query (CLS + registers) and patch tokens -> full attention -> linear head. Images have
    `cfg.data.channels` channels where the data section has that key (else 3, CIFAR's statistics)."""
    m = cfg.model
    patches = (cfg.data.image_size // m.patch_size) ** 2
    queries = (1 if m.pool == "cls" else 0) + m.registers
    channels = getattr(cfg.data, "channels", 3) or 3
    stats = {} if channels == 3 else {"mean": (0.5,) * channels, "std": (0.25,) * channels}

    def make(d: int):
        tokenizers: dict[str, Any] = {"image": ImageTokenizer(m.patch_size, d, channels, keep=m.patch_keep,
                                                              stem=m.stem, stem_channels=m.stem_channels, **stats)}
        inputs: tuple[str, ...] = ("image",)
        if queries:  # build only what the task uses: unused parameters upset DDP
            tokenizers["query"] = QueryTokenizer(queries, d)
            inputs = ("query", "image")
        return tokenizers, ClassificationTask(d, num_classes, inputs, m.pool, m.label_smoothing)
    return TaskHead(max(patches, queries), make, f"--data.image_size={cfg.data.image_size}")


def make_model(cfg: VitConfig, num_classes: int) -> TzooModel:
    return build_model(cfg.backbone, {TASK: vit_head(cfg, num_classes)})


def pooled_attention(model: TzooModel, images: Tensor, task: str = TASK) -> Tensor:
    """(B, gh, gw): last block's attention from the pooled token(s) to each patch, mean over heads."""
    tokens, spans = model.tokenize({"image": images}, task)
    last = model.backbone.attention_maps(tokens, "full")[-1].mean(dim=1)  # (B, N, N)
    a, b = spans[-1]
    rows = last[:, 0, a:b] if model.head(task).pool == "cls" else last[:, a:b, a:b].mean(dim=1)
    gh, gw = model.tokenizer("image", task).grid(images.shape[-2], images.shape[-1])
    return rows.reshape(-1, gh, gw)


def carve_validation(train: ImageSplit, size: int, seed: int) -> tuple[ImageSplit, ImageSplit]:
    """(train, validation): a fixed, seeded, class-stratified `size` images out of the training split,
    the validation rows in a seeded shuffled order (so any leading part is a fair sample)."""
    keep, held = stratified_split(train.labels, size, seed)
    held = held[torch.randperm(len(held), generator=step_generator(seed, Stream.EVAL_PROBE))]
    return image_rows(train, keep), image_rows(train, held)


def image_rows(split: ImageSplit, rows: Tensor) -> ImageSplit:
    """The images of `split` at `rows`."""
    return ImageSplit(split.images[rows], split.labels[rows], split.class_names)


def image_data(cfg: VitConfig, train: ImageSplit, val: ImageSplit, test: Optional[ImageSplit],
               extra_finish: Optional[Callable[[TzooModel, str, RunDir, dict], None]] = None) -> TaskData:
    """Training batches (augmented), validation and test scoring (no test split: None), confusion and
    attention PNGs. A split's `images` may be a (N, C, H, W) uint8 tensor or anything indexing like
    one (`modalities.decoded.Decoded`, which decodes rows that are not held in memory)."""
    seed, bs, names = cfg.loop.seed, cfg.loop.batch_size, train.class_names
    source = ImageBatches(train.images, train.labels, bs, seed, cfg.augment, len(names), cfg.model.label_smoothing)

    def split_batches(split: ImageSplit):
        def batches(rows: Optional[int], rank: int, world: int):
            return eval_batches(split.images, split.labels[:rows], max(bs, 256), rank, world)  # no copy: lazy rows
        return batches

    def attention_png(m: TzooModel, task: str, run: RunDir, summary: dict) -> None:
        pick = torch.stack([(val.labels == c).nonzero()[0, 0] for c in val.labels.unique()[:10]])
        with torch.no_grad():
            maps = pooled_attention(m, val.images[pick].to(next(m.parameters()).device), task)
        shown = val.images[pick]
        attention_overlays(shown.expand(-1, 3, -1, -1), maps, [names[i] for i in val.labels[pick]], run / "attention.png")
        if extra_finish is not None:
            extra_finish(m, task, run, summary)

    periodic = cfg.loop.eval_batches * bs if cfg.loop.eval_batches else None
    return classifier_data(source, split_batches(val), split_batches(test) if test is not None else None, names,
                           periodic, attention_png)


class VitRecipe(RecipeBase):
    """ViT image classification on CIFAR-10 (or any parquet image dataset with the same schema)."""

    name = "vit-cifar10"
    task = TASK
    headline = ("test_acc", True)
    modalities = ("image",)
    hub_task = "image-classification"
    summary = "Vision Transformer on CIFAR-10 (patches + CLS token through the shared backbone)"
    verbs = ("predict", "eval")
    obsolete = ("eval_images",)
    option_defaults = {"predict": {"top_k": 5, "resize": True}}
    eval_keys = ("data.dir",)

    def _splits(self, cfg: VitConfig, is_main: bool, barrier: Callable[[], None]) -> tuple[ImageSplit, ImageSplit]:
        d = cfg.data
        load = lambda split: load_images(d.dir, d.hub_id, split, d.image_size, d.on_wrong_size)  # noqa: E731
        if is_main:  # the main process decodes and fills the cache, the others read it
            train, test = load("train"), load("test")
        barrier()
        if not is_main:
            train, test = load("train"), load("test")
        if train.class_names != test.class_names:
            raise TzooError("train and test splits name different classes; check --data.dir")
        return train, test

    def task_parts(self, cfg: VitConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        full, test = self._splits(cfg, is_main, barrier)
        train, val = carve_validation(full, cfg.data.val_size, cfg.data.val_seed)
        if cfg.data.train_fraction < 1:
            train = image_rows(train, fraction_rows(train.labels, cfg.data.train_fraction, cfg.data.val_seed))
        save_class_names(run, train.class_names, is_main)
        return vit_head(cfg, len(train.class_names)), image_data(cfg, train, val, test)

    # -- using a trained run ---------------------------------------------------------------
    def task_head(self, cfg: VitConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        names = load_class_names(run)
        return vit_head(cfg, len(names)), {"class_names": names}

    def predict(self, loaded: Loaded, cfg: VitConfig, inputs: list[str], **options: Any) -> list[dict]:
        """The `top_k` most probable classes of each image file; options: top_k (5), resize (True:
        an image of another size is resized to the model's, with a note on stderr; False: refused)."""
        o = self.verb_options("predict", options)
        images = torch.stack([read_image(Path(p), cfg.data.image_size, o["resize"]) for p in inputs])
        with torch.no_grad():
            logits = loaded.model({"image": images.to(loaded.device)}, task=loaded.task).outputs["logits"]
        return ranked(inputs, logits, loaded.artefacts["class_names"], o["top_k"])

    def evaluate(self, loaded: Loaded, cfg: VitConfig, overrides: dict[str, str]) -> dict:
        """Accuracy on the whole test split (of --data.dir=FOLDER if given)."""
        names, d = loaded.artefacts["class_names"], cfg.data
        folder = self.eval_overrides(overrides).get("data.dir", d.dir)
        test = load_images(folder, d.hub_id, "test", d.image_size, d.on_wrong_size)
        if test.class_names != names:
            raise TzooError(f"{folder or d.hub_id}: its classes {test.class_names[:4]}... differ from the run's "
                            f"{names[:4]}...; evaluate on data with the classes the model was trained on")
        sums = classify(loaded.model, eval_batches(test.images, test.labels, 256), len(names), loaded.device,
                        loaded.task)
        figures = classification_metrics(sums, names)
        figures.pop("test_confusion")
        return figures


def read_image(path: Path, size: int, resize: bool = True) -> Tensor:
    """An image file as (3, size, size) uint8, or a one-line error naming the file. An image of another
    size is resized (bilinear, to a square) with a one-line note on stderr, or refused if not `resize`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                was = f"{im.size[0]}x{im.size[1]}"
                if not resize:
                    raise TzooError(f"{path}: image is {was}, the model expects {size}x{size}; resize it, "
                                    "or leave out --no-resize (resize=False) to let predict resize it")
                print(f"tzoo: {path}: {was} image resized to the model's {size}x{size}", file=sys.stderr)
                im = im.resize((size, size), Image.BILINEAR)
            import numpy as np

            return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)
    except FileNotFoundError:
        raise TzooError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise TzooError(f"{path}: not a readable image ({e.__class__.__name__}); give a PNG or JPEG file") from None


def _cpu() -> VitConfig:
    """Trains on a 2-core CPU within 20 minutes: a convolutional stem (three 3x3 stride-2
    convolutions, 32-64-128 channels) turns each 8x8 cell into one token, so the backbone sees 16
    tokens that each know a little past their cell. Few, rich tokens make a step cheap: in the
    same minutes this learns faster than 64 tokens of 4x4 patches (README has the comparison)."""
    return VitConfig(
        backbone=BackboneConfig(dim=128, depth=6, heads=4, mlp_ratio=2.0, bias=True),
        model=VitModelConfig(patch_size=8, pool="cls", label_smoothing=0.1, stem="conv", stem_channels=32),
        loop=LoopConfig(batch_size=128, max_steps=7000, eval_every=1000, eval_batches=0, save_every=1000,
                        log_every=100),
        optim=OptimConfig(lr=2e-3, min_lr=1e-5, warmup_steps=200, weight_decay=0.05, beta2=0.999),
    )


def _gpu() -> VitConfig:
    """One H100-class GPU, bf16, compiled, RandAugment: about 8 minutes of training there."""
    return VitConfig(
        backbone=BackboneConfig(dim=384, depth=8, heads=6, mlp_ratio=3.0, bias=True, drop_path=0.1),
        model=VitModelConfig(patch_size=4, pool="cls", label_smoothing=0.1),
        augment=Augment(crop_padding=4, flip=True, randaugment="rand-m9-mstd0.5"),
        loop=LoopConfig(batch_size=512, max_steps=21500, eval_every=2150, eval_batches=0, save_every=0,
                        log_every=1075, mixed_precision="bf16", compile=True, workers=12),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=490, weight_decay=0.05, beta2=0.999),
    )


VIT_CIFAR10 = VitRecipe({"cpu": _cpu, "gpu": _gpu})

