"""TzooModel: named tokenizers -> one token set -> the shared backbone -> named task heads."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from ..backbone import Backbone, TokenSet, split
from ..backbone.cache import KVCache
from .output import TaskOutput


class TzooModel(nn.Module):
    """Wires named tokenizers, the shared backbone and one or more named tasks.

    Each task declares `inputs` (tokenizer names, in the order their tokens enter the set) and
    `pattern` (attention pattern) as constructor arguments. With pattern "prefix", every input
    before the last one is the bidirectional prefix. With pattern "encdec" the same split is
    encoder-decoder: the earlier inputs are encoded alone with full attention, and the last one
    is decoded causally with cross-attention to the encoder's final states (`Backbone.remember`).
    A task may also declare `readout` = (input name, slice of that input's tokens): the only
    states it reads. Its forward then gets, as that input's part, the states of those tokens alone
    (every other part None), and the backbone's last block computes no others
    (`Backbone.forward(rows=)`); with "encdec", or when the slice is the whole set, it gets all parts.

    Args:
        tokenizers: name -> module mapping a batch entry to a TokenSet.
        backbone: the shared transformer.
        tasks: name -> head + loss, `forward(parts, batch, masks) -> TaskOutput`, where parts are the
            backbone states of each input, (B, N_i, D), and masks their padding masks (or None).
            Without targets in the batch a task returns outputs and `loss=None` (prediction).
        routes: task -> {input name: tokenizer key}, for tasks whose tokenizers are stored under
            other keys (a multi-task model keeps each task's as `TASK/NAME`); unrouted inputs use
            their own name.
    """

    def __init__(self, tokenizers: Mapping[str, nn.Module], backbone: Backbone,
                 tasks: Mapping[str, nn.Module], routes: Optional[Mapping[str, Mapping[str, str]]] = None) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("a model needs at least one task")
        self.routes = {t: dict(r) for t, r in (routes or {}).items()}
        for name, task in tasks.items():
            missing = [n for n in task.inputs if self.routes.get(name, {}).get(n, n) not in tokenizers]
            if missing:
                raise ValueError(f"task {name!r} needs tokenizers {missing} that were not given")
        self.tokenizers = nn.ModuleDict(dict(tokenizers))
        self.backbone = backbone
        self.tasks = nn.ModuleDict(dict(tasks))

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)

    def task_name(self, task: Optional[str] = None) -> str:
        """`task`, checked; None means the only one."""
        if task is None:
            if len(self.tasks) != 1:
                raise ValueError(f"this model has tasks {self.task_names}; name one")
            return self.task_names[0]
        if task not in self.tasks:
            raise KeyError(f"no task {task!r}; tasks: {self.task_names}")
        return task

    def head(self, task: Optional[str] = None) -> nn.Module:
        """The task called `task`; None means the only one."""
        return self.tasks[self.task_name(task)]

    def tokenizer(self, name: str, task: Optional[str] = None) -> nn.Module:
        """The tokenizer `task` reads its input `name` with."""
        return self.tokenizers[self.routes.get(self.task_name(task), {}).get(name, name)]

    def tokenize(self, batch: Mapping[str, Any], task: Optional[str] = None) -> tuple[TokenSet, list[tuple[int, int]]]:
        """One joint token set from the task's inputs, plus each input's span.

        A batch entry that is a mapping is passed as keyword arguments; tokenizers with
        `needs_input = False` (learned queries) get the batch size and device instead.
        """
        sets, pending = [], []
        for name in self.head(task).inputs:
            tok = self.tokenizer(name, task)
            if not getattr(tok, "needs_input", True):
                pending.append(len(sets))
                sets.append(tok)
                continue
            entry = batch[name]
            sets.append(tok(**entry) if isinstance(entry, Mapping) else tok(entry))
        if pending:
            ref = next(s for s in sets if isinstance(s, TokenSet)).embeds
            for i in pending:
                sets[i] = sets[i](ref.shape[0], ref.device)
        if len(sets) == 1:
            return sets[0], [(0, sets[0].embeds.shape[1])]
        return TokenSet.cat(sets)

    def prefix_len(self, tokens: TokenSet, spans: list[tuple[int, int]], pattern: str) -> Optional[Tensor]:
        if pattern != "prefix":
            return None
        b = tokens.embeds.shape[0]
        return torch.full((b,), spans[-1][0], dtype=torch.long, device=tokens.embeds.device)

    def encode(self, batch: Mapping[str, Any], task: Optional[str] = None
               ) -> tuple[list[Tensor], list[Optional[Tensor]]]:
        """Backbone states of each input [(B, N_i, D), ...] and their padding masks [(B, N_i) or None]."""
        tokens, spans = self.tokenize(batch, task)
        head = self.head(task)
        pattern = head.pattern
        read = readout_rows(getattr(head, "readout", None), head.inputs, spans, pattern)
        if read is not None:
            i, rows = read
            h = self.backbone(tokens, pattern, self.prefix_len(tokens, spans, pattern), rows=rows)  # (B, R, D)
            parts, masks = [None] * len(spans), [None] * len(spans)
            parts[i], masks[i] = h, tokens.mask[:, rows] if tokens.mask is not None else None
            return parts, masks
        if pattern == "encdec":
            h = self.encode_decode(tokens, spans[-1][0])[0]  # (B, N, D)
        else:
            h = self.backbone(tokens, pattern, self.prefix_len(tokens, spans, pattern))  # (B, N, D)
        masks = split(tokens.mask.unsqueeze(-1), spans) if tokens.mask is not None else [None] * len(spans)
        return split(h, spans), [m.squeeze(-1) if m is not None else None for m in masks]

    def encode_decode(self, tokens: TokenSet, split_at: int, extra: int = 0) -> tuple[Tensor, KVCache, Tensor]:
        """Tokens before `split_at` encoded with full attention, the rest decoded after them.

        Returns the states (B, N, D) (the encoder's, then the decoder's), the decoder's KV cache
        (the memory, then the decoded tokens, with room for `extra` more) and the (B,) prefix
        length that later decoding steps pass with the "prefix" pattern.
        """
        source, target = tokens.slice(0, split_at), tokens.slice(split_at, tokens.embeds.shape[1])
        memory = self.backbone(source, "full")  # (B, M, D)
        b, n = target.embeds.shape[:2]
        cache = self.backbone.new_cache(b, split_at + n + extra)
        self.backbone.remember(memory, source.mask, cache)
        prefix = torch.full((b,), split_at, dtype=torch.long, device=memory.device)
        h = self.backbone(target, "prefix", prefix, cache)  # (B, N - M, D)
        return torch.cat([memory, h], dim=1), cache, prefix

    def forward(self, batch: Mapping[str, Any], task: Optional[str] = None) -> TaskOutput:
        parts, masks = self.encode(batch, task)
        return self.head(task)(parts, batch, masks)


def readout_rows(readout: Optional[tuple[str, slice]], inputs: Sequence[str], spans: list[tuple[int, int]],
                 pattern: str) -> Optional[tuple[int, slice]]:
    """A task's `readout` (input name, slice of its tokens) as (input index, rows of the joint set);
    None when there is none, when it is every token of the set, or with "encdec"."""
    if readout is None or pattern == "encdec":
        return None
    i = list(inputs).index(readout[0])
    start, end = spans[i]
    first, last, step = readout[1].indices(end - start)
    if start + first == 0 and start + last == spans[-1][1] and step == 1:
        return None
    return i, slice(start + first, start + last, step)


def shared_free_state(model: nn.Module) -> dict[str, Tensor]:
    """state_dict with tied tensors kept once (first name wins), as safetensors requires."""
    seen: set[int] = set()
    out: dict[str, Tensor] = {}
    for name, t in model.state_dict().items():
        key = t.untyped_storage().data_ptr() if t.numel() else id(t)
        if key in seen:
            continue
        seen.add(key)
        out[name] = t
    return out
