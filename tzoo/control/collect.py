"""`tzoo collect`: roll out behaviour policies into a Minari dataset, atomically.

The dataset is built in a hidden staging folder under the Minari root (`MINARI_DATASETS_PATH`,
else ~/.minari/datasets) and renamed into place at the end, so an interrupted collection
(an exception, Ctrl-C) leaves no partial dataset behind.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from argparse import RawDescriptionHelpFormatter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import minari
from minari.dataset.minari_dataset import DATASET_ID_RE
from minari.namespace import create_namespace, list_local_namespaces
from minari.storage import get_dataset_path

from ..args import ArgumentParser
from ..errors import TzooError
from ..progress import Ticker
from .envs import make_env
from .policies import MIXTURES, describe, episode_policies, make_policy
from .rollout import episode_seed, policy_rng, reference_scores, run_episode

ROOT_VAR = "MINARI_DATASETS_PATH"
QUIET = r"`(code_permalink|author_email)` is set to None"  # metadata we have no value for


def check_dataset_id(dataset_id: str) -> tuple[str, str, int]:
    """(namespace, name, version) of an id of the form `namespace/name-vN`, or a one-line error
    that shows the id corrected (namespace tzoo, version 0 where missing)."""
    match = DATASET_ID_RE.fullmatch(dataset_id)
    if not match or not match.group("namespace") or match.group("version") is None:
        fix = suggest_dataset_id(dataset_id)
        raise TzooError(f"--out {dataset_id!r}: dataset ids look like namespace/name-vN "
                        "(letters, digits, - and _)" + (f"; use --out {fix}" if fix else ", e.g. tzoo/cartpole/mixed-v0"))
    return match.group("namespace"), match.group("dataset"), int(match.group("version"))


def suggest_dataset_id(dataset_id: str) -> str | None:
    """`dataset_id` made valid: other characters become '-', a missing namespace is `tzoo`, a
    missing version `-v0` (`cartpole` -> `tzoo/cartpole-v0`); None if nothing valid is left."""
    clean = re.sub(r"-*[^-\w/]+-*", "-", dataset_id.strip()).strip("-/")
    clean = re.sub(r"/+", "/", clean)
    match = DATASET_ID_RE.fullmatch(clean)
    if not clean or not match:
        return None
    version = int(match.group("version")) if match.group("version") is not None else 0
    return f"{match.group('namespace') or 'tzoo'}/{match.group('dataset')}-v{version}"


@contextmanager
def _minari_root(path: Path) -> Iterator[None]:
    """Point Minari at another datasets root for the duration of the block."""
    old = os.environ.get(ROOT_VAR)
    os.environ[ROOT_VAR] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ROOT_VAR, None)
        else:
            os.environ[ROOT_VAR] = old


def _record(env_id: str, dataset_id: str, names: list[str], seed: int, progress: bool, **meta: Any) -> None:
    """Roll out one episode per policy name into a DataCollector and create the dataset under the
    current Minari root; `meta` goes to `create_dataset`."""
    base = make_env(env_id)
    collector = minari.DataCollector(base)
    try:
        returns = []
        with Ticker(len(names), f"collect {dataset_id}", "episode", enabled=None if progress else False) as ticker:
            for i, name in enumerate(names):
                policy = make_policy(env_id, name, collector, policy_rng(seed, i))
                returns.append(run_episode(collector, policy, episode_seed(seed, i)))
                ticker.update(1, f"mean return {sum(returns) / len(returns):.1f}")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=QUIET)
            dataset = collector.create_dataset(dataset_id, eval_env=base.spec, author="tzoo", **meta)
        dataset.storage.update_metadata({"tzoo": {"env_id": env_id, "seed": seed, "episode_policies": names}})
    finally:
        collector.close()


def _check_target(dataset_id: str, final: Path, overwrite: bool) -> None:
    """Refuse an existing dataset (unless overwriting) and any other folder in the way."""
    if not final.exists():
        return
    if not (final / "data").is_dir():
        raise TzooError(f"{dataset_id}: {final} exists and is not a dataset; use another --out")
    if not overwrite:
        raise TzooError(f"{dataset_id}: dataset already exists at {final}; pass --overwrite or another --out")


def _install(staged: Path, final: Path, namespace: str, overwrite: bool, trash: Path) -> None:
    """Move a staged dataset folder to its final place (replacing the old one when overwriting)."""
    if namespace not in list_local_namespaces():
        create_namespace(namespace)
    if final.exists():
        if not overwrite:
            raise TzooError(f"{final}: dataset appeared while collecting; pass --overwrite or another --out")
        os.rename(final, trash)
    os.rename(staged, final)


def collect(env_id: str, dataset_id: str, policy: str = "mixed", episodes: int = 100, seed: int = 0,
            ref_episodes: int = 50, progress: bool = True, overwrite: bool = False) -> Path:
    """Collect `episodes` episodes of `policy` (a policy or mixture name) in `env_id` as Minari
    dataset `dataset_id` (a progress bar over episodes unless `progress` is False); returns its
    folder. The reference scores average `ref_episodes` episodes each. Same arguments -> same data."""
    namespace = check_dataset_id(dataset_id)[0]
    names = episode_policies(env_id, policy, episodes)
    if ref_episodes < 1:
        raise TzooError(f"ref_episodes: must be at least 1, got {ref_episodes}")
    root = get_dataset_path()
    final = root / dataset_id
    _check_target(dataset_id, final, overwrite)
    ref = reference_scores(env_id, ref_episodes, {episode_seed(seed, i) for i in range(episodes)})
    staging = Path(tempfile.mkdtemp(prefix=".tzoo-collect-", dir=root))
    try:
        with _minari_root(staging):
            _record(env_id, dataset_id, names, seed, progress, ref_min_score=ref[0], ref_max_score=ref[1],
                    num_episodes_average_score=ref_episodes, algorithm_name=f"tzoo scripted policies: {policy}",
                    description=f"{env_id}: {episodes} episodes of tzoo behaviour policy/mixture {policy!r}, "
                                f"seed {seed}; ref scores: mean returns of random and expert over "
                                f"{ref_episodes} episodes on seeds disjoint from the data")
        _install(staging / dataset_id, final, namespace, overwrite, staging / ".replaced")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="tzoo collect", formatter_class=RawDescriptionHelpFormatter,
        description="Roll out scripted behaviour policies into a Minari dataset\n"
                    "(stored under $MINARI_DATASETS_PATH, else ~/.minari/datasets).",
        epilog=describe())
    p.add_argument("env", metavar="ENV", help="environment id, e.g. CartPole-v1")
    p.add_argument("--out", required=True, metavar="DATASET_ID", help="namespace/name-vN, e.g. tzoo/cartpole/mixed-v0")
    p.add_argument("--policy", default="mixed", metavar="NAME",
                   help=f"a policy or a mixture ({', '.join(MIXTURES)}); default mixed")
    p.add_argument("--episodes", type=int, default=100, metavar="N", help="number of episodes (default 100)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="base seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset with this id")
    return p


def cmd_collect(argv: Sequence[str]) -> int:
    """`tzoo collect ENV --out DATASET_ID [--policy NAME] [--episodes N] [--seed S] [--overwrite]`."""
    args = _parser().parse_args(list(argv))
    path = collect(args.env, args.out, policy=args.policy, episodes=args.episodes, seed=args.seed,
                   overwrite=args.overwrite)
    meta = minari.load_dataset(args.out).storage.metadata
    print(f"dataset {args.out}: {path}")
    print(f"ref_min_score {meta['ref_min_score']:.2f} (random), ref_max_score {meta['ref_max_score']:.2f} (expert)")
    return 0
