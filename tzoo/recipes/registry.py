"""The recipe registry: recipe names -> recipes, listed without importing them.

Three sources, earlier ones winning a name:
  - declared recipes: name -> "module:attribute" plus summary and preset names, imported on
    first use (the built-ins; listing them imports no torch);
  - `register(recipe)` / `@register` from user code;
  - installed packages' entry points in the group `tzoo.recipes`
    (`[project.entry-points."tzoo.recipes"] my-recipe = "my_pkg.recipes:MY_RECIPE"`), read on
    first need and imported on first use (listing imports them, for their summaries).
"""
from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Optional

from ..errors import TzooError

GROUP = "tzoo.recipes"
RESERVED = ("custom",)  # run directories of models built in Python (tzoo.fit) record this name
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
MEMBERS = ("name", "summary", "presets", "verbs", "default", "build", "load")


@dataclass(frozen=True)
class RecipeInfo:
    """What `tzoo list` shows of a recipe: its name, one-line summary and preset names (first = default)."""

    name: str
    summary: str
    presets: tuple[str, ...]


@dataclass
class _Entry:
    info: Optional[RecipeInfo]  # None: known only once loaded (entry points)
    target: str = ""  # "module:attribute", imported on first use
    origin: str = "tzoo"  # where the name came from, for errors
    recipe: Any = None


def check_recipe(recipe: Any, origin: str = "register") -> Any:
    """`recipe` if it has what the CLI and the training loop use (name, summary, presets, verbs,
    default, build, load), else a one-line error naming what is missing."""
    missing = [m for m in MEMBERS if not hasattr(recipe, m)]
    if missing:
        raise TzooError(f"{origin}: {recipe!r} is not a recipe: it lacks {', '.join(missing)} "
                        "(subclass tzoo.recipes.base.RecipeBase)")
    name = recipe.name
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name in RESERVED:
        raise TzooError(f"{origin}: recipe name {name!r} must be lower-case letters, digits, '-', '_' or '.' "
                        f"(and not {', '.join(RESERVED)})")
    if not isinstance(recipe.presets, Mapping) or not recipe.presets:
        raise TzooError(f"{origin}: recipe {name!r} needs at least one preset (name -> config factory)")
    return recipe


def _info(recipe: Any) -> RecipeInfo:
    return RecipeInfo(recipe.name, str(recipe.summary), tuple(recipe.presets))


class Registry(Mapping):
    """Recipes by name. Iterating, `in` and `info` import nothing that was declared; indexing
    (`registry[name]`) imports the recipe on first use and raises a one-line error for an unknown name."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._plugins_read = False

    def declare(self, name: str, target: str, summary: str, presets: tuple[str, ...]) -> None:
        """Make recipe `name` known without importing it: `target` is "module:attribute"."""
        self._entries[name] = _Entry(RecipeInfo(name, summary, tuple(presets)), target)

    def register(self, recipe: Any) -> Any:
        """Add a recipe object (or a recipe class, instantiated without arguments); returns its
        argument, so it works as a decorator. Another recipe of the same name is a one-line error."""
        obj = recipe() if isinstance(recipe, type) else recipe
        check_recipe(obj)
        held = self._entries.get(obj.name)
        if held is not None and held.recipe is not obj:
            raise TzooError(f"register: a recipe named {obj.name!r} exists already ({held.target or held.origin}); "
                            "pick another name")
        self._entries[obj.name] = _Entry(_info(obj), origin="register", recipe=obj)
        return recipe

    def unregister(self, name: str) -> None:
        """Forget a recipe added by `register` (tests, notebooks)."""
        entry = self._entries.get(name)
        if entry is not None and entry.origin == "register":
            del self._entries[name]

    def _read_plugins(self) -> None:
        """Add the entry points of installed packages, once; a name taken already keeps its recipe."""
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in entry_points(group=GROUP):
            package = getattr(ep.dist, "name", "?")
            if ep.name in self._entries:
                warnings.warn(f"tzoo: recipe {ep.name!r} of package {package} ignored: the name is taken", stacklevel=2)
                continue
            self._entries[ep.name] = _Entry(None, ep.value, f"entry point {ep.name!r} of package {package}")

    def _entry(self, name: str) -> _Entry:
        self._read_plugins()
        if name not in self._entries:
            raise TzooError(f"unknown recipe {name!r}; known recipes: {', '.join(self)} (see `tzoo list`)")
        return self._entries[name]

    def __getitem__(self, name: str) -> Any:
        entry = self._entry(name)
        if entry.recipe is None:
            entry.recipe = self._import(name, entry)
            entry.info = _info(entry.recipe)
        return entry.recipe

    def _import(self, name: str, entry: _Entry) -> Any:
        module, _, attribute = entry.target.partition(":")
        if entry.origin == "tzoo":  # a built-in that fails to import is a bug: keep its traceback
            return getattr(importlib.import_module(module), attribute)
        try:
            obj = getattr(importlib.import_module(module), attribute)
        except Exception as e:  # a third-party package's failure, as one line
            raise TzooError(f"recipe {name!r} ({entry.origin}): cannot import {entry.target}: "
                            f"{type(e).__name__}: {e}") from None
        obj = check_recipe(obj() if isinstance(obj, type) else obj, entry.origin)
        if obj.name != name:
            raise TzooError(f"{entry.origin}: {entry.target} is recipe {obj.name!r}; name the entry point {obj.name!r}")
        return obj

    def info(self, name: str) -> RecipeInfo:
        """Name, summary and presets, importing the recipe only if they were not declared."""
        entry = self._entry(name)
        if entry.info is None:
            self[name]
        return entry.info

    def __contains__(self, name: object) -> bool:
        self._read_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._read_plugins()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._read_plugins()
        return len(self._entries)


__all__ = ["GROUP", "RecipeInfo", "Registry", "check_recipe"]
