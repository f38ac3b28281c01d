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
    for _ in range(200):  # the writer went on; the sync it asked for happens on the other thread
        if synced:
            break
        threading.Event().wait(0.01)
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


def test_a_large_output_is_synced_behind_its_buffered_writer(tmp_path, monkeypatch):
    from recovery_console.engine.state.atomic import atomic_output

    synced: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    monkeypatch.setattr(write_behind, "FLUSH_EVERY", 64 << 10)
    monkeypatch.setattr(write_behind, "WATCH_INTERVAL", 0.01)
    with atomic_output(tmp_path / "out.bin", large=True) as sink:
        for _ in range(8):
            sink.write(b"z" * (64 << 10))
            threading.Event().wait(0.05)  # a writer's pace: the watcher looks in between
    assert (tmp_path / "out.bin").stat().st_size == 8 * (64 << 10)
    assert len(synced) >= 2 and synced == sorted(synced)


def test_a_large_output_whose_sync_failed_is_not_kept(tmp_path, monkeypatch):
    from recovery_console.engine.state.atomic import atomic_output

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    monkeypatch.setattr(write_behind, "FLUSH_EVERY", 1024)
    monkeypatch.setattr(write_behind, "WATCH_INTERVAL", 0.01)
    with pytest.raises(OSError, match="Input/output error"), atomic_output(tmp_path / "out.bin", large=True) as sink:
        sink.write(b"z" * 8192)
        sink.flush()
        threading.Event().wait(0.2)
    assert list(tmp_path.iterdir()) == []
