"""audio-fsdd end to end on a tiny generated dataset: train, predict, eval, and bad input."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import tzoo

from tests.audio_fixtures import fake_fsdd, tone, write_wav
from tests.conftest import run_cli
from tests.test_cli import assert_clean_error
from tzoo.modalities.clips import ClipBatches, WaveAugment, pad_batch
from tzoo.modalities.fsdd import scan, split
from tzoo.recipes.audio import AUDIO_FSDD, make_model

AUDIO_TINY = ["--backbone.dim=32", "--backbone.depth=2", "--backbone.heads=2", "--loop.batch_size=8",
              "--loop.eval_every=4", "--loop.eval_batches=2", "--loop.log_every=1", "--optim.warmup_steps=2",
              "--mel.n_mels=20", "--data.max_seconds=1.0", "--data.val_indices=7,7", "--preset=fast"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run on the generated dataset, shared by the tests that use a trained model."""
    root = tmp_path_factory.mktemp("audio")
    data = fake_fsdd(root / "recordings")
    out = root / "run"
    from tzoo.cli import main
    # Per-clip rather than per-band normalisation: the generated glides are learned much faster with it.
    code = main(["train", "audio-fsdd", "--out", str(out), f"--data.dir={data}", "--loop.max_steps=60",
                 "--loop.eval_every=30", "--optim.lr=3e-3", "--augment.speed=0.05", "--augment.shift=0.02",
                 "--augment.noise_snr_db=20", "--mel.norm=clip", *AUDIO_TINY])
    assert code == 0
    return data, out


def test_training_writes_a_run_that_learns(trained):
    data, out = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 60 and metrics["test_examples"] == 30  # index 0: 3 speakers x 10 digits
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["train_clips_per_s"] > 0
    assert set(metrics["test_per_class_acc"]) == {str(d) for d in range(10)}
    assert metrics["test_acc"] > 0.5  # tones are easy: far above the 0.1 of guessing
    for name in ("config.json", "model.safetensors", "confusion.png", "log.jsonl", "state/latest.json"):
        assert (out / name).is_file(), name


def test_predict_any_rate_and_channels(trained, tmp_path, capsys):
    _, out = trained
    seven = tone(7, 0.4, rate=16000)
    a = write_wav(tmp_path / "seven.wav", np.stack([seven, seven], axis=1), rate=16000, subtype="PCM_24")
    b = write_wav(tmp_path / "seven8k.wav", tone(7, 0.4), subtype="FLOAT")
    code, stdout, err = run_cli(capsys, "predict", out, a, b)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 8 and lines[0] == str(a) and lines[4] == str(b)
    ranked = [[(line.split()[0], float(line.split()[1])) for line in block] for block in (lines[1:4], lines[5:8])]
    probs = [p for _, p in ranked[0]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    # the same sound as 16 kHz stereo and as 8 kHz mono: the same answer
    assert [d for d, _ in ranked[0]] == [d for d, _ in ranked[1]]
    assert all(abs(p - q) < 0.05 for (_, p), (_, q) in zip(*ranked))
    assert "7" in [d for d, _ in ranked[1]]


def test_eval_on_a_folder_prints_accuracy(trained, tmp_path, capsys):
    data, out = trained
    folder = tmp_path / "mine"
    folder.mkdir()
    for d in range(10):
        write_wav(folder / f"{d}_take.wav", tone(d, 0.35, pitch=1.03))
    (folder / "notes.txt").write_text("not audio")
    (folder / "0_broken.wav").write_bytes(b"RIFF")
    code, stdout, err = run_cli(capsys, "eval", out, f"--data.dir={folder}", "--data.max_bad_fraction=0.5")
    assert code == 2 and "--data.max_bad_fraction" in err  # eval takes only --data.dir
    code, stdout, err = run_cli(capsys, "eval", out, f"--data.dir={folder}")
    assert code == 2 and "1 of 11 evaluation files" in err  # above the run's 5% limit
    (folder / "0_broken.wav").unlink()
    code, stdout, err = run_cli(capsys, "eval", out, f"--data.dir={folder}")
    result = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and result["clips"] == 10 and 0.5 < result["accuracy"] <= 1.0
    code, stdout, _ = run_cli(capsys, "eval", out)  # the run's own test split
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads(stdout.strip().splitlines()[-1])["accuracy"] == pytest.approx(metrics["test_acc"])


def test_predict_bad_inputs(trained, tmp_path, capsys):
    _, out = trained
    good = write_wav(tmp_path / "good.wav", tone(3, 0.3))
    cases = {"empty.wav": b"", "cut.wav": good.read_bytes()[:200], "song.mp3": b"ID3\x03" + b"\x00" * 100}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        code, stdout, err = run_cli(capsys, "predict", out, good, tmp_path / name)
        assert_clean_error(code, stdout, err, name)
        assert stdout == ""  # every file is checked before anything is printed
    silent = write_wav(tmp_path / "silent.wav", np.zeros(3000, np.float32))
    assert_clean_error(*run_cli(capsys, "predict", out, silent), "silent.wav", "silent")
    long = write_wav(tmp_path / "long.wav", np.tile(tone(4, 0.5), 5))  # 2.5 s, the model takes 1 s
    code, stdout, err = run_cli(capsys, "predict", out, long)
    assert code == 0 and "long.wav" in err and "warning" in err and stdout.startswith(str(long))
    assert_clean_error(*run_cli(capsys, "predict", out, good, "--no-resize"), "audio-fsdd `predict` has no option 'resize'")


def test_predict_options_and_the_model_device(trained, tmp_path, capsys):
    from tests.recipes.device_spy import assert_runs_on_the_model_device

    _, out = trained
    wav = write_wav(tmp_path / "seven.wav", tone(7, 0.4))
    code, stdout, err = run_cli(capsys, "predict", out, wav, "--top-k", "5")
    assert code == 0 and len(stdout.strip().splitlines()) == 6, err  # the file, then its top 5 digits
    top = tzoo.load(out, device="cpu").predict([wav], top_k=10)[0]["top"]
    assert_clean_error(*run_cli(capsys, "predict", out, wav, "--top-k", "0"), "--top-k=0", "at least 1")
    assert sorted(d for d, _ in top) == list("0123456789") and sum(p for _, p in top) == pytest.approx(1, abs=1e-5)
    meta = tzoo.load(out, device="meta")
    assert_runs_on_the_model_device(meta, "predict", [wav])
    assert_runs_on_the_model_device(meta, "evaluate")


def test_long_clips_refused_when_configured(tmp_path, capsys):
    data = fake_fsdd(tmp_path / "rec", indices=(0, 5, 7), speakers=("ann",))
    write_wav(data / "4_ann_6.wav", np.tile(tone(4, 0.5), 5))
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "audio-fsdd", "--out", out, f"--data.dir={data}", *AUDIO_TINY,
                           "--loop.max_steps=2", "--data.on_long=error", "--data.max_bad_fraction=0.2")
    assert code == 0 and "skipped 1 of 11 training files" in err and "4_ann_6.wav" in err


