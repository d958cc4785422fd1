"""Checkpoints in state/: weights and optimizer in safetensors, the rest in JSON, written atomically.

Layout: state/step-NNNNNNN/{model,optimizer}.safetensors + optimizer.json + trainer.json (and
ema.safetensors, the averaged weights, when the run keeps an average), and state/latest.json
naming the last and the best checkpoint. A checkpoint folder is filled under a
temporary name and renamed into place; latest.json is replaced atomically afterwards. A process
killed at any point therefore leaves the previous checkpoint as the one latest.json names.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..errors import TzooError
from ..storage import load_tensors, read_json, save_tensors, write_json
from ..tasks import shared_free_state
from .rundir import STATE, WEIGHTS, RunDir

POINTER = "latest.json"
CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "optimizer.json")
EMA_FILE = "ema.safetensors"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_weights(model: nn.Module, path: Path, expected_sha: Optional[set[str]] = None) -> None:
    """Load safetensors weights into `model`, checking integrity (one of `expected_sha`), names and shapes."""
    if expected_sha is not None and path.is_file() and sha256(path) not in expected_sha:
        raise TzooError(f"{path}: checksum differs from the one recorded at save time; "
                        "the file was modified or damaged; restore it or retrain")
    tensors = upgrade_names(load_tensors(path), model)
    expected = shared_free_state(model)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [k for k in expected if k in tensors and tuple(tensors[k].shape) != tuple(expected[k].shape)]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if extra:
            parts.append(f"unexpected {extra[:3]}")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} has shape {tuple(tensors[k].shape)} but the config gives {tuple(expected[k].shape)}")
        raise TzooError(f"{path}: weights do not match the run's config.json ({'; '.join(parts)}); "
                        "use the config the weights were trained with")
    bad_dtype = [k for k in expected if tensors[k].dtype != expected[k].dtype]
    if bad_dtype:
        raise TzooError(f"{path}: tensor {bad_dtype[0]} has dtype {tensors[bad_dtype[0]].dtype}, "
                        f"expected {expected[bad_dtype[0]].dtype}; the file was not written by this run")
    model.load_state_dict(tensors, strict=False)


def upgrade_names(tensors: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Weights saved before models carried named tasks (`task.*`) renamed to the model's only task."""
    names = list(getattr(model, "tasks", {}))
    if len(names) != 1 or not any(k.startswith("task.") for k in tensors):
        return tensors
    return {(f"tasks.{names[0]}." + k[5:] if k.startswith("task.") else k): v for k, v in tensors.items()}


def _optimizer_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer(optimizer: torch.optim.Optimizer, folder: Path) -> None:
    tensors = load_tensors(folder / "optimizer.safetensors")
    meta = read_json(folder / "optimizer.json", "optimizer state")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        pid, _, name = key.partition(".")
        if not pid.isdigit() or int(pid) >= len(params):
            raise TzooError(f"{folder}: optimizer state names parameter {pid}, which the model does not have")
        p = params[int(pid)]
        if torch.is_tensor(value) and value.dim() > 0 and tuple(value.shape) != tuple(p.shape):
            raise TzooError(f"{folder}: optimizer state {key} has shape {tuple(value.shape)}, "
                            f"parameter has {tuple(p.shape)}; the checkpoint belongs to another config")
        state.setdefault(int(pid), {})[name] = value
    groups = meta.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(optimizer.param_groups):
        raise TzooError(f"{folder}/optimizer.json: param_groups do not match the optimizer")
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as e:
        raise TzooError(f"{folder}: optimizer state does not fit this model ({e})") from None


def save_checkpoint(run: RunDir, model: nn.Module, optimizer: torch.optim.Optimizer,
                    trainer: dict, best: bool, ema: Optional[nn.Module] = None) -> str:
    """Write a checkpoint folder atomically, point latest.json at it, prune older ones; returns its name.

    `ema`: the averaged weights, saved beside the trained ones; they are what the run publishes.

    A checkpoint never replaces a folder in place: saving step N again (after a resume) writes
    `step-N.1`, and the old folder goes only after latest.json has moved on.
    """
    state = run / STATE
    state.mkdir(parents=True, exist_ok=True)
    name = _free_name(state, f"step-{trainer['step']:07d}")
    tmp = state / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_tensors(tmp / "model.safetensors", shared_free_state(model))
    tensors, meta = _optimizer_files(optimizer)
    save_tensors(tmp / "optimizer.safetensors", tensors)
    write_json(tmp / "optimizer.json", meta)
    if ema is not None:
        save_tensors(tmp / EMA_FILE, shared_free_state(ema))
    files = {f: sha256(tmp / f) for f in CHECKPOINT_FILES + ((EMA_FILE,) if ema is not None else ())}
    write_json(tmp / "trainer.json", {**trainer, "files": files})
    os.replace(tmp, state / name)
    pointer = _read_pointer(run) or {}
    pointer["last"] = name
    if best or "best" not in pointer:
        pointer["best"] = name
    write_json(state / POINTER, pointer)
    publish_weights(run, model if ema is None else ema)  # the top-level weights follow the last checkpoint
    _prune(state, keep={name, pointer["best"]})
    return name


