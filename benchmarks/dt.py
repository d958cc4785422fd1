"""Decision Transformer benchmark: DT against 100% BC and 10% BC with the recipe's defaults (every
setting the data decides is auto: tzoo.recipes.dt.auto_training / auto_data), then tzoo's DT against
the Hugging Face port (`transformers.DecisionTransformerModel`) in speed.

    python benchmarks/dt.py                                  # the reporting set and the three `mixed` datasets
    python benchmarks/dt.py --set tuning --tuning            # the tuning set, the runs' own scores (choose rules here only)
    python benchmarks/dt.py --envs cartpole-lucky --methods dt,bc  # a subset
    python benchmarks/dt.py --steps 1000                     # loop.max_steps of every run (same for every method)
    python benchmarks/dt.py --tuning -- --optim.lr=1e-3      # tuning: only the runs' own scores, overrides after --
    python benchmarks/dt.py --speed-only --threads 1,2       # only the speed comparison, at 1 and at 2 torch threads
    python benchmarks/dt.py --docs                           # also copy each DT run's PNGs to docs/dt-<env>-*.png

1. Data. Collects, if missing, each dataset of DATASETS with `tzoo collect` under --data (default
   $MINARI_DATASETS_PATH, else runs/minari). The split was fixed before tuning (docs/dt-generalise.md):
   TUNING (Acrobot `mixed`, Pendulum `lucky`, MountainCarContinuous `sparse`) is where the auto rule was
   chosen; REPORTING (LunarLander discrete `mixed`, Pendulum `sparse` with another seed, CartPole `lucky`)
   and MIXED (the CartPole, LunarLanderContinuous and Pendulum `mixed` datasets of 700 episodes, tuned on
   before the rule) are reported once. --set picks sets, --envs datasets.
2. Quality. On each dataset trains, with the recipe's `cpu` preset and its auto values resolved from
   that dataset (the same for every method: context, return scale, updates, evaluation interval,
   warmup, weight average, target; printed and kept in the summary), `dt` (Decision Transformer,
   conditioned on the auto target), `bc` (behaviour cloning on 100% of the episodes) and `bc10` (%BC:
   the best 10% by return), each keeping the checkpoint with the best validation rollouts (the recipe's
   --eval.select_episodes, their own seed stream keyed by --eval-seed, default 0). Each run also scores
   itself on --eval-seed's evaluation episodes: the tuning figures (`--tuning` shows only these). Seeds
   0 and 1's evaluation episodes have been looked at while choosing settings (README), so the reported
   figures come from scoring each run's chosen checkpoint again on --eval-episodes (50) episodes of
   --report-seed (default REPORT_SEED = 2), whose starts no choice saw; the benchmark checks they share
   no start with the validation rollouts, the looked-at seeds or the data, and marks a row that is not
   held out. DT is also scored at 25%, 50%, 75% and 100% of the way from ref_min_score to
   ref_max_score: the achieved return should rise with the target. Prints dataset, method, return mean
   +- std over episodes, normalised score (100 = expert, 0 = random), training and total wall time;
   keeps the run directories (returns.png, eval_returns.png (the reported episodes) and
   val_returns.png of every DT run) under --out (default runs/dt-bench). Targets: DT normalised score
   >= 90 on every dataset, above 100% BC on each, and within 5 points of 10% BC or above it.
3. Speed (skipped cleanly without `transformers`: `pip install -e ".[bench]"`). In one process, at each
   --threads setting, on CartPole-v1 shapes (4 state values, 2 actions, K = 20, 128 wide, 3 layers, 1 head,
   dropout 0.1, batch 64): training updates/s of tzoo's DT and of DecisionTransformerModel, each
   forward + loss + backward + clip + AdamW step (the same fused AdamW for both) on the same batches,
   timed in alternating blocks after a warm-up; and evaluation env steps/s of tzoo's batched, cached
   rollout (tzoo.control.evaluate.rollout, 25 episodes at once as `dt` evaluates) against the
   Hugging Face example's loop (one episode at a time, `get_action` re-running the last K steps padded
   to K every step). Both evaluate on CartPole with termination switched off, so every episode lasts its
   500 steps for both, whatever the (untrained) weights do. Targets: tzoo >= 1.5x HF updates/s and
   >= 3x HF env steps/s.

The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from trainrun import config_digest, finished_run

ROOT = Path(__file__).resolve().parents[1]
# name -> (gymnasium id, dataset id, behaviour mixture, episodes, collection seed)
DATASETS = {
    "cartpole": ("CartPole-v1", "tzoo/cartpole/mixed-v1", "mixed", 700, 0),
    "lunarlander": ("LunarLanderContinuous-v3", "tzoo/lunarlander/mixed-v1", "mixed", 700, 0),
    "pendulum": ("Pendulum-v1", "tzoo/pendulum/mixed-v1", "mixed", 700, 0),
    "acrobot-mixed": ("Acrobot-v1", "tzoo/acrobot/mixed-v0", "mixed", 210, 0),
    "pendulum-lucky": ("Pendulum-v1", "tzoo/pendulum/lucky-v0", "lucky", 200, 0),
    "mountaincar-sparse": ("MountainCarContinuous-v0", "tzoo/mountaincar/sparse-v0", "sparse", 200, 0),
    "lunarlander-discrete-mixed": ("LunarLander-v3", "tzoo/lunarlander-discrete/mixed-v0", "mixed", 210, 0),
    "pendulum-sparse": ("Pendulum-v1", "tzoo/pendulum/sparse-v0", "sparse", 200, 1),
    "cartpole-lucky": ("CartPole-v1", "tzoo/cartpole/lucky-v0", "lucky", 200, 0),
}
# Fixed before any tuning (docs/dt-generalise.md): the recipe's auto rule (tzoo.recipes.dt.auto_training,
# auto_data) is chosen on TUNING only; REPORTING and MIXED (the three datasets tuned on before) are
# reported once, with the rule as it is.
TUNING = ("acrobot-mixed", "pendulum-lucky", "mountaincar-sparse")
REPORTING = ("lunarlander-discrete-mixed", "pendulum-sparse", "cartpole-lucky")
MIXED = ("cartpole", "lunarlander", "pendulum")
SETS = {"tuning": TUNING, "reporting": REPORTING, "mixed": MIXED}
ENVS = {name: spec[:2] for name, spec in DATASETS.items()}  # name -> (gymnasium id, dataset id)
METHODS = {  # name -> recipe overrides
    "dt": {"task.kind": "dt"},
    "bc": {"task.kind": "bc"},
    "bc10": {"task.kind": "bc", "data.top_pct": "0.1"},
}
LOOKED_AT_SEEDS = (0, 1)  # evaluation seeds whose episodes' scores were looked at while choosing settings
REPORT_SEED = 2  # the reported figures' evaluation seed: its episodes' starts no choice saw
TARGET_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # DT is also conditioned on these fractions of ref_min..ref_max
SCORE_TARGET = 90.0
BC10_MARGIN = 5.0  # DT within this many points of 10% BC (or above it)
SPEEDUP_UPDATES, SPEEDUP_ENV_STEPS = 1.5, 3.0
SPEED_SHAPE = {"data.context": "20", "loop.batch_size": "64", "backbone.dim": "128", "backbone.depth": "3",
               "backbone.heads": "1", "backbone.mlp_ratio": "4.0", "backbone.dropout": "0.1"}  # the DT paper's


# -- data ---------------------------------------------------------------------------------------
def ensure_datasets(envs: list[str], root: Path) -> dict[str, dict]:
    """Collect each missing dataset under `root`; return {env: {"dataset", "ref_min", "ref_max", ...}}."""
    from tzoo.control.collect import collect
    from tzoo.control.episodes import open_dataset

    out = {}
    for name in envs:
        env_id, dataset_id, policy, episodes, seed = DATASETS[name]
        began, made = time.perf_counter(), False
        if not (root / dataset_id / "data").is_dir():
            print(f"[data] collecting {dataset_id}: {env_id}, {policy}, {episodes} episodes, seed {seed}", flush=True)
            collect(env_id, dataset_id, policy=policy, episodes=episodes, seed=seed, progress=False)
            made = True
        meta = open_dataset(dataset_id).storage.metadata
        out[name] = {"dataset": dataset_id, "env": env_id, "policy": policy, "seed": seed,
                     "ref_min": float(meta["ref_min_score"]), "ref_max": float(meta["ref_max_score"]),
                     "episodes": int(meta["total_episodes"]), "steps": int(meta["total_steps"]),
                     "collected_s": round(time.perf_counter() - began, 1) if made else None}
        print(f"[data] {dataset_id}: {out[name]['episodes']} episodes, {out[name]['steps']} steps, ref scores "
              f"{out[name]['ref_min']:.1f} (random) .. {out[name]['ref_max']:.1f} (expert)", flush=True)
    return out


# -- quality ------------------------------------------------------------------------------------
def targets_for(method: str, data: dict, auto_target: float) -> list[float]:
    """The recipe's auto target first (the scored one); DT also 25/50/75/100% of the reference range."""
    lo, hi = data["ref_min"], data["ref_max"]
    extra = [round(lo + f * (hi - lo), 2) for f in TARGET_FRACTIONS] if method == "dt" else []
    return [auto_target, *extra]


