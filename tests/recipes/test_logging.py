"""What a run logs: a log.jsonl record every --loop.log_every steps, loss.png's curves, and the
experiment trackers of --loop.log_with (a real TensorBoard event file, read back with TensorBoard)."""
import json
import math

import pytest

from tests.conftest import TINY, run_cli
from tzoo.recipes import trackers
from tzoo.recipes.plots import loss_series

LOGGED = [a for a in TINY if not a.startswith(("--loop.log_every", "--loop.eval_every"))]


def read_log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def train(capsys, out, corpus, *args):
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *LOGGED, *args)
    assert code == 0, err
    return read_log(out)


def test_log_has_the_training_loss_every_log_every_steps(tmp_path, capsys, corpus):
    log = train(capsys, tmp_path / "lm", corpus, "--loop.max_steps=8", "--loop.log_every=2",
                "--loop.eval_every=3")
    # one record per step: every 2nd step, the evaluations (3, 6) and the last step
    assert [r["step"] for r in log] == [2, 3, 4, 6, 8]
    assert [r["step"] for r in log if "val_loss" in r] == [3, 6, 8]  # evaluation records as before
    for r in log:
        assert math.isfinite(r["loss"]) and r["lr"] > 0 and r["elapsed_s"] > 0
    assert [r["step"] for r in log if r["tokens_per_s"]] == [6, 8]  # after the warm-up steps
    assert len({r["loss"] for r in log}) == len(log)  # each its own window, not one value repeated
    # loss.png draws the training line through every record and the validation line through the evaluations
    series = loss_series(log)
    assert list(series)[:2] == ["training", "validation"]
    assert [s for s, _ in series["training"]] == [2, 3, 4, 6, 8]
    assert series["validation"] == [(r["step"], r["val_loss"]) for r in log if "val_loss" in r]


def test_tensorboard_gets_log_jsonl_numbers(tmp_path, capsys, corpus):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "lm"
    log = train(capsys, out, corpus, "--loop.max_steps=6", "--loop.log_every=2", "--loop.eval_every=3",
                "--loop.log_with=tensorboard")
    events = EventAccumulator(str(out / "tensorboard" / trackers.PROJECT))
    events.Reload()
    for key in ("loss", "val_loss", "lr"):
        got = [(e.step, e.value) for e in events.Scalars(key)]
        want = [(r["step"], r[key]) for r in log if key in r]
        assert [s for s, _ in got] == [s for s, _ in want], key
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6), key
    assert [e.step for e in events.Scalars("loss")] == [2, 3, 4, 6]
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["loop"]["log_with"] == "tensorboard"


def test_a_missing_tracker_package_is_a_one_line_error(tmp_path, capsys, corpus, monkeypatch):
    monkeypatch.setitem(trackers.PACKAGES, "wandb", ("wandb", lambda: False))
    out = tmp_path / "lm"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=2", "--loop.log_with=wandb")
    assert code == 2 and err.startswith("tzoo: error:") and len(err.strip().splitlines()) == 1, err
    assert "pip install wandb" in err and not out.exists()


def test_flat_config_is_what_trackers_accept():
    from tzoo.recipes.lm import CHAR_LM

    cfg = CHAR_LM.default()
    flat = trackers.flat_config(cfg)
    assert flat["loop.log_with"] == "none" and flat["loop.batch_size"] == cfg.loop.batch_size
    assert all(isinstance(v, (bool, int, float, str)) for v in flat.values())
