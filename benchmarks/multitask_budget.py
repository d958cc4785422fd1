"""`benchmarks/multitask.py --budget preset`: one joint checkpoint, every task trained as many batches as its
recipe's default preset, against each default preset trained alone (same commit, same thread count).

    python benchmarks/multitask.py --budget preset --scale 0.05 -- --tasks.lr=joint   # overrides: joint run only
    python benchmarks/multitask.py --budget preset --scale 0.05 --transfer vit-cifar10 --fraction 0.1

Budgets are read from the recipes (`loop.max_steps`, `optim.warmup_steps`, `loop.eval_every`,
`loop.save_every` of each default preset); --scale F multiplies every one of them (warm-up and
cosine decay keep their shape), so F < 1 repeats the comparison in less time: the targets are
stated at F = 1 and a figure at F < 1 is not a figure at F = 1.

Joint run: `multitask` (preset `cpu`, overrides after `--`) with `--tasks.batches` = every task's
scaled budget, spread evenly over the run, max_steps = their sum, `--tasks.lr=own` (each task at its
own recipe's learning-rate schedule), ten evaluations. Each single run is
`tzoo train TASK` with its default preset at the scaled budget. Both are scored the same way: each
task's own headline metric (recipe.headline) on its test split / evaluation episodes.

Targets (last JSON line): every task within 5% (relative) of its single figure; joint wall time <= the
sum of the singles' (metrics.json `wall_s`, this process's thread count for all); joint
model.safetensors <= the sum of the singles' files.

Transfer (--transfer TASK --fraction 0.1): TASK trains on that fraction of its training split
(`--data.train_fraction`), alone and inside the joint model (the other tasks on all of theirs),
each for the same number of batches; the sign of joint - single on TASK's headline is reported.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from trainrun import config_digest, recipe_config, train_run

WITHIN = 0.05  # relative
JOINT_EVALS = 10


def scaled(n: int, scale: float) -> int:
    """`n` steps at a fraction `scale` of the budget: at least 1."""
    return max(1, round(n * scale))


def preset_plan(names: list[str], scale: float) -> dict[str, dict[str, int]]:
    """{task: {"steps", "warmup", "eval_every", "save_every"}}: each recipe's default preset at `scale`."""
    from tzoo.recipes import get_recipe

    plan = {}
    for name in names:
        cfg = get_recipe(name).default()
        loop = cfg.loop
        if not loop.max_steps or not loop.eval_every or cfg.optim.warmup_steps is None:
            raise SystemExit(f"{name}: its default budget is derived from its data (auto), so it has no preset "
                             "budget to read here; leave it out of --tasks.names or give the task its resolved "
                             "budget first (see docs/dt-generalise.md)")
        plan[name] = {"steps": scaled(loop.max_steps, scale), "warmup": round(cfg.optim.warmup_steps * scale),
                      "eval_every": scaled(loop.eval_every, scale),
                      "save_every": scaled(loop.save_every, scale) if loop.save_every else 0}
    return plan


def single_args(row: dict[str, int]) -> list[str]:
    """Overrides of a default-preset single run at a planned budget."""
    return [f"--loop.max_steps={row['steps']}", f"--optim.warmup_steps={row['warmup']}",
            f"--loop.eval_every={row['eval_every']}", f"--loop.save_every={row['save_every']}"]


def joint_args(plan: dict[str, dict[str, int]]) -> list[str]:
    """Overrides of the joint run: every task's planned batches, spread evenly, each at its own recipe's
    learning-rate schedule (`--tasks.lr=own`, chosen on validation at F = 0.05: docs/multitask.md); the
    joint warm-up (used by `--tasks.lr=joint`) the sum of the tasks'; ten evaluations and checkpoints."""
    total = sum(r["steps"] for r in plan.values())
    every = math.ceil(total / JOINT_EVALS)
    batches = ",".join(f"{n}:{r['steps']}" for n, r in plan.items())
    return [f"--tasks.names={','.join(plan)}", f"--tasks.batches={batches}",
            f"--loop.max_steps={total}", f"--optim.warmup_steps={sum(r['warmup'] for r in plan.values())}",
            f"--loop.eval_every={every}", f"--loop.save_every={every}", "--tasks.lr=own"]


def relative_gap(joint: float, single: float, higher: bool) -> float:
    """How much worse joint is than single, as a fraction of single (negative: better)."""
    worse = single - joint if higher else joint - single
    return worse / abs(single) if single else float("inf")


def targets(table: dict, wall: dict, size: dict) -> dict[str, Any]:
    """Pass/fail of each target."""
    tasks = {n: {"relative_gap": round(relative_gap(r["joint"], r["single"], r["higher_is_better"]), 4)}
             for n, r in table.items()}
    for row in tasks.values():
        row["met"] = row["relative_gap"] <= WITHIN
    out = {"tasks": tasks, "wall": wall["joint"] <= wall["singles"], "bytes": size["joint"] <= size["singles"]}
    out["all"] = all(r["met"] for r in tasks.values()) and out["wall"] and out["bytes"]
    return out