def run_config(env: str, method: str, data: dict, args: argparse.Namespace, overrides: dict[str, str]):
    """(config, auto values): the recipe's preset on the dataset with every auto value resolved from the
    data (the same for every method: they come from the whole dataset), the evaluation settings and
    the overrides."""
    from tzoo.config import apply_overrides
    from tzoo.recipes.dt import DT, resolved_config

    chosen = {"data.dataset": data["dataset"], **METHODS[method],
              "eval.episodes": str(args.eval_episodes), "eval.seed": str(args.eval_seed)}
    if args.steps:
        chosen["loop.max_steps"] = str(args.steps)
    cfg, auto = resolved_config(apply_overrides(DT.presets[args.preset](), {**overrides, **chosen}))
    if "eval.targets" in auto:
        targets = targets_for(method, data, auto["eval.targets"][0])
        cfg = apply_overrides(cfg, {"eval.targets": ",".join(str(t) for t in targets)})
    return cfg, auto


def train_one(env: str, method: str, data: dict, args: argparse.Namespace, overrides: dict[str, str]) -> dict:
    """Train and score one method on one dataset; a finished run of the same config under --out is reused."""
    from tzoo.recipes.dt import DT
    from tzoo.recipes.rundir import RunDir
    from tzoo.recipes.train import Trainer

    cfg, auto = run_config(env, method, data, args, overrides)
    run = RunDir(args.out / f"{env}-{method}-{config_digest(cfg)[1]}")
    metrics = finished_run(run.path, cfg)
    if metrics is not None:
        print(f"[{env} {method}] reusing the finished run {run.path}", flush=True)
        return {**metrics, "run": str(run.path), "reused": True, "auto": auto}
    if run.path.exists():
        print(f"[{env} {method}] removing the unfinished run {run.path}", flush=True)
        shutil.rmtree(run.path)
    print(f"[{env} {method}] training {cfg.loop.max_steps} steps into {run.path}; auto: {auto}", flush=True)
    began = time.perf_counter()
    try:
        metrics = Trainer(DT, cfg, run).fit()
    finally:
        from accelerate.state import AcceleratorState, GradientState
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    total = time.perf_counter() - began
    return {**metrics, "run": str(run.path), "reused": False, "total_s": round(total, 1), "auto": auto}


