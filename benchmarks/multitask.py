"""Multi-task benchmark: one backbone trained jointly on several tasks against one model per task.

    python benchmarks/multitask.py                          # every task, 5000 joint steps (~1 hour on 2 CPU cores)
    python benchmarks/multitask.py --steps 2000 --tasks char-lm,dt
    python benchmarks/multitask.py -- --tasks.weights=vit-cifar10:2   # overrides for every run after --
    python benchmarks/multitask.py --budget preset --scale 0.05      # every task at its preset's batches (see
                                                                     # multitask_budget.py; overrides: joint only)

1. Joint: `tzoo train multitask` (preset `cpu`: every task's section is its recipe's CPU preset, one
   backbone of 4 x 128) for --steps optimizer steps; the task schedule draws each micro-batch's task.
2. Single: for each task, the same recipe with `--tasks.names=TASK` and as many steps as the joint run
   drew that task. A task reads its own batches in order, so the single-task model sees exactly the
   batches (the same examples) the joint model saw for that task; same backbone shape, optimizer, seed,
   and the same learning-rate schedule shape: the warm-up is the same fraction of its run as the
   joint run's (`single_warmup`), then the cosine decay to the same floor over the rest. Both keep
   their last weights (the multitask recipe does no checkpoint selection).
3. Each task's headline metric (char-lm: validation bits per character; vit-cifar10 and audio-fsdd:
   test accuracy; dt: normalised score; av-digits: test exact match with both inputs, mean over
   questions), joint beside single. Target: every task within 5% (relative) of its single-task model.
   Size: the joint checkpoint against the sum of the task-specific parts plus one backbone.

Run directories are kept under --out (default runs/multitask-bench; a finished run of the same config
is reused, any other is trained again). Writes multitask.json and multitask.png there (--docs: also
docs/multitask.png). The last line printed is one JSON object {task: {"metric", "joint", "single",
"higher_is_better"}, ...}.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from trainrun import train_run

ROOT = Path(__file__).resolve().parents[1]
WITHIN = 0.05  # relative


def backbone_params(out: Path) -> tuple[int, int]:
    """(parameters of the backbone, of the whole model) of a run's model.safetensors."""
    from tzoo.storage import load_tensors

    tensors = load_tensors(out / "model.safetensors")
    backbone = sum(t.numel() for k, t in tensors.items() if k.startswith("backbone."))
    return backbone, sum(t.numel() for t in tensors.values())


def single_warmup(joint_warmup: int, joint_steps: int, steps: int) -> int:
    """Warm-up steps of a `steps`-step single-task run: the same fraction of its run as the joint run's."""
    return round(joint_warmup * steps / joint_steps)


