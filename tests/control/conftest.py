"""Control-data fixtures: a private Minari root per test."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def minari_root(tmp_path, monkeypatch) -> Path:
    """An empty Minari datasets folder for this test (MINARI_DATASETS_PATH)."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root