def figures(metrics: dict, data: dict) -> dict:
    """The scored row (first target) and, for DT, the achieved return per target fraction."""
    rows = metrics["targets"]
    lo, hi = data["ref_min"], data["ref_max"]
    out = {"return_mean": rows[0]["return_mean"], "return_std": rows[0]["return_std"],
           "normalized_score": rows[0].get("normalized_score"), "normalized_std": rows[0].get("normalized_std"),
           "episodes": rows[0]["episodes"], "wall_s": metrics.get("wall_s"), "total_s": metrics.get("total_s"),
           "train_updates_per_s": None, "chosen_step": metrics.get("chosen_step"), "step": metrics.get("step"),
           "eval_env_steps_per_s": rows[0]["env_steps_per_s"], "run": metrics.get("run"), "reused": metrics.get("reused"),
           "target": rows[0]["target"], "auto": {k: list(v) if isinstance(v, tuple) else v
                                                 for k, v in (metrics.get("auto") or {}).items()}}
    if len(rows) > 1:
        by_target = sorted(rows[1:], key=lambda r: r["target"])
        out["by_target"] = [{"fraction": round((r["target"] - lo) / (hi - lo), 3), "target": r["target"],
                             "return_mean": r["return_mean"], "return_std": r["return_std"],
                             "normalized_score": r.get("normalized_score")} for r in by_target]
        means = [r["return_mean"] for r in by_target]
        out["rises_with_target"] = all(b >= a for a, b in zip(means, means[1:]))
    return out


def shared_starts(report_seed: int, episodes: int, eval_seed: int, select_episodes: int, data: dict) -> list[str]:
    """What the reported episodes (`episodes` of `report_seed`) share environment starts with: the
    validation rollouts that choose checkpoints, the runs' own scoring, the evaluation seeds looked at
    while choosing settings, the collected data. Empty = held out from every choice."""
    from tzoo.control.evaluate import eval_seed as start
    from tzoo.control.rollout import episode_seed
    from tzoo.modalities.streams import Stream

    reported = {start(report_seed, i) for i in range(episodes)}
    seen = {"the validation rollouts": {start(eval_seed, i, Stream.SELECT_ROLLOUT) for i in range(select_episodes)},
            f"the runs' own scoring (eval seed {eval_seed})": {start(eval_seed, i) for i in range(episodes)},
            **{f"evaluation seed {s}, looked at while choosing settings":
               {start(s, i) for i in range(max(episodes, 50))} for s in LOOKED_AT_SEEDS},
            "the collected data": {episode_seed(data["seed"], i) for i in range(data["episodes"])}}
    return [name for name, seeds in seen.items() if not reported.isdisjoint(seeds)]


