import pytest
import torch

from tzoo.errors import TzooError
from tzoo.modalities.text import (RandomWindows, consecutive_windows, find_corpus, read_corpus,
                                  split_text)


def test_split_follows_nanogpt():
    train, val = split_text("x" * 1000, 0.1)
    assert len(train) == 900 and len(val) == 100


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"abc\x00def", "binary"),
    (b"caf\xe9 au lait", "not valid UTF-8"),
])
def test_bad_corpus_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(TzooError, match=message):
        read_corpus(path)


def test_missing_corpus_names_the_flag(tmp_path):
    with pytest.raises(TzooError, match="--data.path"):
        find_corpus(str(tmp_path / "nope.txt"))


def test_offline_without_local_copy_says_what_to_pass(monkeypatch, tmp_path):
    import tzoo.modalities.sources as sources

    def no_network(url, dest, timeout=30.0):
        raise OSError("network unreachable")

    monkeypatch.setattr(sources, "download", no_network)
    with pytest.raises(TzooError, match="TZOO_DATA"):
        find_corpus(None)
    assert not (tmp_path / "cache" / "tinyshakespeare" / "input.txt").exists()


def test_tzoo_data_is_used(monkeypatch, tmp_path):
    (tmp_path / "d" / "tinyshakespeare").mkdir(parents=True)
    (tmp_path / "d" / "tinyshakespeare" / "input.txt").write_text("hello")
    monkeypatch.setenv("TZOO_DATA", str(tmp_path / "d"))
    assert find_corpus(None) == tmp_path / "d" / "tinyshakespeare" / "input.txt"


def test_random_windows_are_deterministic_and_shard_by_rank():
    ids = torch.arange(1000)
    src = RandomWindows(ids, 8, 4, seed=3)
    a, b = src.batch(7), src.batch(7)
    assert torch.equal(a["text"], b["text"])
    assert torch.equal(a["targets"], a["text"] + 1)  # next token
    whole = RandomWindows(ids, 8, 4, seed=3).batch(5, 0, 1)["text"]
    half = RandomWindows(ids, 8, 2, seed=3)
    parts = torch.cat([half.batch(5, 0, 2)["text"], half.batch(5, 1, 2)["text"]])
    assert torch.equal(whole, parts)


@pytest.mark.parametrize("world", [1, 2])
def test_consecutive_windows_predict_every_token_once(world):
    ids = torch.arange(103)
    seen = []
    for rank in range(world):
        for batch in consecutive_windows(ids, 10, 3, rank, world):
            t = batch["targets"]
            seen += t[t != -1].tolist()
            x = batch["text"]
            assert torch.equal(x[t != -1] + 1, t[t != -1])
    assert sorted(seen) == list(range(1, 103))
