"""char-lm benchmark: accuracy and speed at nanoGPT's CPU shape, and sampling with/without KV cache.

    python benchmarks/char_lm.py            # about 4 minutes on a 2-core CPU
    python benchmarks/char_lm.py --skip-train

1. Trains `tzoo train char-lm` at nanoGPT's published CPU shape (4 layers, 4 heads, 128 wide,
   context 64, batch 12, 2000 steps, lr 1e-3 -> 1e-4, warmup 100, decay 0.1, clip 1.0) and
   reads val_loss (whole validation split) and train tokens/s from metrics.json.
   Target: val_loss <= 1.88 (nanoGPT's figure at this shape).
2. Training throughput of tzoo's loop against a plain PyTorch GPT of the same shape and
   optimizer (nanoGPT's architecture and loop, written here), alternating blocks of steps in
   this one process so machine noise hits both alike. Target: ratio >= 1.0.
3. Sampling speed for 500 new tokens at char-lm's default shape (context 256), with and
   without the KV cache. Target: >= 5x.
Needs Tiny Shakespeare: $TZOO_DATA/tinyshakespeare/input.txt, the cache, or the network.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tzoo.recipes.lm import CHAR_LM, make_model
from tzoo.recipes.rundir import RunDir
from tzoo.recipes.train import Trainer
from tzoo.tasks import generate

SHAPE = ["--backbone.depth=4", "--backbone.heads=4", "--backbone.dim=128", "--backbone.dropout=0",
         "--data.block_size=64", "--loop.batch_size=12", "--loop.max_steps=2000", "--optim.lr=1e-3",
         "--optim.min_lr=1e-4", "--optim.warmup_steps=100", "--optim.weight_decay=0.1", "--optim.grad_clip=1.0"]


# --- 2. a plain PyTorch GPT with nanoGPT's architecture and training step --------------------------
class RefBlock(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.attn, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.fc, self.out = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.attn(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, block: int, d: int, layers: int, heads: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(RefBlock(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d, bias=False)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def reference_step_fn(data: torch.Tensor, vocab: int, block: int, batch: int):
    torch.manual_seed(0)
    model = RefGPT(vocab, block, 128, 4, 4)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))  # nanoGPT: fused only on CUDA

    def step():
        ix = torch.randint(len(data) - block, (batch,))
        x = torch.stack([data[i:i + block] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + block] for i in ix])
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return step


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def throughput(tmp: Path, rounds: int = 6, steps: int = 50) -> dict:
    from tzoo.config import apply_overrides, parse_override_args

    cfg = apply_overrides(CHAR_LM.presets["bench"](), parse_override_args(SHAPE))
    trainer = Trainer(CHAR_LM, cfg, RunDir(tmp / "throughput"))
    trainer.setup()

    def ours():
        trainer.train_step()
        trainer.state.step += 1

    ref = reference_step_fn(trainer.parts.train.ids, CHAR_LM_VOCAB(trainer), 64, 12)
    times: dict[str, list[float]] = {"tzoo": [], "reference": []}
    for _ in range(rounds):  # alternate blocks so drift in machine speed hits both alike
        for name, fn in (("reference", ref), ("tzoo", ours)):
            for i in range(steps):
                t0 = time.perf_counter()
                fn()
                if i >= 5:
                    times[name].append(time.perf_counter() - t0)
    tokens = 12 * 64
    out = {f"{k}_ms_per_step": round(1e3 * median(v), 2) for k, v in times.items()}
    out.update({f"{k}_tokens_per_s": round(tokens / median(v)) for k, v in times.items()})
    out["throughput_ratio_tzoo_over_reference"] = round(median(times["reference"]) / median(times["tzoo"]), 3)
    return out


def CHAR_LM_VOCAB(trainer: Trainer) -> int:
    return trainer.parts.model.tokenizers["text"].embed.num_embeddings


def sampling(new_tokens: int = 500) -> dict:
    cfg = CHAR_LM.default()
    torch.manual_seed(0)
    model = make_model(cfg, 65).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    out = {}
    for use_cache in (True, False):
        best = math.inf
        for _ in range(2):
            g = torch.Generator().manual_seed(0)
            t0 = time.perf_counter()
            generate(model, prompt, new_tokens, cfg.data.block_size, 1.0, 0, use_cache, g)
            best = min(best, time.perf_counter() - t0)
        out["cache" if use_cache else "no_cache"] = round(new_tokens / best, 1)
    return {"sample_tokens_per_s_cache": out["cache"], "sample_tokens_per_s_no_cache": out["no_cache"],
            "sample_speedup": round(out["cache"] / out["no_cache"], 2),
            "sample_context": cfg.data.block_size, "sample_new_tokens": new_tokens}


def train_run(tmp: Path, seed: int) -> dict:
    out = tmp / f"char-lm-seed{seed}"
    cmd = [sys.executable, "-m", "tzoo", "train", "char-lm", "--preset", "bench", "--out", str(out),
           *SHAPE, f"--loop.seed={seed}", "--loop.log_every=500", "--sample.max_new_tokens=200"]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    m = json.loads((out / "metrics.json").read_text())
    return {"seed": seed, "val_loss": round(m["val_loss"], 4), "train_tokens_per_s": round(m["train_tokens_per_s"]),
            "wall_s": m["wall_s"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skip-train", action="store_true", help="only the speed figures")
    p.add_argument("--seeds", type=int, nargs="+", default=[1337])
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tzoo-bench-"))
    figures: dict = {"machine": f"{torch.get_num_threads()} threads, torch {torch.__version__}"}
    try:
        if not args.skip_train:
            runs = [train_run(tmp, s) for s in args.seeds]
            figures["runs"] = runs
            figures["val_loss"] = max(r["val_loss"] for r in runs)
            print(f"val_loss (whole validation split): {[r['val_loss'] for r in runs]}  target <= 1.88")
        figures.update(throughput(tmp))
        print(f"training: tzoo {figures['tzoo_tokens_per_s']} tokens/s ({figures['tzoo_ms_per_step']} ms/step), "
              f"plain PyTorch reference {figures['reference_tokens_per_s']} tokens/s "
              f"({figures['reference_ms_per_step']} ms/step); ratio {figures['throughput_ratio_tzoo_over_reference']}"
              "  target >= 1.0")
        figures.update(sampling())
        print(f"sampling 500 tokens at context {figures['sample_context']}: "
              f"{figures['sample_tokens_per_s_cache']} tokens/s with KV cache, "
              f"{figures['sample_tokens_per_s_no_cache']} without; {figures['sample_speedup']}x  target >= 5x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
