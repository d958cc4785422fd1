"""The weight average (--optim.ema_decay): its arithmetic, tied weights, and what a run publishes."""
import json

import pytest
import torch

from tests.conftest import TINY, run_cli
from tzoo.recipes.checkpoint import EMA_FILE
from tzoo.recipes.optim import make_ema
from tzoo.recipes.settings import OptimConfig
from tzoo.storage import load_tensors


class Tied(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(4, 3)
        self.head = torch.nn.Linear(3, 4, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("scale", torch.ones(()))


def test_no_average_at_decay_zero():
    assert make_ema(Tied(), OptimConfig()) is None


def test_average_warms_up_and_averages_tied_weights_once():
    model = Tied()
    ema = make_ema(model, OptimConfig(ema_decay=0.9))
    with torch.no_grad():
        model.embed.weight.fill_(1.0)
        model.scale.fill_(5.0)
    ema.update(model, step=1)  # the first update copies
    assert torch.all(ema.module.embed.weight == 1.0) and ema.module.scale == 5.0
    with torch.no_grad():
        model.embed.weight.fill_(3.0)
    ema.update(model, step=2)
    decay = 1 - 2 ** (-2 / 3)  # warming up, below the 0.9 cap
    expected = decay * 1.0 + (1 - decay) * 3.0
    assert ema.module.embed.weight[0, 0].item() == pytest.approx(expected)
    assert ema.module.head.weight is ema.module.embed.weight
    for step in range(3, 2000):
        ema.update(model, step=step)
    assert ema.get_decay(2000) == 0.9 and ema.module.embed.weight[0, 0].item() == pytest.approx(3.0)


def test_a_run_with_an_average_publishes_and_scores_it(tmp_path, capsys, corpus):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=6", "--optim.lr=3e-3", "--optim.ema_decay=0.9")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    pointer = json.loads((out / "state" / "latest.json").read_text())
    chosen = out / "state" / pointer["best"]
    published, average, trained = (load_tensors(p) for p in (out / "model.safetensors", chosen / EMA_FILE,
                                                          chosen / "model.safetensors"))
    assert all(torch.equal(published[k], average[k]) for k in published)
    assert any(not torch.equal(published[k], trained[k]) for k in published)  # the average, not the last step
    code, stdout, err = run_cli(capsys, "eval", out)
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["loss"] == pytest.approx(metrics["val_loss"], rel=1e-5)
