"""ViT training throughput: tzoo's shared backbone vs timm's VisionTransformer of the same shape.

    python benchmarks/vit_throughput.py                                   # about 5 minutes on an idle 2-core CPU
    python benchmarks/vit_throughput.py --rounds 2 --steps 2 --warmup 1   # a short setting

Shape: dim 192, depth 6, heads 3, MLP ratio 2, patch 4, 32x32 images (64 patches + CLS = 65
tokens), 10 classes, batch 128. One step = forward + cross-entropy + backward + grad clip + AdamW
step, on one fixed batch of uint8 images (normalised inside each model's step). Steps of the
models alternate in blocks, in this one process, so machine noise hits all alike; medians are
reported, and only ratios within one run compare.

tzoo is timed twice:
  - `tzoo` (readout on, as it trains): the classification task declares `readout` (only the CLS
    state is read), so the backbone's last block computes the CLS row alone, not all 65 tokens.
    Against timm this is NOT the same arithmetic: it is tzoo as used against timm as used.
  - `tzoo_full` (readout off: the task's `readout` set to None): every block computes all 65
    tokens, as timm's does. This is the like-for-like model comparison.
timm is timed with the same fused AdamW tzoo uses (`timm_fused`, the like-for-like optimizer)
and with torch's default AdamW (`timm_default`, a plain loop).
Target: tzoo_full / timm_fused >= 1.0. The last line printed is the figures as JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time

import timm
import torch
import torch.nn.functional as F

from tzoo.backbone import BackboneConfig
from tzoo.recipes.optim import make_optimizer
from tzoo.recipes.settings import OptimConfig
from tzoo.recipes.vit import VitConfig, VitModelConfig, make_model
from tzoo.tasks import TzooModel
from tzoo.tokenizers.image import CIFAR_MEAN, CIFAR_STD

DIM, DEPTH, HEADS, MLP, PATCH, BATCH = 192, 6, 3, 2.0, 4, 128
# (numerator, denominator): like for like first, then tzoo as it trains against timm's two optimizers
RATIOS = (("tzoo_full", "timm_fused"), ("tzoo", "timm_fused"), ("tzoo", "timm_default"))


def tzoo_model(readout: bool) -> TzooModel:
    """tzoo's ViT of the benchmark's shape. readout=False sets the task's `readout` to None: it then
    reads every state, so the last block computes all 65 tokens as timm's does (the same function)."""
    cfg = VitConfig(backbone=BackboneConfig(dim=DIM, depth=DEPTH, heads=HEADS, mlp_ratio=MLP, bias=True),
                    model=VitModelConfig(patch_size=PATCH, label_smoothing=0.0))
    model = make_model(cfg, 10)
    if not readout:
        model.head().readout = None
    return model


def tzoo_step(precision: str, readout: bool):
    model = tzoo_model(readout).train()
    opt = make_optimizer(model, OptimConfig(weight_decay=0.05))
    return _step(lambda x, y: model({"image": x, "targets": y}).loss, model, opt, precision)


def timm_step(precision: str, fused: bool):
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=PATCH, num_classes=10, embed_dim=DIM, depth=DEPTH, num_heads=HEADS,
        mlp_ratio=MLP).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), fused=True if fused else None)
    mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return _step(lambda x, y: F.cross_entropy(model((x.float() / 255 - mean) / std), y), model, opt, precision)


def _step(loss_fn, model, opt, precision: str):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (BATCH, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext

    def step():
        with autocast():
            loss = loss_fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return step


def measure(steps: dict, rounds: int, per_round: int, warmup: int = 3) -> dict[str, float]:
    """Images/s of each step function: the median of `rounds` x `per_round` timed steps, taken in
    alternating blocks after `warmup` untimed steps each."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():  # warm-up
        for _ in range(warmup):
            fn()
    for _ in range(rounds):
        for name, fn in steps.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {k: BATCH / sorted(v)[len(v) // 2] for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=6, help="steps per model per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per model first")
    p.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32, bf16 (bf16: CPU autocast)")
    args = p.parse_args()
    torch.manual_seed(0)
    figures: dict = {"shape": f"dim {DIM} depth {DEPTH} heads {HEADS} mlp {MLP} patch {PATCH} batch {BATCH}",
                     "threads": torch.get_num_threads(), "rounds": args.rounds, "steps_per_round": args.steps,
                     "warmup": args.warmup,
                     "tzoo": "readout on: the last block computes the CLS row only",
                     "tzoo_full": "readout off: every block computes all 65 tokens, as timm does"}
    precisions = [x for x in args.precisions.split(",") if x]
    if not precisions or set(precisions) - {"fp32", "bf16"}:
        p.error(f"--precisions: expected a comma list of fp32, bf16, got {args.precisions!r}")
    for precision in precisions:
        rates = measure({"tzoo": tzoo_step(precision, True), "tzoo_full": tzoo_step(precision, False),
                         "timm_fused": timm_step(precision, True), "timm_default": timm_step(precision, False)},
                        args.rounds, args.steps, args.warmup)
        for k, v in rates.items():
            figures[f"{precision}_{k}_images_per_s"] = round(v, 1)
        for a, b in RATIOS:
            figures[f"{precision}_ratio_{a}_over_{b}"] = round(rates[a] / rates[b], 3)
        r = lambda a, b: figures[f"{precision}_ratio_{a}_over_{b}"]  # noqa: E731
        print(f"{precision}: images/s tzoo (readout on) {rates['tzoo']:.0f} | tzoo (readout off) "
              f"{rates['tzoo_full']:.0f} | timm (fused AdamW) {rates['timm_fused']:.0f} | timm (default AdamW) "
              f"{rates['timm_default']:.0f}\n  tzoo_full/timm_fused {r('tzoo_full', 'timm_fused')} (same arithmetic,"
              f" target >= 1.0); tzoo/timm_fused {r('tzoo', 'timm_fused')} (readout on: the last block computes the"
              f" CLS row only); tzoo/timm_default {r('tzoo', 'timm_default')}", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
