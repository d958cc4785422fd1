"""Questions and answers as character ids: padding, the teacher-forcing layout, and decoding.

Shared by every recipe whose answer is generated as text (av-digits, qa). An answer is stored as
[BOS, chars..., EOS]; a batch of them becomes

    "answer":    (B, La + 1) int64, right-padded with -1
    "answer_in": (B, La) int64, answer[:, :-1] with padding replaced by EOS (embeddable)
    "targets":   (B, La) int64, answer[:, 1:], -1 = ignore
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..tokenizers.text import CharCodec

BOS_CHAR, EOS_CHAR = "\x02", "\x03"  # ASCII start / end of text: sort first, so BOS id = 0, EOS id = 1


def pad_ids(rows: Sequence[Sequence[int]], length: int, value: int) -> Tensor:
    """(N, length) int64: each row's ids, then `value`."""
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
    return out


def text_entry(rows: Sequence[Sequence[int]], pad: int) -> dict[str, Tensor]:
    """{"ids": (B, L), "mask": (B, L)} of right-padded texts (L = the longest, at least 1); an empty
    row is all padding: its text is absent from the token set."""
    length = max([len(r) for r in rows] + [1])
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    return {"ids": pad_ids(rows, length, pad), "mask": torch.arange(length)[None] < lengths[:, None]}


def answer_tensors(answers: Sequence[Sequence[int]], eos: int) -> dict[str, Tensor]:
    """The teacher-forcing layout of [BOS, chars, EOS] answers (module doc)."""
    answer = pad_ids(answers, max(len(a) for a in answers), -1)
    answer_in = answer[:, :-1].clone()
    answer_in[answer_in < 0] = eos
    return {"answer": answer, "answer_in": answer_in, "targets": answer[:, 1:].clone()}


def decode_ids(ids: Sequence[int], codec: CharCodec, bos: int, eos: int) -> str:
    """Generated or target ids -> text: stops at EOS, skips BOS and padding (-1)."""
    out = []
    for i in ids:
        i = int(i)
        if i == eos:
            break
        if i != bos and 0 <= i < codec.vocab_size:
            out.append(codec.chars[i])
    return "".join(out)
