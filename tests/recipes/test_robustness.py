"""Runs that survive: kill and resume, atomic checkpoints, the non-finite guard, damaged or
mismatched checkpoints, determinism, and two processes equal to one."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY, run_cli
from tests.test_cli import assert_clean_error
from tzoo.recipes import checkpoint as ckpt
from tzoo.recipes.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
TIMING = {"wall_s", "train_tokens_per_s", "train_images_per_s", "train_clips_per_s", "train_items_per_s",
          "train_examples_per_s"}


@pytest.fixture(autouse=True)
def cpu_only(monkeypatch):
    """Exact equality holds on the CPU: no GPU here nor in the subprocesses (which inherit the environment);
    the subprocesses run on one thread (tiny models are fastest so, above all on a loaded machine)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def figures(run: Path) -> dict:
    """metrics.json without the timing fields (which differ between any two runs)."""
    metrics = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in TIMING}


def tzoo(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tzoo", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def last_checkpoint(run: Path) -> int:
    try:
        name = json.loads((run / "state" / "latest.json").read_text())["last"]
    except (OSError, ValueError, KeyError):
        return 0
    return int(name.split("-")[1])


def kill_and_resume(args: list, tmp_path: Path, at: int, total: int) -> tuple[Path, Path]:
    """`tzoo train ARGS` uninterrupted, and again killed with SIGKILL once it has a checkpoint at step
    `at` or later (of `total`), then resumed; returns (whole, killed) run directories."""
    whole = tmp_path / "whole"
    p = tzoo("train", *args, "--out", whole)
    assert p.wait(timeout=300) == 0, p.stdout.read()
    killed = tmp_path / "killed"
    p = tzoo("train", *args, "--out", killed)
    deadline = time.time() + 300
    while last_checkpoint(killed) < at and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    assert p.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert at <= last_checkpoint(killed) < total
    assert not (killed / "metrics.json").exists()
    p = tzoo("train", "--resume", killed)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    return whole, killed


def test_sigkill_then_resume_ends_like_an_uninterrupted_run(tmp_path, corpus):
    args = ["char-lm", f"--data.path={corpus}", *TINY, "--loop.max_steps=300", "--loop.save_every=25",
            "--loop.eval_every=50", "--loop.log_every=50"]
    whole, killed = kill_and_resume(args, tmp_path, 50, 300)
    assert figures(killed) == figures(whole)  # bit-identical on CPU
    steps = [r["step"] for r in map(json.loads, (killed / "log.jsonl").read_text().splitlines())]
    assert steps == sorted(set(steps)) == [50, 100, 150, 200, 250, 300]


def _augmented_images(root: Path, corpus: Path) -> list[str]:
    return [*_tiny_images(root), "--model.patch_keep=0.75", "--augment.randaugment=rand-m9-mstd0.5",
            "--augment.mixup_alpha=0.4", "--augment.cutmix_alpha=0.4", "--loop.batch_size=8",
            "--loop.eval_batches=1"]  # crop and flip are on by default


def _augmented_clips(root: Path, corpus: Path) -> list[str]:
    return [*_tiny_clips(root), "--mel.freq_masks=2", "--mel.time_masks=2", "--mel.eq_db=6",
            "--augment.shift=0.05", "--augment.noise_snr_db=10", "--loop.batch_size=8", "--loop.eval_batches=1"]


def _bpe(root: Path, corpus: Path) -> list[str]:  # no data augmentation: dropout is its randomness
    return ["bpe-lm", f"--data.path={corpus}", "--data.vocab_size=300", *TINY]


@pytest.mark.parametrize("make", [_augmented_images, _augmented_clips, _bpe], ids=["vit-cifar10", "audio-fsdd", "bpe-lm"])
def test_sigkill_then_resume_is_bit_identical_with_augmentation(make, tmp_path, corpus):
    args = [*make(tmp_path, corpus), "--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2",
            "--backbone.dropout=0.1", "--backbone.drop_path=0.1", "--optim.warmup_steps=2",
            "--loop.max_steps=60", "--loop.save_every=5", "--loop.eval_every=20", "--loop.log_every=20"]
    whole, killed = kill_and_resume(args, tmp_path, 20, 60)
    assert figures(killed) == figures(whole)  # bit-identical on CPU
    logs = [[{k: r[k] for k in ("step", "loss", "val_loss")} for r in map(json.loads, lines)]
            for lines in ((run / "log.jsonl").read_text().splitlines() for run in (killed, whole))]
    assert logs[0] == logs[1] and [r["step"] for r in logs[0]] == [20, 40, 60]  # the weights not chosen too


def test_same_seed_same_metrics(tmp_path, capsys, corpus):
    for name in ("a", "b"):
        assert run_cli(capsys, "train", "char-lm", "--out", tmp_path / name, f"--data.path={corpus}", *TINY,
                       "--loop.max_steps=8")[0] == 0
    assert figures(tmp_path / "a") == figures(tmp_path / "b")
    assert run_cli(capsys, "train", "char-lm", "--out", tmp_path / "c", f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=8", "--loop.seed=7")[0] == 0
    assert figures(tmp_path / "c") != figures(tmp_path / "a")


def test_a_save_killed_midway_leaves_the_previous_checkpoint(tmp_path, capsys, corpus, monkeypatch):
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=4", "--loop.save_every=2", "--loop.eval_every=100")[0] == 0
    before = json.loads((run / "state" / "latest.json").read_text())
    weights = (run / "model.safetensors").read_bytes()

    real_save = ckpt.save_tensors
    calls = {"n": 0}

    def dying_save(path, tensors, metadata=None):
        calls["n"] += 1
        if calls["n"] == 2:  # the optimizer file of the new checkpoint: die half-way through it
            Path(path).write_bytes(b"partial")
            raise KeyboardInterrupt
        return real_save(path, tensors, metadata)

    monkeypatch.setattr(ckpt, "save_tensors", dying_save)
    code, _, _ = run_cli(capsys, "train", "--resume", run, "--loop.max_steps=6")
    assert code == 130
    monkeypatch.setattr(ckpt, "save_tensors", real_save)
    assert json.loads((run / "state" / "latest.json").read_text()) == before
    assert (run / "model.safetensors").read_bytes() == weights
    code, _, err = run_cli(capsys, "train", "--resume", run, "--loop.max_steps=6")
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["step"] == 6
    leftovers = [p.name for p in (run / "state").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def poison_step(monkeypatch, bad_step: int) -> None:
    """Make the language-model loss NaN in the forward pass of trainer step `bad_step`."""
    from tzoo.recipes import train as train_mod
    from tzoo.tasks import language_model

    real_step = train_mod.Trainer.train_step
    real_forward = language_model.LanguageModelTask.forward
    current = {"step": None}

    def tracking_step(self):
        current["step"] = self.state.step
        return real_step(self)

    def forward(self, parts, batch, masks=None):
        out = real_forward(self, parts, batch, masks)
        if self.training and current["step"] == bad_step:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(train_mod.Trainer, "train_step", tracking_step)
    monkeypatch.setattr(language_model.LanguageModelTask, "forward", forward)


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys, corpus, monkeypatch):
    poison_step(monkeypatch, 5)
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                             "--loop.max_steps=10", "--loop.save_every=4", "--loop.eval_every=100")
    assert code == 3
    assert "step 5: loss is nan" in err and "Traceback" not in err
    assert last_checkpoint(run) == 4 and not (run / "metrics.json").exists()


def test_nonfinite_loss_before_the_first_checkpoint_leaves_nothing(tmp_path, capsys, corpus, monkeypatch):
    poison_step(monkeypatch, 1)
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                             "--loop.max_steps=10", "--loop.save_every=4", "--loop.eval_every=100")
    assert code == 3 and "step 1: loss is nan" in err and "nothing kept" in err
    assert not run.exists()


