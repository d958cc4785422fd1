"""The weights a run keeps: the last ones are compared with the best periodic evaluation as that one
was scored (a sample of the validation split), then the chosen ones are scored on the whole split."""
import json

import pytest
import torch

from tests.conftest import TINY, run_cli
from tzoo.recipes import train as train_mod
from tzoo.recipes.rundir import RunDir
from tzoo.storage import load_tensors


def scripted(monkeypatch, sampled: dict[int, float], whole: float) -> list[tuple[int, bool, torch.Tensor]]:
    """Make the validation loss at step s `sampled[s]` on a sample of the split and `whole` on all of it;
    returns the evaluations made: (step, whole split?, a weight of the model scored)."""
    real = train_mod.Trainer.evaluate
    calls = []

    def evaluate(self, final):
        metrics = real(self, final)
        calls.append((self.state.step, final, self.scored.state_dict()["backbone.blocks.0.attn.qkv.weight"].clone()))
        metrics["val_loss"] = whole if final else sampled[self.state.step]
        return metrics

    monkeypatch.setattr(train_mod.Trainer, "evaluate", evaluate)
    return calls


def train(capsys, run, corpus) -> dict:
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=4", "--loop.eval_every=2")
    assert code == 0, err
    return json.loads((run / "metrics.json").read_text())


def test_the_last_weights_win_on_the_sample_even_if_the_whole_split_scores_worse(tmp_path, capsys, corpus,
                                                                                 monkeypatch):
    calls = scripted(monkeypatch, {2: 1.0, 4: 0.5}, whole=2.0)
    metrics = train(capsys, tmp_path / "run", corpus)
    assert metrics["chosen_step"] == 4 and metrics["val_loss"] == 2.0  # chosen on 0.5 < 1.0, reported whole
    assert [(s, f) for s, f, _ in calls] == [(2, False), (4, False), (4, True)]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["val_loss"]) for r in log if "val_loss" in r] == [(2, 1.0), (4, 0.5)]  # the figures the choice used


def test_the_best_periodic_weights_are_kept_and_scored_on_the_whole_split(tmp_path, capsys, corpus, monkeypatch):
    calls = scripted(monkeypatch, {2: 1.0, 4: 1.5}, whole=0.1)  # the last weights score better whole: not the point
    run = tmp_path / "run"
    metrics = train(capsys, run, corpus)
    assert metrics["chosen_step"] == 2 and metrics["val_loss"] == 0.1
    assert [(s, f) for s, f, _ in calls] == [(2, False), (4, False), (4, True)]
    assert torch.equal(calls[-1][2], calls[0][2]) and not torch.equal(calls[-1][2], calls[1][2])
    best = json.loads((run / "state" / "latest.json").read_text())["best"]
    published = load_tensors(RunDir(run) / "model.safetensors")
    assert torch.equal(published["backbone.blocks.0.attn.qkv.weight"], calls[0][2])
    assert best.startswith("step-0000002")
