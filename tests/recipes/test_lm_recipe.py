"""char-lm and bpe-lm end to end at tiny sizes, through the CLI and the Trainer."""
import json
import math
import random
from collections import Counter

import pytest
import torch

from tests.conftest import TINY, run_cli
from tests.test_cli import assert_clean_error
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


# -- the user's own text: a folder of .txt files, a parquet folder (with or without a validation split) --
def write_parquet(path, columns: dict) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns).to_parquet(str(path))


def txt_folder(root, text: str):
    """Three .txt files (one nested) and a file of another kind; returns (folder, the text they join to)."""
    lines = text.splitlines(keepends=True)
    third = len(lines) // 3
    parts = {"a.txt": lines[:third], "b/c.txt": lines[third:2 * third], "d.txt": lines[2 * third:]}
    folder = root / "texts"
    for name, part in parts.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("".join(part), encoding="utf-8")
    (folder / "README.md").write_text("TITLE #1 (not read)", encoding="utf-8")
    return folder, "\n".join("".join(parts[n]) for n in ("a.txt", "b/c.txt", "d.txt"))


def parquet_folder(root, text: str, validation: bool):
    """A parquet folder whose text is in `content` (a second string column, `title`, holds characters the
    text lacks); with `validation`, the last 50 lines are its validation split. Returns (folder, train, val)."""
    lines = text.splitlines()
    train, val = (lines[:-50], lines[-50:]) if validation else (lines, [])
    folder = root / ("pq_val" if validation else "pq")
    for split, rows in (("train", train), ("validation", val)):
        if rows:
            write_parquet(folder / f"{split}-00000-of-00001.parquet",
                          {"title": [f"TITLE #{i}" for i in range(len(rows))], "content": rows})
    return folder, "\n".join(train), "\n".join(val)


@pytest.mark.parametrize("recipe", ["char-lm", "bpe-lm"])
@pytest.mark.parametrize("kind", ["txt-folder", "parquet", "parquet-with-validation"])
def test_user_text_trains_and_records_its_splits(tmp_path, capsys, corpus_text, recipe, kind):
    if kind == "txt-folder":
        source, text = txt_folder(tmp_path, corpus_text)
        n = int(len(text) * 0.9)
        train, val = text[:n], text[n:]
        origin = ("first 90% of the 3 .txt files of", "last 10% of the 3 .txt files of")
    else:
        source, train, val = parquet_folder(tmp_path, corpus_text, kind == "parquet-with-validation")
        if not val:
            n = int(len(train) * 0.9)
            train, val = train[:n], train[n:]
            origin = ("first 90% of the train split of", "last 10% of the train split of")
        else:
            origin = ("train split of", "validation split of")
    out = tmp_path / "run"
    extra = ["--data.vocab_size=300"] if recipe == "bpe-lm" else []
    code, stdout, err = run_cli(capsys, "train", recipe, "--out", out, f"--data.dataset={source}",
                                "--data.text_column=content", "--loop.max_steps=2", *TINY, *extra)
    assert code == 0, err
    splits = json.loads((out / "metrics.json").read_text())["splits"]
    assert [splits["train"]["size"], splits["validation"]["size"]] == [len(train), len(val)]
    assert splits["train"]["from"] == f"{origin[0]} {source}"
    assert splits["validation"]["from"] == f"{origin[1]} {source}"
    assert f"data: train {len(train):,} chars ({origin[0]} {source}), validation {len(val):,} chars" in stdout
    if recipe == "char-lm":  # the characters of the text read, not of the title column or the README
        assert set(json.loads((out / "vocab.json").read_text())["chars"]) == set(train + val)


def test_default_corpus_keeps_its_split(tmp_path, monkeypatch, corpus):
    """Unset --data.dataset reads Tiny Shakespeare's file: the first 90% of its characters train, as before."""
    import tzoo.recipes.lm as lm
    from tzoo.modalities.text import split_text
    from tzoo.recipes.lm import TextDataConfig, load_corpus

    monkeypatch.setattr(lm, "find_corpus", lambda path: corpus)
    got = load_corpus(TextDataConfig(block_size=16), RunDir(tmp_path / "run"))
    train, val = split_text(corpus.read_text(), 0.1)
    assert got.codec.decode(got.train.tolist()) == train and got.codec.decode(got.val.tolist()) == val
    assert got.splits["validation"] == {"size": len(val), "from": f"last 10% of the text of {corpus}"}


def test_char_lm_learns_a_regular_corpus(tmp_path, capsys):
    """Words drawn uniformly from 4: the text's entropy H is 2 bits per word, 2 / 5.25 = 0.38 bits per
    character. A model blind to context does no better than the character frequencies' entropy H1
    (3.35 bits, below the uniform log2(12) = 3.58). Bound: val bpc below (H + H1) / 2, i.e. the model
    closes at least half the gap between ignoring context and the text's own rate."""
    rng = random.Random(0)
    words = ["red ", "green ", "blue ", "black "]
    text = "".join(rng.choice(words) for _ in range(1500))
    (tmp_path / "regular.txt").write_text(text, encoding="utf-8")
    counts = Counter(text)
    h = 2 / (sum(map(len, words)) / len(words))
    h1 = -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())
    assert h1 < math.log2(len(counts))
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.dataset={tmp_path / 'regular.txt'}",
                           *TINY, "--loop.batch_size=8", "--loop.max_steps=60", "--loop.eval_every=60",
                           "--optim.lr=3e-3")
    assert code == 0, err
    bpc = json.loads((out / "metrics.json").read_text())["val_bpc"]
    assert bpc < (h + h1) / 2, (bpc, h, h1)


def test_eval_scores_another_corpus(tmp_path, capsys, corpus_text):
    folder, joined = txt_folder(tmp_path, corpus_text)
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "char-lm", "--out", out, f"--data.dataset={folder}", "--loop.max_steps=2",
                   *TINY, "--loop.batch_size=64")[0] == 0  # big batches: eval scores whole corpora

    def evaluate(*overrides):
        code, stdout, err = run_cli(capsys, "eval", out, *overrides)
        assert code == 0, err
        return json.loads(stdout.strip().splitlines()[-1])

    own = evaluate()
    assert own["data"] == f"last 10% of the 3 .txt files of {folder}"
    assert own["loss"] == pytest.approx(json.loads((out / "metrics.json").read_text())["val_loss"], rel=1e-4)
    pq, _, val = parquet_folder(tmp_path, corpus_text, validation=True)
    other = evaluate(f"--data.dataset={pq}", "--data.text_column=content")  # its own validation split
    assert other["data"] == f"validation split of {pq}"
    assert other["tokens_scored"] == other["chars_scored"] == len(val) - 1
    whole = evaluate(f"--data.dataset={folder}")  # a folder of .txt files: all of it
    assert whole["data"] == str(folder) and whole["chars_scored"] == len(joined) - 1
    assert evaluate(f"--data.path={folder}") == whole  # the older name
    code, stdout, err = run_cli(capsys, "eval", out, f"--data.dataset={pq}", f"--data.path={folder}")
    assert_clean_error(code, stdout, err, "--data.dataset", "--data.path")
