"""Answers generated as text after a conditioning set (the prefix pattern), with a KV cache."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import Tensor

from .model import TzooModel


@torch.inference_mode()
def generate_answer(model: TzooModel, batch: Mapping[str, Any], bos: int, eos: int, max_len: int,
                    task: Optional[str] = None) -> Tensor:
    """Greedy answer ids (B, <= max_len) of a language-model task with the "prefix" or "encdec" pattern.

    The task's last input is the answer text; every earlier input is the conditioning set. The set
    and a BOS token are encoded once into the KV cache (prefix: bidirectional over the set in one
    pass; encdec: the set encoded alone, its final states remembered by every block), then each
    new token attends to the set and the answer so far. Rows stop at `eos` (kept in the output;
    rows that ended are padded with `eos`). The cached path equals recomputing the whole sequence.
    """
    head = model.head(task)
    name = head.inputs[-1]
    rows = next(iter(_tensors(batch))).shape[0]
    device = model.backbone.pos_embed.weight.device
    start = torch.full((rows, 1), bos, dtype=torch.long, device=device)
    tokens, spans = model.tokenize({**batch, name: start}, task)
    if head.pattern == "encdec":
        h, cache, prefix = model.encode_decode(tokens, spans[-1][0], max_len)  # (B, N, D)
    else:
        prefix = torch.full((rows,), spans[-1][0], dtype=torch.long, device=device)
        cache = model.backbone.new_cache(rows, spans[-1][1] + max_len)
        h = model.backbone(tokens, "prefix", prefix, cache)  # (B, N, D)
    out, done = [], torch.zeros(rows, dtype=torch.bool, device=device)
    for t in range(max_len):
        nxt = head.head(h[:, -1]).argmax(dim=-1)  # (B,)
        nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
        out.append(nxt)
        done |= nxt == eos
        if done.all() or t == max_len - 1:
            break
        h = model.backbone(model.tokenizer(name, task)(nxt[:, None], start=t + 1), "prefix", prefix, cache)
    return torch.stack(out, dim=1)


def _tensors(batch: Mapping[str, Any]):
    for value in batch.values():
        if torch.is_tensor(value):
            yield value
        elif isinstance(value, Mapping):
            yield from _tensors(value)