def report_scores(run: str, targets: tuple[float, ...], args: argparse.Namespace) -> dict:
    """The run's chosen checkpoint scored online on --report-seed's episodes (eval_returns.png in the run)."""
    import tzoo

    began = time.perf_counter()
    scores = tzoo.load(run).evaluate({"eval.seed": str(args.report_seed), "eval.episodes": str(args.eval_episodes),
                                      "eval.targets": ",".join(str(t) for t in targets)})
    return {**scores, "report_s": round(time.perf_counter() - began, 1)}


def quality(envs: list[str], methods: list[str], datasets: dict, args: argparse.Namespace,
            overrides: dict[str, str]) -> dict:
    results: dict[str, dict[str, dict]] = {}
    for env in envs:
        for method in methods:
            metrics = train_one(env, method, datasets[env], args, overrides)
            cfg = run_config(env, method, datasets[env], args, overrides)[0]
            own = figures(metrics, datasets[env])  # the run's own scoring: eval seed's episodes
            print(f"[{env} {method}] tuning figure (eval seed {args.eval_seed}): normalised "
                  f"{own['normalized_score']:.1f}", flush=True)
            if args.tuning:
                tuning = f"the tuning figures (--tuning: the runs' own scoring, eval seed {args.eval_seed})"
                fig = {**own, "seed": args.eval_seed, "held_out": False, "shared_starts": [tuning]}
            else:
                report = report_scores(metrics["run"], cfg.eval.targets, args)
                fig = figures({**metrics, "targets": report["targets"]}, datasets[env])
                shared = shared_starts(args.report_seed, args.eval_episodes, cfg.eval.seed, cfg.eval.select_episodes,
                                       datasets[env])
                fig.update(seed=args.report_seed, held_out=not shared, shared_starts=shared,
                           report_s=report["report_s"], tuning_normalized_score=own["normalized_score"])
            updates = metrics.get("train_steps_per_s")  # env steps (window steps) per second in the Trainer
            if updates:
                fig["train_updates_per_s"] = round(updates / (cfg.loop.batch_size * cfg.data.context), 3)
            results.setdefault(env, {})[method] = fig
            score = fig["normalized_score"]
            print(f"[{env} {method}] seed {fig['seed']}: return {fig['return_mean']:.1f} +- {fig['return_std']:.1f}, "
                  f"normalised {score:.1f}{'' if fig['held_out'] else ' (NOT held out)'}, train {fig['wall_s']} s, "
                  f"total {fig['total_s']} s", flush=True)
            if args.docs and method == "dt":
                names = (("returns" if args.tuning else "eval_returns", "returns"), ("val_returns", "val-returns"))
                for name, doc in names:
                    src = Path(fig["run"]) / f"{name}.png"
                    if src.is_file():
                        dst = ROOT / "docs" / f"dt-{env}-{doc}.png"
                        shutil.copyfile(src, dst)
                        print(f"[{env} dt] copied {src} to {dst}", flush=True)
    return results


def print_quality(results: dict, datasets: dict) -> dict:
    """The tables, and the checks against the targets."""
    seeds = sorted({f["seed"] for per in results.values() for f in per.values()})
    print(f"\nevaluation seed {', '.join(map(str, seeds))}; * = not held out (its episodes, or the settings' choice, "
          "saw these starts: below)")
    print(f"{'env':<26} {'method':<7} {'return mean +- std':>22} {'normalised':>11} {'train s':>8} {'total s':>8} "
          f"{'upd/s':>6}  run")
    for env, per in results.items():
        for method, f in per.items():
            total = "-" if f["total_s"] is None else f"{f['total_s']:.0f}"
            ups = "-" if f["train_updates_per_s"] is None else f"{f['train_updates_per_s']:.2f}"
            mark = " " if f["held_out"] else "*"
            print(f"{env:<26} {method:<7} {f['return_mean']:>12.1f} +- {f['return_std']:>6.1f} "
                  f"{f['normalized_score']:>10.1f}{mark} {f['wall_s']:>8.0f} {total:>8} {ups:>6}  {f['run']}")
    for env, per in results.items():
        for method, f in per.items():
            if f.get("shared_starts"):
                print(f"  * {env} {method}: shares starts with {'; '.join(f['shared_starts'])}")
    dts = [(env, per["dt"]) for env, per in results.items() if "dt" in per]
    if dts:
        print(f"\nDT conditioned on other targets (fraction of ref_min..ref_max; same {dts[0][1]['episodes']} "
              "episodes):")
        print(f"{'env':<26} {'fraction':>8} {'target':>9} {'achieved +- std':>20} {'normalised':>11}")
        for env, f in dts:
            for r in f.get("by_target", []):
                print(f"{env:<26} {r['fraction']:>8.2f} {r['target']:>9.1f} {r['return_mean']:>10.1f} +- "
                      f"{r['return_std']:>6.1f} {r['normalized_score']:>11.1f}")
            print(f"{env:<26} achieved return rises with the target: {f.get('rises_with_target')}")
    checks = {}
    for env, per in results.items():
        if "dt" not in per:
            continue
        dt = per["dt"]["normalized_score"]
        checks[env] = {"dt_score": dt, "held_out": per["dt"]["held_out"], "dt_at_least_90": dt >= SCORE_TARGET}
        if "bc" in per:
            checks[env]["dt_above_bc"] = dt > per["bc"]["normalized_score"]
        if "bc10" in per:
            checks[env]["dt_within_5_of_bc10"] = dt >= per["bc10"]["normalized_score"] - BC10_MARGIN
        checks[env]["rises_with_target"] = per["dt"].get("rises_with_target")
    if checks:
        print("\nchecks (DT normalised >= 90, DT > 100% BC, DT >= 10% BC - 5, achieved return rises with the target):")
        for env, c in checks.items():
            print(f"  {env:<26} " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in c.items()))
    return checks


