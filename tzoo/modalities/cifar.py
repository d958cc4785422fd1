"""CIFAR-10 (or any image-classification parquet with the Hub's layout) via Hugging Face `datasets`,
decoded once into a cached uint8 tensor."""
from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import TzooError
from ..progress import Ticker
from ..storage import load_tensors, save_tensors
from .sources import cache_root, local_copy

HUB_ID = "uoft-cs/cifar10"
MAX_BAD_FRACTION = 0.01  # more corrupt records than this and the dataset is refused


@dataclass
class ImageSplit:
    """Decoded images of one split: (N, C, H, W) uint8, (N,) long labels, and class names."""

    images: Tensor
    labels: Tensor
    class_names: list[str]
    skipped: int = 0


def find_parquet(folder: Path, split: str) -> list[Path]:
    """`{split}-*.parquet` files anywhere under `folder` (the Hub's layout, e.g. plain_text/train-00000-of-00001.parquet)."""
    return sorted(folder.glob(f"**/{split}-*.parquet"))


def resolve_source(data_dir: Optional[str], hub_id: str, split: str) -> tuple[str, object]:
    """('files', [parquet paths]) from --data.dir or $TZOO_DATA/cifar10, else ('hub', hub_id)."""
    if data_dir:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise TzooError(f"{folder}: dataset folder not found; pass --data.dir=FOLDER holding "
                            f"{split}-*.parquet files")
    else:
        folder = local_copy("cifar10")
    if folder is not None:
        files = find_parquet(folder, split)
        if not files:
            raise TzooError(f"{folder}: no {split}-*.parquet files in this folder; pass --data.dir=FOLDER "
                            "laid out like the Hub's (train-*.parquet, test-*.parquet)")
        return "files", files
    return "hub", hub_id


def _cache_key(kind: str, source: object, split: str, size: int, on_wrong_size: str) -> str:
    if kind == "files":
        parts = [f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in source]
    else:
        parts = [str(source)]
    text = json.dumps([parts, split, size, on_wrong_size, 1])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _first_unreadable(files: list[Path]) -> Optional[Path]:
    """The first file whose parquet footer cannot be read (empty, truncated, not parquet), if any."""
    import pyarrow.parquet as pq

    for path in files:
        try:
            pq.ParquetFile(path).close()
        except Exception:  # pyarrow raises OSError, ArrowInvalid, ... for a damaged file
            return path
    return None


def _open_dataset(kind: str, source: object, split: str):
    import datasets

    bad = _first_unreadable(source) if kind == "files" else None
    if bad is not None:  # checked first: datasets would log a traceback before raising
        raise TzooError(f"{bad}: not a readable parquet file (empty, truncated or another format); "
                        "replace it with a good copy or remove it")
    try:
        if kind == "files":
            return datasets.load_dataset("parquet", data_files={split: [str(p) for p in source]}, split=split)
        return datasets.load_dataset(str(source), split=split)
    except Exception as e:  # datasets raises many types (offline, missing, bad parquet)
        where = source if kind == "hub" else source[0].parent
        reason = " ".join(str(e).split())[:160]
        hint = ("pass --data.dir=FOLDER with train-*.parquet / test-*.parquet or set TZOO_DATA" if kind == "hub"
                else "check the parquet files")
        raise TzooError(f"{where}: could not load the {split} split ({reason}); {hint}") from None


def _columns(ds) -> tuple[str, str]:
    import datasets

    image = next((k for k, f in ds.features.items() if isinstance(f, datasets.Image)), None)
    label = next((k for k, f in ds.features.items() if isinstance(f, datasets.ClassLabel)), None)
    if image is None or label is None:
        raise TzooError(f"dataset columns {list(ds.features)} lack an Image and a ClassLabel column; "
                        "expected the CIFAR-10 schema (img: Image, label: ClassLabel)")
    return image, label


def _decode(record: Optional[dict], size: int, on_wrong_size: str) -> np.ndarray:
    """One record's bytes -> (size, size, 3) uint8; raises ValueError for a bad record."""
    from PIL import Image

    if not record or not record.get("bytes"):
        raise ValueError("no image bytes")
    with Image.open(io.BytesIO(record["bytes"])) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            if on_wrong_size == "error":
                raise TzooError(f"image is {im.size[0]}x{im.size[1]}, expected {size}x{size}; "
                                "pass --data.on_wrong_size=resize to resize such images")
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _decode_all(ds, image_col: str, label_col: str, size: int, on_wrong_size: str, where: str) -> ImageSplit:
    import datasets

    ds = ds.cast_column(image_col, datasets.Image(decode=False))
    n = len(ds)
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    bad = 0
    index = 0
    ticker = Ticker(n, f"decode {where}", "image")
    for chunk in ds.iter(batch_size=2000):
        ticker.update(index - ticker.done)
        for record, label in zip(chunk[image_col], chunk[label_col]):
            try:
                images[index] = _decode(record, size, on_wrong_size)
                labels[index] = int(label)
            except TzooError as e:
                raise TzooError(f"{where}: record {index}: {e}") from None
            except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, ...
                keep[index] = False
                bad += 1
                print(f"{where}: record {index} skipped ({' '.join(str(e).split())[:80]})", file=sys.stderr)
            index += 1
    ticker.update(index - ticker.done)
    ticker.close()
    if bad:
        print(f"{where}: skipped {bad} of {n} records that are not decodable images", file=sys.stderr)
    if n == 0 or bad > MAX_BAD_FRACTION * n:
        raise TzooError(f"{where}: {bad} of {n} records are not decodable images; the dataset is damaged")
    names = list(ds.features[label_col].names)
    tensor = torch.from_numpy(images[keep]).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
    return ImageSplit(tensor, torch.from_numpy(labels[keep]), names, bad)


def load_images(data_dir: Optional[str], hub_id: str, split: str, size: int = 32,
                on_wrong_size: str = "error") -> ImageSplit:
    """Decoded split, from the cache when this exact source was decoded before."""
    kind, source = resolve_source(data_dir, hub_id, split)
    key = _cache_key(kind, source, split, size, on_wrong_size)
    cached = cache_root() / "images" / f"{key}.safetensors"
    if cached.is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(cached), "pt") as f:
                meta = f.metadata()
            t = load_tensors(cached)
            return ImageSplit(t["images"], t["labels"], json.loads(meta["class_names"]), int(meta["skipped"]))
        except (TzooError, KeyError, ValueError, OSError):
            pass  # a damaged cache is rebuilt
    where = str(source[0].parent) if kind == "files" else str(source)
    ds = _open_dataset(kind, source, split)
    result = _decode_all(ds, *_columns(ds), size, on_wrong_size, where)
    save_tensors(cached, {"images": result.images, "labels": result.labels},
                 metadata={"class_names": json.dumps(result.class_names), "skipped": str(result.skipped)})
    return result
