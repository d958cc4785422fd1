"""Classification: a linear head on a pooled token, cross-entropy (hard, smoothed or soft targets),
accuracy, and the statistics the final evaluation adds up (confusion matrix)."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import to_device
from .output import TaskOutput


class ClassificationTask(nn.Module):
    """Pool the backbone states, then a linear layer to class logits.

    Args:
        dim: backbone width D.
        num_classes: number of classes C.
        inputs: tokenizer names in token-set order, e.g. ("query", "image").
        pattern: attention pattern of the backbone ("full" for an encoder).
        pool: "cls" = state of the first token of the first input (put a query tokenizer first);
            "mean" = mean over the real (unpadded) tokens of the last input.
        label_smoothing: smoothing for hard integer targets.
    """

    def __init__(self, dim: int, num_classes: int, inputs: Sequence[str], pool: str = "cls",
                 label_smoothing: float = 0.0, pattern: str = "full") -> None:
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool: expected cls or mean, got {pool!r}")
        self.inputs, self.pattern = tuple(inputs), pattern
        self.pool = pool
        self.readout = (self.inputs[0], slice(0, 1)) if pool == "cls" else None  # "cls" reads one state
        self.label_smoothing = label_smoothing
        self.head = nn.Linear(dim, num_classes)
        nn.init.zeros_(self.head.weight)  # start from uniform predictions (timm's ViT does too)
        nn.init.zeros_(self.head.bias)

    def pooled(self, parts: list[Tensor], masks: list[Optional[Tensor]]) -> Tensor:
        """(B, D) summary of the set."""
        if self.pool == "cls":
            return parts[0][:, 0]
        h, mask = parts[-1], masks[-1]  # (B, N, D), (B, N)
        if mask is None:
            return h.mean(dim=1)
        w = mask.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)

    def forward(self, parts: list[Tensor], batch: dict, masks: Optional[list] = None) -> TaskOutput:
        masks = masks or [None] * len(parts)
        logits = self.head(self.pooled(parts, masks))  # (B, C)
        if "targets" not in batch:  # prediction
            return TaskOutput(None, {}, {"logits": logits})
        return classification_output(logits, batch["targets"], self.label_smoothing if self.training else 0.0)


def classification_output(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> TaskOutput:
    """Cross-entropy and accuracy of logits (B, C) against targets: (B,) class ids, smoothed by
    `label_smoothing`, or (B, C) soft targets from mixup / cutmix, used as they are."""
    smoothing = label_smoothing if targets.dim() == 1 else 0.0
    loss = F.cross_entropy(logits.float(), targets, label_smoothing=smoothing)
    hard = targets if targets.dim() == 1 else targets.argmax(dim=-1)
    acc = (logits.argmax(dim=-1) == hard).float().mean()
    return TaskOutput(loss, {"loss": loss.detach(), "acc": acc.detach()}, {"logits": logits})


@torch.no_grad()
def classify(model: nn.Module, batches: Iterable[dict], num_classes: int, device: torch.device,
             task: Optional[str] = None) -> dict[str, Tensor]:
    """Summed loss, counts and the (true x predicted) confusion matrix of `task` over `batches`."""
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.float64, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    for batch in batches:
        batch = to_device(batch, device)
        targets = batch.pop("targets")
        logits = model(batch, task=task).outputs["logits"].float()
        loss_sum += F.cross_entropy(logits, targets, reduction="sum").double()
        pairs = targets * num_classes + logits.argmax(dim=-1)
        confusion += torch.bincount(pairs, minlength=num_classes ** 2).view(num_classes, num_classes).double()
    return {"loss_sum": loss_sum, "confusion": confusion}


def classification_metrics(sums: dict[str, Tensor], class_names: Sequence[str], prefix: str = "test") -> dict:
    """Accuracy, loss and per-class accuracy from `classify` sums (possibly added over processes)."""
    cm = sums["confusion"]
    count = cm.sum().clamp(min=1)
    out: dict = {f"{prefix}_acc": float(cm.diag().sum() / count), f"{prefix}_loss": float(sums["loss_sum"] / count)}
    per_class = cm.diag() / cm.sum(dim=1).clamp(min=1)
    out[f"{prefix}_per_class_acc"] = {name: round(float(a), 4) for name, a in zip(class_names, per_class)}
    out[f"{prefix}_examples"] = int(cm.sum())
    out[f"{prefix}_confusion"] = cm.long().tolist()
    return out


def top_k(logits: Tensor, class_names: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
    """Per row of (B, C) logits: the k most probable (class, probability) pairs."""
    probs = logits.float().softmax(dim=-1)
    p, i = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [[(class_names[j], float(q)) for q, j in zip(pr.tolist(), ix.tolist())] for pr, ix in zip(p, i)]
