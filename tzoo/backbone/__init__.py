"""The shared transformer backbone. Knows token sets and masks, nothing about modalities."""
from .cache import KVCache
from .masks import PATTERNS, attention_mask
from .tokens import TokenSet, split
from .transformer import Backbone, BackboneConfig, init_weights

__all__ = ["Backbone", "BackboneConfig", "KVCache", "PATTERNS", "TokenSet", "attention_mask",
           "init_weights", "split"]
