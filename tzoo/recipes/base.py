"""The recipe contract: a task as parts, one generic builder, and what the CLI and Python API call.

A *task* is four separable parts:
  - `TaskHead`: its tokenizers and head, built for the backbone's width (needs no data, so a
    trained run can rebuild it from config + run files alone);
  - `TaskData`: its training batches and its evaluator (validation split during training, test
    split scored once at the end);
  - an inference verb on the recipe (`sample`, `predict`, `evaluate`);
  - its artefacts (codec, class names, normalisation statistics), saved as run files.
`build_model` puts the heads of one or more tasks on one shared backbone; `RecipeBase.build` turns
one task's head and data into the `Parts` the training loop runs. A multi-task recipe takes several
tasks' heads and data without touching their code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..backbone import Backbone, BackboneConfig
from ..errors import TzooError
from ..tasks import TzooModel
from .checkpoint import load_weights, model_sha
from .rundir import WEIGHTS, RunDir
from .settings import sized_backbone

VERBS = ("sample", "predict", "eval")


class BatchSource(Protocol):
    """Training batches as a pure function of the micro-batch index (resumable, process-count free)."""

    unit: str  # what throughput counts: "tokens", "images", "clips", ...

    def batch(self, index: int, rank: int = 0, world: int = 1) -> dict[str, Any]: ...

    def items(self, batch: dict[str, Any]) -> int: ...


# (model, task name, rank, world) -> summed statistics as tensors (the loop adds them over processes)
Scorer = Callable[[TzooModel, str, int, int], dict[str, Tensor]]


@dataclass
class TaskHead:
    """A task's share of the model, before the backbone width is known.

    Attributes:
        positions: size of the position table its token sets need.
        source: the setting `positions` comes from (named in errors).
        make: backbone width D -> (tokenizers by name, head); the head declares `inputs` and `pattern`.
    """

    positions: int
    make: Callable[[int], tuple[dict[str, nn.Module], nn.Module]]
    source: str = ""


@dataclass
class TaskData:
    """A task's data and how it is scored.

    Attributes:
        train: training batches.
        validate: (model, task, final, rank, world) -> sums on the validation split; `final` asks
            for the whole split (periodic evaluations may score a fixed part of it).
        summarize: sums -> metrics (floats) for logs and metrics.json.
        monitor: validation metric that picks the checkpoint kept at the end; higher_is_better says which way.
        test: scores the test split once, at the end, with the chosen weights (None: no test split).
        summarize_test: sums of `test` -> metrics.
        finish: (model, task, run, metrics) on the main process after the test: plots, samples; may add metrics.
    """

    train: BatchSource
    validate: Callable[[TzooModel, str, bool, int, int], dict[str, Tensor]]
    summarize: Callable[[dict[str, Tensor]], dict[str, Any]]
    monitor: str = "val_loss"
    higher_is_better: bool = False
    test: Optional[Scorer] = None
    summarize_test: Optional[Callable[[dict[str, Tensor]], dict[str, Any]]] = None
    finish: Optional[Callable[[TzooModel, str, RunDir, dict], None]] = None


@dataclass
class Parts:
    """Everything the training loop needs: the model and, per task, its data.

    Attributes:
        source: the training batches of several tasks (each batch names its task under "task");
            None = the only task's.
        select: keep the checkpoint that is best on the first task's monitor; False = the last weights.
        finish: (model, run, summary) on the main process after every task's own `finish`.
        lr_of: micro-batch index -> learning rate, replacing the loop's one schedule (a multi-task run
            where each task keeps its own); a step of several micro-batches takes their mean.
    """

    model: TzooModel
    tasks: dict[str, TaskData]
    source: Optional[BatchSource] = None
    select: bool = True
    finish: Optional[Callable[[TzooModel, RunDir, dict], None]] = None
    lr_of: Optional[Callable[[int], float]] = None

    @property
    def prefixed(self) -> bool:
        """Metrics carry their task's name (`TASK/val_loss`): a multi-task run, even of one task."""
        return self.source is not None or len(self.tasks) > 1

    @property
    def train(self) -> BatchSource:
        """The training batches: the mixing source of several tasks, or the only task's."""
        return self.source if self.source is not None else self.only()[1].train

    def only(self) -> tuple[str, TaskData]:
        """(name, data) of a single-task model."""
        if len(self.tasks) != 1:
            raise ValueError("several tasks: the loop needs a mixing batch source")
        return next(iter(self.tasks.items()))


