"""Resume and multi-process equivalence, as figures: what the robustness tests assert, on real data.

    python benchmarks/robustness.py                    # char-lm, about 3 minutes on a 2-core CPU
    python benchmarks/robustness.py --recipe audio-fsdd -- --loop.batch_size=8

1. Kill and resume: the recipe trains uninterrupted; the same run is started again, killed with
   SIGKILL once its second checkpoint is written, and resumed with `tzoo train --resume`. Prints
   both runs' final metrics side by side and whether they are bit-identical.
2. Two processes: `torchrun --nproc_per_node 2` with half the per-process batch against one
   process with the whole batch. Prints the largest difference between their logged losses.
Needs the recipe's data ($TZOO_DATA). Extra arguments after `--` go to `tzoo train`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMING = {"wall_s", "train_tokens_per_s", "train_images_per_s", "train_clips_per_s"}
SMALL = {"char-lm": ["--backbone.dim=64", "--backbone.depth=2", "--backbone.heads=2", "--data.block_size=64",
                     "--loop.eval_batches=5"],
         "bpe-lm": ["--backbone.dim=64", "--backbone.depth=2", "--backbone.heads=2", "--data.block_size=64",
                    "--loop.eval_batches=5"],
         "audio-fsdd": ["--backbone.dim=64", "--backbone.depth=2", "--backbone.heads=2"],
         "vit-cifar10": ["--backbone.dim=64", "--backbone.depth=2", "--backbone.heads=2"]}


def tzoo(*args: str, launcher: tuple[str, ...] = ("-m",)) -> subprocess.Popen:
    """`python -m tzoo ARGS`, or under another launcher module (its arguments end with "-m")."""
    cmd = [sys.executable, *launcher, "tzoo", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(p: subprocess.Popen, what: str) -> None:
    _, err = p.communicate()
    if p.returncode != 0:
        raise SystemExit(f"robustness: {what} failed:\n{err[-2000:]}")


def last_checkpoint(run: Path) -> int:
    try:
        return int(json.loads((run / "state" / "latest.json").read_text())["last"].split("-")[1])
    except (OSError, ValueError, KeyError):
        return 0


def figures(run: Path) -> dict:
    return {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k not in TIMING}


def kill_and_resume(common: list[str], folder: Path, steps: int, every: int) -> dict:
    whole, killed = folder / "whole", folder / "killed"
    finish(tzoo("train", *common, "--out", str(whole)), "the uninterrupted run")
    p = tzoo("train", *common, "--out", str(killed))
    while last_checkpoint(killed) < 2 * every and p.poll() is None:
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    if (killed / "metrics.json").exists():
        raise SystemExit("robustness: the run finished before it could be killed; raise --steps")
    stopped = last_checkpoint(killed)
    finish(tzoo("train", "--resume", str(killed)), "the resumed run")
    a, b = figures(whole), figures(killed)
    scalars = {k: (a[k], b.get(k)) for k in a if isinstance(a[k], float)}
    print(f"kill and resume: killed after the checkpoint of step {stopped} of {steps}, resumed to the end")
    for k, (x, y) in scalars.items():
        print(f"  {k:<16} uninterrupted {x:.10g}   killed + resumed {y:.10g}")
    print(f"  all final metrics bit-identical: {a == b}")
    return {"killed_after_step": stopped, "steps": steps, "identical": a == b, "metrics": scalars}


def two_processes(common: list[str], batch: int, folder: Path) -> dict:
    one, two = folder / "one", folder / "two"
    finish(tzoo("train", *common, f"--loop.batch_size={batch}", "--out", str(one)), "the one-process run")
    os.environ["OMP_NUM_THREADS"] = "1"
    finish(tzoo("train", *common, f"--loop.batch_size={batch // 2}", "--out", str(two),
                launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m")),
           "the two-process run")
    logs = [[json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] for run in (one, two)]
    diffs = {}
    for key in ("loss", "train_loss", "val_loss", "test_loss", "test_acc"):
        pairs = [(a[key], b[key]) for a, b in zip(*logs) if key in a and key in b]
        if pairs:
            diffs[key] = max(abs(x - y) for x, y in pairs)
    processes = json.loads((two / "metrics.json").read_text())["processes"]
    print(f"two processes (batch {batch // 2} each) vs one (batch {batch}), {len(logs[0])} evaluations: "
          f"processes={processes}")
    for k, d in diffs.items():
        print(f"  largest |difference| of {k:<11} {d:.3g}")
    return {"processes": processes, "evaluations": len(logs[0]), "max_abs_diff": diffs}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="char-lm", choices=sorted(SMALL))
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--every", type=int, default=50, help="checkpoint and evaluation interval")
    p.add_argument("--batch", type=int, default=8, help="the one process's batch (two processes take half)")
    args, rest = p.parse_known_args()
    common = [args.recipe, *SMALL[args.recipe], f"--loop.max_steps={args.steps}", f"--loop.save_every={args.every}",
              f"--loop.eval_every={args.every}", *[a for a in rest if a != "--"]]
    folder = Path(tempfile.mkdtemp(prefix="tzoo-robust-"))
    try:
        resume = kill_and_resume(common + [f"--loop.batch_size={args.batch}"], folder, args.steps, args.every)
        ddp = two_processes(common, args.batch, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"benchmark": "robustness", "recipe": args.recipe, "resume": resume, "two_processes": ddp}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
