"""The command line: listing, help, and one-line errors with exit status 2 for bad input."""
import json

import pytest

from tests.conftest import TINY, run_cli


def assert_clean_error(code, out, err, *needles):
    assert code == 2, (out, err)
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tzoo: error: ")
    for needle in needles:
        assert needle in last, (needle, last)


def test_list_and_help(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "char-lm" in out and "bpe-lm" in out
    code, out, _ = run_cli(capsys, "train", "char-lm", "--help")
    assert code == 0 and "--backbone.depth=" in out and "--loop.max_steps=" in out and "bench" in out


@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"na\xefve caf\xe9\n" * 50, "UTF-8"),
    (b"too short\n", "fewer than one block"),
])
def test_bad_corpus(tmp_path, capsys, content, needle):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={path}", *TINY)
    assert_clean_error(code, stdout, err, str(path), needle)
    assert not out.exists()  # nothing half-written


def test_unknown_recipe_and_bad_overrides(tmp_path, capsys, corpus):
    assert_clean_error(*run_cli(capsys, "train", "gpt-5"), "gpt-5", "tzoo list")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--backbone.depth=two"), "--backbone.depth")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--backbone.dept=2"), "valid keys")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--backbone.heads=3"), "divisible")
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--preset", "huge"), "huge")
    assert_clean_error(*run_cli(capsys, "frobnicate"), "frobnicate")


def test_sample_and_eval_on_a_non_run(tmp_path, capsys):
    assert_clean_error(*run_cli(capsys, "sample", tmp_path), "not a tzoo run directory")
    assert_clean_error(*run_cli(capsys, "sample", tmp_path / "missing"), "no such run directory")
    assert_clean_error(*run_cli(capsys, "eval", tmp_path), "not a tzoo run directory")


def test_run_errors(tmp_path, capsys, corpus):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}", *TINY,
                   "--loop.max_steps=2")[0] == 0
    # a second fresh run into the same folder would clobber it
    assert_clean_error(*run_cli(capsys, "train", "char-lm", "--out", out, f"--data.path={corpus}"), "--resume")
    # characters the char vocabulary never saw
    assert_clean_error(*run_cli(capsys, "sample", out, "--prompt", "Zürich €"), "outside the vocabulary")
    assert_clean_error(*run_cli(capsys, "train", "--resume", out, "--backbone.dim=64"), "cannot change on resume")
    assert_clean_error(*run_cli(capsys, "eval", out, "--loop.batch_size=3"), "--data.path")
    # a damaged config
    (out / "config.json").write_text(json.dumps({"recipe": "char-lm", "config": {"backbone": {"dim": "x"}}}))
    assert_clean_error(*run_cli(capsys, "sample", out), "config.json")