def build_model(backbone: BackboneConfig, heads: Mapping[str, TaskHead], scoped: bool = False) -> TzooModel:
    """One shared backbone sized for every task, with each task's tokenizers and head on it.

    Tokenizers are shared by name: two tasks naming the same tokenizer must build equal ones (same
    class, settings and state shapes; the first is kept, and a head may not hold the second's
    weights), else a one-line TzooError. With `scoped`, each task keeps its own tokenizers, stored as
    `TASK/NAME` (tasks whose inputs share a name but not a shape: CIFAR and MNIST images).
    """
    positions = max(h.positions for h in heads.values())
    source = next(h.source for h in heads.values() if h.positions == positions)
    cfg = sized_backbone(backbone, positions, source)
    tokenizers: dict[str, nn.Module] = {}
    tasks: dict[str, nn.Module] = {}
    routes: dict[str, dict[str, str]] = {}
    for name, h in heads.items():
        toks, head = h.make(cfg.dim)
        for key, tok in toks.items():
            stored = f"{name}/{key}" if scoped else key
            if stored in tokenizers:
                check_shared(stored, tokenizers[stored], tok, name, head)
            tokenizers.setdefault(stored, tok)
            if scoped:
                routes.setdefault(name, {})[key] = stored
        tasks[name] = head
    check_types(tokenizers, cfg.num_types)
    return TzooModel(tokenizers, Backbone(cfg), tasks, routes)


def check_shared(key: str, kept: nn.Module, dropped: nn.Module, task: str, head: nn.Module) -> None:
    """A second task naming tokenizer `key` must build one equal to the kept one (class, settings as
    its repr shows them, state shapes, type ids), and its head may not hold the dropped one's weights."""
    def shapes(m: nn.Module) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in m.state_dict().items()}

    def types(m: nn.Module) -> tuple[int, ...]:
        return tuple(getattr(m, "type_ids", None) or (getattr(m, "type_id", 0),))

    if type(kept) is not type(dropped) or repr(kept) != repr(dropped) or shapes(kept) != shapes(dropped) \
            or types(kept) != types(dropped):
        raise TzooError(f"tokenizer {key!r}: task {task!r} builds one ({type(dropped).__name__}) unlike the one an "
                        f"earlier task built under that name ({type(kept).__name__}); give the tasks equal "
                        "settings or build the model with scoped=True (one tokenizer per task)")
    own = {id(p) for p in dropped.parameters()}
    if any(id(p) in own for p in head.parameters()):
        raise TzooError(f"tokenizer {key!r}: the head of task {task!r} ties weights to its own copy, which a shared "
                        "tokenizer replaces; untie them or build the model with scoped=True")


def load_model(backbone: BackboneConfig, heads: Mapping[str, TaskHead], run: RunDir, scoped: bool = False) -> TzooModel:
    """`build_model` with the run's published weights loaded (checksum checked), in eval mode."""
    model = build_model(backbone, heads, scoped)
    load_weights(model, run / WEIGHTS, model_sha(run))
    return model.eval()


def check_types(tokenizers: Mapping[str, nn.Module], num_types: int) -> None:
    """Every type id a tokenizer emits must fit the backbone's type table."""
    for name, tok in tokenizers.items():
        ids = getattr(tok, "type_ids", None) or (getattr(tok, "type_id", 0),)
        if max(ids) >= num_types:
            raise TzooError(f"--backbone.num_types={num_types}: tokenizer {name!r} uses type id {max(ids)}; "
                            f"raise it to {max(ids) + 1} or more")


@dataclass
class Loaded:
    """A run's model and the artefacts its verbs need (codec, class names, normalisation statistics)."""

    model: TzooModel
    artefacts: dict[str, Any] = field(default_factory=dict)
    run: Optional[RunDir] = None
    task: Optional[str] = None  # the task verbs use; None = the model's only task

    @property
    def device(self) -> torch.device:
        """Where the model is: verbs put their batches there."""
        return next(self.model.parameters()).device


@runtime_checkable
class Recipe(Protocol):
    """A named way to train something, and the verbs a trained run supports.

    `verbs` lists which of `sample`, `predict`, `eval` the recipe implements; the CLI and the
    Python API (`tzoo.load`) call only those. Every recipe's verbs share these signatures:
    `sample` and `predict` take keyword options (an option set to None keeps its default; an
    unknown one is refused in one line), `evaluate` config overrides (`--section.key=value`).
    """

    name: str
    summary: str
    presets: dict[str, Callable[[], Any]]  # the first one is the default
    verbs: tuple[str, ...]

    def default(self) -> Any: ...

    def build(self, cfg: Any, run: RunDir, is_main: bool, barrier: Callable[[], None]) -> Parts: ...

    def load(self, cfg: Any, run: RunDir) -> Loaded: ...

    def sample(self, loaded: Loaded, cfg: Any, prompt: Optional[str] = None, **options: Any) -> str: ...

    def predict(self, loaded: Loaded, cfg: Any, inputs: list[str], **options: Any) -> list[dict]: ...

    def evaluate(self, loaded: Loaded, cfg: Any, overrides: dict[str, str]) -> dict: ...


