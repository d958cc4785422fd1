"""The Python API: open a run directory and use it as the CLI does.

    import tzoo
    lm = tzoo.load("runs/char-lm")
    print(lm.generate("ROMEO:", max_new_tokens=100))
    vit = tzoo.load("runs/vit")
    vit.predict(["cat.png"])          # [{"input": "cat.png", "top": [("cat", 0.91), ...]}]
    vit.evaluate()                    # {"test_acc": ..., ...}
    dt = tzoo.load("runs/dt")
    policy = dt.policy()              # policy.reset(); action = policy.act(obs, reward) in your env loop
    dt.rollout("CartPole-v1", episodes=10, seed=0)   # {"returns": [...], "lengths": [...], ...}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from .config import from_dict
from .errors import TzooError
from .hub import resolve_run
from .recipes import get_recipe
from .recipes.base import Loaded, Recipe
from .recipes.rundir import CONFIG, RunDir
from .tasks import TzooModel


def open_run(path: str | Path) -> tuple[Recipe, Any, RunDir]:
    """(recipe, config, run) of an existing run directory (finished or not); `hf://owner/name`
    opens a model uploaded with `tzoo push` (downloaded once into the Hugging Face cache)."""
    run = RunDir.open(resolve_run(path))
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
    def device(self) -> torch.device:
        """Where the model is (and the verbs run)."""
        return self.loaded.device

    @property
    def verbs(self) -> tuple[str, ...]:
        return tuple(self.recipe.verbs)

    def generate(self, prompt: Optional[str] = None, **options: Any) -> str:
        """Generated text (language models): options max_new_tokens, temperature, top_k, seed, use_cache
        (None or left out: the run's `sample` settings); an unknown option is a one-line TzooError."""
        return self._verb("sample").sample(self.loaded, self.cfg, prompt, **options)

    def predict(self, inputs: Sequence[str | Path], **options: Any) -> list[dict]:
        """One result per input file (classifiers: {"input", "top": [(class, probability), ...]}, options
        top_k, and for images resize=True: another size is resized, with a note on stderr; False refuses it);
        recipes that mix inputs take them as options (image=, audio=, prompt=) and return {"answer"}.
        Every recipe takes `(inputs, **options)`; an option it does not know is a one-line TzooError."""
        if not inputs and not options:
            raise TzooError("predict needs at least one input")
        return self._verb("predict").predict(self.loaded, self.cfg, [str(p) for p in inputs], **options)

    def evaluate(self, overrides: Optional[dict[str, str]] = None) -> dict:
        """Figures on the run's evaluation data, or on other data given as config overrides."""
        return self._verb("eval").evaluate(self.loaded, self.cfg, dict(overrides or {}))

    def policy(self, target_return: Optional[float] = None, num_envs: int = 1, use_cache: Optional[bool] = None) -> Any:
        """A policy for your own environment loop (control runs): `policy.reset()`, then
        `action = policy.act(observation, reward)` each step, `reward` being the previous action's
        (ignored on the first call). target_return None = the run's evaluation target; observations
        (num_envs, S) or (S,) when num_envs is 1; numpy actions in the environment's action space."""
        return self._acting("policy").policy(self.loaded, self.cfg, target_return, num_envs, use_cache)

    def rollout(self, env: Any, episodes: int = 1, seed: int = 0, **options: Any) -> dict:
        """Episodes of `policy()` in `env` (a gymnasium env, or an env id): {"returns", "lengths", "seeds",
        "return_mean", ...}; episode i starts from the seed `tzoo eval --eval.seed=seed` gives its episode i.
        options: target_return, num_envs (env ids only), max_steps, use_cache."""
        return self._acting("rollout").rollout(self.loaded, self.cfg, env, episodes, seed, **options)

    def _acting(self, verb: str) -> Any:
        if not hasattr(self.recipe, verb):
            raise TzooError(f"{self.run.path}: a {self.recipe.name} run cannot act in an environment; "
                            f"`{verb}` needs a control run (recipe dt)")
        return self.recipe

    def _verb(self, verb: str) -> Recipe:
        if verb not in self.recipe.verbs:
            has = ", ".join(self.recipe.verbs) or "none"
            raise TzooError(f"{self.run.path}: recipe {self.recipe.name} has no `{verb}`; its verbs: {has}")
        return self.recipe


def pick_device(device: Optional[str | torch.device] = None) -> torch.device:
    """`device`, or by default cuda when available, else the CPU (one-line error for a bad name)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise TzooError(f"device={device!r}: not a torch device; give e.g. 'cpu', 'cuda' or 'cuda:1'") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise TzooError(f"device={device!r}: no CUDA GPU is available here; use device='cpu'")
    return chosen


def load(path: str | Path, task: Optional[str] = None, device: Optional[str | torch.device] = None) -> Trained:
    """Open a run directory (finished or not), or a Hub model `hf://owner/name[@revision]`, with its
    weights, ready to generate / predict / evaluate.

    `task` picks one task of a multitask run (its recipe's verbs, on the joint model); a
    single-task run accepts only its own recipe's name. The model goes to `device` (default: cuda
    when available, else the CPU) and every verb runs there.
    """
    where = pick_device(device)
    recipe, cfg, run = open_run(path)
    select = getattr(recipe, "select", None)
    if select is None and task is not None and task != recipe.name:
        raise TzooError(f"{run.path}: a {recipe.name} run has no task {task!r}; --task picks a task of a multitask run")
    if select is not None and task is not None and task not in cfg.tasks.names:
        raise recipe.no_task(run, cfg, task)  # before loading any weights
    loaded = recipe.load(cfg, run)
    loaded.model.to(where)
    if select is None or task is None:
        return Trained(recipe, cfg, run, loaded)
    recipe, cfg, loaded = select(loaded, cfg, task)
    return Trained(recipe, cfg, loaded.run, loaded)
