"""The Python API: open a run directory and use it as the CLI does.

    import tzoo
    lm = tzoo.load("runs/char-lm")
    print(lm.generate("ROMEO:", max_new_tokens=100))
    vit = tzoo.load("runs/vit")
    vit.predict(["cat.png"])          # [{"input": "cat.png", "top": [("cat", 0.91), ...]}]
    vit.evaluate()                    # {"test_acc": ..., ...}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from .config import from_dict
from .errors import TzooError
from .recipes import get_recipe
from .recipes.base import Loaded, Recipe
from .recipes.rundir import CONFIG, RunDir
from .tasks import TzooModel


def open_run(path: str | Path) -> tuple[Recipe, Any, RunDir]:
    """(recipe, config, run) of an existing run directory (finished or not)."""
    run = RunDir.open(path)
    name, data = run.load_config()
    if name == "custom":
        raise TzooError(f"{run.path}: trained from parts built in Python (tzoo.fit); build the model the same "
                        "way and load its weights with tzoo.load_into(model, DIR)")
    recipe = get_recipe(name)
    for key in getattr(recipe, "obsolete", ()):  # keys of configs older than the current format
        *parents, last = key.split(".")  # a dotted key drops a nested one
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    cfg = from_dict(recipe.default(), data, source=str(run / CONFIG))
    return recipe, cfg, run


class Trained:
    """A run directory loaded for use: its model, artefacts and the verbs its recipe declares."""

    def __init__(self, recipe: Recipe, cfg: Any, run: RunDir, loaded: Loaded) -> None:
        self.recipe, self.cfg, self.run, self.loaded = recipe, cfg, run, loaded

    @property
    def model(self) -> TzooModel:
        return self.loaded.model

    @property
    def artefacts(self) -> dict[str, Any]:
        return self.loaded.artefacts

    @property
    def verbs(self) -> tuple[str, ...]:
        return tuple(self.recipe.verbs)

    def generate(self, prompt: Optional[str] = None, **options: Any) -> str:
        """Generated text (language models): options max_new_tokens, temperature, top_k, seed, use_cache."""
        return self._verb("sample").sample(self.loaded, self.cfg, prompt, **options)

    def predict(self, inputs: Any, **options: Any) -> list[dict]:
        """One result per input (classifiers: {"input", "top": [(class, probability), ...]}). Inputs are
        files (or, for image-classify / audio-classify, folders, PIL images, arrays, tensors and
        (waveform, sample_rate) pairs); one input may be given alone. Recipes that mix inputs take them
        as options (image=, audio=, prompt=) and return {"answer"}."""
        if isinstance(inputs, (str, Path)) or not isinstance(inputs, (list, tuple)) or _is_wave_pair(inputs):
            inputs = [inputs]
        if not inputs and not options:
            raise TzooError("predict needs at least one input")
        items = [str(p) if isinstance(p, (str, Path)) else p for p in inputs]
        return self._verb("predict").predict(self.loaded, self.cfg, items, **options)

    def evaluate(self, overrides: Optional[dict[str, str]] = None) -> dict:
        """Figures on the run's evaluation data, or on other data given as config overrides."""
        return self._verb("eval").evaluate(self.loaded, self.cfg, dict(overrides or {}))

    def _verb(self, verb: str) -> Recipe:
        if verb not in self.recipe.verbs:
            has = ", ".join(self.recipe.verbs) or "none"
            raise TzooError(f"{self.run.path}: recipe {self.recipe.name} has no `{verb}`; its verbs: {has}")
        return self.recipe


def load(path: str | Path, task: Optional[str] = None) -> Trained:
    """Open a run directory (finished or not) with its weights, ready to generate / predict / evaluate.

    `task` picks one task of a multitask run (its recipe's verbs, on the joint model); a
    single-task run accepts only its own recipe's name.
    """
    recipe, cfg, run = open_run(path)
    select = getattr(recipe, "select", None)
    if select is None and task is not None and task != recipe.name:
        raise TzooError(f"{run.path}: a {recipe.name} run has no task {task!r}; --task picks a task of a multitask run")
    if select is not None and task is not None and task not in cfg.tasks.names:
        raise recipe.no_task(run, cfg, task)  # before loading any weights
    loaded = recipe.load(cfg, run)
    if select is None or task is None:
        return Trained(recipe, cfg, run, loaded)
    recipe, cfg, loaded = select(loaded, cfg, task)
    return Trained(recipe, cfg, loaded.run, loaded)


def _is_wave_pair(x: Any) -> bool:
    """(waveform, sample_rate): one audio input, not two."""
    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], int) and not isinstance(x[1], bool) \
        and not isinstance(x[0], (str, Path))


def train(recipe: str, out: str | Path, overrides: Optional[dict[str, Any]] = None, preset: Optional[str] = None,
          **keys: Any) -> Trained:
    """Train `recipe` into the run directory `out` as `tzoo train` does, and return the trained run loaded.

    Config keys come as a dict of dotted keys (`{"data.dataset": "photos/"}`) and/or keyword arguments
    with `__` for the dot (`data__dataset="photos/", loop__epochs=5`); values may be strings or Python values.
        model = tzoo.train("image-classify", out="runs/photos", data__dataset="photos/", loop__epochs=10)
        model.predict(["cat.jpg"])
    """
    from .config import apply_overrides
    from .recipes.train import train as run_training

    chosen = get_recipe(recipe)
    name = preset or next(iter(chosen.presets))
    if name not in chosen.presets:
        raise TzooError(f"unknown preset {name!r} for {chosen.name}; presets: {', '.join(chosen.presets)}")
    given = {**dict(overrides or {}), **{k.replace("__", "."): v for k, v in keys.items()}}
    cfg = apply_overrides(chosen.presets[name](), given)
    run_training(chosen, cfg, RunDir(out))
    return load(out)
