"""Recipes: data + tokenizers + backbone + task, trained by the one loop in train.py."""
from __future__ import annotations

from ..errors import TzooError
from .audio import AUDIO_FSDD
from .av_digits import AV_DIGITS
from .dt import DT
from .lm import BPE_LM, CHAR_LM
from .multitask import MULTITASK
from .vit import VIT_CIFAR10

RECIPES = {r.name: r for r in (CHAR_LM, BPE_LM, VIT_CIFAR10, AUDIO_FSDD, DT, AV_DIGITS, MULTITASK)}


def get_recipe(name: str):
    """The recipe called `name`, or a one-line error listing the known ones."""
    if name not in RECIPES:
        raise TzooError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)} (see `tzoo list`)")
    return RECIPES[name]
