"""Shared by the benchmarks: train a recipe in this process into a kept run directory."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path


def train_run(recipe: str, out: Path, args: list[str]) -> tuple[dict, float]:
    """`tzoo train RECIPE --out OUT ARGS` in this process; (metrics.json, wall seconds).

    A finished run (metrics.json present) is reused, with wall seconds NaN; an unfinished one is
    started again from scratch.
    """
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.cli import main

    if (out / "metrics.json").is_file():
        print(f"[reuse] {out}", flush=True)
        return json.loads((out / "metrics.json").read_text()), float("nan")
    if out.exists():
        shutil.rmtree(out)
    began = time.perf_counter()
    code = main(["train", recipe, "--out", str(out), *args])
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    if code != 0:
        raise SystemExit(f"training {out} failed with exit status {code}")
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - began
