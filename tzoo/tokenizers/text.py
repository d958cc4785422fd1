"""Text: parameter-free codecs (characters, byte-level BPE) and the module that embeds ids."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Protocol

import torch
from torch import Tensor, nn

from ..backbone import TokenSet
from ..errors import TzooError
from ..storage import atomic_write, read_json, write_json
from .types import TEXT

CHAR_FILE = "vocab.json"
BPE_FILE = "tokenizer.json"


class Codec(Protocol):
    """Text <-> ids. Parameter-free; runs in the data pipeline."""

    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def save(self, run_dir: Path) -> None: ...


class CharCodec:
    """One id per distinct character of the training text."""

    kind = "char"

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars = sorted(set(chars))
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def train(cls, text: str) -> "CharCodec":
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError:
            unknown = sorted({c for c in text if c not in self.index})
            shown = "".join(unknown[:10])
            raise TzooError(f"text has {len(unknown)} character(s) outside the vocabulary: {shown!r}; "
                            "use only characters of the training corpus") from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def save(self, run_dir: Path) -> None:
        write_json(Path(run_dir) / CHAR_FILE, {"kind": "char", "chars": self.chars})

    @classmethod
    def load(cls, run_dir: Path) -> "CharCodec":
        path = Path(run_dir) / CHAR_FILE
        data = read_json(path, "character vocabulary")
        chars = data.get("chars") if isinstance(data, dict) else None
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise TzooError(f"{path}: 'chars' must be a list of single characters")
        return cls(chars)


class BpeCodec:
    """Byte-level BPE from Hugging Face `tokenizers`: any Unicode string round-trips."""

    kind = "bpe"

    def __init__(self, tokenizer) -> None:  # tokenizers.Tokenizer
        self.tok = tokenizer

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "BpeCodec":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
        tok.train_from_iterator(_chunks(text), trainer=trainer, length=None)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def encode_long(self, text: str) -> list[int]:
        """Encode a large text in line chunks (much faster than one giant string)."""
        out: list[int] = []
        for enc in self.tok.encode_batch(list(_chunks(text))):
            out.extend(enc.ids)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def save(self, run_dir: Path) -> None:
        atomic_write(Path(run_dir) / BPE_FILE, lambda tmp: self.tok.save(str(tmp)))

    @classmethod
    def load(cls, run_dir: Path) -> "BpeCodec":
        from tokenizers import Tokenizer

        path = Path(run_dir) / BPE_FILE
        if not path.is_file():
            raise TzooError(f"{path}: BPE tokenizer not found; the run directory is incomplete")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as e:  # the Rust side raises plain Exception
            raise TzooError(f"{path}: not a valid tokenizer.json ({' '.join(str(e).split())[:100]})") from None


def _chunks(text: str, size: int = 1 << 16) -> Iterable[str]:
    """Split at line ends into pieces of about `size` characters (keeps every character)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end == -1 else end + 1
        yield text[start:end]
        start = end


def train_codec(kind: str, text: str, vocab_size: int) -> Codec:
    """A new codec of `kind` ("char" or "bpe") fitted to `text`."""
    if kind == "char":
        return CharCodec.train(text)
    if kind == "bpe":
        return BpeCodec.train(text, vocab_size)
    raise TzooError(f"unknown text tokenizer {kind!r}; use char or bpe")


def load_codec(kind: str, run_dir: Path) -> Codec:
    """The codec a run saved in its directory."""
    return CharCodec.load(run_dir) if kind == "char" else BpeCodec.load(run_dir)


def encode_corpus(codec: Codec, text: str) -> Tensor:
    """The whole text as a 1-D long tensor of ids."""
    ids = codec.encode_long(text) if isinstance(codec, BpeCodec) else codec.encode(text)
    return torch.tensor(ids, dtype=torch.long)


class TextTokenizer(nn.Module):
    """Token ids -> TokenSet: one learned embedding per id, position = index in the text.

    Args:
        vocab_size: number of ids.
        dim: backbone width D.
        type_id: the token kind (TEXT; QUESTION / ANSWER when one text conditions another).
    """

    type_id = TEXT

    def __init__(self, vocab_size: int, dim: int, type_id: int = TEXT) -> None:
        super().__init__()
        self.type_id = type_id
        self.embed = nn.Embedding(vocab_size, dim)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, ids: Tensor, start: int = 0, mask: Optional[Tensor] = None) -> TokenSet:
        # ids: (B, T) -> embeds (B, T, D), positions start .. start+T-1
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        return TokenSet.of(self.embed(ids), self.type_id, positions, mask)