# -- speed --------------------------------------------------------------------------------------
class NoTermination:
    """A gymnasium wrapper that never reports `terminated`: every episode runs to the time limit."""

    @staticmethod
    def make(env_id: str) -> Callable[[], Any]:
        import gymnasium as gym

        class _Wrapper(gym.Wrapper):
            def step(self, action):
                obs, reward, terminated, truncated, info = self.env.step(action)
                return obs, reward, False, truncated, info

        def make_env():
            from tzoo.control.envs import make_env as tzoo_make
            return _Wrapper(tzoo_make(env_id))
        return make_env


def hf_model(stats: dict, discrete: bool, context: int):
    from transformers import DecisionTransformerConfig, DecisionTransformerModel

    act_dim = stats["action"]["n"] if discrete else stats["action"]["dim"]
    config = DecisionTransformerConfig(
        state_dim=len(stats["state_mean"]), act_dim=act_dim, hidden_size=128, n_layer=3, n_head=1, n_inner=512,
        max_ep_len=int(stats["max_timestep"]), resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
        action_tanh=not discrete, n_positions=1024)
    torch.manual_seed(0)
    return DecisionTransformerModel(config)


def hf_batch(batch: dict, discrete: bool, act_dim: int) -> dict:
    """tzoo's window batch as DecisionTransformerModel arguments (actions one-hot when discrete)."""
    t = batch["trajectory"]
    actions = torch.nn.functional.one_hot(t["actions"], act_dim).float() if discrete else t["actions"]
    return {"states": t["states"], "actions": actions, "returns_to_go": t["returns"].unsqueeze(-1),
            "timesteps": t["timesteps"], "attention_mask": t["mask"].long(), "targets": t["actions"],
            "mask": t["mask"]}


def hf_loss(model, b: dict, discrete: bool) -> torch.Tensor:
    _, action_preds, _ = model(states=b["states"], actions=b["actions"], rewards=None, returns_to_go=b["returns_to_go"],
                               timesteps=b["timesteps"], attention_mask=b["attention_mask"], return_dict=False)
    m = b["mask"]
    if discrete:
        return torch.nn.functional.cross_entropy(action_preds[m], b["targets"][m])
    return ((action_preds[m] - b["targets"][m]) ** 2).mean()


def hf_get_action(model, states, actions, rewards, returns_to_go, timesteps, k: int):
    """The Hugging Face Decision Transformer example's `get_action`: the last K steps, left-padded to K
    (the example reads K from `model.config.max_length`, which transformers 5 no longer keeps)."""
    states = states.reshape(1, -1, model.config.state_dim)
    actions = actions.reshape(1, -1, model.config.act_dim)
    returns_to_go = returns_to_go.reshape(1, -1, 1)
    timesteps = timesteps.reshape(1, -1)
    states, actions, returns_to_go, timesteps = states[:, -k:], actions[:, -k:], returns_to_go[:, -k:], timesteps[:, -k:]
    pad = k - states.shape[1]
    attention_mask = torch.cat([torch.zeros(pad), torch.ones(states.shape[1])]).to(dtype=torch.long).reshape(1, -1)
    states = torch.cat([torch.zeros((1, pad, model.config.state_dim)), states], dim=1).float()
    actions = torch.cat([torch.zeros((1, pad, model.config.act_dim)), actions], dim=1).float()
    returns_to_go = torch.cat([torch.zeros((1, pad, 1)), returns_to_go], dim=1).float()
    timesteps = torch.cat([torch.zeros((1, pad), dtype=torch.long), timesteps], dim=1)
    _, action_preds, _ = model(states=states, actions=actions, rewards=rewards, returns_to_go=returns_to_go,
                               timesteps=timesteps, attention_mask=attention_mask, return_dict=False)
    return action_preds[0, -1]


