"""char-lm and bpe-lm end to end at tiny sizes, through the CLI and the Trainer."""
import json
import math

import pytest
import torch

from tests.conftest import TINY, run_cli
from tzoo.recipes.lm import CHAR_LM
from tzoo.recipes.rundir import RunDir
from tzoo.recipes.train import Trainer


@pytest.mark.parametrize("recipe, extra", [("char-lm", []), ("bpe-lm", ["--data.vocab_size=300"])])
def test_recipe_trains_and_writes_a_run(tmp_path, capsys, corpus, recipe, extra):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", recipe, "--out", out, f"--data.path={corpus}",
                                "--loop.max_steps=6", *TINY, *extra)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 6 and metrics["val_loss"] > 0 and metrics["train_tokens_per_s"] > 0
    assert metrics["wall_s"] > 0 and "val_bpc" in metrics
    for name in ("config.json", "model.safetensors", "log.jsonl", "loss.png", "sample.txt", "state/latest.json"):
        assert (out / name).is_file(), name
    assert (out / ("tokenizer.json" if recipe == "bpe-lm" else "vocab.json")).is_file()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]  # --loop.log_every=1
    assert [r["step"] for r in log if "val_loss" in r] == [2, 4, 6]
    assert json.loads(stdout.strip().splitlines()[-1])["val_loss"] == metrics["val_loss"]

    code, stdout, err = run_cli(capsys, "sample", out, "--prompt", "The king", "--max-new-tokens", "30",
                                "--temperature", "0.8", "--top-k", "5")
    assert code == 0, err
    assert stdout.startswith("The king") and len(stdout) > len("The king")
    code, stdout, err = run_cli(capsys, "eval", out)
    figures = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and figures["loss"] == pytest.approx(metrics["val_loss"], rel=1e-4)
    code, stdout, err = run_cli(capsys, "eval", out, f"--data.path={corpus}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and figures["bits_per_char"] > 0
    if recipe == "char-lm":  # the whole file: every character after the first is predicted once
        assert figures["tokens_scored"] == figures["chars_scored"] == len(corpus.read_text()) - 1


def test_training_lowers_the_loss(tmp_path, capsys, corpus):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=60", "--loop.eval_every=30", "--optim.lr=3e-3")
    assert code == 0, err
    vocab = len(json.loads((out / "vocab.json").read_text())["chars"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_loss"] < math.log(vocab) - 0.5  # well below a uniform guess


def test_checkpoint_round_trip_gives_identical_next_step(tmp_path, corpus):
    from tzoo.config import apply_overrides, parse_override_args

    cfg = apply_overrides(CHAR_LM.default(), parse_override_args([f"--data.path={corpus}", *TINY]))
    run = RunDir(tmp_path / "run")
    first = Trainer(CHAR_LM, cfg, run)
    first.setup()
    for _ in range(3):
        first.train_step()
        first.state.step += 1
    first.save(best=False)
    expected, _ = first.train_step()  # step 4 continuing in memory

    from accelerate.state import AcceleratorState, GradientState
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    second = Trainer(CHAR_LM, cfg, run, resume=True)
    second.setup()
    assert second.state.step == 3
    resumed, _ = second.train_step()  # step 4 after loading from disk
    assert resumed.item() == expected.item()
    for a, b in zip(first.parts.model.parameters(), second.parts.model.parameters()):
        assert torch.equal(a, b)


def test_resume_continues_to_new_max_steps(tmp_path, capsys, corpus):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=4")[0] == 0
    code, _, err = run_cli(capsys, "train", "--resume", out, "--loop.max_steps=8")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 8
    assert json.loads((out / "config.json").read_text())["config"]["loop"]["max_steps"] == 8
