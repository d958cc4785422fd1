"""Side information -> TokenSet: one token per scalar or categorical field, type FIELD, position = field index.

A value may be missing: its token is masked out of the set (never zero-filled into it). Missing is
`present[name] == False`, a NaN scalar or a negative category id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..backbone import TokenSet, init_weights
from ..errors import TzooError
from .types import FIELD


@dataclass(frozen=True)
class FieldSpec:
    """One field.

    Attributes:
        name: the keyword its values arrive under.
        kind: "scalar" (a float per example, embedded by a learned line w * (x - mean) / std + b) or
            "categorical" (an id in [0, num_categories) per example, one learned vector per id).
        num_categories: number of ids of a categorical field.
        mean, std: standardisation of a scalar field.
    """

    name: str
    kind: Literal["scalar", "categorical"] = "scalar"
    num_categories: int = 0
    mean: float = 0.0
    std: float = 1.0

    def validate(self) -> None:
        if self.kind not in ("scalar", "categorical"):
            raise TzooError(f"field {self.name!r}: kind must be scalar or categorical, got {self.kind!r}")
        if self.kind == "categorical" and self.num_categories < 1:
            raise TzooError(f"field {self.name!r}: a categorical field needs num_categories >= 1")
        if self.kind == "scalar" and not self.std > 0:
            raise TzooError(f"field {self.name!r}: std must be > 0, got {self.std}")


SpecLike = Union[FieldSpec, tuple, Mapping]


def as_spec(spec: SpecLike) -> FieldSpec:
    """A FieldSpec from itself, a tuple (name, kind[, num_categories]) or a mapping of its attributes."""
    out = spec if isinstance(spec, FieldSpec) else FieldSpec(**spec) if isinstance(spec, Mapping) else FieldSpec(*spec)
    out.validate()
    return out


class FieldTokenizer(nn.Module):
    """Embed F fields into F tokens (B, F, D); field i gets position i and type FIELD.

    Args:
        fields: the field specs, in token order (names unique).
        dim: backbone width D.

    forward(present=None, **values): values[name] is (B,) (float for scalars, long ids for
    categories); present is None, a (B, F) bool tensor, or a mapping name -> (B,) bool (fields it
    omits are present). The mask is False where a value is absent or missing.
    """

    type_id = FIELD
    type_ids = (FIELD,)

    def __init__(self, fields: Sequence[SpecLike], dim: int) -> None:
        super().__init__()
        self.fields = [as_spec(f) for f in fields]
        names = [f.name for f in self.fields]
        if not names or len(set(names)) != len(names):
            raise TzooError(f"fields: need at least one field and unique names, got {names}")
        self.embeds = nn.ModuleList(
            nn.Embedding(f.num_categories, dim) if f.kind == "categorical" else nn.Linear(1, dim) for f in self.fields)
        self.apply(init_weights)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def _present(self, present, b: int, device: torch.device) -> Tensor:
        if present is None:
            return torch.ones(b, len(self.fields), dtype=torch.bool, device=device)
        if torch.is_tensor(present):
            if present.shape != (b, len(self.fields)):
                raise TzooError(f"fields: present must be (B, F) = ({b}, {len(self.fields)}), "
                                f"got {tuple(present.shape)}")
            return present.to(device).bool()
        unknown = sorted(set(present) - set(self.names))
        if unknown:
            raise TzooError(f"fields: present names unknown field {unknown[0]!r}; fields: {', '.join(self.names)}")
        ones = torch.ones(b, dtype=torch.bool, device=device)
        return torch.stack([present.get(n, ones).to(device).bool() for n in self.names], dim=1)

    def forward(self, present: Optional[Union[Tensor, Mapping[str, Tensor]]] = None, **values: Tensor) -> TokenSet:
        missing, extra = sorted(set(self.names) - set(values)), sorted(set(values) - set(self.names))
        if missing or extra:
            what = f"no values for {missing[0]!r}" if missing else f"unknown field {extra[0]!r}"
            raise TzooError(f"fields: {what}; fields: {', '.join(self.names)}")
        first = values[self.names[0]]
        b, device = first.shape[0], first.device
        mask = self._present(present, b, device).clone()  # (B, F)
        tokens = []
        for i, (spec, embed) in enumerate(zip(self.fields, self.embeds)):
            v = values[spec.name].to(device)
            if v.shape != (b,):
                raise TzooError(f"fields: {spec.name!r} must be ({b},), got {tuple(v.shape)}")
            if spec.kind == "scalar":
                v = v.float()
                mask[:, i] &= ~v.isnan()
                x = torch.where(mask[:, i], (v - spec.mean) / spec.std, torch.zeros_like(v))
                tokens.append(embed(x[:, None]))  # (B, D)
            else:
                v = v.long()
                if (v >= spec.num_categories).any():
                    raise TzooError(f"fields: {spec.name!r} has ids >= num_categories={spec.num_categories}")
                mask[:, i] &= v >= 0
                tokens.append(embed(torch.where(mask[:, i], v, torch.zeros_like(v))))  # (B, D)
        embeds = torch.stack(tokens, dim=1)  # (B, F, D)
        return TokenSet.of(embeds, FIELD, torch.arange(len(self.fields), device=device), mask)
