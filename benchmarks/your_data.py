"""Your-data benchmark: `image-classify` and `audio-classify` on datasets written from $TZOO_DATA in
the layouts a user would bring, each beside a small CNN trained the same way.

    python benchmarks/your_data.py build                 # write the derived datasets under runs/your-data/data
    python benchmarks/your_data.py mnist   -- --loop.max_steps=300   # image-classify vs CNN on MNIST PNGs
    python benchmarks/your_data.py mnist --tag mnist-noflip -- --loop.max_steps=300 --augment.flip=false
    python benchmarks/your_data.py speakers -- --loop.max_steps=300  # audio-classify vs CNN, FSDD by speaker
    python benchmarks/your_data.py sources -- --loop.max_steps=200   # CIFAR-10: parquet / PNG folder / Hub layout / vit-cifar10
    python benchmarks/your_data.py memory  -- --loop.max_steps=50    # max RSS: cache that fits vs --data.cache_gb tiny

Derived datasets (never committed; runs/ is git-ignored):
  mnist/<digit>/<row>.png            MNIST test parquet (10,000 rows) as class folders; image-classify carves
                                     its train / validation / test (80/10/10, stratified)
  fsdd-speakers/<speaker>/<file>.wav FSDD's 3,000 clips regrouped by SPEAKER (6 classes): speaker identification,
                                     a task no recipe was built for
  cifar10-png/{train,test}/<class>/<NNNN>.png  the CIFAR-10 parquet's decoded pixels as lossless PNGs
  cifar10-hub/plain_text/{train,test}-00000-of-00001.parquet   the parquet files in the Hub's layout
Arguments after `--` are overrides applied to every run of the command (both sides alike). Runs go to
runs/your-data/<command>/<name>; a finished run with the same overrides is reused. The last line is JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "your-data"
DATA = OUT / "data"
SOURCE = Path(os.environ.get("TZOO_DATA", ROOT.parent / "shared" / "data"))


# ---------------------------------------------------------------- derived datasets

def _rows(parquet: Path) -> tuple[list[bytes], list[int], list[str]]:
    """(encoded image bytes, labels, class names) of an HF image parquet file."""
    import pyarrow.parquet as pq

    t = pq.read_table(parquet)
    meta = json.loads(t.schema.metadata[b"huggingface"])["info"]["features"]
    image_col = next(k for k, v in meta.items() if v.get("_type") == "Image")
    label_col = next(k for k, v in meta.items() if v.get("_type") == "ClassLabel")
    images = [r["bytes"] for r in t.column(image_col).to_pylist()]
    return images, t.column(label_col).to_pylist(), meta[label_col]["names"]


def write_pngs(parquet: Path, folder: Path, per_class_names: bool) -> int:
    """Every row of `parquet` decoded and written losslessly as folder/<class>/<name>.png."""
    from PIL import Image

    images, labels, names = _rows(parquet)
    seen: dict[int, int] = {}
    for i, (raw, y) in enumerate(zip(images, labels)):
        k = seen.get(y, 0)
        seen[y] = k + 1
        path = folder / names[y] / (f"{k:04d}.png" if per_class_names else f"{i:05d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            im.save(path)
    return len(images)


def build() -> dict:
    """Write the four derived datasets (each skipped if already complete); their file counts."""
    counts = {}
    jobs = {
        "mnist": lambda d: write_pngs(SOURCE / "mnist" / "test-00000-of-00001.parquet", d, False),
        "cifar10-png": lambda d: sum(write_pngs(SOURCE / "cifar10" / f"{s}-00000-of-00001.parquet", d / s, True)
                                     for s in ("train", "test")),
        "cifar10-hub": lambda d: sum(_copy(SOURCE / "cifar10" / f"{s}-00000-of-00001.parquet",
                                           d / "plain_text" / f"{s}-00000-of-00001.parquet") for s in ("train", "test")),
        "fsdd-speakers": _speakers,
    }
    for name, job in jobs.items():
        done = DATA / f"{name}.done"
        if done.is_file():
            counts[name] = int(done.read_text())
            continue
        tmp = DATA / f"{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        began = time.perf_counter()
        counts[name] = job(tmp)
        shutil.rmtree(DATA / name, ignore_errors=True)
        tmp.rename(DATA / name)
        done.write_text(str(counts[name]))
        print(f"built {DATA / name}: {counts[name]} files in {time.perf_counter() - began:.0f} s", flush=True)
    return counts


def _copy(src: Path, dst: Path) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return 1


def _speakers(folder: Path) -> int:
    """FSDD's recordings DIGIT_SPEAKER_TAKE.wav copied to folder/SPEAKER/."""
    files = sorted((SOURCE / "fsdd" / "recordings").glob("*.wav"))
    for f in files:
        speaker = f.stem.split("_")[1]
        (folder / speaker).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, folder / speaker / f.name)
    return len(files)