def test_nonfinite_loss_can_skip_the_step(tmp_path, capsys, corpus, monkeypatch):
    poison_step(monkeypatch, 5)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=10", "--loop.on_nonfinite=skip")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["skipped_steps"] == 1 and metrics["step"] == 10
    assert metrics["val_loss"] == metrics["val_loss"]  # finite: the bad step left the weights alone


def test_a_skipped_step_of_several_micro_batches_reads_all_of_them(tmp_path, capsys, corpus, monkeypatch):
    """The step's first micro-batch is already NaN: the other two are read and left, so the next step
    starts at its own batches (a real check, not an assert, would stop it otherwise)."""
    poison_step(monkeypatch, 5)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                           "--loop.max_steps=8", "--loop.grad_accum=3", "--loop.eval_every=100",
                           "--loop.on_nonfinite=skip")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["skipped_steps"] == 1 and metrics["step"] == 8


@pytest.fixture
def finished_run(tmp_path, capsys, corpus) -> Path:
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=4")[0] == 0
    return run


def test_truncated_weights(finished_run, capsys):
    path = finished_run / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    assert_clean_error(*run_cli(capsys, "sample", finished_run), str(path))


def test_tampered_weights(finished_run, capsys):
    path = finished_run / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # valid file, different numbers
    path.write_bytes(bytes(data))
    assert_clean_error(*run_cli(capsys, "sample", finished_run), "checksum")