def test_bad_datasets_fail_cleanly(tmp_path, capsys):
    data = fake_fsdd(tmp_path / "rec", indices=(0, 5, 7), speakers=("ann", "bob"))
    out = tmp_path / "run"
    args = ["train", "audio-fsdd", "--out", out, f"--data.dir={data}", *AUDIO_TINY, "--loop.max_steps=2"]
    assert_clean_error(*run_cli(capsys, *args, "--data.holdout_speaker=zed"), "zed", "ann, bob")
    assert_clean_error(*run_cli(capsys, *args[:4], "--data.dir=/no/such/folder"), "/no/such/folder")
    assert_clean_error(*run_cli(capsys, *args[:4]), "TZOO_DATA", "--data.dir")
    for i in range(3):
        (data / f"{i}_ann_5.wav").write_bytes(b"garbage")
    code, stdout, err = run_cli(capsys, *args)
    assert_clean_error(code, stdout, err, "3 of 20 training files", "_ann_5.wav")
    assert not out.exists()  # nothing half-written


def test_holdout_speaker_split_and_skipped_files(tmp_path, capsys):
    data = fake_fsdd(tmp_path / "rec", indices=(0, 5, 6, 7), speakers=("ann", "bob"))
    (data / "1_bob_6.wav").write_bytes(b"")
    (data / "README.wav").write_bytes(b"")
    train, test = split(scan(data), "bob", data)
    assert {r.speaker for r in test} == {"bob"} and {r.speaker for r in train} == {"ann"}
    assert "README.wav" in capsys.readouterr().err
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "audio-fsdd", "--out", out, f"--data.dir={data}", *AUDIO_TINY,
                           "--loop.max_steps=2", "--data.holdout_speaker=bob")
    assert code == 0 and "skipped 1 of 40 test files" in err
    assert json.loads((out / "metrics.json").read_text())["test_examples"] == 39


def test_batches_are_a_pure_function_of_the_index():
    waves = [torch.randn(n) for n in range(100, 1100, 50)]  # 20 clips
    labels = torch.arange(20) % 10
    make = lambda bs: ClipBatches(waves, labels, bs, seed=3, rate=8000, max_samples=2000,  # noqa: E731
                                  augment=WaveAugment(speed=0.1, shift=0.01, noise_snr_db=10))
    one, two = make(8), make(4)
    b = one.batch(5)
    assert torch.equal(b["audio"]["wave"], one.batch(5)["audio"]["wave"])
    halves = [two.batch(5, rank, 2) for rank in range(2)]  # two processes share the global batch
    assert torch.equal(torch.cat([h["audio"]["wave"] for h in halves]), b["audio"]["wave"])
    assert torch.equal(torch.cat([h["targets"] for h in halves]), b["targets"])
    plain = ClipBatches(waves, labels, 4, seed=3, rate=8000, augment=None, max_samples=2000)
    seen = torch.cat([plain.batch(i)["audio"]["lengths"] for i in range(5)])  # one epoch
    assert sorted(seen.tolist()) == [w.numel() for w in waves]


def test_pad_batch():
    wave, lengths = pad_batch([torch.ones(3), torch.ones(5)])
    assert wave.shape == (2, 5) and lengths.tolist() == [3, 5] and wave[0, 3:].sum() == 0


@pytest.mark.parametrize("preset", sorted(AUDIO_FSDD.presets))
def test_every_parameter_of_every_preset_gets_a_gradient(preset):
    cfg = AUDIO_FSDD.presets[preset]()
    cfg = replace(cfg, backbone=replace(cfg.backbone, dim=32, depth=1, heads=2), mel=replace(cfg.mel, conv_channels=4))
    torch.manual_seed(0)
    model = make_model(cfg).train()
    with torch.no_grad():
        model.head().head.weight.normal_()  # the zero-initialised head would block gradients below it
    wave, lengths = pad_batch([torch.from_numpy(tone(d, 0.3 + 0.1 * d, seed=d)) for d in range(4)])
    batch = {"audio": {"wave": wave, "lengths": lengths}, "targets": torch.arange(4)}
    model(batch).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
