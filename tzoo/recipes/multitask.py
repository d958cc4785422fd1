"""Recipe `multitask`: one backbone trained jointly on the tasks of several recipes, one checkpoint.

Each task is the recipe's own parts (`task_parts` / `task_head`): its data pipeline, tokenizers,
head, evaluator, artefacts and verbs, unchanged. Its config is that recipe's config, as a
section of this one (`--char_lm.data.block_size=128`); its `loop.batch_size` and
`loop.eval_batches` stay the task's, while the backbone, the optimizer and the rest of the loop are
the joint ones: setting a section's `backbone`, `optim` or other `loop` keys is an error. Each task
keeps its own tokenizers (stored as `TASK/NAME`) and its run files under `tasks/TASK/` of the run
directory; a `TaskSchedule` (by weight) or a `SpreadSchedule` (exact counts) picks the task of every
micro-batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Literal, Optional

from ..backbone import BackboneConfig
from ..errors import TzooError
from ..tasks import TzooModel
from . import get_recipe
from .audio import AUDIO_FSDD, AudioConfig
from .av_digits import AV_DIGITS, AvConfig
from .base import Loaded, Parts, RecipeBase, TaskData, build_model, load_model
from .dt import DT, DTConfig
from .lm import CHAR_LM, LMConfig
from .rundir import RunDir
from .optim import lr_at
from .schedule import MixedBatches, SpreadSchedule, TaskSchedule
from .settings import LoopConfig, OptimConfig
from .vit import VIT_CIFAR10, VitConfig

MEMBERS = tuple(r.name for r in (CHAR_LM, VIT_CIFAR10, AUDIO_FSDD, DT, AV_DIGITS))  # each asked of the registry
TASKS_DIR = "tasks"
TASK_LOOP = ("batch_size", "eval_batches")  # the loop keys a section keeps; the joint loop rules the rest


def section(task: str) -> str:
    """The config section of a task: `char-lm` -> `char_lm`."""
    return task.replace("-", "_")


@dataclass
class TasksConfig:
    """Which tasks train together, how often each is drawn, and at which learning rate.

    Attributes:
        names: the tasks (recipe names), in the order their metrics are reported.
        weights: `TASK:WEIGHT` entries; a micro-batch trains TASK with probability WEIGHT / sum
            (tasks not listed weigh 1).
        batches: `TASK:N` entries, one per task: each task trains exactly N micro-batches, spread
            evenly over the run (N's add up to loop.max_steps x loop.grad_accum); replaces `weights`.
        lr: "joint" (the joint --optim schedule for every step) or "own" (a step of task T takes
            T's recipe default learning-rate schedule, peak, floor and warm-up fraction, at T's own
            batch count: each task climbs and decays as it would trained alone).
    """

    names: tuple[str, ...] = tuple(MEMBERS)
    weights: tuple[str, ...] = ()
    batches: tuple[str, ...] = ()
    lr: Literal["joint", "own"] = "joint"

    def validate(self) -> None:
        if not self.names:
            raise ValueError("names: name at least one task")
        for name in self.names:
            if name not in MEMBERS:
                raise ValueError(f"names: unknown task {name!r}; tasks: {','.join(MEMBERS)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"names: a task is named twice in {','.join(self.names)}")
        self.weight_list()
        if self.batches:
            if self.weights:
                raise ValueError("weights: --tasks.batches fixes every task's count; drop --tasks.weights")
            missing = [n for n in self.names if n not in self._entries("batches", int)]
            if missing:
                raise ValueError(f"batches: no count for {missing[0]}; give TASK:N for each of {','.join(self.names)}")

    def _entries(self, key: str, kind: type) -> dict[str, float]:
        """`TASK:VALUE` entries of `key` as {task: value}; each value a positive `kind`."""
        given: dict[str, float] = {}
        for entry in getattr(self, key):
            name, sep, value = entry.partition(":")
            if not sep or name not in self.names:
                raise ValueError(f"{key}: {entry!r} is not TASK:{'N' if kind is int else 'WEIGHT'} for a task in --tasks.names "
                                 f"({','.join(self.names)})")
            try:
                v = kind(value)
            except ValueError:
                raise ValueError(f"{key}: {entry!r}: {value!r} is not {'an integer' if kind is int else 'a number'}") from None
            if not v > 0 or v == float("inf"):
                raise ValueError(f"{key}: {entry!r}: a {key[:-1]} must be a positive number")
            given[name] = v
        return given

    def weight_list(self) -> list[float]:
        """One weight per task in `names`."""
        given = self._entries("weights", float)
        return [given.get(n, 1.0) for n in self.names]

    def batch_counts(self) -> Optional[list[int]]:
        """One exact batch count per task in `names`, or None (tasks drawn by weight)."""
        given = self._entries("batches", int)
        return [int(given[n]) for n in self.names] if given else None


@dataclass
class MultitaskConfig:
    """The joint run: tasks, the shared backbone, the loop and optimizer, and one section per task."""

    tasks: TasksConfig = field(default_factory=TasksConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    char_lm: LMConfig = field(default_factory=CHAR_LM.default)
    vit_cifar10: VitConfig = field(default_factory=VIT_CIFAR10.default)
    audio_fsdd: AudioConfig = field(default_factory=AUDIO_FSDD.default)
    dt: DTConfig = field(default_factory=DT.default)
    av_digits: AvConfig = field(default_factory=AV_DIGITS.default)

    def validate(self) -> None:
        counts = self.tasks.batch_counts()
        if counts is not None and sum(counts) != self.loop.max_steps * self.loop.grad_accum:
            raise ValueError(f"tasks.batches: the counts add up to {sum(counts)} micro-batches, the loop runs "
                             f"{self.loop.max_steps * self.loop.grad_accum} (max_steps x grad_accum); make them equal")
        for name in MEMBERS:
            joint_key = ruled_key(getattr(self, section(name)), get_recipe(name).default())
            if joint_key is not None:
                raise ValueError(f"{section(name)}.{joint_key}: the joint --{joint_key} rules every task of a "
                                 f"multitask run; set --{joint_key} instead")

    def task_config(self, task: str) -> Any:
        """The task's recipe config, with the joint seed."""
        cfg = getattr(self, section(task))
        return replace(cfg, loop=replace(cfg.loop, seed=self.loop.seed))


def ruled_key(cfg: Any, default: Any) -> Optional[str]:
    """The first key of a task section that the joint run rules (backbone, optim, loop but its
    TASK_LOOP keys) and that differs from the recipe's default; None when there is none."""
    for part in ("backbone", "optim", "loop"):
        mine, theirs = getattr(cfg, part), getattr(default, part)
        for f in fields(mine):
            if not (part == "loop" and f.name in TASK_LOOP) and getattr(mine, f.name) != getattr(theirs, f.name):
                return f"{part}.{f.name}"
    return None


def task_run(run: RunDir, task: str) -> RunDir:
    """Where a task's run files (codec, class names, statistics, plots) live."""
    return RunDir(run.path / TASKS_DIR / task)


class TaskRun(RunDir):
    """A task's folder of a joint run, whose `read_log` is the joint log as a run of that task alone
    would have it: the task's metrics without their `TASK/` prefix, the shared keys (step, lr, ...)
    kept, the other tasks' metrics left out. For reading (the task's `finish`), not for logging."""

    def __init__(self, path, joint: RunDir, task: str) -> None:
        super().__init__(path)
        self.joint, self.prefix = joint, f"{task}/"

    def read_log(self) -> list[dict]:
        p = self.prefix
        return [{(k[len(p):] if k.startswith(p) else k): v for k, v in r.items() if k.startswith(p) or "/" not in k}
                for r in self.joint.read_log()]


def _scoped(task: str, data: TaskData, run: RunDir) -> TaskData:
    """`data` whose `finish` writes into the task's folder and sees (and adds to) its own metrics and
    log records."""
    inner = data.finish
    if inner is None:
        return data

    def finish(model: TzooModel, name: str, joint: RunDir, summary: dict) -> None:
        prefix = f"{task}/"
        own = {k[len(prefix):]: v for k, v in summary.items() if k.startswith(prefix)}
        inner(model, name, TaskRun(run.path, joint, task), own)
        summary.update({prefix + k: v for k, v in own.items()})
    return replace(data, finish=finish)


def task_table(names: tuple[str, ...], summary: dict) -> dict[str, dict[str, Any]]:
    """{task: {"metric", "joint", "higher_is_better"}}: each task's headline figure in a joint run."""
    table = {}
    for name in names:
        metric, higher = get_recipe(name).headline
        table[name] = {"metric": metric, "joint": summary.get(f"{name}/{metric}"), "higher_is_better": higher}
    return table


def make_schedule(tasks: TasksConfig, seed: int) -> TaskSchedule | SpreadSchedule:
    """Exact counts spread evenly (--tasks.batches), else tasks drawn by weight."""
    counts = tasks.batch_counts()
    if counts is not None:
        return SpreadSchedule(tasks.names, counts)
    return TaskSchedule(tasks.names, tasks.weight_list(), seed)


AUTO_WARMUP = 0.02  # dt's rule: warm up for 2% of the updates (tzoo/recipes/dt.py WARMUP)


def own_lr(cfg: MultitaskConfig, schedule: TaskSchedule | SpreadSchedule, draws: dict[str, int]) -> Callable[[int], float]:
    """micro-batch index -> its task's own learning rate: the task's recipe default schedule (peak,
    floor, warm-up as a fraction of that recipe's steps) over the batches it trains in this run."""
    plans = {}
    for name in cfg.tasks.names:
        own = cfg.task_config(name)  # its optim and max_steps are the recipe default's (validate)
        n = max(draws[name], 1)
        warmup = own.optim.warmup_steps
        # a recipe that leaves its budget or warm-up to the data (dt's auto) warms up for that rule's share
        share = AUTO_WARMUP if warmup is None or not own.loop.max_steps else warmup / own.loop.max_steps
        plans[name] = (replace(own.optim, warmup_steps=round(share * n)), n)

    def lr_of(index: int) -> float:
        name, k = schedule.at(index)
        optim, n = plans[name]
        return lr_at(k, optim, n)
    return lr_of


class MultitaskRecipe(RecipeBase):
    """Several recipes' tasks on one shared backbone: one run directory, one model.safetensors."""

    name = "multitask"
    summary = "one backbone trained jointly on char-lm, vit-cifar10, audio-fsdd, dt and av-digits (--tasks.names)"
    verbs = ("sample", "predict", "eval")
    hub_task = "any-to-any"  # its modalities are its tasks' (the model card asks each)
    unused_parameters = True  # a step trains one task: the other heads get no gradient
    # a section's keys that the joint run rules: older runs may hold any value there, loading drops them
    obsolete = tuple(f"{section(n)}.{key}" for n in MEMBERS for key in
                     ("backbone", "optim", *(f"loop.{f.name}" for f in fields(LoopConfig) if f.name not in TASK_LOOP)))

    def build(self, cfg: MultitaskConfig, run: RunDir, is_main: bool, barrier: Callable[[], None]) -> Parts:
        heads, tasks = {}, {}
        for name in cfg.tasks.names:
            sub = task_run(run, name)
            sub.path.mkdir(parents=True, exist_ok=True)
            heads[name], data = get_recipe(name).task_parts(cfg.task_config(name), sub, is_main, barrier)
            tasks[name] = _scoped(name, data, sub)
        model = build_model(cfg.backbone, heads, scoped=True)
        schedule = make_schedule(cfg.tasks, cfg.loop.seed)
        source = MixedBatches({n: d.train for n, d in tasks.items()}, schedule)
        accum, steps = cfg.loop.grad_accum, cfg.loop.max_steps
        lr_of = own_lr(cfg, schedule, schedule.draws(steps * accum)) if cfg.tasks.lr == "own" else None

        def finish(model: TzooModel, run: RunDir, summary: dict) -> None:
            summary["task_batches"] = schedule.draws(steps * accum)
            summary["tasks"] = task_table(cfg.tasks.names, summary)
        return Parts(model, tasks, source, select=False, finish=finish, lr_of=lr_of)

    def load(self, cfg: MultitaskConfig, run: RunDir) -> Loaded:
        heads, artefacts = {}, {}
        for name in cfg.tasks.names:
            heads[name], artefacts[name] = get_recipe(name).task_head(cfg.task_config(name), task_run(run, name))
        return Loaded(load_model(cfg.backbone, heads, run, scoped=True), artefacts, run)

    def select(self, loaded: Loaded, cfg: MultitaskConfig, task: Optional[str]) -> tuple[RecipeBase, Any, Loaded]:
        """(recipe, config, loaded) that run one task's verbs on the joint model."""
        if task is None or task not in cfg.tasks.names:
            raise self.no_task(loaded.run, cfg, task)
        run = task_run(loaded.run, task) if loaded.run is not None else None
        return get_recipe(task), cfg.task_config(task), Loaded(loaded.model, loaded.artefacts[task], run, task)

    def no_task(self, run: Optional[RunDir], cfg: MultitaskConfig, task: Optional[str] = None) -> TzooError:
        """The one-line error for a missing or unknown task, listing the run's tasks."""
        where = f"{run.path}: " if run is not None else ""
        said = "name a task with --task" if task is None else f"no task {task!r}"
        return TzooError(f"{where}{said}; this multitask run holds: {', '.join(cfg.tasks.names)}")

    def sample(self, loaded: Loaded, cfg: MultitaskConfig, prompt: Optional[str] = None, **options: Any) -> str:
        raise self.no_task(loaded.run, cfg)

    def predict(self, loaded: Loaded, cfg: MultitaskConfig, inputs: list[str], **options: Any) -> list[dict]:
        raise self.no_task(loaded.run, cfg)

    def evaluate(self, loaded: Loaded, cfg: MultitaskConfig, overrides: dict[str, str]) -> dict:
        raise self.no_task(loaded.run, cfg)


def _cpu() -> MultitaskConfig:
    """Every task on one backbone of 4 blocks of 128 (4 heads), 5000 steps on a 2-core CPU; each
    task's section is its recipe's CPU preset with cheaper periodic evaluations."""
    cfg = MultitaskConfig(
        backbone=BackboneConfig(dim=128, depth=4, heads=4, mlp_ratio=4.0, dropout=0.0, bias=True),
        loop=LoopConfig(batch_size=32, max_steps=5000, eval_every=1000, save_every=1000, log_every=100),
        optim=OptimConfig(lr=1e-3, min_lr=1e-5, warmup_steps=200, weight_decay=0.05, grad_clip=1.0),
    )
    return replace(
        cfg,
        vit_cifar10=replace(cfg.vit_cifar10, loop=replace(cfg.vit_cifar10.loop, eval_batches=10)),
        audio_fsdd=replace(cfg.audio_fsdd, loop=replace(cfg.audio_fsdd.loop, eval_batches=10)),
    )


MULTITASK = MultitaskRecipe({"cpu": _cpu})
