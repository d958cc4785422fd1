"""`qa` at tiny sizes on generated manifests: colour images (mixed modes and sizes), tone clips at two
rates, context text; the answer is the image's colour."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import tzoo
from tzoo.errors import TzooError
from tests.audio_fixtures import tone, write_wav
from tests.conftest import run_cli
from tests.recipes.qa_fixtures import colour_image, colour_manifest, colour_rows, write_rows
from tests.test_cli import assert_clean_error

TINY = ["--data.image_size=8", "--model.patch_size=4", "--backbone.dim=32", "--backbone.depth=1",
        "--backbone.heads=2", "--loop.batch_size=12", "--loop.eval_every=30", "--loop.log_every=10",
        "--optim.warmup_steps=2", "--optim.lr=3e-3", "--mel.n_mels=16", "--data.max_seconds=0.3",
        "--data.min_asked=5", "--model.max_answer=8", "--model.max_question=24", "--model.max_text=12"]
QUESTION = "what colour is it?"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    data = colour_manifest(root / "data", n_train=48, n_test=24, audio_every=4, text_every=3)
    out = root / "run"
    from tzoo.cli import main
    assert main(["train", "qa", "--out", str(out), f"--data.dataset={data}", "--loop.max_steps=30", *TINY]) == 0
    return data, out


def test_learns_the_colour_far_above_chance_and_needs_the_image(trained):
    """Chance is 1/3 (three colours, equally often); without the image the model can only guess."""
    _, out = trained
    m = json.loads((out / "metrics.json").read_text())
    assert m["test_exact_match"] >= 0.8, m
    assert m["test_exact_match_by"] == {QUESTION: pytest.approx(m["test_exact_match"], abs=1e-4)}
    assert m["test_exact_match_without"]["image"] <= 0.5
    assert set(m["val_exact_match_by"]) == {QUESTION} and 0 <= m["val_exact_match"] <= 1
    assert m["splits"]["validation"]["from"] == "carved 10% of train.jsonl, seed 0"
    assert m["splits"]["test"] == {"size": 24, "from": "test.jsonl"} and m["splits"]["train"]["size"] == 43
    assert (out / "accuracy.png").is_file() and (out / "vocab.json").is_file()
    lines = (out / "examples.txt").read_text().splitlines()
    assert len(lines) == 12 and lines[0].startswith("[image 1000.png, audio 1000.wav] " + QUESTION)


def test_predict_on_the_command_line_and_in_python(trained, tmp_path, capsys):
    data, out = trained
    png = data / "img" / "1001.png"  # a test image: blue (1001 % 3 = 2)
    code, stdout, err = run_cli(capsys, "predict", out, "--image", png, "--prompt", QUESTION)
    assert code == 0 and stdout.strip().splitlines()[-1] == "blue", err
    wav = write_wav(tmp_path / "a.wav", tone(3, 0.25))
    code, stdout, err = run_cli(capsys, "predict", out, "--image", png, "--audio", wav, "--text", "row 7",
                                "--prompt", QUESTION)
    assert code == 0 and stdout.strip().splitlines()[-1] in ("red", "green", "blue"), err
    model = tzoo.load(out)
    pil = Image.open(png)
    rows = [{"image": str(png), "question": QUESTION}, {"image": pil, "question": QUESTION},
            {"image": np.asarray(pil.convert("RGB")), "question": QUESTION},
            {"image": colour_image("red", 5), "audio": tone(2, 0.2), "text": "row 1", "question": QUESTION}]
    answers = [r["answer"] for r in model.predict(rows)]
    assert answers[:3] == ["blue"] * 3 and answers[3] == "red"


def test_predict_refuses_what_the_model_cannot_read(trained, tmp_path, capsys):
    data, out = trained
    png = data / "img" / "1001.png"
    cases = [
        (["--image", png, "--prompt", "what colour is it señor?"], "'ñ'", "never appear in the training rows"),
        (["--prompt", QUESTION], "give an image, audio and / or text"),
        (["--image", tmp_path / "none.png", "--prompt", QUESTION], "none.png", "file not found"),
        (["--image", png, "--prompt", "is the tower tall?", "--strict"], "far from every question",
         QUESTION),
        (["--image", png, "--text", "r" * 13, "--prompt", QUESTION], "13 characters", "max_text"),
    ]
    for args, *needles in cases:
        assert_clean_error(*run_cli(capsys, "predict", out, *args), *needles)
    code, stdout, err = run_cli(capsys, "predict", out, "--image", png, "--prompt", "is the tower tall?")
    assert code == 0 and "warning" in err and QUESTION in err and stdout.strip()  # answered, but warned
    code, _, err = run_cli(capsys, "predict", out, "--image", png, "--prompt", "what colour is this?")
    assert code == 0 and "warning" not in err  # close to a taught question: no warning
    with pytest.raises(TzooError, match="qa `predict` has no option 'top_k'"):
        tzoo.load(out).predict([{"image": str(png), "question": QUESTION}], top_k=2)


def test_predict_converts_another_image_size_with_a_note_or_refuses_it(trained, tmp_path, capsys):
    data, out = trained
    png = data / "img" / "1001.png"  # 20x20; the model reads 8x8
    code, stdout, err = run_cli(capsys, "predict", out, "--image", png, "--prompt", QUESTION)
    assert code == 0 and "20x20 image converted to the model's 8x8" in err, err
    assert_clean_error(*run_cli(capsys, "predict", out, "--image", png, "--prompt", QUESTION, "--no-resize"),
                       "20x20", "8x8", "--no-resize")
    small = tmp_path / "small.png"
    colour_image("blue", 0, size=8).save(small)  # already the model's size: neither note nor refusal
    code, stdout, err = run_cli(capsys, "predict", out, "--image", small, "--prompt", QUESTION, "--no-resize")
    assert code == 0 and stdout.strip().splitlines()[-1] == "blue" and "converted" not in err, err


def test_verbs_run_on_the_model_device(trained, tmp_path):
    from tests.recipes.device_spy import assert_runs_on_the_model_device

    data, out = trained
    meta = tzoo.load(out, device="meta")
    png = str(data / "img" / "1001.png")
    assert_runs_on_the_model_device(meta, "predict", [], image=png, text="row 1", prompt=QUESTION)
    assert_runs_on_the_model_device(meta, "predict", [{"image": png, "question": QUESTION}])
    assert_runs_on_the_model_device(meta, "evaluate")
    assert_runs_on_the_model_device(meta, "evaluate", {"data.dataset": str(data / "test.jsonl")})
    with pytest.raises(TzooError, match="eval of qa takes only --data.dataset, --data.cache_gb, not --loop.max_steps"):
        meta.evaluate({"loop.max_steps": "1"})


def test_eval_rescores_the_run_and_another_manifest(trained, tmp_path, capsys):
    data, out = trained
    code, stdout, err = run_cli(capsys, "eval", out)
    own = json.loads(stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    assert code == 0 and own["test_exact_match"] == pytest.approx(metrics["test_exact_match"]), err
    other = tmp_path / "other"
    write_rows(other / "test.jsonl", colour_rows(other, 9, start=2000))
    code, stdout, err = run_cli(capsys, "eval", out, f"--data.dataset={other}")
    assert code == 0 and json.loads(stdout.strip().splitlines()[-1])["test_examples"] == 9, err
    code, stdout, _ = run_cli(capsys, "eval", out, f"--data.dataset={other / 'test.jsonl'}")
    assert code == 0 and json.loads(stdout.strip().splitlines()[-1])["splits"]["test"]["size"] == 9
    write_rows(other / "test.jsonl", [{"text": "row 1", "question": "what colour is it?", "answer": "purple"}])
    assert_clean_error(*run_cli(capsys, "eval", out, f"--data.dataset={other}"), "test.jsonl: line 1", "'p'")


def test_an_absent_input_does_not_change_the_answer_logits(trained):
    """Rows lacking an image / clip / text: whatever their absent content holds, the logits are the same;
    the same change to a present input does change them (so the check can fail)."""
    from tzoo.modalities.answers import answer_tensors

    _, out = trained
    model = tzoo.load(out).model.eval()
    g = torch.Generator().manual_seed(0)
    b = 3
    q = {"ids": torch.randint(4, 20, (b, 6), generator=g), "mask": torch.ones(b, 6, dtype=torch.bool)}
    base = {"image": {"images": torch.randint(0, 256, (b, 3, 8, 8), dtype=torch.uint8, generator=g),
                      "present": torch.tensor([False, True, True])},
            "audio": {"wave": torch.randn(b, 2400, generator=g), "lengths": torch.tensor([2400, 0, 2400]),
                      "present": torch.tensor([True, False, True])},
            "text": {"ids": torch.randint(4, 20, (b, 5), generator=g),
                     "mask": torch.tensor([[True] * 5, [True] * 5, [False] * 5])},
            "question": q, **answer_tensors([[0, 5, 6, 1]] * b, 1)}

    def logits(batch):
        with torch.no_grad():
            return model({k: v for k, v in batch.items() if k != "targets"}, task="qa").outputs["logits"]

    ref = logits(base)
    changed = {"image": ("images", torch.randint(0, 256, (b, 3, 8, 8), dtype=torch.uint8, generator=g), 0),
               "audio": ("wave", torch.randn(b, 2400, generator=g), 1),
               "text": ("ids", torch.randint(4, 20, (b, 5), generator=g), 2)}
    for kind, (key, value, absent_row) in changed.items():
        other = logits({**base, kind: {**base[kind], key: value}})
        assert torch.equal(other[absent_row], ref[absent_row]), kind  # absent: no effect at all
        present_rows = [i for i in range(b) if i != absent_row]
        assert not torch.allclose(other[present_rows], ref[present_rows]), kind  # present: it matters


def test_resume_continues_to_the_new_step_count(tmp_path, capsys):
    data = colour_manifest(tmp_path / "data", n_train=20, n_test=6)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "qa", "--out", out, f"--data.dataset={data}", "--loop.max_steps=2", *TINY)
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", "--resume", out, "--loop.max_steps=4")
    assert code == 0 and json.loads((out / "metrics.json").read_text())["step"] == 4, err


def test_validation_file_is_used_when_there_is_one(tmp_path):
    from tzoo.modalities.qa import Limits, load_splits

    data = colour_manifest(tmp_path / "d", n_train=12, n_test=3)
    write_rows(data / "validation.jsonl", colour_rows(data, 4, start=500))
    splits, record, _ = load_splits(str(data), Limits())
    assert record == {"train": {"size": 12, "from": "train.jsonl"}, "validation": {"size": 4, "from": "validation.jsonl"},
                      "test": {"size": 3, "from": "test.jsonl"}}
    (data / "test.jsonl").unlink()
    again = load_splits(str(data), Limits(), test_fraction=0.25, seed=3)[0]
    assert again["test"].lines == load_splits(str(data), Limits(), test_fraction=0.25, seed=3)[0]["test"].lines
    assert len(again["test"]) == 3 and len(again["train"]) == 9


def test_training_batches_do_not_depend_on_the_process_count(trained):
    from tzoo.modalities.convert import AudioConverter, ImageConverter
    from tzoo.modalities.qa import Inputs, Limits, QaBatches, load_splits, make_side, vocabulary

    data, _ = trained
    rows = load_splits(str(data), Limits(8, 24, 12))[0]["train"]
    inputs = Inputs(ImageConverter(8), AudioConverter(8000), 2400)
    side = make_side(rows, vocabulary(rows), inputs)
    src = QaBatches(side, ("image", "audio", "text"), inputs, 1, 4, seed=7, drop=0.3)
    one = src.batch(5, 0, 1), src.batch(6, 0, 1)
    two = [QaBatches(side, ("image", "audio", "text"), inputs, 1, 2, seed=7, drop=0.3).batch(5, r, 2) for r in (0, 1)]
    assert torch.equal(torch.cat([b["image"]["images"] for b in two]), one[0]["image"]["images"])
    assert torch.equal(torch.cat([b["image"]["present"] for b in two]), one[0]["image"]["present"])
    assert src.epoch_size == len(side) == 43
    epoch = torch.cat([src.rows(i) for i in range(len(side) // 4)])  # the first epoch: each row once
    assert len(set(epoch.tolist())) == len(epoch)


def test_a_parquet_folder_with_the_same_columns_trains(tmp_path, capsys):
    """image as an Image feature, audio as an Audio feature, text / question / answer as strings."""
    import datasets

    def split(name, start, n):
        rows = colour_rows(tmp_path / "files", n, start=start, audio_every=2)
        files = tmp_path / "files"
        raw = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
        ds = datasets.Dataset.from_dict({
            "image": [{"bytes": (files / r["image"]).read_bytes(), "path": None} for r in rows],
            "audio": [{"bytes": (files / r["audio"]).read_bytes(), "path": None} if "audio" in r else None for r in rows],
            "question": [r["question"] for r in rows], "answer": [r["answer"] for r in rows]},
            features=datasets.Features({"image": datasets.Image(), "audio": raw, "question": datasets.Value("string"),
                                        "answer": datasets.Value("string")}))
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
        ds.to_parquet(str(tmp_path / "pq" / f"{name}-00000-of-00001.parquet"))

    split("train", 0, 12)
    split("test", 100, 4)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "qa", "--out", out, f"--data.dataset={tmp_path / 'pq'}", "--loop.max_steps=2",
                           *TINY)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["splits"]["test"] == {"size": 4, "from": f"test split of {tmp_path / 'pq'}"}
    assert json.loads((out / "qa.json").read_text())["inputs"] == ["image", "audio"]
