"""av-digits at tiny sizes on synthetic MNIST parquet and synthetic FSDD recordings."""
import json

import pytest
from PIL import Image

import tzoo
from tests.audio_fixtures import fake_fsdd, tone, write_wav
from tests.conftest import run_cli
from tests.mixing.conftest import write_mnist_parquet
from tests.test_cli import assert_clean_error

TINY = ["--backbone.dim=32", "--backbone.depth=1", "--backbone.heads=2", "--loop.batch_size=8",
        "--loop.eval_every=2", "--loop.log_every=1", "--optim.warmup_steps=1", "--data.eval_examples=4",
        "--data.test_examples=4",
        "--mel.n_mels=20", "--data.max_seconds=1.0", "--data.val_images=100", "--data.carve_test=200"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("av")
    write_mnist_parquet(root / "mnist", "test", [i % 10 for i in range(1200)])
    fsdd = fake_fsdd(root / "rec", indices=(0, 5, 10, 11), speakers=("ann",))
    out = root / "run"
    from tzoo.cli import main
    code = main(["train", "av-digits", "--out", str(out), f"--data.mnist_dir={root / 'mnist'}",
                 f"--data.fsdd_dir={fsdd}", "--loop.max_steps=4", *TINY])
    assert code == 0
    return root, out


def test_training_writes_the_question_by_condition_table(trained):
    _, out = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["acc"]) == {"written", "spoken", "match", "sum", "fused"}
    for row in metrics["acc"].values():
        assert set(row) == {"both", "image_only", "audio_only"} and all(0 <= v <= 1 for v in row.values())
    assert "only the official test split" in metrics["data_note"]
    assert (out / "accuracy.png").is_file() and len((out / "examples.txt").read_text().splitlines()) == 10


def test_predict_with_each_subset_of_inputs(trained, tmp_path, capsys):
    _, out = trained
    png = tmp_path / "seven.png"
    Image.new("L", (28, 28), 150).save(png)
    wav = write_wav(tmp_path / "three.wav", tone(3, 0.4))
    for args in (["--image", png], ["--audio", wav], ["--image", png, "--audio", wav]):
        code, stdout, err = run_cli(capsys, "predict", out, *args, "--prompt", "do they match?")
        assert code == 0, err
        assert stdout.strip().splitlines()[-1] == stdout.strip().splitlines()[-1].strip()
    answer = tzoo.load(out).predict([], image=str(png), prompt="which digit is written?")[0]["answer"]
    assert isinstance(answer, str) and len(answer) <= 10


def test_predict_bad_inputs(trained, tmp_path, capsys):
    _, out = trained
    png = tmp_path / "x.png"
    Image.new("L", (28, 28), 150).save(png)
    big = tmp_path / "big.png"
    Image.new("L", (40, 40)).save(big)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"RIFF nonsense")
    cases = [
        (["--prompt", "do they match?"], "--image FILE and / or --audio FILE"),
        (["--image", png, "--prompt", ""], "--prompt"),
        (["--image", png, "--prompt", "WHAT?!"], "outside the vocabulary"),
        (["--image", big, "--prompt", "do they match?", "--no-resize"], "40x40"),
        (["--image", png, "--prompt", "is it " + "very " * 12 + "big?"], "70 characters", "up to 64"),
        (["--image", png, "--prompt", "do they match?", "--top-k", "2"], "av-digits `predict` has no option 'top_k'"),
        (["--image", text, "--prompt", "do they match?"], "not a readable image"),
        (["--audio", bad_wav, "--prompt", "do they match?"], "bad.wav"),
    ]
    for args, *needles in cases:
        assert_clean_error(*run_cli(capsys, "predict", out, *args), *needles)
    code, _, err = run_cli(capsys, "predict", out, "--image", big, "--prompt", "x" * 64)  # the longest question
    assert code == 0 and err.strip() == f"tzoo: {big}: 40x40 image resized to the model's 28x28"


def test_verbs_run_on_the_model_device(trained, tmp_path):
    from tests.recipes.device_spy import assert_runs_on_the_model_device

    _, out = trained
    png = tmp_path / "seven.png"
    Image.new("L", (28, 28), 150).save(png)
    wav = write_wav(tmp_path / "three.wav", tone(3, 0.4))
    meta = tzoo.load(out, device="meta")
    assert_runs_on_the_model_device(meta, "predict", [], image=str(png), audio=str(wav), prompt="do they match?")
    assert_runs_on_the_model_device(meta, "evaluate")


def test_missing_mnist_folder_says_what_to_pass(tmp_path, capsys):
    assert_clean_error(*run_cli(capsys, "train", "av-digits", "--out", tmp_path / "r",
                                f"--data.mnist_dir={tmp_path / 'nope'}", *TINY), "--data.mnist_dir")
    assert not (tmp_path / "r").exists()


def test_the_encoder_decoder_fusion_trains_and_answers(trained, tmp_path, capsys):
    root, prefix_run = trained
    out = tmp_path / "encdec"
    code, _, err = run_cli(capsys, "train", "av-digits", "--out", out, f"--data.mnist_dir={root / 'mnist'}",
                           f"--data.fsdd_dir={root / 'rec'}", "--loop.max_steps=4", "--model.fusion=encdec", *TINY)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["acc"]) == {"written", "spoken", "match", "sum", "fused"}
    assert metrics["params"] == json.loads((prefix_run / "metrics.json").read_text())["params"]  # same parameters
    wav = write_wav(tmp_path / "three.wav", tone(3, 0.4))
    code, stdout, err = run_cli(capsys, "predict", out, "--audio", wav, "--prompt", "which digit is spoken?")
    assert code == 0, err
    assert len(stdout.strip().splitlines()[-1]) <= 10


def test_the_conv_stem_with_a_repeated_kind_trains_and_scores_each_kind_once(trained, tmp_path, capsys):
    root, _ = trained
    out = tmp_path / "conv"
    code, _, err = run_cli(capsys, "train", "av-digits", "--out", out, f"--data.mnist_dir={root / 'mnist'}",
                           f"--data.fsdd_dir={root / 'rec'}", "--loop.max_steps=2", "--model.image_stem=conv",
                           "--model.patch_size=8", "--data.kinds=written,sum,sum", *TINY)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["acc"]) == ["written", "sum"]
    assert metrics["test_acc"] == pytest.approx((metrics["acc"]["written"]["both"] + metrics["acc"]["sum"]["both"]) / 2,
                                                abs=1e-3)
    png = tmp_path / "seven.png"
    Image.new("L", (28, 28), 150).save(png)
    code, stdout, err = run_cli(capsys, "predict", out, "--image", png, "--prompt", "which digit is written?")
    assert code == 0, err


def test_eval_rescores_the_test_side_with_more_examples(trained, capsys):
    _, out = trained
    code, stdout, err = run_cli(capsys, "eval", out)
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1]) == {k: v for k, v in json.loads(
        (out / "metrics.json").read_text()).items() if k in ("acc", "test_acc", "test_examples_per_question", "data_note")}
    code, stdout, err = run_cli(capsys, "eval", out, "--data.test_examples=12")
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["test_examples_per_question"] == 12
    assert_clean_error(*run_cli(capsys, "eval", out, "--data.kinds=sum"), "--data.test_examples")
