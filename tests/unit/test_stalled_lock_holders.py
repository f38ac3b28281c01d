"""A process stopped (SIGSTOP, a debugger) while it holds one of the console's short file locks must not
freeze every other console: the catalog opens without the lock, and the other waits end in a BusyError."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from recovery_console.engine.state import file_lock
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.catalog import Catalog
from recovery_console.engine.state.file_lock import held
from recovery_console.errors import BusyError, ExitCode


@contextmanager
def stalled_holder(path: Path) -> Iterator[None]:
    """Another open file description holding `path` exclusively: for flock, the same as another process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_lock, "WAIT_SECONDS", 0.3)


def test_a_set_up_catalog_opens_while_its_set_up_lock_is_held(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path)
    with stalled_holder(path.with_name(path.name + ".setup-lock")):
        started = time.monotonic()
        assert Catalog(path).records() == []
        assert time.monotonic() - started < 0.25  # it never waited for the lock


def test_a_new_catalog_waits_a_bounded_time_for_the_set_up_lock(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    catalog_type = type("ShortCatalog", (Catalog,), {"busy_timeout": 0.3})
    with stalled_holder(path.with_name(path.name + ".setup-lock")), pytest.raises(BusyError) as raised:
        catalog_type(path)
    assert "set-up lock" in raised.value.message and "over 0.3 seconds" in raised.value.message
    assert raised.value.exit_code == ExitCode.BUSY
    Catalog(path)  # and once the holder is gone it sets up


def test_an_audit_append_behind_a_stalled_writer_fails_after_the_wait_and_writes_nothing(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("first", "x", "ok", {})
    before = log.path.read_bytes()
    with stalled_holder(log.path), pytest.raises(BusyError) as raised:
        started = time.monotonic()
        log.append("second", "x", "ok", {})
    assert 0.3 <= time.monotonic() - started < 3
    assert str(log.path) in raised.value.message and "stopped or hung" in raised.value.hint
    assert log.path.read_bytes() == before
    log.append("second", "x", "ok", {})
    assert [e.action for e in log.entries()] == ["first", "second"]


def test_a_state_file_lock_held_by_a_stalled_process_is_reported_not_waited_for_ever(tmp_path: Path) -> None:
    lock = tmp_path / "pins.json.lock"
    with stalled_holder(lock), pytest.raises(BusyError, match="pins.json.lock"), held(lock):
        pass
    with held(lock):
        pass
