"""Recipes: data + tokenizers + backbone + task, trained by the one loop in train.py.

`RECIPES` is the registry (registry.py): the built-ins below are declared by name, summary and
presets and imported on first use, so `tzoo list` imports no torch; user code adds its own with
`register(recipe)` or `@register`, installed packages through the entry-point group `tzoo.recipes`.
"""
from __future__ import annotations

from typing import Any, Optional

from ..errors import TzooError
from .registry import GROUP, RecipeInfo, Registry

RECIPES = Registry()

# name, "module:attribute", summary and presets as the recipe object has them (a test checks they agree)
_BUILTINS = (
    ("char-lm", "tzoo.recipes.lm:CHAR_LM",
     "character-level language model on Tiny Shakespeare (or any --data.dataset text)", ("default", "bench", "gpu")),
    ("bpe-lm", "tzoo.recipes.lm:BPE_LM",
     "byte-level BPE language model (HF tokenizers) on Tiny Shakespeare or any text", ("default", "gpu")),
    ("vit-cifar10", "tzoo.recipes.vit:VIT_CIFAR10",
     "Vision Transformer on CIFAR-10 (patches + CLS token through the shared backbone)", ("cpu", "gpu")),
    ("audio-fsdd", "tzoo.recipes.audio:AUDIO_FSDD",
     "spoken-digit recognition on the Free Spoken Digit Dataset (log-mel slices, 8 kHz)", ("stem", "fast", "conv")),
    ("image-classify", "tzoo.recipes.image_classify:IMAGE_CLASSIFY",
     "Vision Transformer on your images (--data.dataset: class folders, parquet folder or Hub id)", ("cpu", "gpu")),
    ("audio-classify", "tzoo.recipes.audio_classify:AUDIO_CLASSIFY",
     "audio transformer on your clips (--data.dataset: class folders, parquet folder or Hub id; any WAV)",
     ("cpu", "gpu")),
    ("dt", "tzoo.recipes.dt:DT",
     "Decision Transformer / behaviour cloning on a Minari dataset, evaluated online", ("cpu",)),
    ("av-digits", "tzoo.recipes.av_digits:AV_DIGITS",
     "handwritten + spoken digits + a text question in one token set, answered in text (prefix or encdec fusion)",
     ("cpu",)),
    ("qa", "tzoo.recipes.qa:QA",
     "your own images, clips and text + a question per row (JSON lines), answered in text", ("cpu",)),
    ("multitask", "tzoo.recipes.multitask:MULTITASK",
     "one backbone trained jointly on char-lm, vit-cifar10, audio-fsdd, dt and av-digits (--tasks.names)", ("cpu",)),
)
BUILTIN_NAMES = tuple(b[0] for b in _BUILTINS)
for _name, _target, _summary, _presets in _BUILTINS:
    RECIPES.declare(_name, _target, _summary, _presets)


def register(recipe: Any) -> Any:
    """Add a recipe (an object like tzoo.recipes.base.RecipeBase's subclasses, or such a class
    whose constructor takes no arguments) so `tzoo list`, `tzoo train` and `tzoo.load` see it.
    Returns its argument: usable as `@register` on a class or `CHAR = register(MyRecipe(...))`."""
    return RECIPES.register(recipe)


def get_recipe(name: str) -> Any:
    """The recipe called `name` (imported on first use), or a one-line error listing the known ones."""
    return RECIPES[name]


def recipe_info(name: str) -> RecipeInfo:
    """A recipe's name, summary and presets; a declared recipe is not imported."""
    return RECIPES.info(name)


def preset_config(recipe: Any, preset: Optional[str] = None) -> Any:
    """The config of `recipe`'s preset `preset` (None: its first), or a one-line error listing its presets."""
    name = preset or next(iter(recipe.presets))
    if name not in recipe.presets:
        raise TzooError(f"unknown preset {name!r} for {recipe.name}; presets: {', '.join(recipe.presets)}")
    return recipe.presets[name]()


__all__ = ["BUILTIN_NAMES", "GROUP", "RECIPES", "RecipeInfo", "get_recipe", "preset_config", "recipe_info",
           "register"]
