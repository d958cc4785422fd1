"""Experiment trackers (--loop.log_with) through accelerate: TensorBoard, Weights & Biases, Trackio, MLflow.

log.jsonl stays the run's own record; a tracker receives the same numbers at the same steps.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from accelerate import Accelerator
from accelerate.utils import (ProjectConfiguration, is_mlflow_available, is_tensorboard_available,
                              is_trackio_available, is_wandb_available)

from ..config import flat_fields
from ..errors import TzooError
from .rundir import RunDir

PROJECT = "tzoo"
LOGS = "tensorboard"  # TensorBoard's event files go to RUN/tensorboard/tzoo/
# --loop.log_with value -> (pip package, whether it is importable)
PACKAGES = {"tensorboard": ("tensorboard", is_tensorboard_available), "wandb": ("wandb", is_wandb_available),
            "trackio": ("trackio", is_trackio_available), "mlflow": ("mlflow", is_mlflow_available)}
CHOICES = ("none", *PACKAGES, "all")


def accelerator_kwargs(log_with: str, run: RunDir) -> dict[str, Any]:
    """The Accelerator arguments for `log_with`; a one-line error if its package is not installed
    (accelerate would silently drop the tracker)."""
    if log_with == "none":
        return {}
    if log_with == "all":
        if not any(available() for _, available in PACKAGES.values()):
            raise TzooError("--loop.log_with=all: no tracker package is installed; "
                            f"pip install one of {', '.join(p for p, _ in PACKAGES.values())}")
    elif log_with not in PACKAGES:
        raise TzooError(f"--loop.log_with={log_with}: unknown tracker; choose one of {', '.join(CHOICES)}")
    else:
        package, available = PACKAGES[log_with]
        if not available():
            raise TzooError(f"--loop.log_with={log_with} needs the `{package}` package: pip install {package}")
    project = ProjectConfiguration(project_dir=str(run.path), logging_dir=str(run / LOGS))
    return {"log_with": log_with, "project_config": project}


def flat_config(cfg: Any) -> dict[str, Any]:
    """The config as {"loop.batch_size": 32, ...}: numbers, strings and booleans as they are, anything
    else (None, lists) as JSON text, which every tracker accepts as a hyperparameter."""
    return {key: value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
            for key, (_, value) in flat_fields(cfg).items()}


def start(acc: Accelerator, recipe: str, cfg: Any, run: RunDir) -> None:
    """Open the trackers' run (all processes call it; accelerate starts them on the main one)."""
    if acc.log_with:
        config = {"recipe": recipe, **flat_config(cfg)}
        acc.init_trackers(PROJECT, config=config,
                          init_kwargs={"wandb": {"name": run.path.name}, "mlflow": {"run_name": run.path.name}})


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a log.jsonl record, as trackers take them (the step is passed apart)."""
    return {k: v for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def log(acc: Accelerator, record: dict[str, Any]) -> None:
    """Send one log.jsonl record to the trackers (main process; nothing when none are open)."""
    if acc.trackers:
        values: Optional[dict] = scalars(record)
        if values:
            acc.log(values, step=record["step"])


def finish(acc: Accelerator) -> None:
    """Flush and close the trackers. (Not `end_training`, which would also tear down the process group.)"""
    for tracker in acc.trackers:
        tracker.finish()
    acc.trackers = []
