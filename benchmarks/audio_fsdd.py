"""audio-fsdd benchmark: the transformer against a small log-mel CNN, trained under the same conditions.

    python benchmarks/audio_fsdd.py                         # 7 splits x 2 models: hours on 2 CPU cores
    python benchmarks/audio_fsdd.py --splits official --models transformer
    python benchmarks/audio_fsdd.py --preset fast           # the faster preset (linear slice tokens)
    python benchmarks/audio_fsdd.py -- --loop.max_steps=3000  # overrides for both models after `--`
    python benchmarks/audio_fsdd.py --side-by-side          # both models at once, one core each
    python benchmarks/audio_fsdd.py --seeds 0,1,2           # each model and split three times, averaged
    python benchmarks/audio_fsdd.py --collect DIR [DIR ...]  # the figures of runs kept with --keep, merged

On a GPU machine the splits can run as separate processes at once (`--splits NAME --models M --keep DIR`);
`--collect` then reads their run directories and prints the figures of all of them together.
For each split (the official one, then each of the six speakers held out) it trains
1. `tzoo train audio-fsdd --preset P` (default P: stem, through the Trainer), and
2. a 0.24M-parameter CNN on 40-band log-mel features, written below, that reuses the recipe's data,
   batches, waveform augmentation, SpecAugment, label smoothing, optimizer and step budget: only
   the model differs.
It prints test accuracy and training wall time per split, model and seed, the mean over the held-out
speakers (and over the seeds, with --seeds), and a final JSON line. Targets: official split >= 99%,
held-out mean >= 88%, both at least the CNN's. Needs FSDD in $TZOO_DATA/fsdd/recordings (or pass
--data.dir=FOLDER after `--`).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from tzoo.config import apply_overrides, flat_fields, from_dict, parse_override_args
from tzoo.errors import TzooError
from tzoo.recipes.audio import AUDIO_FSDD, AudioConfig, AudioRecipe
from tzoo.recipes.base import Parts
from tzoo.recipes.rundir import CONFIG, METRICS, RunDir
from tzoo.recipes.train import Trainer
from tzoo.storage import read_json
from tzoo.tasks import TaskOutput
from tzoo.tasks.classification import classification_output
from tzoo.tokenizers.audio import LogMel, MelConfig

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
SPLITS = ("official",) + SPEAKERS
MODELS = ("transformer", "cnn")


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class LogMelCnn(nn.Module):
    """Three stages of two 3x3 conv blocks (32, 64, 112 channels), 2x2 max pooling between them,
    masked mean over time, mean over frequency, dropout, linear. About 0.24M parameters.

    Padded frames are zeroed after every block, so padding changes nothing (as in the transformer).
    """

    def __init__(self, mel: MelConfig, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 112),
                 label_smoothing: float = 0.0, dropout: float = 0.2) -> None:
        super().__init__()
        self.logmel = LogMel(mel)
        chans = (mel.bands // mel.n_mels,) + widths  # norm "both": the two versions are two input channels
        self.stages = nn.ModuleList(nn.ModuleList([ConvBlock(a, b), ConvBlock(b, b)])
                                    for a, b in zip(chans[:-1], chans[1:]))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], num_classes)
        self.label_smoothing = label_smoothing

    def forward(self, batch: dict, task: Optional[str] = None) -> TaskOutput:
        x, frames = self.logmel(**batch["audio"])  # (B, M, T), (B, T)
        b, _, t = x.shape
        h = x.view(b, -1, self.logmel.cfg.n_mels, t)  # (B, 1 or 2, M, T)
        m = frames[:, None, None, :].to(x.dtype)  # (B, 1, 1, T)
        for i, stage in enumerate(self.stages):
            if i:
                h = F.max_pool2d(h, 2, ceil_mode=True)
                m = F.max_pool2d(m, (1, 2), ceil_mode=True)
            for block in stage:
                h = block(h) * m  # (B, C, M', T')
        pooled = (h * m).sum(dim=(2, 3)) / (m.sum(dim=(2, 3)) * h.shape[2])  # (B, C)
        logits = self.head(self.dropout(pooled))  # (B, K)
        if "targets" not in batch:
            return TaskOutput(None, {}, {"logits": logits})
        return classification_output(logits, batch["targets"], self.label_smoothing if self.training else 0.0)


class CnnRecipe(AudioRecipe):
    """audio-fsdd with the model swapped for LogMelCnn (40 mel bands); everything else is the recipe's."""

    name = "audio-fsdd-cnn"

    def build(self, cfg: AudioConfig, run: RunDir, is_main: bool, barrier) -> Parts:
        parts = super().build(cfg, run, is_main, barrier)
        torch.manual_seed(cfg.loop.seed)
        parts.model = LogMelCnn(replace(cfg.mel, n_mels=40), label_smoothing=cfg.model.label_smoothing)
        return parts


