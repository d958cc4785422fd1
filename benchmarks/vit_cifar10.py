"""vit-cifar10 accuracy within a training-time budget.

    python benchmarks/vit_cifar10.py                 # the cpu preset: about 20 minutes on a 2-core CPU
    python benchmarks/vit_cifar10.py --preset gpu    # one H100-class GPU

Trains `tzoo train vit-cifar10 --preset P` through the CLI and prints the test accuracy on all
10,000 test images, the wall time of the whole run, the training throughput and the epochs
seen: passes over the images it trains on, CIFAR-10's 50,000 less the `--data.val_size` (5,000)
carved out for validation, so 45,000 by default. Targets: cpu preset >= 72% within 20 minutes on
this machine; gpu preset >= 93% within 15 minutes on one H100. Extra arguments after `--` go to
`tzoo train` as overrides.
Needs CIFAR-10: $TZOO_DATA/cifar10 (parquet), or the Hub dataset uoft-cs/cifar10 online.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TARGETS = {"cpu": (0.72, 20 * 60), "gpu": (0.93, 15 * 60)}
CIFAR10_TRAIN = 50_000  # images in CIFAR-10's training split, validation included


def epochs(cfg: dict) -> float:
    """Passes over the training images of a run's config (as config.json holds it): the images its
    steps draw over the training split less the validation images carved out of it."""
    loop = cfg["loop"]
    return loop["batch_size"] * loop["max_steps"] * loop["grad_accum"] / (CIFAR10_TRAIN - cfg["data"]["val_size"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu", choices=sorted(TARGETS))
    p.add_argument("--keep", metavar="DIR", help="train into DIR and keep it (default: a temporary folder)")
    p.add_argument("overrides", nargs="*", help="--section.key=value overrides for tzoo train (after --)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tzoo-vit-"))
    out = Path(args.keep) if args.keep else tmp / "run"
    cmd = [sys.executable, "-m", "tzoo", "train", "vit-cifar10", "--preset", args.preset, "--out", str(out),
           *args.overrides]
    print("$", " ".join(cmd[1:]), flush=True)
    try:
        subprocess.run(cmd, check=True)
        m = json.loads((out / "metrics.json").read_text())
        cfg = json.loads((out / "config.json").read_text())["config"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    acc_target, time_target = TARGETS[args.preset]
    figures = {"preset": args.preset, "test_acc": m["test_acc"], "wall_s": m["wall_s"],
               "train_images_per_s": m["train_images_per_s"], "epochs": round(epochs(cfg), 2),
               "train_images": CIFAR10_TRAIN - cfg["data"]["val_size"],
               "params": m["params"]}
    print(f"test accuracy {m['test_acc']:.2%} (target >= {acc_target:.0%}), wall time {m['wall_s'] / 60:.1f} min "
          f"(target <= {time_target / 60:.0f}), {m['train_images_per_s']:.0f} images/s, {figures['epochs']} epochs")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