@torch.no_grad()
def hf_episode(model, make_env: Callable, seed: int, target: float, scale: float, mean, std, discrete: bool,
               k: int, limit: Optional[int] = None) -> int:
    """One episode of the Hugging Face example's evaluation loop (cut at `limit` steps); returns its length."""
    env = make_env()
    state_dim, act_dim = model.config.state_dim, model.config.act_dim
    mean, std = torch.as_tensor(mean).float(), torch.as_tensor(std).float()
    state, _ = env.reset(seed=seed)
    states = torch.from_numpy(np.asarray(state, np.float32)).reshape(1, state_dim)
    actions = torch.zeros((0, act_dim))
    rewards = torch.zeros(0)
    target_return = torch.tensor(target / scale).reshape(1, 1).float()
    timesteps = torch.tensor(0, dtype=torch.long).reshape(1, 1)
    t = 0
    for t in range(limit or int(env.spec.max_episode_steps)):
        actions = torch.cat([actions, torch.zeros((1, act_dim))], dim=0)
        rewards = torch.cat([rewards, torch.zeros(1)])
        action = hf_get_action(model, (states - mean) / std, actions, rewards, target_return, timesteps, k)
        if discrete:
            a = int(action.argmax())
            actions[-1] = torch.nn.functional.one_hot(torch.tensor(a), act_dim).float()
            env_action: Any = a
        else:
            actions[-1] = action
            env_action = action.numpy()
        state, reward, terminated, truncated, _ = env.step(env_action)
        states = torch.cat([states, torch.from_numpy(np.asarray(state, np.float32)).reshape(1, state_dim)], dim=0)
        rewards[-1] = reward
        pred_return = target_return[0, -1] - (reward / scale)
        target_return = torch.cat([target_return, pred_return.reshape(1, 1)], dim=1)
        timesteps = torch.cat([timesteps, torch.ones((1, 1), dtype=torch.long) * (t + 1)], dim=1)
        if terminated or truncated:
            break
    env.close()
    return t + 1