def train_one(model: str, split: str, seed: Optional[int], overrides: dict[str, str], folder: Path,
              preset: str) -> dict:
    """Train one model on one split with the recipe's `preset` (the CNN: its data, augmentation and
    loop) and `seed` (None: the preset's); returns metrics.json."""
    recipe = AUDIO_FSDD if model == "transformer" else CnnRecipe(AUDIO_FSDD.presets)
    holdout = {} if split == "official" else {"data.holdout_speaker": split}
    chosen = {} if seed is None else {"loop.seed": str(seed)}
    cfg = apply_overrides(AUDIO_FSDD.presets[preset](), {**overrides, **holdout, **chosen})
    run = RunDir(folder / (f"{model}-{split}" + ("" if seed is None else f"-seed{seed}")))
    try:
        return Trainer(recipe, cfg, run).fit()
    finally:
        from accelerate.state import AcceleratorState, GradientState
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


Results = dict[str, dict[str, dict[str, dict]]]  # model -> seed ("default" or a number) -> split -> metrics.json


def seed_key(seed: Optional[int]) -> str:
    """The key of a seed's results: its number, or "default" for the preset's seed."""
    return "default" if seed is None else str(seed)


def mean(values: list[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def figures(per: dict[str, dict]) -> dict:
    """One model, one seed: official accuracy, held-out accuracy per speaker and their mean."""
    held = {s: per[s]["test_acc"] for s in SPEAKERS if s in per}
    return {"official_acc": per["official"]["test_acc"] if "official" in per else None, "heldout_acc": held,
            "heldout_mean_acc": mean(list(held.values())), "wall_s": {s: m["wall_s"] for s, m in per.items()}}


def over_seeds(per_seed: dict[str, dict]) -> dict:
    """The figures averaged over seeds (a split missing from any seed is left out of the mean)."""
    runs = list(per_seed.values())
    both = [s for s in SPEAKERS if all(s in r["heldout_acc"] for r in runs)]
    official = [r["official_acc"] for r in runs]
    held = {s: mean([r["heldout_acc"][s] for r in runs]) for s in both}
    return {"official_acc": mean(official) if None not in official else None, "heldout_acc": held,
            "heldout_mean_acc": mean(list(held.values()))}


def report(results: Results) -> dict:
    """Print accuracy and wall time per split, model and seed, then the held-out means (over seeds
    too when there are several); return the summary figures."""
    cols = [(m, seed) for m in results for seed in results[m]]
    names = [m if len(results[m]) == 1 else f"{m} s{seed}" for m, seed in cols]
    print(f"\n{'split':<10} " + " ".join(f"{n + ' acc':>18} {n + ' wall s':>20}" for n in names))
    for split in SPLITS:
        cells = [results[m][seed].get(split) for m, seed in cols]
        if all(c is None for c in cells):
            continue
        row = " ".join(f"{c['test_acc']:>18.4f} {c['wall_s']:>20.1f}" if c else f"{'-':>18} {'-':>20}"
                       for c in cells)
        print(f"{split:<10} {row}")
    summary: dict = {}
    for model, by_seed in results.items():
        per_seed = {seed: figures(per) for seed, per in by_seed.items()}
        runs = [m for per in by_seed.values() for m in per.values()]
        summary[model] = {**over_seeds(per_seed), "per_seed": per_seed,
                          "params": runs[0]["params"] if runs else None, "steps": runs[0]["step"] if runs else None}
        held, official = summary[model]["heldout_acc"], summary[model]["official_acc"]
        seeds = f", mean of {len(by_seed)} seeds" if len(by_seed) > 1 else ""
        if official is not None:
            print(f"{model}: official {official:.4f}{seeds}")
        if held:
            print(f"{model}: held-out mean {summary[model]['heldout_mean_acc']:.4f} over {len(held)} speakers{seeds}")
    return summary


PER_RUN = ("data.holdout_speaker", "data.dir", "loop.seed", "loop.workers")  # may differ between runs


def read_run(run: RunDir) -> Optional[tuple[str, AudioConfig, dict]]:
    """A kept run directory -> (model, its config, metrics.json); None, with a line saying why, for
    a run that is not audio-fsdd or did not finish."""
    recipe, data = run.load_config()
    model = {AUDIO_FSDD.name: "transformer", CnnRecipe.name: "cnn"}.get(recipe)
    if model is None:
        print(f"skipping {run.path}: not an audio-fsdd run")
        return None
    cfg = from_dict(AUDIO_FSDD.default(), data, source=str(run / CONFIG))
    metrics = read_json(run / METRICS, "run metrics")
    if not isinstance(metrics, dict) or metrics.get("step") != cfg.loop.max_steps:
        print(f"skipping {run.path}: not finished")
        return None
    return model, cfg, metrics


def first_difference(a: AudioConfig, b: AudioConfig, ignore: set[str]) -> Optional[str]:
    """The first dotted key, outside PER_RUN and `ignore`, whose value differs between two configs."""
    fa, fb = flat_fields(a), flat_fields(b)
    return next((k for k in fa if k not in PER_RUN and k not in ignore and fa[k][1] != fb[k][1]), None)


def collect(folders: list[Path]) -> Results:
    """Read the finished runs kept under `folders` into results by model, seed and split. All runs
    must share their config except PER_RUN keys (and the step count between models, as --cnn-steps
    allows); any other difference is an error naming the two runs."""
    results: Results = {}
    first: dict[str, tuple[AudioConfig, Path]] = {}  # model -> (its first run's config, that run)
    for folder in folders:
        if not folder.is_dir():
            raise TzooError(f"{folder}: no such folder; give folders passed to --keep")
        for path in sorted(p.parent for p in folder.rglob(METRICS)):
            read = read_run(RunDir.open(path))
            if read is None:
                continue
            model, cfg, metrics = read
            base = next(iter(first.values()), (cfg, path))  # the first run of any model
            first.setdefault(model, (cfg, path))
            for (other, other_path), ignore in ((first[model], set()), (base, {"loop.max_steps"})):
                key = first_difference(other, cfg, ignore)
                if key:
                    raise TzooError(f"{path} and {other_path} differ in {key}; collect runs of one config")
            split, seed = cfg.data.holdout_speaker or "official", seed_key(cfg.loop.seed)
            per = results.setdefault(model, {}).setdefault(seed, {})
            if split in per:
                raise TzooError(f"{path} repeats {model} {split} seed {seed}; keep one of them")
            per[split] = metrics
    if not results:
        raise TzooError(f"no finished runs under {', '.join(map(str, folders))}")
    return {m: results[m] for m in MODELS if m in results}


def side_by_side(models: list[str], argv: list[str], folder: Path) -> Results:
    """Train each model in its own process with one thread, at the same time (one core each on a
    2-core machine): the same conditions for both, in half the wall time of one after the other."""
    import os
    import subprocess

    procs = {}
    for model in models:
        cmd = [sys.executable, __file__, "--models", model, "--threads", "1",
               "--results", str(folder / f"{model}.json"), *argv]  # argv last: it may end with `-- overrides`
        procs[model] = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    failed = [m for m, proc in procs.items() if proc.wait() != 0]
    if failed:
        raise SystemExit(f"audio_fsdd: the {failed[0]} process failed (see its output above)")
    return {m: json.loads((folder / f"{m}.json").read_text()) for m in models}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--splits", default=",".join(SPLITS), help="comma list of official and speaker names")
    p.add_argument("--models", default=",".join(MODELS), help="comma list of transformer, cnn")
    p.add_argument("--keep", metavar="DIR", help="keep the run directories here (default: a temporary folder)")
    p.add_argument("--cnn-steps", type=int, metavar="N",
                   help="train the CNN for N steps instead of the transformer's loop.max_steps (not the same "
                        "conditions any more: the figures say so)")
    p.add_argument("--preset", default="stem", choices=sorted(AUDIO_FSDD.presets), help="the recipe's preset")
    p.add_argument("--side-by-side", action="store_true",
                   help="train the models at the same time, one process with one thread each")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (default: torch's choice)")
    p.add_argument("--seeds", metavar="LIST",
                   help="comma list of loop.seed values: every split and model is trained once per seed and the "
                        "figures are averaged over seeds (default: the preset's seed, once)")
    p.add_argument("--collect", nargs="+", type=Path, metavar="DIR",
                   help="train nothing: print the figures of the finished runs kept under these folders (--keep)")
    p.add_argument("--results", metavar="FILE", help=argparse.SUPPRESS)  # per-split metrics, for --side-by-side
    args, rest = p.parse_known_args()
    overrides = parse_override_args([a for a in rest if a != "--"])
    splits, models = args.splits.split(","), args.models.split(",")
    for name, chosen, known in (("split", splits, SPLITS), ("model", models, MODELS)):
        unknown = [c for c in chosen if c not in known]
        if unknown:
            p.error(f"unknown {name} {unknown[0]!r}; choose from {', '.join(known)}")
    if args.collect:
        if overrides or args.seeds or args.side_by_side or args.cnn_steps:
            p.error("--collect trains nothing: it takes no overrides, --seeds, --side-by-side or --cnn-steps")
        try:
            results = collect(args.collect)
        except TzooError as e:
            p.exit(e.exit_code, f"audio_fsdd: {e}\n")
        summary = report(results)
        print(json.dumps({"benchmark": "audio_fsdd", "collected": [str(f) for f in args.collect], **summary}))
        return 0
    seeds = parse_seeds(p, args.seeds, overrides)
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="audio-bench-"))
    results: Results = {m: {seed_key(seed): {} for seed in seeds} for m in models}
    try:
        if args.side_by_side:
            child = ["--splits", args.splits, "--preset", args.preset] + (["--keep", args.keep] if args.keep else []) + \
                (["--cnn-steps", str(args.cnn_steps)] if args.cnn_steps else []) + \
                (["--seeds", args.seeds] if args.seeds else []) + rest
            results = side_by_side(models, child, folder)
        else:
            for seed in seeds:
                key = seed_key(seed)
                for split in splits:
                    for model in models:
                        results[model][key][split] = run_one(model, split, seed, overrides, args.cnn_steps, folder,
                                                             args.preset)
                        if args.results:
                            Path(args.results).write_text(json.dumps(results[model]))
    finally:
        if not args.keep and not args.results:
            shutil.rmtree(folder, ignore_errors=True)
    summary = report(results)
    threads = 1 if args.side_by_side else torch.get_num_threads()
    print(json.dumps({"benchmark": "audio_fsdd", "preset": args.preset, "overrides": overrides, "cnn_steps": args.cnn_steps,
                      "seeds": seeds, "threads": threads, "side_by_side": args.side_by_side, **summary}))
    return 0


def parse_seeds(p: argparse.ArgumentParser, text: Optional[str], overrides: dict[str, str]) -> list[Optional[int]]:
    """--seeds "0,1" -> [0, 1]; unset -> [None] (the preset's seed or --loop.seed)."""
    if not text:
        return [None]
    if "loop.seed" in overrides:
        p.error("give the seeds with --seeds or with --loop.seed, not both")
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        p.error(f"--seeds: expected a comma list of integers, got {text!r}")
    if len(set(seeds)) != len(seeds):
        p.error(f"--seeds: a seed is listed twice in {text!r}")
    return seeds


def run_one(model: str, split: str, seed: Optional[int], overrides: dict[str, str], cnn_steps, folder: Path,
            preset: str) -> dict:
    """Train one model on one split with one seed and print its line."""
    extra = {"loop.max_steps": str(cnn_steps)} if model == "cnn" and cnn_steps else {}
    m = train_one(model, split, seed, {**overrides, **extra}, folder, preset)
    digits = " ".join(f"{d}:{a:.2f}" for d, a in m["test_per_class_acc"].items())
    tag = f"{model} {split}" + ("" if seed is None else f" seed {seed}")
    print(f"[{tag}] test_acc {m['test_acc']:.4f} wall {m['wall_s']:.1f} s "
          f"params {m['params']} per digit {digits}", flush=True)
    return m


if __name__ == "__main__":
    sys.exit(main())

