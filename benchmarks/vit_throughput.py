"""ViT training throughput: tzoo's shared backbone vs timm's VisionTransformer of the same shape.

    python benchmarks/vit_throughput.py            # about 3 minutes on a 2-core CPU

Shape: dim 192, depth 6, heads 3, MLP ratio 2, patch 4, 32x32 images, 10 classes, batch 128.
One step = forward + cross-entropy + backward + grad clip + AdamW step, on one fixed batch of
uint8 images (normalised inside each model's step). Steps of the two models alternate in
blocks, in this one process, so machine noise hits both alike; medians are reported.
tzoo runs its own optimizer choice (fused AdamW); timm is timed both with the same fused
AdamW (the like-for-like model comparison) and with torch's default AdamW (a plain loop).
Target: tzoo / timm >= 1.0.
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
from tzoo.tokenizers.image import CIFAR_MEAN, CIFAR_STD

DIM, DEPTH, HEADS, MLP, PATCH, BATCH = 192, 6, 3, 2.0, 4, 128


def tzoo_step(precision: str):
    cfg = VitConfig(backbone=BackboneConfig(dim=DIM, depth=DEPTH, heads=HEADS, mlp_ratio=MLP, bias=True),
                    model=VitModelConfig(patch_size=PATCH, label_smoothing=0.0))
    model = make_model(cfg, 10).train()
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


def measure(steps: dict, rounds: int, per_round: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():  # warm-up
        for _ in range(3):
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
    args = p.parse_args()
    torch.manual_seed(0)
    figures: dict = {"shape": f"dim {DIM} depth {DEPTH} heads {HEADS} mlp {MLP} patch {PATCH} batch {BATCH}",
                     "threads": torch.get_num_threads()}
    for precision in ("fp32", "bf16"):
        rates = measure({"tzoo": tzoo_step(precision), "timm_fused": timm_step(precision, True),
                         "timm_default": timm_step(precision, False)}, args.rounds, args.steps)
        for k, v in rates.items():
            figures[f"{precision}_{k}_images_per_s"] = round(v, 1)
        figures[f"{precision}_ratio_tzoo_over_timm_fused"] = round(rates["tzoo"] / rates["timm_fused"], 3)
        figures[f"{precision}_ratio_tzoo_over_timm_default"] = round(rates["tzoo"] / rates["timm_default"], 3)
        print(f"{precision}: tzoo {rates['tzoo']:.0f} images/s | timm (fused AdamW) {rates['timm_fused']:.0f} "
              f"| timm (default AdamW) {rates['timm_default']:.0f} | tzoo/timm {figures[f'{precision}_ratio_tzoo_over_timm_fused']}"
              f" (like-for-like), {figures[f'{precision}_ratio_tzoo_over_timm_default']} (vs default)  target >= 1.0",
              flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
