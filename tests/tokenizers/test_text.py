import random

import pytest
import torch

from tzoo.errors import TzooError
from tzoo.tokenizers import BpeCodec, CharCodec, TextTokenizer, encode_corpus, load_codec
from tzoo.tokenizers.types import TEXT


def random_unicode(rng: random.Random, n: int) -> str:
    pools = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x4E00, 0x4FFF), (0x1F300, 0x1F64F), (0x0, 0x1F)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(pools)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def test_char_round_trip_and_save(tmp_path, corpus_text):
    codec = CharCodec.train(corpus_text)
    assert codec.decode(codec.encode(corpus_text)) == corpus_text
    codec.save(tmp_path)
    again = load_codec("char", tmp_path)
    assert again.chars == codec.chars and again.encode("the king") == codec.encode("the king")


def test_char_unknown_character_is_a_clear_error(corpus_text):
    codec = CharCodec.train(corpus_text)
    with pytest.raises(TzooError, match="outside the vocabulary: 'é'"):
        codec.encode("café")


@pytest.fixture(scope="module")
def bpe(corpus_text):
    return BpeCodec.train(corpus_text, 300)


def test_bpe_round_trips_arbitrary_unicode(bpe):
    rng = random.Random(1)
    samples = ["", " ", "\n\n", "héllo wörld", "日本語のテキスト", "🙂🙃 emoji", "\x00\x01\t\r\n", "  leading"]
    samples += [random_unicode(rng, rng.randint(1, 60)) for _ in range(200)]
    for s in samples:
        assert bpe.decode(bpe.encode(s)) == s, repr(s)


def test_bpe_learns_merges_and_saves(tmp_path, bpe, corpus_text):
    assert bpe.vocab_size == 300
    ids = encode_corpus(bpe, corpus_text)
    assert len(ids) < len(corpus_text.encode()) / 2  # merges compress the text
    assert bpe.decode(ids.tolist()) == corpus_text
    bpe.save(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    assert load_codec("bpe", tmp_path).encode("the queen") == bpe.encode("the queen")


def test_broken_tokenizer_file_is_a_clear_error(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TzooError, match="tokenizer.json"):
        load_codec("bpe", tmp_path)


def test_text_tokenizer_positions_and_type():
    tok = TextTokenizer(10, 8)
    ts = tok(torch.tensor([[1, 2, 3]]), start=5)
    assert ts.embeds.shape == (1, 3, 8)
    assert ts.positions.tolist() == [[5, 6, 7]]
    assert ts.type_ids.unique().tolist() == [TEXT]
