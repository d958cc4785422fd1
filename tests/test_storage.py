"""Atomic writes: whole files only, with the permissions a plain open() would give."""
import stat

import pytest

from tzoo.storage import atomic_write, write_text


def test_atomic_write_mode_follows_the_umask(tmp_path, monkeypatch):
    import tzoo.storage as storage

    monkeypatch.setattr(storage, "_UMASK", 0o022)
    path = write_text(tmp_path / "a.txt", "hello")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.read_text() == "hello"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text(tmp_path / "a.txt", "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