# ---------------------------------------------------------------- baselines


class SmallCnn(nn.Module):
    """Image baseline: three stages of two 3x3 conv-BN-ReLU blocks (32, 64, 128 channels), 2x2 max
    pooling between them, global average pooling, linear. Takes the recipe's uint8 (B, C, H, W) batches."""

    def __init__(self, channels: int, num_classes: int, label_smoothing: float, widths=(32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip((channels,) + widths[:-1], widths)):
            if i:
                layers.append(nn.MaxPool2d(2))
            for cin in (a, b):
                layers += [nn.Conv2d(cin, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], num_classes)
        self.label_smoothing = label_smoothing

    def forward(self, batch: dict, task: Optional[str] = None):
        from tzoo.tasks import TaskOutput
        from tzoo.tasks.classification import classification_output

        x = (batch["image"].float() / 255.0 - 0.5) / 0.25
        logits = self.head(self.body(x).mean(dim=(2, 3)))
        if "targets" not in batch:
            return TaskOutput(None, {}, {"logits": logits})
        return classification_output(logits, batch["targets"], self.label_smoothing if self.training else 0.0)


def without_attention(data: Any) -> Any:
    """The task's data with its finish (confusion PNG, then the ViT's attention PNG) stopping at the
    attention map, which a CNN has not got."""
    from dataclasses import replace

    def finish(m, task, run, summary):
        try:
            data.finish(m, task, run, summary)
        except AttributeError as e:  # pooled_attention asks the model for its tokens
            if "tokenize" not in str(e):
                raise
    return replace(data, finish=finish)


def cnn_recipe(kind: str):
    """The recipe with its model swapped for a CNN (images: SmallCnn; audio: audio-fsdd's LogMelCnn on 40
    mel bands); data, splits, augmentation, optimizer, schedule and step budget stay the recipe's."""
    from tzoo.recipes.audio_classify import AUDIO_CLASSIFY, AudioClassifyRecipe
    from tzoo.recipes.classify import load_class_names
    from tzoo.recipes.image_classify import IMAGE_CLASSIFY, ImageClassifyRecipe

    if kind == "image":
        class ImageCnn(ImageClassifyRecipe):
            name = "image-classify-cnn"

            def build(self, cfg, run, is_main, barrier):
                parts = super().build(cfg, run, is_main, barrier)
                torch.manual_seed(cfg.loop.seed)
                parts.model = SmallCnn(cfg.data.channels or 3, len(load_class_names(run)), cfg.model.label_smoothing)
                parts.tasks = {t: without_attention(d) for t, d in parts.tasks.items()}
                return parts
        return ImageCnn(IMAGE_CLASSIFY.presets)

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from dataclasses import replace

    from audio_fsdd import LogMelCnn

    class AudioCnn(AudioClassifyRecipe):
        name = "audio-classify-cnn"

        def build(self, cfg, run, is_main, barrier):
            parts = super().build(cfg, run, is_main, barrier)
            torch.manual_seed(cfg.loop.seed)
            parts.model = LogMelCnn(replace(cfg.mel, n_mels=40), len(load_class_names(run)),
                                    label_smoothing=cfg.model.label_smoothing)
            return parts
    return AudioCnn(AUDIO_CLASSIFY.presets)


# ---------------------------------------------------------------- runs


def fit(recipe: Any, args: list[str], out: Path) -> dict:
    """Train `recipe` (first preset + `args`) into `out` in this process; metrics.json plus wall_s and
    max_rss_mb (this process's peak so far, not the run's own: see `memory`). A finished run with the same
    arguments is reused."""
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.config import apply_overrides, parse_override_args
    from tzoo.recipes.rundir import RunDir
    from tzoo.recipes.train import Trainer

    overrides = parse_override_args(args)
    cfg = apply_overrides(recipe.presets[overrides.pop("preset", None) or next(iter(recipe.presets))](), overrides)
    if (out / "metrics.json").is_file():
        done = json.loads((out / "metrics.json").read_text())
        if done.get("bench_args") == args:
            print(f"[reuse] {out}", flush=True)
            return done
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    try:
        metrics = Trainer(recipe, cfg, RunDir(out)).fit()
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    metrics = {**metrics, "wall_s": time.perf_counter() - began, "bench_args": args,
               "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def brief(m: dict) -> dict:
    return {k: m.get(k) for k in ("test_acc", "val_acc", "step", "params", "wall_s", "max_rss_mb")}


def vs_cnn(kind: str, dataset: Path, tag: str, extra: list[str]) -> dict:
    """The recipe and its CNN twin on `dataset` with the same overrides."""
    from tzoo.recipes import get_recipe

    name = "image-classify" if kind == "image" else "audio-classify"
    args = [f"--data.dataset={dataset}", *extra]
    out = {"recipe": brief(fit(get_recipe(name), args, OUT / tag / "transformer"))}
    out["cnn"] = brief(fit(cnn_recipe(kind), args, OUT / tag / "cnn"))
    return out


def sources(extra: list[str]) -> dict:
    """CIFAR-10 through the three sources, then vit-cifar10, all with the same overrides."""
    from tzoo.recipes import get_recipe

    ic = get_recipe("image-classify")
    out = {}
    for name, dataset in (("parquet", SOURCE / "cifar10"), ("imagefolder", DATA / "cifar10-png"),
                          ("hub-layout", DATA / "cifar10-hub")):
        out[name] = brief(fit(ic, [f"--data.dataset={dataset}", *extra], OUT / "sources" / name))
    same = ["--loop.batch_size=64", "--optim.lr=0.001", "--optim.warmup_steps=100"]  # image-classify's cpu preset
    out["vit-cifar10"] = brief(fit(get_recipe("vit-cifar10"), [f"--data.dir={SOURCE / 'cifar10'}", *same, *extra],
                                   OUT / "sources" / "vit-cifar10"))
    return out


def memory(extra: list[str]) -> dict:
    """Max RSS of two image-classify runs in fresh processes, same data and steps: the decoded data fits
    the cache (the default 4 GB) vs --data.cache_gb=0.001 (decoded batch by batch)."""
    out = {}
    for name, cache in (("cached", "4"), ("streamed", "0.001")):
        run = OUT / "memory" / name
        shutil.rmtree(run, ignore_errors=True)
        cmd = [sys.executable, "-m", "tzoo", "train", "image-classify", "--out", str(run),
               f"--data.dataset={DATA / 'cifar10-png'}", f"--data.cache_gb={cache}", *extra]
        began = time.perf_counter()
        child = subprocess.Popen(cmd)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak resident memory
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"{run}: training failed with exit status {child.returncode}")
        m = json.loads((run / "metrics.json").read_text())
        out[name] = {"cache_gb": float(cache), "test_acc": m.get("test_acc"), "wall_s": time.perf_counter() - began,
                     "max_rss_mb": usage.ru_maxrss / 1024}
    return out


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("build", "mnist", "speakers", "sources", "memory"))
    p.add_argument("--tag", default="", help="folder under runs/your-data for mnist / speakers (default: the command)")
    a = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    build_counts = build()
    if a.command == "build":
        result: dict = {"files": build_counts}
    elif a.command == "mnist":
        result = vs_cnn("image", DATA / "mnist", a.tag or "mnist", extra)
    elif a.command == "speakers":
        result = vs_cnn("audio", DATA / "fsdd-speakers", a.tag or "speakers", extra)
    elif a.command == "sources":
        result = sources(extra)
    else:
        result = memory(extra)
    print(json.dumps({"command": a.command, "overrides": extra, **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
