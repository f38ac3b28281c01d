"""A local target's file is synced behind its writer, and a sync that fails is never lost."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from recovery_console.engine.storage import write_behind
from recovery_console.engine.storage.local import LocalStorage
from recovery_console.engine.storage.write_behind import WriteBehind
from recovery_console.errors import StorageError


def test_each_stretch_of_writes_is_synced_on_its_own_thread(tmp_path, monkeypatch):
    synced: list[tuple[int, str]] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        synced.append((os.fstat(fd).st_size, threading.current_thread().name))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    behind = WriteBehind(fd, every=4096)
    for _ in range(3):
        os.write(fd, b"x" * 4096)
        behind.wrote(4096)
    os.write(fd, b"x" * 100)
    behind.wrote(100)  # below the stretch: no sync asked for
    assert behind.stop() is None
    os.close(fd)
    assert 1 <= len(synced) <= 3 and all(name == "rc-write-behind" for _, name in synced)
    assert all(size >= 4096 for size, _ in synced)  # asked for once a whole stretch was written


def test_a_failed_sync_fails_the_upload_and_leaves_no_file(tmp_path, monkeypatch):
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    monkeypatch.setattr(write_behind, "FLUSH_EVERY", 1024)
    storage = LocalStorage("t", tmp_path)
    with pytest.raises(StorageError, match="Input/output error"), storage.put("backups/a.enc") as upload:
        upload.write(b"y" * 4096)
        upload.write(b"y" * 4096)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
