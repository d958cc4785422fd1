"""argparse for the `tzoo` verbs: a bad argument is a one-line TzooError, not a usage block."""
from __future__ import annotations

import argparse
from typing import NoReturn

from .errors import TzooError


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise TzooError (the CLI prints `tzoo: error: ...`, exit 2)
    pointing at `--help`; `--help` itself prints the options and exits 0 (SystemExit, as argparse)."""

    def error(self, message: str) -> NoReturn:
        raise TzooError(f"{self.prog}: {message} (see `{self.prog} --help`)")


__all__ = ["ArgumentParser"]