def relative_gap(joint: float, single: float, higher: bool) -> float:
    """How much worse joint is than single, as a fraction of single (negative: better)."""
    worse = single - joint if higher else joint - single
    return worse / abs(single) if single else float("inf")


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 3.2))
    for ax, name in zip(axes if len(names) > 1 else [axes], names):
        row = table[name]
        ax.bar(["joint", "single"], [row["joint"], row["single"]], color=["#4477aa", "#bbbbbb"])
        ax.set_title(f"{name}\n{row['metric']} ({'higher' if row['higher_is_better'] else 'lower'} is better)",
                     fontsize=8)
        for i, v in enumerate((row["joint"], row["single"])):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    fig.suptitle("one backbone for every task vs one model per task (same examples per task)", fontsize=9)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def ensure_dt_dataset() -> None:
    """The dt recipe's default dataset (tzoo/cartpole/mixed-v0), collected under $MINARI_DATASETS_PATH
    (default runs/minari) as the README's `tzoo collect CartPole-v1 --out tzoo/cartpole/mixed-v0
    --policy mixed --episodes 140` does, if missing."""
    import os

    from tzoo.recipes import get_recipe

    root = Path(os.environ.setdefault("MINARI_DATASETS_PATH", str(ROOT / "runs" / "minari")))
    dataset = get_recipe("dt").default().data.dataset
    if not (root / dataset / "data").is_dir():
        from tzoo.control.collect import collect

        print(f"[data] collecting {dataset}: CartPole-v1, mixed, 140 episodes", flush=True)
        collect("CartPole-v1", dataset, policy="mixed", episodes=140, progress=False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="char-lm,vit-cifar10,audio-fsdd,dt,av-digits")
    p.add_argument("--steps", type=int, default=5000, help="joint optimizer steps")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "multitask-bench")
    p.add_argument("--docs", action="store_true", help="also write docs/multitask.png (preset: multitask-preset.png)")
    p.add_argument("--budget", choices=("draws", "preset"), default="draws",
                   help="draws: --steps joint steps, singles at the joint run's draws; preset: every task at its "
                        "recipe's default preset budget x --scale, against that preset alone")
    p.add_argument("--scale", type=float, default=1.0, help="preset budget: fraction of every budget (targets at 1)")
    p.add_argument("--transfer", metavar="TASK", help="preset budget: TASK on --fraction of its data, alone vs joint")
    p.add_argument("--fraction", type=float, default=0.1, help="--transfer: fraction of TASK's training split")
    p.add_argument("--resume", action="store_true", help="preset budget: continue unfinished runs of equal config")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    names = [n for n in args.tasks.split(",") if n]
    if args.budget == "preset" and not 0 < args.scale <= 1:
        p.error(f"--scale: must be in (0, 1], got {args.scale}")

    if "dt" in names:
        ensure_dt_dataset()

    if args.budget == "preset":
        from multitask_budget import run_preset

        out = args.out if args.out != p.get_default("out") else ROOT / "runs" / "multitask-preset" / f"scale-{args.scale:g}"
        run_preset(names, args.scale, out, extra, args.resume, ROOT / "docs" if args.docs else None,
                   args.transfer, args.fraction)
        return 0

    from tzoo.recipes import get_recipe

    common = [f"--loop.eval_every={args.steps}", *extra]
    joint_dir = args.out / "joint"
    joint, joint_s = train_run("multitask", joint_dir, [f"--tasks.names={','.join(names)}", f"--loop.max_steps={args.steps}", *common])
    draws = joint["task_batches"]
    warmup = json.loads((joint_dir / "config.json").read_text())["config"]["optim"]["warmup_steps"]
    print(f"[joint] {args.steps} steps ({warmup} warm-up), batches per task {draws}, {joint_s:.0f} s", flush=True)

    table, sizes = {}, {"backbone": backbone_params(joint_dir)[0], "joint": backbone_params(joint_dir)[1], "parts": 0}
    for name in names:
        steps, warm = draws[name], single_warmup(warmup, args.steps, draws[name])
        out = args.out / f"single-{name}"
        single, single_s = train_run("multitask", out, [f"--tasks.names={name}", f"--loop.max_steps={steps}",
                                       f"--loop.eval_every={steps}", *extra, f"--optim.warmup_steps={warm}"])
        metric, higher = get_recipe(name).headline
        j, s = joint["tasks"][name]["joint"], single["tasks"][name]["joint"]
        gap = relative_gap(j, s, higher)
        table[name] = {"metric": metric, "joint": j, "single": s, "higher_is_better": higher,
                       "batches": steps, "warmup_steps": warm,
                       "relative_gap": round(gap, 4), "within_5pct": gap <= WITHIN}
        backbone, total = backbone_params(out)
        sizes["parts"] += total - backbone
        print(f"[single] {name}: {steps} steps ({warm} warm-up), {metric} joint {j:.4f} vs single {s:.4f} "
              f"({'met' if gap <= WITHIN else 'NOT met'}: {100 * gap:+.1f}% worse), {single_s:.0f} s", flush=True)

    sizes["fits"] = sizes["joint"] <= sizes["parts"] + sizes["backbone"]
    print(f"\n{'task':<12} {'metric':<18} {'joint':>8} {'single':>8} {'worse by':>9}  target (within 5%)")
    for name, row in table.items():
        print(f"{name:<12} {row['metric']:<18} {row['joint']:>8.4f} {row['single']:>8.4f} "
              f"{100 * row['relative_gap']:>8.1f}%  {'met' if row['within_5pct'] else 'NOT met'}")
    print(f"joint checkpoint {sizes['joint']:,} parameters; task-specific parts {sizes['parts']:,} + one backbone "
          f"{sizes['backbone']:,} = {sizes['parts'] + sizes['backbone']:,}: {'met' if sizes['fits'] else 'NOT met'}")

    result = {"steps": args.steps, "joint_wall_s": round(joint_s, 1), "sizes": sizes, "tasks": table}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "multitask.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(table, args.out / "multitask.png")
    if args.docs:
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(args.out / "multitask.png", ROOT / "docs" / "multitask.png")
    print(json.dumps({name: {k: row[k] for k in ("metric", "joint", "single", "higher_is_better")}
                      for name, row in table.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
