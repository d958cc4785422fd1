"""tzoo: one transformer backbone for text, images and audio, mixed in one model.

    import tzoo
    run = tzoo.load("runs/char-lm")      # any run directory, finished or not
    print(run.generate("ROMEO:"))

The names below are imported on first use: `import tzoo` (and the `tzoo` command) stays fast
until something needs torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {"Trained": "api", "load": "api", "train": "api", "fit": "recipes.custom", "load_into": "recipes.custom",
         "register": "recipes"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tzoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["Trained", "fit", "load", "load_into", "register", "train", "__version__"]
