"""Pieces every recipe that answers questions in text shares (av-digits, qa): the head, scoring by
exact match, and the check that a question at predict time resembles one the model was taught."""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import to_device
from ..errors import TzooError
from ..modalities.wav import warn
from ..tasks import LanguageModelTask, TzooModel
from ..tokenizers import TextTokenizer
from ..tokenizers.types import ANSWER, QUESTION

FAMILIAR = 0.6  # difflib ratio to the nearest training question below which a question is "never taught"


def answer_parts(dim: int, vocab_size: int, inputs: dict[str, nn.Module],
                 fusion: str) -> tuple[dict[str, nn.Module], LanguageModelTask]:
    """Tokenizers and head of a question-answering task: `inputs` (image, audio, context ...; in
    order) then the question and the answer characters; `fusion` is "prefix" or "encdec"."""
    tokenizers = {**inputs, "question": TextTokenizer(vocab_size, dim, QUESTION),
                  "answer_in": TextTokenizer(vocab_size, dim, ANSWER)}
    return tokenizers, LanguageModelTask(dim, vocab_size, inputs=tuple(tokenizers), pattern=fusion)


@torch.no_grad()
def answer_sums(model: TzooModel, task: str, batches: Iterable[dict], key: str, groups: int) -> dict[str, Tensor]:
    """Summed answer loss, answered characters, and per group (batch[key], (B,) ids < groups) the
    examples seen and exactly matched.

    Exact match is read from teacher-forced logits: every answer character (and the EOS) is the argmax
    given the ones before it, which is exactly when greedy generation reproduces the answer.
    """
    device = next(model.parameters()).device
    sums = {"loss_sum": torch.zeros((), dtype=torch.float64, device=device),
            "chars": torch.zeros((), dtype=torch.float64, device=device),
            "seen": torch.zeros(groups, dtype=torch.float64, device=device),
            "right": torch.zeros(groups, dtype=torch.float64, device=device)}
    for batch in batches:
        batch = to_device(batch, device)
        targets = batch.pop("targets")
        logits = model(batch, task=task).outputs["logits"].float()  # (B, La, V)
        real = targets != -1
        sums["loss_sum"] += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1,
                                            reduction="sum").double()
        sums["chars"] += real.sum()
        right = ((logits.argmax(-1) == targets) | ~real).all(dim=1).double()  # (B,)
        sums["seen"] += torch.bincount(batch[key], minlength=groups).double()
        sums["right"] += torch.bincount(batch[key], weights=right, minlength=groups)
    return sums


def nearest_questions(question: str, taught: Sequence[str], n: int = 3) -> list[tuple[float, str]]:
    """The `n` taught questions most like `question`, as (difflib ratio, question), best first."""
    matcher = difflib.SequenceMatcher(b=question.lower())
    scored = []
    for q in dict.fromkeys(taught):
        matcher.set_seq1(q.lower())
        scored.append((round(matcher.ratio(), 2), q))
    return sorted(scored, key=lambda x: -x[0])[:n]


def check_taught(question: str, taught: Sequence[str], strict: bool = False, threshold: float = FAMILIAR) -> bool:
    """Whether `question` resembles a taught one (difflib ratio >= threshold to the nearest). If not,
    a warning line naming the nearest ones, or with `strict` a one-line error; returns False."""
    near = nearest_questions(question, taught)
    if not near or near[0][0] >= threshold:
        return True
    shown = "; ".join(f"{q!r} ({r:.2f})" for r, q in near)
    message = (f"question {question!r} is far from every question the model was taught "
               f"(similarity < {threshold}); nearest: {shown}")
    if strict:
        raise TzooError(message + "; ask one like those, or leave out --strict to answer anyway")
    warn(message + "; the answer may be meaningless")
    return False