class RecipeBase:
    """Shared plumbing: presets, the default config, one task built from its parts, loading a run,
    and a clear error for an unsupported verb.

    A single-task recipe implements `task_parts` (head + data, for training) and `task_head`
    (head + artefacts, from a run's files); `build` and `load` put them on one backbone, and the
    `multitask` recipe puts several recipes' parts on one.
    """

    name: str = ""
    summary: str = ""
    task: str = ""  # the name of the recipe's task inside its model
    verbs: tuple[str, ...] = ()
    obsolete: tuple[str, ...] = ()  # config keys of older run directories, ignored when loading them
    headline: tuple[str, bool] = ("val_loss", False)  # (metrics.json key, higher is better) that sums a run up
    modalities: tuple[str, ...] = ()  # what the model reads ("text", "image", "audio", "control"): model-card tags
    hub_task: str = "other"  # the Hugging Face task type its model card reports results under
    option_defaults: dict[str, dict[str, Any]] = {}  # verb -> {option: default value} of its `sample` / `predict`
    eval_keys: tuple[str, ...] = ()  # the overrides `evaluate` takes; a key ending in "." admits a whole section

    def __init__(self, presets: dict[str, Callable[[], Any]]) -> None:
        self.presets = presets

    def default(self) -> Any:
        return next(iter(self.presets.values()))()

    def task_parts(self, cfg: Any, run: RunDir, is_main: bool, barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        """The task's head and data; artefacts (codec, class names, statistics) are saved into `run`."""
        raise NotImplementedError(f"recipe {self.name} defines neither task_parts nor its own build")

    def task_head(self, cfg: Any, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        """The task's head and the artefacts its verbs need, from the files of a run."""
        raise NotImplementedError(f"recipe {self.name} defines neither task_head nor its own load")

    def build(self, cfg: Any, run: RunDir, is_main: bool, barrier: Callable[[], None]) -> Parts:
        head, data = self.task_parts(cfg, run, is_main, barrier)
        return Parts(build_model(cfg.backbone, {self.task: head}), {self.task: data})

    def load(self, cfg: Any, run: RunDir) -> Loaded:
        head, artefacts = self.task_head(cfg, run)
        return Loaded(load_model(cfg.backbone, {self.task: head}, run), artefacts, run)

    def sample(self, loaded: Loaded, cfg: Any, prompt: Optional[str] = None, **options: Any) -> str:
        raise self.unsupported("sample")

    def predict(self, loaded: Loaded, cfg: Any, inputs: list[str], **options: Any) -> list[dict]:
        raise self.unsupported("predict")

    def evaluate(self, loaded: Loaded, cfg: Any, overrides: dict[str, str]) -> dict:
        raise self.unsupported("eval")

    def verb_options(self, verb: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """The options of `verb`: its defaults updated with those `given` (None keeps the default);
        an option the verb does not take is a one-line error listing those it does."""
        known = self.option_defaults.get(verb, {})
        unknown = sorted(set(given) - set(known))
        if unknown:
            takes = ", ".join(known) or "none"
            raise TzooError(f"{self.name} `{verb}` has no option {unknown[0]!r}; its options: {takes}")
        return {**known, **{k: v for k, v in given.items() if v is not None}}

    def eval_overrides(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """`overrides` after checking that `tzoo eval` of this recipe takes each (one-line error otherwise)."""
        admitted = lambda key: any(key == k or (k.endswith(".") and key.startswith(k)) for k in self.eval_keys)  # noqa: E731
        extra = sorted(k for k in overrides if not admitted(k))
        if extra:
            takes = ", ".join(f"--{k}*" if k.endswith(".") else f"--{k}" for k in self.eval_keys) or "no overrides"
            raise TzooError(f"tzoo eval of {self.name} takes only {takes}, not --{extra[0]}")
        return dict(overrides)

    def unsupported(self, verb: str) -> TzooError:
        has = ", ".join(self.verbs) or "none"
        return TzooError(f"recipe {self.name} has no `{verb}`; its verbs: {has}")