def test_tampered_checkpoint(finished_run, capsys):
    folder = RunDir(finished_run) / "state" / json.loads((finished_run / "state" / "latest.json").read_text())["last"]
    path = folder / "optimizer.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    assert_clean_error(*run_cli(capsys, "train", "--resume", finished_run, "--loop.max_steps=6"), "optimizer.safetensors",
                       "checksum")


def test_weights_that_do_not_match_the_config(finished_run, capsys):
    config = json.loads((finished_run / "config.json").read_text())
    config["config"]["backbone"]["dim"] = 48
    (finished_run / "config.json").write_text(json.dumps(config))
    assert_clean_error(*run_cli(capsys, "sample", finished_run), "do not match", "shape")


def test_pickles_are_refused(finished_run, capsys):
    import pickle

    (finished_run / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert_clean_error(*run_cli(capsys, "sample", finished_run), "model.safetensors")


def test_missing_checkpoint_on_resume(finished_run, capsys):
    shutil.rmtree(finished_run / "state")
    assert_clean_error(*run_cli(capsys, "train", "--resume", finished_run), "no checkpoint")


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_zero(tmp_path, corpus):
    """SIGKILL after config.json but before any checkpoint: `--resume` trains it from step 0 with its
    config (`--out` still refuses the folder) and ends like an uninterrupted run."""
    args = ["char-lm", f"--data.path={corpus}", *TINY, "--loop.max_steps=300", "--loop.save_every=0",
            "--loop.eval_every=300", "--loop.log_every=50"]  # the first checkpoint is the last one
    whole = tmp_path / "whole"
    p = tzoo("train", *args, "--out", whole)
    assert p.wait(timeout=300) == 0, p.stdout.read()
    killed = tmp_path / "killed"
    p = tzoo("train", *args, "--out", killed)
    deadline = time.time() + 300
    while not (killed / "config.json").exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    assert p.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert (killed / "config.json").is_file() and not (killed / "state" / "latest.json").exists()
    p = tzoo("train", *args, "--out", killed)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 2 and "--resume" in out
    p = tzoo("train", "--resume", killed)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    assert "no checkpoint yet; training from step 0" in out
    assert figures(killed) == figures(whole)


def test_a_set_up_that_fails_after_the_config_leaves_nothing(tmp_path, capsys, corpus, monkeypatch):
    """accelerate.prepare fails after config.json is written: the fresh run's folder is removed."""
    from accelerate import Accelerator

    def failing_prepare(self, *args):
        raise RuntimeError("no device")

    monkeypatch.setattr(Accelerator, "prepare", failing_prepare)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="no device"):
        run_cli(capsys, "train", "char-lm", "--out", run, f"--data.path={corpus}", *TINY, "--loop.max_steps=2")
    assert not run.exists()


