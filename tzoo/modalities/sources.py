"""Where datasets come from: an explicit path, $TZOO_DATA, a download cache, or a clear error."""
from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path
from typing import Optional

from ..errors import TzooError
from ..storage import atomic_write

DATA_ENV = "TZOO_DATA"
CACHE_ENV = "TZOO_CACHE"


def data_root() -> Optional[Path]:
    """The local datasets folder from $TZOO_DATA, if set."""
    root = os.environ.get(DATA_ENV)
    return Path(root).expanduser() if root else None


def cache_root() -> Path:
    """Download cache: $TZOO_CACHE, else $XDG_CACHE_HOME/tzoo, else ~/.cache/tzoo."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tzoo"


def local_copy(relative: str) -> Optional[Path]:
    """$TZOO_DATA/relative if it exists."""
    root = data_root()
    if root is not None and (root / relative).exists():
        return root / relative
    return None


def download(url: str, dest: Path, timeout: float = 30.0) -> Path:
    """Fetch `url` into `dest` atomically (no partial file is ever left at `dest`)."""
    def fetch(tmp: Path) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    return atomic_write(dest, fetch)


def resolve_file(explicit: Optional[str], relative: str, url: str, flag: str) -> Path:
    """Find a single-file dataset: `explicit` path, $TZOO_DATA/relative, cache, or download.

    Raises a one-line TzooError saying what to pass when none works.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise TzooError(f"{path}: file not found; pass {flag}=FILE with an existing file")
        return path
    found = local_copy(relative)
    if found is not None:
        return found
    cached = cache_root() / relative
    if cached.is_file():
        return cached
    try:
        return download(url, cached)
    except OSError as e:
        reason = getattr(e, "reason", None) or e
        raise TzooError(f"{relative} is not in ${DATA_ENV} or {cache_root()} and downloading {url} failed "
                        f"({reason}); pass {flag}=FILE or set {DATA_ENV} to a folder holding {relative}") from None
