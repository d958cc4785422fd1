"""Tiny models are fastest on one thread (and immune to other processes' load on the cores)."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