def torchrun(*args) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 -m tzoo ARGS`; the whole process group dies on timeout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "tzoo", *map(str, args)]
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def test_two_processes_with_half_the_batch_equal_one_process(tmp_path, corpus):
    common = ["char-lm", f"--data.path={corpus}", *TINY, "--loop.max_steps=8", "--loop.eval_every=4",
              "--loop.save_every=4"]
    two = tmp_path / "two"
    result = torchrun("train", *common, "--loop.batch_size=2", "--out", two)
    assert result.returncode == 0, result.stdout + result.stderr
    one = tmp_path / "one"
    p = tzoo("train", *common, "--loop.batch_size=4", "--out", one)
    assert p.wait(timeout=300) == 0, p.stdout.read()

    log1 = [json.loads(line) for line in (one / "log.jsonl").read_text().splitlines()]
    log2 = [json.loads(line) for line in (two / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log2] == [r["step"] for r in log1] == list(range(1, 9))  # one writer, no duplicates
    assert [r["step"] for r in log1 if "val_loss" in r] == [4, 8]
    for a, b in zip(log1, log2):
        for key in ("loss", "train_loss", "val_loss"):
            if key in a or key in b:
                assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    m1, m2 = json.loads((one / "metrics.json").read_text()), json.loads((two / "metrics.json").read_text())
    assert m2["processes"] == 2 and m1["processes"] == 1
    assert m2["val_loss"] == pytest.approx(m1["val_loss"], rel=1e-5)
    files = lambda run: sorted(str(p.relative_to(run)) for p in run.rglob("*"))  # noqa: E731
    assert files(one) == files(two)
    assert result.stdout.count('"recipe"') == 1  # only the main process prints the final figures


def _tiny_images(root: Path) -> list[str]:
    from tests.conftest import write_image_parquet

    write_image_parquet(root / "cifar", "train", [i % 10 for i in range(40)])
    write_image_parquet(root / "cifar", "test", [i % 10 for i in range(20)])
    return ["vit-cifar10", f"--data.dir={root / 'cifar'}", "--data.image_size=16", "--data.val_size=10",
            "--model.patch_keep=1.0"]


def _tiny_clips(root: Path) -> list[str]:
    from tests.audio_fixtures import fake_fsdd

    data = fake_fsdd(root / "rec", indices=(0, 5, 6, 7), speakers=("ann", "bob"))
    # SpecAugment, random EQ, dropout and drop-path draw from each process's own generator: off here
    return ["audio-fsdd", "--preset=fast", f"--data.dir={data}", "--mel.n_mels=20", "--data.max_seconds=1.0", "--data.val_indices=7,7",
            "--mel.freq_masks=0", "--mel.time_masks=0", "--mel.eq_db=0", "--backbone.dropout=0", "--backbone.drop_path=0",
            "--augment.mixup=0.4", "--augment.speed=0.1"]


def two_equal_one(common: list, tmp_path: Path, two_args: list, one_args: list, steps: list[int],
                  keys: tuple[str, ...]) -> tuple[Path, Path]:
    """`tzoo train COMMON` under torchrun with two processes (TWO_ARGS: half the batch) and as one
    process (ONE_ARGS); their logs match at `steps` on `keys`; returns (one, two) run directories."""
    two, one = tmp_path / "two", tmp_path / "one"
    result = torchrun("train", *common, *two_args, "--out", two)
    assert result.returncode == 0, result.stdout + result.stderr
    p = tzoo("train", *common, *one_args, "--out", one)
    assert p.wait(timeout=300) == 0, p.stdout.read()
    log1, log2 = ([json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] for run in (one, two))
    assert [r["step"] for r in log1] == [r["step"] for r in log2] == steps
    for a, b in zip(log1, log2):
        for key in keys:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    return one, two


@pytest.mark.parametrize("make", [_tiny_images, _tiny_clips], ids=["vit-cifar10", "audio-fsdd"])
def test_two_processes_equal_one_for_the_classifiers(make, tmp_path):
    common = [*make(tmp_path), "--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2",
              "--loop.max_steps=6", "--loop.eval_every=3", "--loop.eval_batches=2", "--optim.warmup_steps=1"]
    two_equal_one(common, tmp_path, ["--loop.batch_size=4"], ["--loop.batch_size=8"], [3, 6],
                  ("loss", "val_loss", "val_acc"))


# -- dt: offline RL on a Minari dataset, scored by online rollouts at the end -----------------------
DT_TIMING = TIMING | {"train_steps_per_s"}


def dt_figures(run: Path) -> dict:
    """metrics.json of a dt run without the timing fields (also env steps/s in the per-target table)."""
    metrics = figures(run)
    metrics["targets"] = [{k: v for k, v in row.items() if k != "env_steps_per_s"} for row in metrics["targets"]]
    return {k: v for k, v in metrics.items() if k not in DT_TIMING}


@pytest.fixture
def cartpole_dataset(tmp_path, monkeypatch) -> list[str]:
    """A tiny CartPole `mixed` dataset in a private Minari root that subprocesses see too; subprocesses
    run tiny models on one thread each (fastest, and the same arithmetic in every process)."""
    from tzoo.control.collect import collect

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    collect("CartPole-v1", "test/cartpole/mixed-v0", policy="mixed", episodes=8, seed=0, ref_episodes=2,
            progress=False)
    # in-model randomness off (dropout draws from each process's own generator)
    return ["dt", "--data.dataset=test/cartpole/mixed-v0", "--backbone.dim=32", "--backbone.depth=1",
            "--backbone.heads=1", "--backbone.dropout=0", "--data.context=8", "--data.val_fraction=0.25",
            "--loop.eval_batches=2", "--optim.warmup_steps=2", "--eval.episodes=2", "--eval.num_envs=2",
            "--eval.max_steps=200", "--eval.targets=500,100", "--eval.select_episodes=3"]


def in_process(capsys, *args) -> None:
    """`tzoo ARGS` in this process on one thread, as the subprocesses run (one interpreter start less)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code, _, err = run_cli(capsys, *args)
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err


def test_dt_sigkill_then_resume_ends_like_an_uninterrupted_run(tmp_path, capsys, cartpole_dataset):
    args = [*cartpole_dataset, "--loop.batch_size=16", "--loop.max_steps=100", "--loop.save_every=10",
            "--optim.ema_decay=0.99",  # the weight average resumes exactly too
            "--loop.eval_every=50", "--loop.log_every=50"]
    whole = tmp_path / "whole"
    in_process(capsys, "train", *args, "--out", whole)

    killed = tmp_path / "killed"
    p = tzoo("train", *args, "--out", killed)
    deadline = time.time() + 300
    while last_checkpoint(killed) < 50 and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    assert p.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "metrics.json").exists()
    stopped_at = last_checkpoint(killed)
    assert 50 <= stopped_at < 100

    p = tzoo("train", "--resume", killed)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    result = dt_figures(killed)
    assert result == dt_figures(whole)  # bit-identical on CPU, the online rollouts included
    assert [r["target"] for r in result["targets"]] == [500.0, 100.0]
    logs = [[{k: r[k] for k in ("step", "loss", "val_loss", "val_return")} for r in map(json.loads, lines)]
            for lines in ((run / "log.jsonl").read_text().splitlines() for run in (killed, whole))]
    assert logs[0] == logs[1] and [r["step"] for r in logs[0]] == [50, 100]  # every evaluation, chosen or not
    assert (killed / "returns.png").is_file() and (killed / "state_stats.json").read_text() == (
        whole / "state_stats.json").read_text()


def test_dt_two_processes_equal_one(tmp_path, capsys, cartpole_dataset):
    """Windows past an episode's end are padded, so the two processes' halves of a batch hold
    different numbers of real steps: the loss must still be the whole batch's mean."""
    common = [*cartpole_dataset, "--loop.max_steps=6", "--loop.eval_every=3", "--loop.save_every=3",
              "--optim.ema_decay=0.9"]  # each process keeps the same average
    two, one = tmp_path / "two", tmp_path / "one"
    result = torchrun("train", *common, "--loop.batch_size=4", "--out", two)
    assert result.returncode == 0, result.stdout + result.stderr
    in_process(capsys, "train", *common, "--loop.batch_size=8", "--out", one)

    log1, log2 = ([json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] for run in (one, two))
    assert [r["step"] for r in log1] == [r["step"] for r in log2] == [3, 6]
    for a, b in zip(log1, log2):
        for key in ("loss", "val_loss", "val_return"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    m1, m2 = dt_figures(one), dt_figures(two)
    assert m2.pop("processes") == 2 and m1.pop("processes") == 1
    assert m2.pop("recipe") == m1.pop("recipe") == "dt"
    assert m2["val_loss"] == pytest.approx(m1["val_loss"], rel=1e-5)
    rows1, rows2 = m1.pop("targets"), m2.pop("targets")
    assert len(rows1) == len(rows2) == 2
    for r1, r2 in zip(rows1, rows2):  # rollouts on the main process only: the same episodes
        assert r2 == pytest.approx(r1, rel=1e-6, abs=1e-6)
        assert r2["episodes"] == 2  # not counted once per process
    assert m2 == pytest.approx(m1, rel=1e-5, abs=1e-6)  # val_loss, return_mean, normalized_score, ...
    files = lambda run: sorted(str(p.relative_to(run)) for p in run.rglob("*"))  # noqa: E731
    assert files(one) == files(two)
    assert result.stdout.count('"recipe"') == 1


# -- multitask: one backbone, two tasks (character LM + images), task drawn per micro-batch ---------
def _tiny_multitask(root: Path, corpus: Path) -> list[str]:
    from tests.conftest import write_image_parquet

    write_image_parquet(root / "cifar", "train", [i % 10 for i in range(40)])
    write_image_parquet(root / "cifar", "test", [i % 10 for i in range(20)])
    return ["multitask", "--tasks.names=char-lm,vit-cifar10", "--tasks.weights=vit-cifar10:2",
            "--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2", "--optim.warmup_steps=2",
            f"--char_lm.data.path={corpus}", "--char_lm.data.block_size=16", "--char_lm.loop.eval_batches=2",
            "--char_lm.sample.max_new_tokens=5", f"--vit_cifar10.data.dir={root / 'cifar'}",
            "--vit_cifar10.data.image_size=16", "--vit_cifar10.data.val_size=10", "--vit_cifar10.model.patch_keep=1.0",
            "--vit_cifar10.loop.eval_batches=2"]


def _task_batches(per_process: int) -> list[str]:
    return [f"--char_lm.loop.batch_size={per_process}", f"--vit_cifar10.loop.batch_size={per_process}"]


def test_multitask_sigkill_then_resume_ends_like_an_uninterrupted_run(tmp_path, corpus):
    args = [*_tiny_multitask(tmp_path, corpus), *_task_batches(4), "--loop.max_steps=150", "--loop.save_every=20",
            "--loop.eval_every=60", "--loop.log_every=50"]
    whole, killed = kill_and_resume(args, tmp_path, 40, 150)
    expected = figures(whole)
    assert figures(killed) == expected  # bit-identical on CPU, the task schedule included
    assert sum(expected["task_batches"].values()) == 150


def test_multitask_two_processes_equal_one(tmp_path, corpus):
    """A step trains one task, so the other task's head gets no gradient: DDP must accept that."""
    common = [*_tiny_multitask(tmp_path, corpus), "--loop.max_steps=8", "--loop.eval_every=4"]
    two_equal_one(common, tmp_path, _task_batches(2), _task_batches(4), [4, 8],
                  ("loss", "char-lm/val_loss", "vit-cifar10/val_loss", "vit-cifar10/val_acc"))


# -- av-digits: MNIST + FSDD + questions, modality dropout and degradation drawn per batch ----------
def _tiny_av(root: Path) -> list[str]:
    from tests.audio_fixtures import fake_fsdd
    from tests.mixing.conftest import write_mnist_parquet

    write_mnist_parquet(root / "mnist", "test", [i % 10 for i in range(1200)])
    rec = fake_fsdd(root / "rec", indices=(0, 5, 10), speakers=("ann",))
    return ["av-digits", f"--data.mnist_dir={root / 'mnist'}", f"--data.fsdd_dir={rec}", "--mel.n_mels=20",
            "--data.max_seconds=1.0", "--data.val_images=100", "--data.carve_test=200", "--data.eval_examples=4",
            "--data.test_examples=4",
            "--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2", "--optim.warmup_steps=2"]


def test_av_digits_sigkill_then_resume_ends_like_an_uninterrupted_run(tmp_path):
    args = [*_tiny_av(tmp_path), "--loop.batch_size=8", "--loop.max_steps=60", "--loop.save_every=10",
            "--loop.eval_every=30", "--loop.log_every=30"]
    whole, killed = kill_and_resume(args, tmp_path, 20, 60)
    assert figures(killed) == figures(whole)  # bit-identical on CPU: the question table included
    assert (killed / "examples.txt").read_text() == (whole / "examples.txt").read_text()


def test_av_digits_two_processes_equal_one(tmp_path):
    # SpecAugment draws from each process's own generator: off here (in-model randomness); float32,
    # since the preset's bf16 products round differently when the batch is split
    common = [*_tiny_av(tmp_path), "--loop.max_steps=4", "--loop.eval_every=2", "--mel.freq_masks=0",
              "--mel.time_masks=0", "--loop.mixed_precision=no"]
    one, two = two_equal_one(common, tmp_path, ["--loop.batch_size=4"], ["--loop.batch_size=8"], [2, 4],
                             ("loss", "val_loss", "val_acc"))
    assert figures(two)["acc"] == figures(one)["acc"]
