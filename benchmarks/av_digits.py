"""av-digits benchmark: both fusion styles, per question and condition, against single-question training.

    python benchmarks/av_digits.py                      # four runs of the default preset (see README for times)
    python benchmarks/av_digits.py --runs prefix,encdec # a subset
    python benchmarks/av_digits.py -- --loop.max_steps=1000   # overrides for every run after --

Runs (each `tzoo train av-digits`, the default `cpu` preset, the same steps and seed):
  prefix   the default: one token set, prefix pattern;
  encdec   `--model.fusion=encdec`: the set encoded alone, the answer decoded with cross-attention
           (same blocks, same parameter count);
  written  `--data.kinds=written`: trained on "which digit is written" alone;
  spoken   `--data.kinds=spoken`: trained on "which digit is spoken" alone.
Each is scored on the test side: exact match per question with both inputs, with the image
removed (audio_only) and with the audio removed (image_only). Targets, per fusion style:
  match >= 97% with both, 50 +- 5% with either removed; sum >= 95% with both; fused (degraded
  pairs) with both >= 5 points above the better single input; written / spoken with both within 1
  point of the single-question run.
Run directories are kept under --out (default runs/av-bench; a finished run of the same config is
reused, any other trained again; a reused run's test table is scored again with `tzoo eval DIR
--data.test_examples=N` when it holds fewer than --test-examples, default 1,000, examples per
question); --docs draws the default run's table into docs/av-digits-accuracy.png. The last line
printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainrun import train_run

from tzoo.recipes.plots import accuracy_table

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"prefix": [], "encdec": ["--model.fusion=encdec"], "written": ["--data.kinds=written"],
        "spoken": ["--data.kinds=spoken"]}
FUSIONS = ("prefix", "encdec")


def targets(acc: dict, single: dict) -> dict[str, tuple[float, bool]]:
    """Each target's figure and whether it is met, for one fusion style's table."""
    out: dict[str, tuple[float, bool]] = {}
    if "match" in acc:
        m = acc["match"]
        out["match both >= 0.97"] = (m["both"], m["both"] >= 0.97)
        for c in ("image_only", "audio_only"):
            out[f"match {c} in 0.45..0.55"] = (m[c], abs(m[c] - 0.5) <= 0.05)
    if "sum" in acc:
        out["sum both >= 0.95"] = (acc["sum"]["both"], acc["sum"]["both"] >= 0.95)
    if "fused" in acc:
        f = acc["fused"]
        gain = f["both"] - max(f["image_only"], f["audio_only"])
        out["fused both - best single >= 0.05"] = (round(gain, 4), gain >= 0.05)
    for kind, run in (("written", "written"), ("spoken", "spoken")):
        if kind in acc and run in single:
            gap = acc[kind]["both"] - single[run][kind]["both"]
            out[f"{kind} both - single-question run >= -0.01"] = (round(gap, 4), gap >= -0.01)
    return out


def rescored(run: Path, metrics: dict, n: int) -> dict:
    """The run's test table scored on `n` examples per question, when it holds fewer; else {}."""
    if metrics.get("test_examples_per_question", 0) >= n:
        return {}
    import tzoo

    print(f"[rescore] {run}: the test table on {n} examples per question", flush=True)
    return tzoo.load(run).evaluate({"data.test_examples": str(n)})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=",".join(RUNS))
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "av-bench")
    p.add_argument("--docs", action="store_true")
    p.add_argument("--test-examples", type=int, default=1000, help="test examples per question (default 1000)")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    names = [n for n in args.runs.split(",") if n]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        p.error(f"unknown run {unknown[0]!r}; runs: {','.join(RUNS)}")

    results = {}
    for name in names:
        metrics, wall = train_run("av-digits", args.out / name, [*RUNS[name], *extra])
        metrics.update(rescored(args.out / name, metrics, args.test_examples))
        results[name] = {"acc": metrics["acc"], "test_examples_per_question": metrics["test_examples_per_question"],
                         "wall_s": metrics["wall_s"], "params": metrics["params"],
                         "steps": metrics["step"], "chosen_step": metrics["chosen_step"]}
        print(f"[{name}] {metrics['step']} steps, {metrics['wall_s'] / 60:.1f} min of training, "
              f"{metrics['params']:,} parameters", flush=True)

    single = {n: results[n]["acc"] for n in ("written", "spoken") if n in results}
    report = {"runs": results, "targets": {}}
    for fusion in FUSIONS:
        if fusion not in results:
            continue
        acc = results[fusion]["acc"]
        print(f"\n{fusion}: exact match on the test side (%, {results[fusion]['test_examples_per_question']} examples "
              f"a question), {results[fusion]['params']:,} parameters, {results[fusion]['wall_s'] / 60:.1f} min")
        print(f"{'question':<10} {'both':>7} {'image_only':>11} {'audio_only':>11}")
        for kind, row in acc.items():
            print(f"{kind:<10} {100 * row['both']:>7.1f} {100 * row['image_only']:>11.1f} {100 * row['audio_only']:>11.1f}")
        checks = targets(acc, single)
        report["targets"][fusion] = {k: {"value": v, "met": ok} for k, (v, ok) in checks.items()}
        for k, (v, ok) in checks.items():
            print(f"  {k}: {v:.4f} {'met' if ok else 'NOT met'}")
    for name in ("written", "spoken"):
        if name in results:
            row = results[name]["acc"][name]
            print(f"single-question run {name}: both {100 * row['both']:.1f}, image_only {100 * row['image_only']:.1f}, "
                  f"audio_only {100 * row['audio_only']:.1f}")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "av_digits.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.docs and "prefix" in results:
        (ROOT / "docs").mkdir(exist_ok=True)
        accuracy_table(results["prefix"]["acc"], ROOT / "docs" / "av-digits-accuracy.png",
                       "exact-match accuracy on the test side (%)")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
