"""User-facing errors: one line, names the thing and the fix, exit status 2."""
from __future__ import annotations


class TzooError(Exception):
    """An error caused by the user's input (file, key, value); printed as one line, exit 2."""

    exit_code = 2

    def __str__(self) -> str:
        # One line, whatever the message carried.
        return " ".join(super().__str__().split())


def is_out_of_memory(e: BaseException) -> bool:
    """A failed allocation (host or GPU), as opposed to any other error."""
    import torch

    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(e, RuntimeError) and any(s in str(e) for s in ("can't allocate memory", "out of memory"))
