"""Tokenizers: raw data of one modality -> TokenSet. Each owns its positions and type id."""
from . import types
from .fields import FieldSpec, FieldTokenizer
from .presence import MaybeAbsent
from .query import QueryTokenizer
from .text import BpeCodec, CharCodec, Codec, TextTokenizer, encode_corpus, load_codec, train_codec

__all__ = ["FieldSpec", "FieldTokenizer", "MaybeAbsent", "QueryTokenizer", "BpeCodec", "CharCodec", "Codec",
           "TextTokenizer", "encode_corpus", "load_codec", "train_codec", "types"]
