"""Language modelling: next-token head and loss, scoring, and sampling with or without a KV cache."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import TzooModel
from .output import TaskOutput


class LanguageModelTask(nn.Module):
    """Predict token t+1 from tokens <= t.

    Args:
        dim: backbone width D.
        vocab_size: number of token ids V.
        tied: an embedding whose weight the output head shares (weight tying), or None.
        inputs: the tokenizer of the text (one input).
        pattern: "causal" (a decoder).
    """

    def __init__(self, dim: int, vocab_size: int, tied: Optional[nn.Embedding] = None,
                 inputs: Sequence[str] = ("text",), pattern: str = "causal") -> None:
        super().__init__()
        self.inputs, self.pattern = tuple(inputs), pattern
        self.readout = (self.inputs[-1], slice(None))  # the text's tokens (after a prefix: the answer's)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        if tied is not None:
            self.head.weight = tied.weight
        else:
            nn.init.normal_(self.head.weight, std=0.02)

    def forward(self, parts: list[Tensor], batch: dict, masks: Optional[list] = None) -> TaskOutput:
        h = parts[-1]  # (B, T, D)
        logits = self.head(h)  # (B, T, V)
        if "targets" not in batch:  # prediction
            return TaskOutput(None, {}, {"logits": logits})
        targets = batch["targets"]  # (B, T), -1 = ignore
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1)
        # the mean is over real targets, whose number varies (answers of different lengths): the loop
        # weighs each process's mean by it, so several processes step on the global mean
        return TaskOutput(loss, {"loss": loss.detach()}, {"logits": logits}, weight=(targets >= 0).sum())


@torch.no_grad()
def score(model: TzooModel, batches: Iterable[dict], device: torch.device,
          task: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """Summed next-token loss (nats) of `task` and number of scored tokens over `batches`."""
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.float64, device=device)
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        targets = batch.pop("targets")
        logits = model(batch, task=task).outputs["logits"]  # (B, T, V)
        losses = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1,
                                 reduction="sum")
        total += losses.double()
        count += (targets != -1).sum()
    return total, count


def _pick(logits: Tensor, temperature: float, top_k: int, generator: Optional[torch.Generator]) -> Tensor:
    """Sample one id per row from (B, V) logits; temperature 0 means greedy."""
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)  # (B, 1)


def _logits(model: TzooModel, task: Optional[str], ids: Tensor, start: int = 0, cache=None) -> Tensor:
    head = model.head(task)
    tokens = model.tokenizer(head.inputs[-1], task)(ids, start=start)
    h = model.backbone(tokens, "causal", cache=cache)  # (B, T, D)
    return head.head(h[:, -1])  # (B, V)


@torch.inference_mode()
def generate(model: TzooModel, ids: Tensor, max_new_tokens: int, block_size: int,
             temperature: float = 1.0, top_k: int = 0, use_cache: bool = True,
             generator: Optional[torch.Generator] = None, task: Optional[str] = None) -> Tensor:
    """Extend `ids` (B, T0) by `max_new_tokens` tokens sampled from `task`; returns (B, T0 + new).

    Without a cache every step re-runs the last `block_size` tokens. With the cache each step
    runs one token; when the window is full the cache is refilled from the last half window,
    so the context then shrinks to block_size/2 and grows back (positions are absolute, so
    keys cannot simply slide). Until the window first fills both paths give identical logits.
    """
    if ids.shape[1] == 0:
        raise ValueError("generate needs at least one prompt token")
    if not use_cache:
        for _ in range(max_new_tokens):
            nxt = _pick(_logits(model, task, ids[:, -block_size:]), temperature, top_k, generator)
            ids = torch.cat([ids, nxt], dim=1)
        return ids
    cache = model.backbone.new_cache(ids.shape[0], block_size)
    ctx = ids[:, -block_size:]
    logits = _logits(model, task, ctx, 0, cache)
    for i in range(max_new_tokens):
        nxt = _pick(logits, temperature, top_k, generator)
        ids = torch.cat([ids, nxt], dim=1)
        if i == max_new_tokens - 1:
            break
        if cache.room() == 0:
            cache.reset()
            logits = _logits(model, task, ids[:, -(block_size // 2 or 1):], 0, cache)
        else:
            logits = _logits(model, task, nxt, cache.length, cache)
    return ids
