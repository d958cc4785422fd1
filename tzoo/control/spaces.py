"""ActionSpec, as the data side has always imported it; it lives in `tzoo.tokenizers.actions`.

The trajectory tokenizer needs it, and tokenizers sit below the data side, so the class moved
down; this name stays for code (and parallel branches) that still import it from here.
"""
from ..tokenizers.actions import ActionSpec

__all__ = ["ActionSpec"]
