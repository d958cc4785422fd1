"""Recipe multitask: every task on one backbone, at tiny sizes on synthetic data, one thread.

One joint run over all five tasks is trained once per module; the tests read it back through the
CLI and the Python API with a task selector.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

import tzoo
from tests.audio_fixtures import fake_fsdd, tone, write_wav
from tests.conftest import run_cli, write_image_parquet
from tests.mixing.conftest import write_mnist_parquet
from tests.test_cli import assert_clean_error

ALL = ("char-lm", "vit-cifar10", "audio-fsdd", "dt", "av-digits")
SHAPE = ["--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2", "--backbone.dropout=0",
         "--optim.warmup_steps=2", "--loop.log_every=1"]


def task_args(root: Path) -> list[str]:
    """Tiny data for every task under `root` (made once), and the overrides that point at it."""
    from tzoo.control.collect import collect

    if not (root / "cifar").exists():
        (root / "corpus.txt").write_text("To be or not to be, that is the question.\n" * 60, encoding="utf-8")
        write_image_parquet(root / "cifar", "train", [i % 10 for i in range(40)])
        write_image_parquet(root / "cifar", "test", [i % 10 for i in range(20)])
        write_mnist_parquet(root / "mnist", "test", [i % 10 for i in range(1200)])
        fake_fsdd(root / "fsdd", indices=(0, 5, 6, 7, 10), speakers=("ann",))
        collect("CartPole-v1", "test/cartpole/mixed-v0", policy="mixed", episodes=8, seed=0, ref_episodes=2,
                progress=False)
    fsdd = root / "fsdd" / "recordings" if (root / "fsdd" / "recordings").is_dir() else root / "fsdd"
    return [
        f"--char_lm.data.path={root / 'corpus.txt'}", "--char_lm.data.block_size=16", "--char_lm.loop.batch_size=4",
        "--char_lm.loop.eval_batches=2", "--char_lm.sample.max_new_tokens=10",
        f"--vit_cifar10.data.dir={root / 'cifar'}", "--vit_cifar10.data.image_size=16",
        "--vit_cifar10.data.val_size=10", "--vit_cifar10.model.patch_keep=1.0", "--vit_cifar10.loop.batch_size=4",
        "--vit_cifar10.loop.eval_batches=2",
        f"--audio_fsdd.data.dir={fsdd}", "--audio_fsdd.mel.n_mels=20", "--audio_fsdd.data.max_seconds=1.0",
        "--audio_fsdd.data.val_indices=7,7", "--audio_fsdd.loop.batch_size=4", "--audio_fsdd.loop.eval_batches=2",
        "--audio_fsdd.mel.freq_masks=0", "--audio_fsdd.mel.time_masks=0", "--audio_fsdd.mel.eq_db=0",
        "--dt.data.dataset=test/cartpole/mixed-v0", "--dt.data.context=8", "--dt.data.val_fraction=0.25",
        "--dt.loop.batch_size=4", "--dt.loop.eval_batches=2", "--dt.eval.episodes=2", "--dt.eval.num_envs=2",
        "--dt.eval.max_steps=30", "--dt.eval.targets=500",
        f"--av_digits.data.mnist_dir={root / 'mnist'}", f"--av_digits.data.fsdd_dir={fsdd}",
        "--av_digits.data.eval_examples=4", "--av_digits.data.test_examples=4", "--av_digits.mel.n_mels=20", "--av_digits.data.max_seconds=1.0",
        "--av_digits.data.val_images=100", "--av_digits.data.carve_test=200", "--av_digits.loop.batch_size=4",
    ]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("multitask-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        task_args(root)
        yield root


@pytest.fixture
def minari(data_root, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(data_root / "minari"))
    return data_root


def train(out: Path, root: Path, *args: str) -> int:
    """`tzoo train multitask` in-process on one thread (module fixtures start before `one_thread`)."""
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(["train", "multitask", "--out", str(out), *SHAPE, *task_args(root), *map(str, args)])
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


@pytest.fixture(scope="module")
def joint(data_root, tmp_path_factory) -> Path:
    """A joint run of every task, 10 steps (do not modify: copy)."""
    out = tmp_path_factory.mktemp("runs") / "joint"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(data_root / "minari"))
        assert train(out, data_root, "--loop.max_steps=10", "--loop.eval_every=5") == 0
    return out


def test_one_run_directory_holds_every_task(joint):
    metrics = json.loads((joint / "metrics.json").read_text())
    assert metrics["recipe"] == "multitask"
    assert set(metrics["tasks"]) == set(ALL)
    for name, row in metrics["tasks"].items():
        assert set(row) == {"metric", "joint", "higher_is_better"}
        assert isinstance(row["joint"], float), (name, row)
    assert metrics["tasks"]["char-lm"]["higher_is_better"] is False
    assert sum(metrics["task_batches"].values()) == 10
    assert (joint / "model.safetensors").is_file()
    # each task's run files and plots live in its own folder
    assert (joint / "tasks" / "char-lm" / "vocab.json").is_file()
    assert (joint / "tasks" / "char-lm" / "sample.txt").is_file()
    assert (joint / "tasks" / "vit-cifar10" / "classes.json").is_file()
    assert (joint / "tasks" / "dt" / "state_stats.json").is_file()
    assert (joint / "tasks" / "av-digits" / "accuracy.png").is_file()
    assert not list(joint.glob("*.png")) or (joint / "loss.png").is_file()


def curve_pixels(png: Path) -> int:
    """Pixels of a metric_curve PNG in the curve's colour (matplotlib's first, tab:blue)."""
    import numpy as np

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int((np.abs(rgb - [31, 119, 180]).sum(-1) < 30).sum())


def test_dt_draws_its_validation_returns_from_the_joint_log(joint, tmp_path):
    """A joint run logs dt's validation returns as `dt/val_return`; its tasks/dt/val_returns.png
    must draw them, not an empty frame."""
    from tzoo.recipes.plots import metric_curve

    log = [json.loads(line) for line in (joint / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "dt/val_score" in r] == [5, 10]
    empty = tmp_path / "empty.png"
    metric_curve([], "val_score", empty)
    assert curve_pixels(empty) == 0  # the measure sees no curve in an empty frame ...
    assert curve_pixels(joint / "tasks" / "dt" / "val_returns.png") > 100  # ... and one here


def test_a_task_reads_its_own_metrics_from_the_joint_log(tmp_path):
    from tzoo.recipes.multitask import TaskRun
    from tzoo.recipes.rundir import RunDir

    joint = RunDir(tmp_path)
    joint.append_log({"step": 5, "lr": 0.1, "dt/val_return": 9.0, "char-lm/val_loss": 2.0})
    joint.append_log({"step": 10, "lr": 0.05, "char-lm/val_loss": 1.5})
    run = TaskRun(tmp_path / "tasks" / "dt", joint, "dt")
    assert run.read_log() == [{"step": 5, "lr": 0.1, "val_return": 9.0}, {"step": 10, "lr": 0.05}]
    assert run / "val_returns.png" == tmp_path / "tasks" / "dt" / "val_returns.png"


def test_each_task_keeps_its_own_tokenizers(joint, minari):
    trained = tzoo.load(joint, task="vit-cifar10")
    keys = set(trained.model.tokenizers)
    assert "vit-cifar10/image" in keys and "av-digits/image" in keys  # CIFAR and MNIST images differ
    assert trained.model.tokenizer("image", "vit-cifar10") is trained.model.tokenizers["vit-cifar10/image"]
    assert trained.model.tokenizer("image", "av-digits") is trained.model.tokenizers["av-digits/image"]


def test_every_single_task_verb_works_on_the_joint_checkpoint(joint, minari, capsys, tmp_path):
    code, out, err = run_cli(capsys, "sample", joint, "--task", "char-lm", "--prompt", "To", "--max-new-tokens", "5")
    assert code == 0, err
    assert out.startswith("To")
    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16), (60, 100, 7)).save(image)
    code, out, err = run_cli(capsys, "predict", joint, "--task", "vit-cifar10", image)
    assert code == 0, err
    assert str(image) in out
    wav = write_wav(tmp_path / "c.wav", tone(3))
    code, out, err = run_cli(capsys, "predict", joint, "--task", "audio-fsdd", wav)
    assert code == 0, err
    assert str(wav) in out
    digit = tmp_path / "d.png"
    Image.new("L", (28, 28), 70).save(digit)
    code, out, err = run_cli(capsys, "predict", joint, "--task", "av-digits", "--image", digit, "--audio", wav,
                             "--prompt", "do they match?")
    assert code == 0, err
    assert out.strip()
    work = tmp_path / "copy"
    shutil.copytree(joint, work)
    code, out, err = run_cli(capsys, "eval", work, "--task=dt", "--eval.episodes=2", "--eval.targets=100")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["targets"][0]["target"] == 100
    assert (work / "tasks" / "dt" / "eval_returns.png").is_file()


@pytest.mark.parametrize("args, needles", [
    ([], ["--task", "char-lm, vit-cifar10, audio-fsdd, dt, av-digits"]),
    (["--task", "bpe-lm"], ["no task 'bpe-lm'", "char-lm, vit-cifar10"]),
    (["--task", "vit-cifar10"], ["vit-cifar10 has no `sample`"]),
])
def test_bad_task_selectors(joint, capsys, args, needles):
    assert_clean_error(*run_cli(capsys, "sample", joint, *args), *needles)


def test_a_task_selector_on_a_single_task_run(tmp_path, capsys, corpus):
    from tests.conftest import TINY

    assert run_cli(capsys, "train", "char-lm", "--out", tmp_path / "lm", f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=2")[0] == 0
    assert_clean_error(*run_cli(capsys, "sample", tmp_path / "lm", "--task", "dt"), "no task 'dt'")
    assert run_cli(capsys, "sample", tmp_path / "lm", "--task", "char-lm", "--max-new-tokens", "3")[0] == 0


def test_save_load_gives_identical_outputs_per_task(joint, minari):
    from tzoo.recipes.multitask import MULTITASK
    from tzoo.recipes.rundir import RunDir

    first = tzoo.load(joint, task="char-lm").model
    again = tzoo.load(joint, task="dt").model
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    ids = torch.randint(0, 10, (2, 16))
    out = first({"text": ids}, task="char-lm").outputs["logits"]
    assert torch.equal(out, again({"text": ids}, task="char-lm").outputs["logits"])
    # and the weights are those the run saved: scoped names, one entry per tensor
    from tzoo.storage import load_tensors

    saved = load_tensors(joint / "model.safetensors")
    assert any(k.startswith("tokenizers.dt/trajectory.") for k in saved)
    assert set(saved) <= set(first.state_dict())
    assert MULTITASK.name in json.loads((RunDir(joint) / "config.json").read_text())["recipe"]


@pytest.mark.parametrize("bad, needle", [
    ("--tasks.names=char-lm,nope", "unknown task 'nope'"),
    ("--tasks.weights=char-lm:0", "positive"),
    ("--tasks.weights=dt:2", "not TASK:WEIGHT for a task in --tasks.names"),
    ("--tasks.weights=char-lm:x", "not a number"),
])
def test_bad_task_lists(tmp_path, capsys, bad, needle):
    code, out, err = run_cli(capsys, "train", "multitask", "--out", tmp_path / "r", "--tasks.names=char-lm", bad)
    assert_clean_error(code, out, err, needle)
    assert not (tmp_path / "r").exists()


def test_a_task_s_batch_trains_only_its_own_head_and_tokenizers(joint, minari):
    model = tzoo.load(joint, task="char-lm").model.train()
    ids = torch.randint(0, 10, (2, 17))
    out = model({"text": ids[:, :-1], "targets": ids[:, 1:]}, task="char-lm")
    out.loss.backward()
    for name, p in model.named_parameters():
        own = name.startswith(("tasks.char-lm.", "tokenizers.char-lm/", "backbone."))
        got = p.grad is not None and bool(p.grad.abs().sum() > 0)
        if not own:
            assert not got, name
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith(("tokenizers.char-lm/", "tasks.char-lm.")))