def _free_name(state: Path, name: str) -> str:
    if not (state / name).exists():
        return name
    i = 1
    while (state / f"{name}.{i}").exists():
        i += 1
    return f"{name}.{i}"


def publish_weights(run: RunDir, model: nn.Module) -> None:
    """Replace model.safetensors with `model`'s weights, crash-safe.

    latest.json records the new checksum (keeping the old one as accepted) *before* the file is
    replaced, so a process killed in between leaves a file whose checksum is still recorded.
    """
    tensors = shared_free_state(model)
    staged = save_tensors(run / f".{WEIGHTS}.staged", tensors)
    pointer = _read_pointer(run) or {}
    old = pointer.get("model_sha256")
    pointer["model_sha256"] = sha256(staged)
    pointer["previous_model_sha256"] = old
    write_json(run / STATE / POINTER, pointer)
    os.replace(staged, run / WEIGHTS)


def _read_pointer(run: RunDir) -> Optional[dict]:
    path = run / STATE / POINTER
    return read_json(path, "checkpoint pointer") if path.is_file() else None


def _prune(state: Path, keep: set[str]) -> None:
    for child in state.iterdir():
        if child.is_dir() and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def model_sha(run: RunDir) -> Optional[set[str]]:
    """The checksums accepted for the run's model.safetensors (None: nothing recorded)."""
    pointer = _read_pointer(run)
    if not isinstance(pointer, dict) or not pointer.get("model_sha256"):
        return None
    return {s for s in (pointer["model_sha256"], pointer.get("previous_model_sha256")) if isinstance(s, str)}


def load_checkpoint(run: RunDir, model: Optional[nn.Module], optimizer: Optional[torch.optim.Optimizer],
                    which: str = "last", ema: Optional[nn.Module] = None) -> dict:
    """Restore the `which` ("last" or "best") checkpoint into `model`, `optimizer` and `ema` (the
    averaged weights; each may be None); returns its trainer.json."""
    pointer = _read_pointer(run)
    if not pointer or which not in pointer:
        raise TzooError(f"{run.path}: no checkpoint to resume from (state/{POINTER} missing); "
                        "start a new run instead")
    folder = run / STATE / str(pointer[which])
    trainer = read_json(folder / "trainer.json", "checkpoint trainer state")
    files = trainer.get("files") if isinstance(trainer, dict) else None
    if not isinstance(files, dict) or set(files) - {EMA_FILE} != set(CHECKPOINT_FILES) \
            or not isinstance(trainer.get("step"), int):
        raise TzooError(f"{folder / 'trainer.json'}: expected an object with an integer 'step' and the checksums "
                        f"of {', '.join(CHECKPOINT_FILES)} under 'files'; the checkpoint is damaged")
    for fname, digest in files.items():
        if not (folder / fname).is_file() or sha256(folder / fname) != digest:
            raise TzooError(f"{folder / fname}: missing or modified since it was saved (checksum differs); "
                            "the checkpoint is damaged")
    if ema is not None and EMA_FILE not in files:
        raise TzooError(f"{folder}: the checkpoint has no averaged weights ({EMA_FILE}) but the run averages "
                        "them; resume with the --optim.ema_decay the run was started with")
    if model is not None:
        load_weights(model, folder / "model.safetensors")
    if ema is not None:
        load_weights(ema, folder / EMA_FILE)
    if optimizer is not None:
        _load_optimizer(optimizer, folder)
    return trainer


def never_saved(run: RunDir) -> bool:
    """Whether `run` stopped before its first checkpoint: no checkpoint pointer and no published weights
    (every checkpoint publishes them), so `--resume` starts it again from step 0 with its config."""
    return not (run / STATE / POINTER).is_file() and not (run / WEIGHTS).exists()