def speed(threads: int, dataset_id: str, args: argparse.Namespace) -> dict:
    """Training updates/s and evaluation env steps/s, tzoo against Hugging Face, at `threads` torch threads,
    on the CartPole dataset `dataset_id`."""
    from tzoo.control.episodes import load_episodes, open_dataset, recover_env
    from tzoo.control.evaluate import eval_seed, rollout
    from tzoo.control.windows import TrajectoryBatches
    from tzoo.recipes.dt import DT, dataset_stats, make_model
    from tzoo.recipes.optim import make_optimizer

    from tzoo.config import apply_overrides

    torch.set_num_threads(threads)
    cfg = apply_overrides(DT.presets[args.preset](), SPEED_SHAPE)  # the shape of the comparison, whatever the preset
    dataset = open_dataset(dataset_id)
    episodes = load_episodes(dataset)
    env = recover_env(dataset, eval_env=True)
    stats = dataset_stats(cfg.data, episodes, env)
    env.close()
    discrete, k = episodes.action_space.discrete, cfg.data.context
    act_dim = episodes.action_space.n if discrete else episodes.action_space.dim
    source = TrajectoryBatches(episodes, k, cfg.loop.batch_size, 0, stats["state_mean"], stats["state_std"],
                               stats["return_scale"])
    batches = [source.batch(i) for i in range(20)]
    hf_batches = [hf_batch(b, discrete, act_dim) for b in batches]

    torch.manual_seed(0)
    ours = make_model(cfg, stats).train()
    theirs = hf_model(stats, discrete, k).train()
    opt_ours, opt_theirs = make_optimizer(ours, cfg.optim), make_optimizer(theirs, cfg.optim)
    clip = cfg.optim.grad_clip

    precision = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    def step_ours(i: int) -> None:
        with precision:
            loss = ours(batches[i % len(batches)], task="control").loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ours.parameters(), clip)
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def step_theirs(i: int) -> None:
        with precision:
            loss = hf_loss(theirs, hf_batches[i % len(hf_batches)], discrete)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), clip)
        opt_theirs.step()
        opt_theirs.zero_grad(set_to_none=True)

    block, times = 10, {"tzoo": 0.0, "hf": 0.0}
    for i in range(args.warmup):
        step_ours(i)
        step_theirs(i)
    for r in range(args.timed_steps // block):  # alternating blocks: the machine's load hits both alike
        for name, fn in (("tzoo", step_ours), ("hf", step_theirs)) if r % 2 == 0 else (("hf", step_theirs), ("tzoo", step_ours)):
            began = time.perf_counter()
            for i in range(block):
                fn(r * block + i)
            times[name] += time.perf_counter() - began
    timed = (args.timed_steps // block) * block
    train = {"steps": timed, "precision": "bf16 autocast" if args.bf16 else "fp32", "tzoo_updates_per_s": timed / times["tzoo"], "hf_updates_per_s": timed / times["hf"]}
    train["ratio"] = train["tzoo_updates_per_s"] / train["hf_updates_per_s"]
    print(f"[speed {threads} thread(s)] training: tzoo {train['tzoo_updates_per_s']:.2f} vs HF "
          f"{train['hf_updates_per_s']:.2f} updates/s ({train['ratio']:.2f}x)", flush=True)

    ours.eval()
    theirs.eval()
    make_env = NoTermination.make(ENVS["cartpole"][0])
    target, scale = float(stats["ref_max_score"]), float(stats["return_scale"])
    head = ours.head("control")
    tok = ours.tokenizers[head.inputs[0]]

    def ours_rate(episodes_: int, num_envs: int, use_cache: bool = True) -> float:
        r = rollout(tok, ours.backbone, head, make_env, episodes_, target, scale, stats["state_mean"],
                    stats["state_std"], k, 0, num_envs, use_cache)
        return r["env_steps_per_s"]

    def theirs_rate(episodes_: int) -> float:
        began, steps = time.perf_counter(), 0
        for i in range(episodes_):
            steps += hf_episode(theirs, make_env, eval_seed(0, i), target, scale, stats["state_mean"],
                                stats["state_std"], discrete, k)
        return steps / (time.perf_counter() - began)

    ours_rate(2, 2)  # warm-up
    hf_episode(theirs, make_env, 0, target, scale, stats["state_mean"], stats["state_std"], discrete, k, limit=40)
    batched = ours_rate(args.eval_episodes, 25)
    one = ours_rate(args.hf_episodes, 1)
    recompute = ours_rate(args.hf_episodes, 1, use_cache=False)
    hf = theirs_rate(args.hf_episodes)
    evaluation = {"tzoo_batched_env_steps_per_s": batched, "tzoo_batched_episodes": args.eval_episodes,
                  "tzoo_batched_num_envs": 25, "tzoo_one_env_cached_env_steps_per_s": one,
                  "tzoo_one_env_recompute_env_steps_per_s": recompute,
                  "hf_env_steps_per_s": hf, "hf_episodes": args.hf_episodes, "ratio": batched / hf,
                  "episode_steps": 500, "env": "CartPole-v1 without termination (500 steps an episode)"}
    print(f"[speed {threads} thread(s)] evaluation env steps/s: tzoo batched (25 envs, KV cache) {batched:.0f}, "
          f"tzoo one env cached {one:.0f}, tzoo one env recompute {recompute:.0f}, HF loop {hf:.0f} "
          f"({evaluation['ratio']:.1f}x)", flush=True)
    return {"threads": threads, "train": train, "eval": evaluation}


def print_speed(rows: list[dict]) -> dict:
    print(f"\n{'threads':>7} {'tzoo upd/s':>10} {'HF upd/s':>9} {'ratio':>6}   {'tzoo env st/s':>13} "
          f"{'(1 env cached)':>14} {'(1 env recompute)':>17} {'HF env st/s':>11} {'ratio':>6}")
    for r in rows:
        t, e = r["train"], r["eval"]
        print(f"{r['threads']:>7} {t['tzoo_updates_per_s']:>10.2f} {t['hf_updates_per_s']:>9.2f} {t['ratio']:>6.2f}   "
              f"{e['tzoo_batched_env_steps_per_s']:>13.0f} {e['tzoo_one_env_cached_env_steps_per_s']:>14.0f} "
              f"{e['tzoo_one_env_recompute_env_steps_per_s']:>17.0f} {e['hf_env_steps_per_s']:>11.0f} {e['ratio']:>6.1f}")
    return {str(r["threads"]): {"updates_ratio_at_least_1.5": r["train"]["ratio"] >= SPEEDUP_UPDATES,
                                "env_steps_ratio_at_least_3": r["eval"]["ratio"] >= SPEEDUP_ENV_STEPS} for r in rows}


# -- main ---------------------------------------------------------------------------------------
def parse_list(p: argparse.ArgumentParser, text: str, known, what: str) -> list[str]:
    items = [s for s in text.split(",") if s]
    unknown = [s for s in items if s not in known]
    if unknown or not items:
        p.error(f"--{what}: unknown {unknown[0] if unknown else 'empty list'!r}; choose from {', '.join(known)}")
    return items


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", default="reporting,mixed", help="comma list of dataset sets: tuning, reporting, mixed "
                   "(default reporting,mixed)")
    p.add_argument("--envs", help="comma list of datasets instead of --set: " + ", ".join(DATASETS))
    p.add_argument("--methods", default=",".join(METHODS), help="comma list of dt, bc, bc10")
    p.add_argument("--steps", type=int, metavar="N", help="loop.max_steps of every run (default: auto, from each "
                   "dataset's size; the same for every method)")
    p.add_argument("--speed-only", action="store_true", help="only the speed comparison with Hugging Face")
    p.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "dt-bench", help="run directories (kept; reused "
                   "when a finished run has the same config)")
    p.add_argument("--data", type=Path, help="Minari datasets root (default $MINARI_DATASETS_PATH, else runs/minari)")
    p.add_argument("--preset", default="cpu", help="the dt recipe's preset")
    p.add_argument("--eval-seed", type=int, default=0, help="seed of the runs' validation rollouts and of their own "
                   "scoring (the tuning figures; default 0)")
    p.add_argument("--report-seed", type=int, default=REPORT_SEED, help="evaluation seed of the reported figures: "
                   f"episodes no choice saw (default {REPORT_SEED}; seeds {', '.join(map(str, LOOKED_AT_SEEDS))} "
                   "have been looked at)")
    p.add_argument("--tuning", action="store_true", help="report the runs' own scores on --eval-seed (for choosing "
                   "settings) and leave the report seed's episodes unseen")
    p.add_argument("--eval-episodes", type=int, default=50, help="evaluation episodes per target")
    p.add_argument("--threads", default="1", help="torch threads: the runs use the first; speed is measured at each "
                   "(comma list, default 1)")
    p.add_argument("--timed-steps", type=int, default=50, help="timed training steps per side (speed)")
    p.add_argument("--warmup", type=int, default=10, help="untimed training steps per side first (speed)")
    p.add_argument("--bf16", action="store_true", help="time training under bf16 autocast, both sides (speed)")
    p.add_argument("--hf-episodes", type=int, default=3, help="episodes of the one-at-a-time loops (speed)")
    p.add_argument("--docs", action="store_true",
                   help="copy each DT run's returns.png and val_returns.png to docs/dt-<env>-*.png")
    args, rest = p.parse_known_args()
    from tzoo.config import parse_override_args
    from tzoo.errors import TzooError

    try:
        overrides = parse_override_args([a for a in rest if a != "--"])
    except TzooError as e:
        p.error(str(e))
    if args.envs:
        envs = parse_list(p, args.envs, DATASETS, "envs")
    else:
        envs = [e for name in parse_list(p, args.set, SETS, "set") for e in SETS[name]]
    methods = parse_list(p, args.methods, METHODS, "methods")
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads: expected a comma list of integers, got {args.threads!r}")
    root = args.data or Path(os.environ.get("MINARI_DATASETS_PATH") or ROOT / "runs" / "minari")
    root.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str(root.resolve())
    args.out = args.out.resolve()
    torch.set_num_threads(threads[0])
    print(f"[setup] torch {torch.__version__}, {threads[0]} thread(s) for the runs, datasets under {root}, runs "
          f"under {args.out}, eval seed {args.eval_seed}, "
          f"{'tuning: no report seed' if args.tuning else f'report seed {args.report_seed}'}, overrides "
          f"{overrides or 'none'}", flush=True)
    began = time.perf_counter()
    summary: dict[str, Any] = {"benchmark": "dt", "preset": args.preset, "overrides": overrides,
                               "sets": {k: list(v) for k, v in SETS.items()}, "envs": envs,
                               "steps": args.steps, "eval_seed": args.eval_seed, "eval_episodes": args.eval_episodes,
                               "report_seed": None if args.tuning else args.report_seed,
                               "threads": threads}
    try:
        datasets = ensure_datasets(envs if not args.speed_only else ["cartpole"], root)
        summary["datasets"] = datasets
        if not args.speed_only:
            results = quality(envs, methods, datasets, args, overrides)
            summary["results"] = results
            summary["checks"] = print_quality(results, datasets)
        if not args.no_speed:
            try:
                import transformers
            except ImportError:
                print("[speed] skipped: transformers is not installed (pip install -e '.[bench]')", flush=True)
                summary["speed"] = None
            else:
                if "cartpole" not in datasets:
                    datasets.update(ensure_datasets(["cartpole"], root))
                print(f"[speed] transformers {transformers.__version__}", flush=True)
                rows = [speed(t, datasets["cartpole"]["dataset"], args) for t in threads]
                summary["speed"] = rows
                summary["speed_checks"] = print_speed(rows)
                torch.set_num_threads(threads[0])
    except TzooError as e:
        p.exit(e.exit_code, f"dt benchmark: {e}\n")
    summary["wall_s"] = round(time.perf_counter() - began, 1)
    print(f"\nwall {summary['wall_s']:.0f} s")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
