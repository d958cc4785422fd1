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


def config(root: Path, *args: str):
    """The config `tzoo train multitask` builds from these overrides (the tiny shape and data)."""
    from tzoo.config import apply_overrides, parse_override_args
    from tzoo.recipes.multitask import MULTITASK

    return apply_overrides(MULTITASK.default(), parse_override_args([*SHAPE, *task_args(root), *args]))


def detached(batch):
    """A copy of a batch (tensors cloned, nested dicts and lists walked)."""
    if isinstance(batch, torch.Tensor):
        return batch.detach().clone()
    if isinstance(batch, dict):
        return {k: detached(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(detached(v) for v in batch)
    return batch


def same(a, b) -> bool:
    """Equal batches: equal keys, equal tensors (dtype and values), equal other values."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    """A joint run of every task, 10 steps, trained as `tzoo train multitask` does: (run directory,
    the trained model as it is in memory, the (task, batch) of every training forward in order).
    Do not modify the directory: copy it."""
    from accelerate.state import AcceleratorState, GradientState

    from tzoo.recipes.multitask import MULTITASK
    from tzoo.recipes.rundir import RunDir
    from tzoo.recipes.train import Trainer
    from tzoo.tasks import TzooModel

    out = tmp_path_factory.mktemp("runs") / "joint"
    seen: list[tuple[str, dict]] = []
    forward = TzooModel.forward

    def recording(self, batch, task=None):
        if self.training:
            seen.append((task, detached(dict(batch))))
        return forward(self, batch, task)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MINARI_DATASETS_PATH", str(data_root / "minari"))
            mp.setattr(TzooModel, "forward", recording)
            trainer = Trainer(MULTITASK, config(data_root, "--loop.max_steps=10", "--loop.eval_every=5"), RunDir(out))
            trainer.fit()
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    return out, trainer.scored.eval(), seen


@pytest.fixture(scope="module")
def joint(trained) -> Path:
    """The joint run's directory (do not modify: copy)."""
    return trained[0]


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


def batches_of(seen: list, task: str) -> list[dict]:
    """The batches the joint run trained `task` on, in order."""
    return [batch for name, batch in seen if name == task]


def test_the_loaded_model_is_the_trained_one_for_every_task(trained, minari):
    from tzoo.storage import load_tensors

    joint, memory, seen = trained
    loaded = tzoo.load(joint, task="char-lm").model
    want, got = memory.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want), [k for k in want if not torch.equal(want[k], got[k])]
    with torch.no_grad():
        for name in ALL:
            batch = batches_of(seen, name)[0]
            a, b = memory(batch, task=name), loaded(batch, task=name)
            assert torch.equal(a.loss, b.loss), name
            assert a.outputs.keys() == b.outputs.keys() and same(a.outputs, b.outputs), name
    # the weights are those the run saved: scoped names, one entry per tensor
    saved = load_tensors(joint / "model.safetensors")
    assert any(k.startswith("tokenizers.dt/trajectory.") for k in saved)
    assert set(saved) <= set(got)


# `tzoo eval DIR --task T` figure -> the metrics.json figure it reproduces (`TASK/NAME`)
EVAL_FIGURES = {
    "char-lm": {"bits_per_char": "val_bpc", "loss": "val_loss"},
    "vit-cifar10": {"test_acc": "test_acc", "test_loss": "test_loss", "test_per_class_acc": "test_per_class_acc"},
    "audio-fsdd": {"accuracy": "test_acc", "loss": "test_loss", "per_digit_acc": "test_per_class_acc"},
    "dt": {"normalized_score": "normalized_score", "return_mean": "return_mean", "return_std": "return_std"},
    "av-digits": {"test_acc": "test_acc", "acc": "acc"},
}


def close(a, b) -> bool:
    """Equal figures up to float rounding, nested dicts walked."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == pytest.approx(b, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("task", ALL)
def test_eval_of_a_task_reproduces_its_metrics(joint, minari, capsys, tmp_path, task):
    from tzoo.recipes import get_recipe

    work = tmp_path / "copy"
    shutil.copytree(joint, work)
    metrics = json.loads((joint / "metrics.json").read_text())
    code, out, err = run_cli(capsys, "eval", work, f"--task={task}")
    assert code == 0, err
    figures = json.loads(out.splitlines()[-1])
    for mine, theirs in EVAL_FIGURES[task].items():
        assert close(figures[mine], metrics[f"{task}/{theirs}"]), (mine, figures[mine], metrics[f"{task}/{theirs}"])
    headline = get_recipe(task).headline[0]
    assert metrics["tasks"][task]["joint"] == metrics[f"{task}/{headline}"]
    assert headline in EVAL_FIGURES[task].values()


def test_a_task_drawn_n_times_sees_the_batches_of_an_n_step_single_task_run(trained, minari, tmp_path):
    """What the benchmark relies on: the single-task run (`--tasks.names=TASK`) reads the same batches."""
    from tzoo.recipes.multitask import MULTITASK
    from tzoo.recipes.rundir import RunDir

    _, _, seen = trained
    assert len(seen) == 10 and {name for name, _ in seen} == set(ALL)
    for name in ALL:
        joint = batches_of(seen, name)
        cfg = config(minari, f"--tasks.names={name}", f"--loop.max_steps={len(joint)}")
        parts = MULTITASK.build(cfg, RunDir(tmp_path / name), torch.device("cpu"), True, lambda: None)
        single = [parts.train.batch(k) for k in range(len(joint))]
        assert all(b.pop("task") == name for b in single)
        for k, (a, b) in enumerate(zip(joint, single)):
            assert same(a, b), (name, k)
    # and the batches differ from one draw to the next (the comparison can tell them apart)
    dt = batches_of(seen, "dt")
    assert len(dt) >= 2 and not same(dt[0], dt[1])


def test_a_task_s_batch_trains_only_its_own_head_and_tokenizers(trained, minari):
    _, _, seen = trained
    model = tzoo.load(trained[0], task="char-lm").model.train()
    for name in ALL:
        model.zero_grad(set_to_none=True)
        model(batches_of(seen, name)[0], task=name).loss.backward()
        graded = {n for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}
        for other in set(ALL) - {name}:
            leaked = [n for n in graded if n.startswith((f"tasks.{other}.", f"tokenizers.{other}/"))]
            assert not leaked, (name, leaked)
        head = [n for n, _ in model.named_parameters() if n.startswith(f"tasks.{name}.")]  # none if all tied
        assert not head or set(head) & graded, name
        for key in model.routes[name].values():
            if any(True for _ in model.tokenizers[key].parameters()):
                assert any(n.startswith(f"tokenizers.{key}.") for n in graded), (name, key)
        assert any(n.startswith("backbone.") for n in graded), name


@pytest.mark.parametrize("key, rules", [
    ("--char_lm.backbone.dim=64", "backbone.dim"),
    ("--dt.optim.lr=0.1", "optim.lr"),
    ("--vit_cifar10.loop.max_steps=5", "loop.max_steps"),
    ("--audio_fsdd.loop.grad_accum=2", "loop.grad_accum"),
])
def test_a_section_s_keys_the_joint_run_rules_are_refused(tmp_path, capsys, key, rules):
    code, out, err = run_cli(capsys, "train", "multitask", "--out", tmp_path / "r", "--tasks.names=char-lm", key)
    section = key[2:].split(".")[0]
    assert_clean_error(code, out, err, f"--{section}.{rules}:", f"the joint --{rules} rules", f"set --{rules} instead")
    assert not (tmp_path / "r").exists()


def test_an_older_run_with_section_keys_the_joint_run_rules_still_loads(joint, minari, tmp_path):
    work = tmp_path / "old"
    shutil.copytree(joint, work)
    stored = json.loads((work / "config.json").read_text())
    stored["config"]["char_lm"]["loop"]["max_steps"] = 7
    stored["config"]["dt"]["backbone"]["dim"] = 999
    (work / "config.json").write_text(json.dumps(stored))
    from tzoo.api import open_run
    from tzoo.recipes import get_recipe

    assert tzoo.load(work, task="dt").verbs
    cfg = open_run(work)[1]
    assert cfg.backbone.dim == 32 and cfg.dt.backbone == get_recipe("dt").default().backbone  # dropped
    assert cfg.char_lm.loop.max_steps == get_recipe("char-lm").default().loop.max_steps
    assert cfg.char_lm.loop.batch_size == 4  # a key the section keeps is kept


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
