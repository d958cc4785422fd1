"""Write `qa` manifests (train.jsonl / validation.jsonl / test.jsonl + the files they name).

    python benchmarks/qa_manifest.py av-digits [--out runs/qa-data/av-digits] [--train 20000]
    python benchmarks/qa_manifest.py mixed [--out runs/qa-data/mixed] [--cifar-train 5000] [--cifar-test 1000]
    tzoo train qa --data.dataset=runs/qa-data/mixed

av-digits: the examples av-digits synthesises (an MNIST digit + an FSDD clip + a question), as a
manifest: MNIST images as 28x28 PNGs, clips as 8 kHz WAVs, the fused questions' degraded pairs as
their own files, training rows with av-digits' modality dropout (a dropped input is null); train /
validation / test from av-digits' own sides, so `qa` can be compared with `av-digits` on its data.

mixed: CIFAR-10 images ($TZOO_DATA/cifar10) with three questions each ("what is in the picture?" ->
the class, "is it an animal?" -> yes / no, "is it a vehicle?" -> yes / no) and FSDD clips
($TZOO_DATA/fsdd/recordings) with "which digit is spoken?" -> the digit as a word; CIFAR's and
FSDD's official test splits are the test rows, validation is carved by the recipe. The CIFAR JPEGs
are written byte for byte.

Everything goes under runs/ (ignored by git); the last line printed is one JSON object of counts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ANIMALS = {"bird", "cat", "deer", "dog", "frog", "horse"}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


def _png(path: Path, image: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        Image.fromarray(image[0].numpy(), "L").save(path)


def _wav(path: Path, wave: torch.Tensor, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        sf.write(str(path), wave.clamp(-1, 1).numpy(), rate, subtype="PCM_16")


def av_rows(side, ex, degrade, out: Path, split: str, rate: int) -> list[dict]:
    """Manifest rows of av-digits examples `ex` drawn from `side`; present flags become null inputs."""
    from tzoo.modalities.av_digits import (KINDS, QUESTIONS, answer_text, degrade_image, degrade_wave)

    rows = []
    for i in range(len(ex)):
        kind = KINDS[int(ex.kind[i])]
        fused = kind == "fused"
        row: dict = {"image": None, "audio": None}
        if ex.image_present[i]:
            r = int(ex.image_row[i])
            name = f"{split}/fused/{i}.png" if fused else f"{split}/img/{r}.png"
            image = side.images[r]
            if fused:
                image = degrade_image(image, degrade, torch.Generator().manual_seed(int(ex.image_seed[i])))
            _png(out / name, image)
            row["image"] = name
        if ex.audio_present[i]:
            r = int(ex.clip_row[i])
            name = f"{split}/fused/{i}.wav" if fused else f"{split}/wav/{r}.wav"
            wave = side.waves[r]
            if fused:
                wave = degrade_wave(wave, degrade, torch.Generator().manual_seed(int(ex.audio_seed[i])))
            _wav(out / name, wave, rate)
            row["audio"] = name
        row["question"] = QUESTIONS[kind][int(ex.phrase[i])]
        row["answer"] = answer_text(kind, int(ex.written[i]), int(ex.spoken[i]))
        rows.append(row)
    return rows


def av_digits(out: Path, train: int, eval_per_kind: int, seed: int) -> dict:
    from tzoo.modalities.av_digits import AvDigitBatches, Degrade, eval_examples
    from tzoo.recipes.av_digits import ASKED, AvDataConfig, sides_of, _cpu

    cfg = _cpu()
    cfg.data = AvDataConfig(kinds=ASKED)
    sides = sides_of(cfg)
    degrade = Degrade()
    batches = AvDigitBatches(sides.train, 1000, seed, ASKED, cfg.data.drop, cfg.data.fused_drop, degrade)
    ex = [batches.examples(i) for i in range((train + 999) // 1000)]
    from dataclasses import fields

    from tzoo.modalities.av_digits import Examples
    train_ex = Examples(*(torch.cat([getattr(e, f.name) for e in ex])[:train] for f in fields(Examples)))
    kinds = tuple(dict.fromkeys(ASKED))
    counts = {}
    for split, side, examples in (("train", sides.train, train_ex),
                                  ("validation", sides.val, eval_examples(sides.val, eval_per_kind, 0, kinds)),
                                  ("test", sides.test, eval_examples(sides.test, eval_per_kind, 0, kinds))):
        rows = av_rows(side, examples, degrade, out, split, cfg.mel.rate)
        write_jsonl(out / f"{split}.jsonl", rows)
        counts[split] = len(rows)
    return counts


def mixed(out: Path, cifar_train: int, cifar_test: int, data: Path) -> dict:
    import pyarrow.parquet as pq

    from tzoo.modalities.fsdd import scan, split

    counts = {}
    recordings = scan(data / "fsdd" / "recordings")
    fsdd_train, fsdd_test = split(recordings, None, data / "fsdd" / "recordings")
    for name, n, clips in (("train", cifar_train, fsdd_train), ("test", cifar_test, fsdd_test)):
        table = pq.read_table(next((data / "cifar10").glob(f"{name}-*.parquet")))
        labels = table.column("label").to_pylist()
        images = table.column("img").to_pylist()
        per_class = n // 10
        rows = []
        taken = {c: 0 for c in range(10)}
        for i, label in enumerate(labels):
            if taken[label] >= per_class:
                continue
            taken[label] += 1
            file = out / name / "img" / f"{i}.jpg"
            file.parent.mkdir(parents=True, exist_ok=True)
            if not file.exists():
                file.write_bytes(images[i]["bytes"])
            rel = str(file.relative_to(out))
            cls = CIFAR[label]
            rows += [{"image": rel, "question": "what is in the picture?", "answer": cls},
                     {"image": rel, "question": "is it an animal?", "answer": "yes" if cls in ANIMALS else "no"},
                     {"image": rel, "question": "is it a vehicle?", "answer": "no" if cls in ANIMALS else "yes"}]
        for r in clips:
            file = out / name / "wav" / r.path.name
            file.parent.mkdir(parents=True, exist_ok=True)
            if not file.exists():
                file.write_bytes(r.path.read_bytes())
            rows.append({"audio": str(file.relative_to(out)), "question": "which digit is spoken?",
                         "answer": DIGITS[r.digit]})
        order = np.random.default_rng(0).permutation(len(rows))
        write_jsonl(out / f"{name}.jsonl", [rows[i] for i in order])
        counts[name] = len(rows)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("which", choices=("av-digits", "mixed"))
    p.add_argument("--out", type=Path, help="default runs/qa-data/WHICH")
    p.add_argument("--train", type=int, default=20000, help="av-digits: training rows")
    p.add_argument("--eval-per-kind", type=int, default=200, help="av-digits: validation / test rows per question kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cifar-train", type=int, default=5000, help="mixed: CIFAR-10 training images (3 rows each)")
    p.add_argument("--cifar-test", type=int, default=1000, help="mixed: CIFAR-10 test images (3 rows each)")
    a = p.parse_args(argv)
    out = a.out or ROOT / "runs" / "qa-data" / a.which
    data = Path(os.environ.get("TZOO_DATA", ROOT.parent / "shared" / "data"))
    if a.which == "av-digits":
        counts = av_digits(out, a.train, a.eval_per_kind, a.seed)
    else:
        counts = mixed(out, a.cifar_train, a.cifar_test, data)
    print(json.dumps({"out": str(out), "rows": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
