"""Recipe `dt`: a Decision Transformer (or behaviour cloning, `--task.kind=bc`) on a Minari dataset.

Steps -> TrajectoryTokenizer (return-to-go, state, action tokens; the timestep is the position of
all three) -> backbone with the causal pattern -> action from each state token. Checkpoints are
chosen on the online return of validation rollouts (starts drawn apart from every evaluation seed;
or, with --eval.select_episodes=0, on the action loss of held-out episodes); the chosen policy is
then scored once, online, in the dataset's own evaluation environment, conditioned on one or more
target returns.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Optional

import numpy as np
import torch
from torch import Tensor

from ..backbone import BackboneConfig
from ..errors import TzooError
from ..modalities.streams import Stream, step_generator
from ..tasks import TzooModel
from ..tasks.decision import ActionTask
from ..tokenizers.trajectory import TrajectoryTokenizer
from .base import Loaded, RecipeBase, TaskData, TaskHead, build_model
from .plots import metric_curve, returns_vs_targets
from .rundir import RunDir
from .settings import LoopConfig, OptimConfig

TASK = "control"
STATS = "state_stats.json"


@dataclass
class DTDataConfig:
    """The offline dataset.

    Attributes:
        dataset: a local Minari dataset id (`tzoo collect` makes them; `minari download` fetches D4RL's).
        top_pct: train on the best this fraction of episodes by return (%BC); 1 = all.
        context: K, the steps the model sees at once; 0 = auto (`auto_data`: 1 for flat state vectors).
        return_scale: returns-to-go are divided by this; 0 = auto (the largest absolute episode return).
        val_fraction: episodes held out (seeded) for the validation action loss.
    """

    dataset: str = "tzoo/cartpole/mixed-v0"
    top_pct: float = 1.0
    context: int = 0
    return_scale: float = 0.0
    val_fraction: float = 0.05

    def validate(self) -> None:
        if not 0.0 < self.top_pct <= 1.0:
            raise ValueError(f"top_pct: must be in (0, 1], got {self.top_pct}")
        if self.context < 0:
            raise ValueError(f"context: must be >= 1 (0 = auto), got {self.context}")
        if self.return_scale < 0:
            raise ValueError(f"return_scale: must be >= 0, got {self.return_scale}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction: must be in (0, 1), got {self.val_fraction}")


@dataclass
class DTTaskConfig:
    """What the model is trained to do.

    Attributes:
        kind: "dt" (return-conditioned, three tokens a step) or "bc" (behaviour cloning, state and action).
    """

    kind: Literal["dt", "bc"] = "dt"


@dataclass
class DTEvalConfig:
    """Online evaluation (at the end of training and by `tzoo eval`).

    Attributes:
        targets: target returns to condition on; empty = auto (`auto_data`: the mean return of the
            dataset's best 10% of episodes).
        episodes: episodes per target.
        num_envs: episodes run at once (one batched forward per step).
        seed: episode i starts from environment seed (seed, i): every method meets the same starts.
        use_cache: the KV cache (exact; see tzoo.control.evaluate.rollout).
        max_steps: cut episodes at this many steps (None = the environment's own limit).
        select_episodes: validation rollouts at every evaluation, conditioned on the first target,
            from starts of their own seed stream (never an evaluation episode's); their mean return
            (`val_return`) chooses the checkpoint. 0 = choose on the held-out action loss instead,
            which need not rank policies by return.
        record: `tzoo eval` also records this many episodes (the first evaluation episodes, first
            target) as videos in the run's videos/ folder (MP4 with moviepy, else GIF).
    """

    targets: tuple[float, ...] = ()
    episodes: int = 50
    num_envs: int = 25
    seed: int = 0
    use_cache: bool = True
    max_steps: Optional[int] = None
    select_episodes: int = 25
    record: int = 0

    def validate(self) -> None:
        if self.record < 0:
            raise ValueError(f"record: must be >= 0, got {self.record}")
        if self.episodes < 1 or self.num_envs < 1:
            raise ValueError(f"episodes: episodes and num_envs must be >= 1, got {self.episodes}, {self.num_envs}")
        if self.select_episodes < 0:
            raise ValueError(f"select_episodes: must be >= 0, got {self.select_episodes}")


@dataclass
class DTLoopConfig(LoopConfig):
    """The training loop; max_steps 0 = auto and eval_every 0 = auto (`auto_training`: from the
    dataset's size; save_every then follows eval_every)."""

    max_steps: int = 0
    eval_every: int = 0

    def validate(self) -> None:
        for name in ("max_steps", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 1 (0 = auto), got {getattr(self, name)}")
        LoopConfig.validate(replace(self, max_steps=self.max_steps or 1, eval_every=self.eval_every or 1))


@dataclass
class DTOptimConfig(OptimConfig):
    """The optimizer; warmup_steps None = auto and ema_decay None = auto (`auto_training`: both from
    the number of updates)."""

    warmup_steps: Optional[int] = None
    ema_decay: Optional[float] = None

    def validate(self) -> None:
        OptimConfig.validate(replace(self, warmup_steps=self.warmup_steps or 0, ema_decay=self.ema_decay or 0.0))


@dataclass
class DTConfig:
    data: DTDataConfig = field(default_factory=DTDataConfig)
    task: DTTaskConfig = field(default_factory=DTTaskConfig)
    eval: DTEvalConfig = field(default_factory=DTEvalConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loop: DTLoopConfig = field(default_factory=DTLoopConfig)
    optim: DTOptimConfig = field(default_factory=DTOptimConfig)


# -- defaults from the data ----------------------------------------------------------------------
# One rule fills every auto value of a run from its dataset (before any %BC cut, so every method on a
# dataset gets the same budget). The constants were chosen on the tuning datasets only
# (benchmarks/dt.py TUNING; the record is docs/dt-generalise.md).
PASSES = 8.0  # updates = PASSES * (steps in the dataset) / batch_size: passes over the data's windows ...
UPDATES = (2000, 30000)  # ... clipped to this range
EVALS = 10  # validation evaluations (and checkpoints) per run
WARMUP = 0.02  # warmup: this fraction of the updates
EMA_SPAN = 0.04  # the weight average spans about this fraction of the updates: decay = 1 - 1 / (EMA_SPAN * updates)
FLAT_CONTEXT, DEEP_CONTEXT = 1, 20  # K: flat state vectors (states: history costs K times and invites copycats), else
TARGET_TOP = 0.1  # the target return: the mean return of the dataset's best this fraction of episodes


def auto_training(cfg: DTConfig, total_steps: int) -> dict[str, Any]:
    """The loop and optimizer values `cfg` leaves to auto, from the dataset's size in steps:
    {"loop.max_steps", "loop.eval_every", "loop.save_every", "optim.warmup_steps", "optim.ema_decay"}
    (only those that are auto)."""
    out: dict[str, Any] = {}
    updates = cfg.loop.max_steps
    if not updates:
        updates = int(np.clip(round(PASSES * total_steps / cfg.loop.batch_size / 100) * 100, *UPDATES))
        out["loop.max_steps"] = updates
    if not cfg.loop.eval_every:
        every = max(100, round(updates / EVALS / 100) * 100)
        out.update({"loop.eval_every": every, "loop.save_every": every})
    if cfg.optim.warmup_steps is None:
        out["optim.warmup_steps"] = int(round(WARMUP * updates))
    if cfg.optim.ema_decay is None:
        out["optim.ema_decay"] = round(1.0 - 1.0 / max(EMA_SPAN * updates, 10.0), 6)
    return out


def auto_data(cfg: DTConfig, returns: np.ndarray, obs_shape: tuple[int, ...]) -> dict[str, Any]:
    """The data and evaluation values `cfg` leaves to auto, from the episodes' returns and the
    observation shape: {"data.context", "data.return_scale", "eval.targets"} (only those that are auto)."""
    out: dict[str, Any] = {}
    if not cfg.data.context:
        out["data.context"] = FLAT_CONTEXT if len(obs_shape) <= 1 else DEEP_CONTEXT
    if not cfg.data.return_scale:
        out["data.return_scale"] = float(np.abs(returns).max()) or 1.0
    if not cfg.eval.targets:
        best = np.sort(returns)[::-1][:max(1, int(round(TARGET_TOP * len(returns))))]
        out["eval.targets"] = (round(float(best.mean()), 4),)
    return out


def show_auto(dataset: str, values: dict[str, Any]) -> None:
    """Log the auto values a run resolved, as the overrides that would set them."""
    if values:
        shown = ", ".join(f"--{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in values.items())
        print(f"dt: auto from {dataset}: {shown}", flush=True)


def fill(cfg: Any, values: dict[str, Any]) -> None:
    """Set dotted keys of `cfg` in place (the Trainer holds its loop and optim sections)."""
    for key, value in values.items():
        *path, name = key.split(".")
        section = cfg
        for part in path:
            section = getattr(section, part)
        setattr(section, name, value)


def resolved_config(cfg: DTConfig) -> tuple[DTConfig, dict[str, Any]]:
    """A copy of `cfg` with every auto value filled from its dataset, and {key: value} of those filled."""
    from ..config import apply_overrides
    from ..control.episodes import load_episodes, open_dataset

    dataset = open_dataset(cfg.data.dataset)
    episodes = load_episodes(dataset)
    values = {**auto_training(cfg, int(episodes.lengths.sum())),
              **auto_data(cfg, episodes.returns, tuple(dataset.observation_space.shape or ()))}
    out = apply_overrides(cfg, {})
    fill(out, values)
    return out, values


def dt_head(cfg: DTConfig, stats: dict) -> TaskHead:
    """Trajectory tokens -> causal backbone -> action head; positions = the episode's timesteps."""
    from ..tokenizers.actions import ActionSpec

    action, horizon, kind = ActionSpec.from_dict(stats["action"]), int(stats["max_timestep"]), cfg.task.kind

    def make(dim: int):
        tok = TrajectoryTokenizer(len(stats["state_mean"]), action, dim, horizon, use_returns=kind == "dt")
        return {"trajectory": tok}, ActionTask(dim, action, kind=kind)
    return TaskHead(horizon, make, f"the episode length of {cfg.data.dataset}")


def make_model(cfg: DTConfig, stats: dict) -> TzooModel:
    return build_model(cfg.backbone, {TASK: dt_head(cfg, stats)})


def dataset_stats(cfg: DTDataConfig, episodes: Any, env: Any) -> dict:
    """What the model and its evaluation need besides weights: normalisation, scales, spaces, references."""
    from ..control.episodes import state_stats

    mean, std = state_stats(episodes)
    limit = getattr(env.spec, "max_episode_steps", None) if env.spec is not None else None
    scale = cfg.return_scale or float(np.abs(episodes.returns).max()) or 1.0  # auto_data's rule
    return {"dataset": cfg.dataset, "state_mean": mean.tolist(), "state_std": std.tolist(), "return_scale": scale,
            "action": episodes.action_space.to_dict(), "max_timestep": int(max(limit or 0, episodes.lengths.max())),
            "ref_min_score": episodes.ref_min_score, "ref_max_score": episodes.ref_max_score,
            "best_return": float(episodes.returns.max()), "worst_return": float(episodes.returns.min())}


def split_episodes(episodes: Any, fraction: float, top_pct: float) -> tuple[Any, Any]:
    """(train, validation): a seeded `fraction` of the episodes held out, then each side cut to its
    best `top_pct` by return (%BC)."""
    from ..control.episodes import top_fraction

    n = len(episodes)
    if n < 2:
        raise TzooError(f"{episodes.dataset_id}: needs at least 2 episodes (one to validate on), has {n}")
    held = max(1, round(n * fraction))
    order = torch.randperm(n, generator=step_generator(0, Stream.VAL_SPLIT)).tolist()
    val, train = sorted(order[:held]), sorted(order[held:])
    return top_fraction(episodes.select(train), top_pct), top_fraction(episodes.select(val), top_pct)


def targets_of(cfg: DTEvalConfig, stats: dict) -> list[float]:
    if cfg.targets:
        return list(cfg.targets)
    best = stats["ref_max_score"] if stats["ref_max_score"] is not None else stats["best_return"]
    return [float(best)]


def normalized_returns(returns: Any, stats: dict) -> Any:
    """`normalized_score` of a return (or an array of them) against the dataset's reference scores;
    None where the dataset has none."""
    from ..control.evaluate import normalized_score

    lo, hi = stats["ref_min_score"], stats["ref_max_score"]
    if lo is None or hi is None or hi == lo:
        return None
    return normalized_score(returns, lo, hi)


def online_scores(model: TzooModel, task: Optional[str], cfg: DTConfig, stats: dict, make_env: Callable,
                  ecfg: DTEvalConfig, stream: Stream = Stream.ROLLOUT) -> dict[str, Any]:
    """Rollouts per target return: mean +- std return, normalised score, env steps/s; the first
    target's figures also as `return_mean` / `normalized_score`. `stream` picks the episodes' starts."""
    from ..control.evaluate import rollout

    head = model.head(task)
    rows = []
    for target in targets_of(ecfg, stats):
        r = rollout(model.tokenizer(head.inputs[0], task), model.backbone, head, make_env, ecfg.episodes, target,
                    stats["return_scale"], stats["state_mean"], stats["state_std"], cfg.data.context, ecfg.seed,
                    ecfg.num_envs, ecfg.use_cache, ecfg.max_steps, next(model.parameters()).device, stream)
        row = {"target": target, "return_mean": r["return_mean"], "return_std": r["return_std"],
               "length_mean": r["length_mean"], "episodes": len(r["returns"]), "env_steps_per_s": r["env_steps_per_s"]}
        scores = normalized_returns(r["returns"], stats)
        if scores is not None:
            row.update(normalized_score=float(scores.mean()), normalized_std=float(scores.std()))
        rows.append(row)
    first = rows[0]
    out = {"return_mean": first["return_mean"], "return_std": first["return_std"], "targets": rows}
    if "normalized_score" in first:
        out["normalized_score"] = first["normalized_score"]
    return out


def validation_return(model: TzooModel, task: str, cfg: DTConfig, stats: dict, make_env: Callable) -> float:
    """Mean return of `cfg.eval.select_episodes` rollouts at the first target, from the validation
    stream's starts: what chooses the checkpoint."""
    ecfg = replace(cfg.eval, episodes=cfg.eval.select_episodes, targets=(targets_of(cfg.eval, stats)[0],))
    return online_scores(model, task, cfg, stats, make_env, ecfg, Stream.SELECT_ROLLOUT)["return_mean"]


def check_env(env: Any, stats: dict, where: str) -> None:
    """The environment's spaces must be the ones the run was trained on."""
    from ..tokenizers.actions import ActionSpec

    obs = int(np.prod(env.observation_space.shape or (0,)))
    try:
        action = ActionSpec.from_space(env.action_space).to_dict()
    except ValueError:
        action = str(env.action_space)
    if obs != len(stats["state_mean"]) or action != stats["action"]:
        raise TzooError(f"{where}: the environment has {obs} observation values and actions {action}, the run was "
                        f"trained on {len(stats['state_mean'])} and {stats['action']}; evaluate on its own dataset")


def env_maker(dataset_id: str, stats: dict) -> Callable:
    """A function making the dataset's evaluation environment (checked once against the run)."""
    from ..control.episodes import open_dataset, recover_env

    dataset = open_dataset(dataset_id)
    probe = recover_env(dataset, eval_env=True)
    check_env(probe, stats, dataset_id)
    probe.close()
    return lambda: recover_env(dataset, eval_env=True)


def dt_data(cfg: DTConfig, train: Any, val: Any, stats: dict, make_env: Callable) -> TaskData:
    """Training windows; action loss on held-out episodes and validation returns; online returns at
    the end; the target PNG."""
    from ..control.windows import TrajectoryBatches

    d, loop, select = cfg.data, cfg.loop, cfg.eval.select_episodes > 0
    args = (stats["state_mean"], stats["state_std"], stats["return_scale"])
    source = TrajectoryBatches(train, d.context, loop.batch_size, loop.seed, *args)
    held = TrajectoryBatches(val, d.context, loop.batch_size, loop.seed, *args)

    def validate(m: TzooModel, task: str, final: bool, rank: int, world: int) -> dict[str, Tensor]:
        n = loop.eval_batches
        batches = held.tiling(rank, world) if final or not n else (held.batch(i, rank, world) for i in range(n))
        sums = action_loss(m, task, batches)
        if select:  # rollouts run on the main process; the others add zeros
            value = validation_return(m, task, cfg, stats, make_env) if rank == 0 else 0.0
            sums["val_return"] = torch.tensor(value, dtype=torch.float64, device=sums["steps"].device)
        return sums

    def summarize(sums: dict[str, Tensor]) -> dict[str, Any]:
        out = {"val_loss": float(sums["loss_sum"] / sums["steps"].clamp(min=1))}
        if "val_return" in sums:
            out["val_return"] = float(sums["val_return"])
            score = normalized_returns(out["val_return"], stats)
            if score is not None:
                out["val_score"] = score
        return out

    def score(m: TzooModel, task: str, rank: int, world: int) -> dict[str, Tensor]:
        table = torch.zeros(len(targets_of(cfg.eval, stats)), len(COLUMNS), dtype=torch.float64)
        if rank == 0:  # rollouts run on the main process; the others add zeros
            rows = online_scores(m, task, cfg, stats, make_env, cfg.eval)["targets"]
            table = torch.tensor([[float(r.get(c, float("nan"))) for c in COLUMNS] for r in rows], dtype=torch.float64)
        return {"online": table}

    def finish(m: TzooModel, task: str, run: RunDir, summary: dict) -> None:
        if summary.get("targets"):
            returns_vs_targets(summary["targets"], run / "returns.png", (stats["ref_min_score"], stats["ref_max_score"]),
                               f"{cfg.task.kind} on {d.dataset}")
        if "val_return" in summary:
            key = "val_score" if "val_score" in summary else "val_return"
            metric_curve(run.read_log(), key, run / "val_returns.png", summary.get("chosen_step"),
                         f"{cfg.task.kind} on {d.dataset}: validation rollouts ({cfg.eval.select_episodes} episodes)")

    return TaskData(source, validate, summarize, monitor="val_return" if select else "val_loss",
                    higher_is_better=select, test=score, summarize_test=online_summary, finish=finish)


COLUMNS = ("target", "return_mean", "return_std", "length_mean", "episodes", "env_steps_per_s", "normalized_score",
           "normalized_std")


def online_summary(sums: dict[str, Tensor]) -> dict[str, Any]:
    """The per-target table of `online_scores` back from its tensor form (summed over processes)."""
    rows = [{c: (int(v) if c == "episodes" else float(v)) for c, v in zip(COLUMNS, row.tolist()) if v == v}
            for row in sums["online"]]
    out: dict[str, Any] = {"return_mean": rows[0]["return_mean"], "return_std": rows[0]["return_std"], "targets": rows}
    if "normalized_score" in rows[0]:
        out["normalized_score"] = rows[0]["normalized_score"]
    return out


@torch.no_grad()
def action_loss(model: TzooModel, task: str, batches) -> dict[str, Tensor]:
    """Summed per-step action loss and the number of real steps over `batches`."""
    device = next(model.parameters()).device
    total = torch.zeros((), dtype=torch.float64, device=device)
    steps = torch.zeros((), dtype=torch.float64, device=device)
    for batch in batches:
        batch = {"trajectory": {k: v.to(device) for k, v in batch["trajectory"].items()}}
        out = model(batch, task=task)
        n = batch["trajectory"]["mask"].sum()
        total += out.loss.double() * n
        steps += n
    return {"loss_sum": total, "steps": steps}


class DecisionTransformerRecipe(RecipeBase):
    """Offline RL on a Minari dataset: Decision Transformer, BC or %BC in one recipe."""

    name = "dt"
    task = TASK
    headline = ("normalized_score", True)
    modalities = ("control",)
    hub_task = "reinforcement-learning"
    summary = "Decision Transformer / behaviour cloning on a Minari dataset, evaluated online"
    verbs = ("eval",)
    eval_keys = ("eval.",)

    def task_parts(self, cfg: DTConfig, run: RunDir, is_main: bool,
                   barrier: Callable[[], None]) -> tuple[TaskHead, TaskData]:
        from ..control.episodes import load_episodes, open_dataset, recover_env

        dataset = open_dataset(cfg.data.dataset)
        episodes = load_episodes(dataset)
        auto = auto_data(cfg, episodes.returns, tuple(dataset.observation_space.shape or ()))
        fill(cfg, auto)  # a multitask run resolves its dt section's data here (its loop is the joint one)
        env = recover_env(dataset, eval_env=True)
        stats = dataset_stats(cfg.data, episodes, env)
        env.close()
        stats["auto"] = auto
        if (run / STATS).is_file():  # a resumed run: its config holds the resolved values; keep the record of them
            stats["auto"] = {**run.load_json(STATS, "dataset statistics").get("auto", {}), **auto}
        train, val = split_episodes(episodes, cfg.data.val_fraction, cfg.data.top_pct)
        if is_main:
            run.save_json(STATS, stats)
            show_auto(cfg.data.dataset, auto)
        return dt_head(cfg, stats), dt_data(cfg, train, val, stats, env_maker(cfg.data.dataset, stats))

    def build(self, cfg: DTConfig, run: RunDir, is_main: bool, barrier: Callable[[], None]) -> Any:
        """A single-task run first fills its loop and optimizer's auto values from the dataset's size
        (in place: the Trainer holds those sections and saves the config after this); they join the
        data's in the statistics file (a multitask run's loop and optimizer are the joint ones)."""
        from ..control.episodes import open_dataset

        total = int(open_dataset(cfg.data.dataset).storage.metadata["total_steps"])
        training = auto_training(cfg, total)
        fill(cfg, training)
        parts = super().build(cfg, run, is_main, barrier)
        if is_main and training:
            stats = run.load_json(STATS, "dataset statistics")
            stats["auto"] = {**training, **stats.get("auto", {})}
            run.save_json(STATS, stats)
            show_auto(cfg.data.dataset, training)
        return parts

    def task_head(self, cfg: DTConfig, run: RunDir) -> tuple[TaskHead, dict[str, Any]]:
        stats = run.load_json(STATS, "dataset statistics")
        return dt_head(cfg, stats), {"stats": stats}

    def evaluate(self, loaded: Loaded, cfg: DTConfig, overrides: dict[str, str]) -> dict:
        """Online returns per target: --eval.targets=100,200 --eval.episodes=N --eval.seed=S ...;
        the achieved-vs-target PNG goes to the run directory as eval_returns.png."""
        from ..config import apply_overrides

        cfg = apply_overrides(cfg, self.eval_overrides(overrides))
        stats = loaded.artefacts["stats"]
        make_env = env_maker(stats["dataset"], stats)
        record = self.recorder(loaded, cfg, make_env, cfg.eval.record) if cfg.eval.record else None
        if cfg.task.kind == "dt" and "eval.targets" in overrides:
            from ..control.policy import target_range_note

            for target in cfg.eval.targets:
                target_range_note(target, stats)
        scores = online_scores(loaded.model, loaded.task, cfg, stats, make_env, cfg.eval)
        if loaded.run is not None:
            returns_vs_targets(scores["targets"], loaded.run / "eval_returns.png",
                               (stats["ref_min_score"], stats["ref_max_score"]), f"{cfg.task.kind} on {stats['dataset']}")
        if record is not None:
            scores["videos"] = record()
            print(f"tzoo: wrote {len(scores['videos']['files'])} episode video(s) to {scores['videos']['folder']}",
                  file=sys.stderr)
        return {"dataset": stats["dataset"], **scores}

    def policy(self, loaded: Loaded, cfg: DTConfig, target_return: Optional[float] = None, num_envs: int = 1,
               use_cache: Optional[bool] = None) -> Any:
        """A `TrajectoryPolicy` to call from the user's loop (see tzoo.recipes.dt_act.make_policy)."""
        from .dt_act import make_policy

        return make_policy(loaded, cfg, target_return, num_envs, use_cache)

    def rollout(self, loaded: Loaded, cfg: DTConfig, env: Any, episodes: int, seed: int, **options: Any) -> dict:
        """Episodes in a given environment (see tzoo.recipes.dt_act.rollout)."""
        from .dt_act import rollout

        return rollout(loaded, cfg, env, episodes, seed, **options)

    def recorder(self, loaded: Loaded, cfg: DTConfig, make_env: Callable, episodes: int) -> Callable[[], dict]:
        """Records the first evaluation episodes as videos in the run's videos/ folder (checked first)."""
        from .dt_act import recorder

        if loaded.run is None:
            raise TzooError("--eval.record: needs a run directory to write the videos to")
        return recorder(loaded, cfg, make_env, loaded.run / "videos", episodes)


def _cpu() -> DTConfig:
    """The Decision Transformer paper's width (3 blocks of 128, one head, dropout 0.1); context,
    return scale, updates, evaluation interval, warmup, weight average and target return are auto:
    derived from the dataset by `auto_training` and `auto_data` (docs/dt-generalise.md)."""
    return DTConfig(
        backbone=BackboneConfig(dim=128, depth=3, heads=1, mlp_ratio=4.0, dropout=0.1, bias=True),
        loop=DTLoopConfig(batch_size=64, eval_batches=10, log_every=100),
        optim=DTOptimConfig(lr=6e-4, min_lr=6e-5, weight_decay=1e-4, grad_clip=0.25),
    )


DT = DecisionTransformerRecipe({"cpu": _cpu})