def validation_curve(log: list[dict], task: str) -> tuple[str, list[int], list[float]]:
    """(metric, steps, values) of a task's validation figure in a joint run's log."""
    found = [(key, [r for r in log if isinstance(r.get(f"{task}/{key}"), (int, float))])
             for key in ("val_acc", "val_bpc", "val_return", "val_loss")]
    key, rows = max(found, key=lambda f: len(f[1]))  # the figure logged at every evaluation
    return (key, [r["step"] for r in rows], [r[f"{task}/{key}"] for r in rows]) if rows else ("", [], [])


def plot(table: dict, log: list[dict], scale: float, path: Path) -> None:
    """Top: joint vs single per task; bottom: each task's validation curve in the joint run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, axes = plt.subplots(2, len(names), figsize=(2.7 * len(names), 5.6), squeeze=False)
    for i, name in enumerate(names):
        row, ax = table[name], axes[0][i]
        ax.bar(["joint", "single"], [row["joint"], row["single"]], color=["#4477aa", "#bbbbbb"])
        ax.set_title(f"{name}\n{row['metric']} ({'higher' if row['higher_is_better'] else 'lower'} is better)", fontsize=8)
        for j, v in enumerate((row["joint"], row["single"])):
            ax.text(j, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
        key, steps, values = validation_curve(log, name)
        axes[1][i].plot(steps, values, marker=".", color="#4477aa")
        axes[1][i].set_title(f"joint run: {name} {key}", fontsize=8)
        axes[1][i].set_xlabel("joint step", fontsize=8)
        axes[1][i].tick_params(labelsize=7)
    fig.suptitle(f"one checkpoint vs each recipe's default preset alone, every task at its preset's batches x {scale:g}",
                 fontsize=9)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def weights_bytes(out: Path) -> int:
    return (out / "model.safetensors").stat().st_size


def run_preset(names: list[str], scale: float, out: Path, extra: list[str], resume: bool, docs: Path | None,
               transfer: str | None = None, fraction: float = 0.1) -> dict[str, Any]:
    """Train (or reuse) the joint run and the singles; print and return the result (last line: JSON)."""
    import torch

    from tzoo.recipes import get_recipe
    from tzoo.recipes.multitask import section

    plan = preset_plan(names, scale)
    data_args: dict[str, list[str]] = {n: [] for n in names}
    if transfer is not None:
        if not hasattr(get_recipe(transfer).default().data, "train_fraction"):
            raise SystemExit(f"--transfer {transfer}: that recipe has no --data.train_fraction")
        data_args[transfer] = [f"--data.train_fraction={fraction:g}"]
    joint_cli = [*joint_args(plan), *(f"--{section(n)}.{a[2:]}" for n in names for a in data_args[n]), *extra]
    digest = config_digest(recipe_config("multitask", joint_cli))[1]
    joint_dir = out / f"joint-{digest}"
    joint, _ = train_run("multitask", joint_dir, joint_cli, resume=resume)
    print(f"[joint] {joint_dir}: batches {joint['task_batches']}, {joint['wall_s']:.0f} s", flush=True)

    table, wall, size = {}, {"joint": joint["wall_s"], "singles": 0.0}, {"joint": weights_bytes(joint_dir), "singles": 0}
    for name in names if transfer is None else [transfer]:
        tag = f"single-{name}" + (f"-fraction{fraction:g}" if data_args[name] else "")
        single_dir = out / tag
        single, _ = train_run(name, single_dir, [*single_args(plan[name]), *data_args[name]], resume=resume)
        metric, higher = get_recipe(name).headline
        table[name] = {"metric": metric, "joint": joint["tasks"][name]["joint"], "single": single[metric],
                       "higher_is_better": higher}
        wall["singles"] += single["wall_s"]
        size["singles"] += weights_bytes(single_dir)
        print(f"[single] {single_dir}: {plan[name]['steps']} steps, {metric} {single[metric]:.4f} "
              f"(joint {table[name]['joint']:.4f}), {single['wall_s']:.0f} s", flush=True)

    result: dict[str, Any] = {"tasks": table, "wall_s": wall, "bytes": size, "scale": scale,
                              "threads": torch.get_num_threads(), "joint_dir": str(joint_dir), "joint_args": joint_cli}
    if transfer is None:
        result["targets"] = targets(table, wall, size)
        log = [json.loads(line) for line in (joint_dir / "log.jsonl").read_text().splitlines() if line.strip()]
        out.mkdir(parents=True, exist_ok=True)
        plot(table, log, scale, out / "multitask-preset.png")
        if docs is not None:
            docs.mkdir(exist_ok=True)
            shutil.copyfile(out / "multitask-preset.png", docs / "multitask-preset.png")
    else:
        row = table[transfer]
        gap = relative_gap(row["joint"], row["single"], row["higher_is_better"])
        result["transfer"] = {"task": transfer, "fraction": fraction, "joint": row["joint"], "single": row["single"],
                              "sign": "joint better" if gap < 0 else "joint worse" if gap > 0 else "equal"}
    name = f"multitask-preset{f'-transfer-{transfer}' if transfer else ''}.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result
