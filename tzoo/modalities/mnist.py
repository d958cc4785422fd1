"""MNIST (the Hub's `ylecun/mnist` layout) as (N, 1, 28, 28) uint8 images, decoded by cifar.py's machinery.

Source order: `--data.mnist_dir`, else $TZOO_DATA/mnist, else the Hub id through `datasets`
(online users). A folder that holds only the official test split (the offline copy: 10,000 images)
is carved into a fixed, seeded, class-stratified 8,000 / 2,000 train / test split, and a note says so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..errors import TzooError
from .cifar import (
    ImageSplit,
    _columns,
    _decode_all,
    _open_dataset,
    find_parquet,
    load_images,
)
from .sources import DATA_ENV, local_copy
from .splits import stratified_split

HUB_ID = "ylecun/mnist"
LOCAL = "mnist"  # $TZOO_DATA/mnist
FLAG = "--data.mnist_dir"
NATIVE = 28
DIGITS = [str(d) for d in range(10)]
CARVE_TEST = 2000  # test images carved out of a test-only copy (the rest trains)
CARVE_SEED = 0x4D4E  # fixed, not the run's seed: the carved test split never changes
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, what PIL's convert("L") uses


def mnist_folder(data_dir: Optional[str], hub_id: str = HUB_ID) -> Optional[Path]:
    """The local MNIST folder (`data_dir`, else $TZOO_DATA/mnist), or None when the Hub is the source."""
    if data_dir:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise TzooError(f"{path}: MNIST folder not found; pass {FLAG}=FOLDER holding train-*.parquet / "
                            f"test-*.parquet (the layout of the Hub dataset {hub_id}), or leave {FLAG} unset "
                            f"to use ${DATA_ENV}/{LOCAL} or {hub_id} from the Hub")
        return path
    return local_copy(LOCAL)


def to_gray(split: ImageSplit) -> ImageSplit:
    """(N, 3, H, W) -> (N, 1, H, W) uint8 luma; exact for grayscale images (R = G = B)."""
    weights = torch.tensor(LUMA).view(1, 3, 1, 1)
    gray = (split.images.float() * weights).sum(dim=1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return ImageSplit(gray, split.labels, split.class_names, split.skipped)


def _check_digits(split: ImageSplit, where: str) -> ImageSplit:
    if split.class_names != DIGITS:
        shown = ", ".join(split.class_names[:12])
        raise TzooError(f"{where}: classes [{shown}] are not the digits 0-9; expected MNIST's schema "
                        "(image: Image, label: ClassLabel with names '0'..'9')")
    return split


def _hub_split(hub_id: str, split: str, size: int, on_wrong_size: str) -> ImageSplit:
    """One split from the Hub (not cached here; `datasets` caches the download)."""
    try:
        ds = _open_dataset("hub", hub_id, split)
    except TzooError as e:
        raise TzooError(f"MNIST is not in ${DATA_ENV}/{LOCAL} and the Hub dataset failed to load ({e}); pass "
                        f"{FLAG}=FOLDER holding train-*.parquet / test-*.parquet or set {DATA_ENV}") from None
    return _decode_all(ds, *_columns(ds), size, on_wrong_size, hub_id)


def carve(split: ImageSplit, test_size: int, seed: int = CARVE_SEED) -> tuple[ImageSplit, ImageSplit]:
    """(train, test) rows of one split: a fixed, seeded, class-stratified `test_size` rows held out."""
    keep, held = stratified_split(split.labels, test_size, seed, what="carved MNIST test")
    part = lambda rows: ImageSplit(split.images[rows], split.labels[rows], split.class_names)  # noqa: E731
    return part(keep), part(held)


def load_mnist(data_dir: Optional[str], hub_id: str = HUB_ID, size: int = NATIVE,
               carve_test: int = CARVE_TEST) -> tuple[ImageSplit, ImageSplit, str]:
    """(train, test, note): images (N, 1, size, size) uint8, digit labels (N,), class names "0".."9".

    note is "" for the official split; when the folder holds only test-*.parquet it says that the
    train / test split was carved from MNIST's official test split (log it, put it in metrics).
    """
    mode = "error" if size == NATIVE else "resize"
    folder = mnist_folder(data_dir, hub_id)
    if folder is None:
        train, test = (to_gray(_hub_split(hub_id, s, size, mode)) for s in ("train", "test"))
        return _check_digits(train, hub_id), _check_digits(test, hub_id), ""
    has_train, has_test = bool(find_parquet(folder, "train")), bool(find_parquet(folder, "test"))
    if not has_test:
        missing = "train-*.parquet or test-*.parquet" if not has_train else "test-*.parquet"
        raise TzooError(f"{folder}: no {missing} files; pass {FLAG}=FOLDER laid out like the Hub dataset "
                        f"{hub_id} (train-*.parquet, test-*.parquet; test alone is enough)")
    read = lambda s: _check_digits(to_gray(load_images(str(folder), hub_id, s, size, mode)), str(folder))  # noqa: E731
    if has_train:
        return read("train"), read("test"), ""
    train, test = carve(read("test"), carve_test)
    note = (f"MNIST: {folder} holds only the official test split ({len(train.labels) + len(test.labels)} images); "
            f"trained on {len(train.labels)} and tested on {len(test.labels)} of them (fixed class-stratified "
            f"carve, seed {CARVE_SEED}), so accuracies are not comparable with the official 60,000 / 10,000 split")
    return train, test, note
