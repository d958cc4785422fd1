"""Checkpoints and run files survive a process killed at any point (review findings, each with its test)."""
import json
import os

import pytest
import torch

from tzoo.errors import TzooError
from tzoo.recipes import checkpoint as ckpt
from tzoo.recipes.checkpoint import load_checkpoint, load_weights, model_sha, publish_weights, save_checkpoint
from tzoo.recipes.rundir import WEIGHTS, RunDir


def _model(fill: float) -> torch.nn.Module:
    m = torch.nn.Linear(3, 2)
    with torch.no_grad():
        m.weight.fill_(fill)
        m.bias.fill_(fill)
    return m


def _save(run, model, step, best=False):
    opt = torch.optim.AdamW(model.parameters())
    return save_checkpoint(run, model, opt, {"step": step}, best)


def test_killed_between_pointer_and_weights_still_loads(tmp_path, monkeypatch):
    """latest.json records the new checksum before model.safetensors is replaced; the old file stays valid."""
    run = RunDir(tmp_path)
    _save(run, _model(1.0), 1)
    real = os.replace

    def die_on_weights(src, dst):
        if str(dst).endswith(WEIGHTS):
            raise KeyboardInterrupt  # the process dies here
        return real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", die_on_weights)
    with pytest.raises(KeyboardInterrupt):
        publish_weights(run, _model(2.0))
    monkeypatch.setattr(ckpt.os, "replace", real)
    target = _model(0.0)
    load_weights(target, run / WEIGHTS, model_sha(run))  # old weights, checksum still accepted
    assert torch.all(target.weight == 1.0)
    publish_weights(run, _model(3.0))
    load_weights(target, run / WEIGHTS, model_sha(run))
    assert torch.all(target.weight == 3.0)


def test_a_modified_weights_file_is_refused(tmp_path):
    run = RunDir(tmp_path)
    _save(run, _model(1.0), 1)
    _save(run, _model(2.0), 2)
    from safetensors.torch import save_file
    save_file({"weight": torch.full((2, 3), 9.0), "bias": torch.zeros(2)}, str(run / WEIGHTS))
    with pytest.raises(TzooError, match="checksum"):
        load_weights(_model(0.0), run / WEIGHTS, model_sha(run))


def test_saving_a_step_again_never_deletes_the_named_checkpoint_first(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    first = _save(run, _model(1.0), 5)
    real = ckpt.write_json

    def die_on_pointer(path, obj):
        if str(path).endswith(ckpt.POINTER):
            raise KeyboardInterrupt
        return real(path, obj)

    monkeypatch.setattr(ckpt, "write_json", die_on_pointer)
    with pytest.raises(KeyboardInterrupt):
        _save(run, _model(2.0), 5)  # killed after the new folder is in place, before the pointer moves
    monkeypatch.setattr(ckpt, "write_json", real)
    target = _model(0.0)
    assert load_checkpoint(run, target, None)["step"] == 5 and torch.all(target.weight == 1.0)
    second = _save(run, _model(2.0), 5)
    assert second != first and second.startswith(first)
    load_checkpoint(run, target, None)
    assert torch.all(target.weight == 2.0)


def test_the_average_is_saved_published_and_required_on_resume(tmp_path):
    run = RunDir(tmp_path)
    model, average = _model(1.0), _model(2.0)
    save_checkpoint(run, model, torch.optim.AdamW(model.parameters()), {"step": 4}, True, average)
    published = _model(0.0)
    load_weights(published, run / WEIGHTS, model_sha(run))
    assert torch.all(published.weight == 2.0)  # the run's weights are the average
    trained, averaged = _model(0.0), _model(0.0)
    load_checkpoint(run, trained, None, ema=averaged)
    assert torch.all(trained.weight == 1.0) and torch.all(averaged.weight == 2.0)
    _save(run, _model(3.0), 5)  # a checkpoint of a run without an average
    with pytest.raises(TzooError, match="no averaged weights.*--optim.ema_decay"):
        load_checkpoint(run, _model(0.0), None, ema=_model(0.0))


@pytest.mark.parametrize("content", [[1, 2], {"step": 3}, {"step": 3, "files": "x"}, {"files": {}}])
def test_damaged_trainer_json_is_one_line(tmp_path, content):
    run = RunDir(tmp_path)
    name = _save(run, _model(1.0), 3)
    (run / "state" / name / "trainer.json").write_text(json.dumps(content))
    with pytest.raises(TzooError, match="trainer.json.*damaged"):
        load_checkpoint(run, _model(0.0), None)


def test_old_weight_names_of_single_task_models_load(tmp_path):
    from tzoo.recipes.lm import LMConfig, make_model
    from tzoo.backbone import BackboneConfig
    from tzoo.storage import save_tensors
    from tzoo.tasks import shared_free_state

    cfg = LMConfig(backbone=BackboneConfig(dim=16, depth=1, heads=2), tie_embeddings=False)
    model = make_model(cfg, 11)
    old = {k.replace("tasks.lm.", "task."): v for k, v in shared_free_state(model).items()}
    assert any(k.startswith("task.") for k in old)
    save_tensors(tmp_path / WEIGHTS, old)
    fresh = make_model(cfg, 11)
    load_weights(fresh, tmp_path / WEIGHTS)
    assert torch.equal(fresh.head().head.weight, model.head().head.weight)


def test_log_lines_are_written_atomically(tmp_path, monkeypatch):
    from tzoo.recipes import rundir

    run = RunDir(tmp_path)
    run.append_log({"step": 1})
    monkeypatch.setattr(rundir, "write_text", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run.append_log({"step": 2})
    assert run.read_log() == [{"step": 1}]
