"""Issue #14, state points: the catalog, listings, verify verdicts, the audit log and Ctrl-C.

Each test failed on the code before these fixes (commit 1b21a0c).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.state import catalog as catalog_module
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.catalog import Catalog
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.storage.base import ObjectInfo
from recovery_console.errors import CatalogError, ExitCode, RecoveryError, StorageError, WrongKeyError
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import DATA, SECRET

REPO = Path(__file__).resolve().parents[2]
SAMPLE = DATA / "sample-pg16.dump"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "target"
    path.mkdir()
    return path


@pytest.fixture
def backup_file(capsys: pytest.CaptureFixture[str], folder: Path, secret_file: Path) -> Path:
    """A backup created through the CLI on a folder target; returns the .enc file."""
    code, _, err = run(capsys, "backup", "create", "--from", str(SAMPLE), "--target", str(folder),
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.OK, err
    (enc,) = folder.rglob("*.enc")
    return enc


def _home() -> AppPaths:
    return AppPaths.default()  # the private RECOVERY_CONSOLE_HOME every test gets (tests/conftest.py)


# ---------------------------------------------------------------- 9: catalog trouble


def _corrupt_catalog() -> Path:
    path = _home().catalog_file
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not an SQLite database, it was damaged" * 100)
    return path


def test_offline_commands_never_open_a_damaged_catalog(capsys: pytest.CaptureFixture[str], backup_file: Path,
                                                       secret_file: Path, tmp_path: Path) -> None:
    _corrupt_catalog()
    out_file = tmp_path / "plain.dump"
    code, _, err = run(capsys, "decrypt", str(backup_file), "-o", str(out_file), "--secret-key-file", str(secret_file))
    assert code == ExitCode.OK, err
    assert out_file.read_bytes() == SAMPLE.read_bytes()
    code, out, err = run(capsys, "contents", str(out_file))
    assert code == ExitCode.OK, err
    assert "TOC Entries" in out


def test_a_damaged_catalog_is_reported_and_rebuilt_from_the_targets(capsys: pytest.CaptureFixture[str],
                                                                    folder: Path, secret_file: Path) -> None:
    with Console() as app:
        app.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    code, _, err = run(capsys, "backup", "create", "--from", str(SAMPLE), "--target", "vault",
                       "--secret-key-file", str(secret_file), "--json")
    assert code == ExitCode.OK, err
    _corrupt_catalog()
    code, _, err = run(capsys, "backup", "list")
    assert code == ExitCode.ERROR and "Traceback" not in err and "Unexpected error" not in err
    assert "cache of what the targets hold" in err and "catalog rebuild" in err
    code, out, err = run(capsys, "catalog", "rebuild")
    assert code == ExitCode.OK, err
    assert "vault: 1 backup, 0 recovery sets\n" in out
    code, out, _ = run(capsys, "backup", "list", "--json")
    assert code == ExitCode.OK and len(json.loads(out)["backups"]) == 1


def test_a_damaged_record_in_a_readable_catalog_blames_the_catalog(capsys: pytest.CaptureFixture[str],
                                                                   backup_file: Path, folder: Path) -> None:
    with sqlite3.connect(_home().catalog_file) as db:
        db.execute("UPDATE backups SET metadata = '[1, 2'")
    code, _, err = run(capsys, "backup", "list", "--target", str(folder))
    assert code == ExitCode.ERROR and "The catalog's record of" in err and "catalog rebuild" in err


def test_a_catalog_on_a_failing_disk_says_what_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def failing(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(catalog_module.sqlite3, "connect", failing)
    with pytest.raises(RecoveryError) as caught:
        Catalog(tmp_path / "catalog.sqlite3")
    assert "disk I/O error" in caught.value.message and "catalog rebuild" in caught.value.hint_for_cli()


class _OneBackup:
    """A target listing one new backup, so that syncing it must write to the catalog."""

    name = "vault"

    def list(self, prefix: str) -> list[ObjectInfo]:
        return [ObjectInfo("backups/rc_backup_20261202-05-45-46-0.1.0-manual-e2a16e2c.enc", 100, 1000.0)]


def test_a_long_locked_catalog_is_reported_as_busy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    Catalog(path)
    monkeypatch.setattr(Catalog, "busy_timeout", 0.3, raising=False)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(RecoveryError) as caught:
            Catalog(path).sync(_OneBackup())  # type: ignore[arg-type]
        assert time.monotonic() - started < 10
    finally:
        holder.rollback()
        holder.close()
    assert "locked by another process for over 0.3 seconds" in caught.value.message and "Wait" in caught.value.hint


def test_a_lock_refused_at_once_does_not_claim_a_wait(tmp_path: Path) -> None:
    """SQLite refuses some lock upgrades at once, without its busy timeout: the message must not claim a wait."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    with pytest.raises(CatalogError) as caught, catalog._errors():
        raise sqlite3.OperationalError("database is locked")
    assert caught.value.message.endswith("is locked by another process.")


# ---------------------------------------------------------------- 10: one dead target


def test_one_unreachable_target_does_not_hide_the_others(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         folder: Path, secret_file: Path) -> None:
    gone = tmp_path / "unplugged-disk"
    gone.mkdir()
    with Console() as app:
        app.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
        app.add_target(TargetConfig(name="usb", kind="local", options={"path": str(gone)}))
    code, _, err = run(capsys, "backup", "create", "--from", str(SAMPLE), "--target", "vault",
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.OK, err
    gone.rmdir()
    code, out, err = run(capsys, "backup", "list")
    assert code == ExitCode.PARTIAL == 11
    assert "vault" in out.splitlines()[1] and "Traceback" not in err
    assert "Target 'usb' NOT LISTED" in out and str(gone) in out
    code, out, _ = run(capsys, "backup", "list", "--json")
    doc = json.loads(out)
    assert code == ExitCode.PARTIAL and [b["target"] for b in doc["backups"]] == ["vault"]
    assert [s["target"] for s in doc["synced"] if s["error"]] == ["usb"]


# ---------------------------------------------------------------- 13: verify verdicts


def test_only_an_integrity_verdict_replaces_a_stored_one(console: Console, make_backup, monkeypatch) -> None:
    record = make_backup()
    ref = console.locate(record.short_id)
    console.verify(ref, SECRET)
    assert console.catalog.get(record.target, record.key).verify_result == "ok"

    with pytest.raises(WrongKeyError):
        console.verify(console.locate(record.short_id), "not the secret")
    assert console.catalog.get(record.target, record.key).verify_result == "ok"

    storage = console.storage(record.target)
    real_open = storage.open_read

    class Dropping:
        """A connection that breaks after the first bytes."""

        def __init__(self, inner) -> None:
            self.inner, self.read_so_far = inner, 0

        def read(self, n: int = -1) -> bytes:
            if self.read_so_far > 200:
                raise StorageError("The connection to the target was lost.")
            data = self.inner.read(n)
            self.read_so_far += len(data)
            return data

        def readinto(self, buf) -> int:
            data = self.read(len(buf))
            buf[: len(data)] = data
            return len(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

        def close(self) -> None:
            self.inner.close()

    monkeypatch.setattr(storage, "open_read", lambda key, *a, **k: Dropping(real_open(key, *a, **k)))
    with pytest.raises(StorageError):
        console.verify(console.locate(record.short_id), SECRET)
    assert console.catalog.get(record.target, record.key).verify_result == "ok"
    monkeypatch.undo()

    path = Path(storage.location(record.key))  # a real integrity failure is still recorded
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    console.catalog.sync(storage)
    with pytest.raises(RecoveryError):
        console.verify(console.locate(record.short_id), SECRET)
    assert console.catalog.get(record.target, record.key).verify_result == "failed"


# ---------------------------------------------------------------- 17: a damaged audit log


def _tear_audit_log() -> None:
    with Console() as app:
        app.audit.append("target.test", "x", "ok")
    path = _home().audit_file
    path.write_bytes(path.read_bytes()[:-5])


def test_a_torn_audit_log_stops_the_action_before_it_starts(capsys: pytest.CaptureFixture[str], folder: Path,
                                                            backup_file: Path, secret_file: Path,
                                                            tmp_path: Path) -> None:
    before = sorted(p.name for p in folder.rglob("*") if p.is_file())
    _tear_audit_log()
    code, _, err = run(capsys, "backup", "create", "--from", str(SAMPLE), "--target", str(folder),
                       "--secret-key-file", str(secret_file))
    assert code != ExitCode.OK and "last line is incomplete" in err
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == before  # nothing stored
    out_file = tmp_path / "out.dump"
    code, _, err = run(capsys, "decrypt", str(backup_file), "-o", str(out_file), "--secret-key-file", str(secret_file))
    assert code != ExitCode.OK and not out_file.exists()  # nothing written
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_work_done_is_never_reported_as_failed_when_its_audit_entry_cannot_be_written(
        console: Console, make_backup, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    record = make_backup()
    ref = console.locate(record.short_id)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise StorageError("No space left to write the audit log.")

    monkeypatch.setattr(console.audit, "append", full_disk)
    with caplog.at_level(logging.WARNING):
        result = console.decrypt(ref, tmp_path / "out.dump", SECRET)
    assert result.path.read_bytes() == (DATA / "sample-pg15.dump").read_bytes()
    assert "could not be recorded in the audit log" in caplog.text


# ---------------------------------------------------------------- 18: audit tail tampering


def _audited_history() -> Path:
    with Console() as app:
        for name in ("one", "two", "three"):
            app.add_target(TargetConfig(name=name, kind="local", options={"path": "/nonexistent"}))
    return _home().audit_file


def _rechain(lines: list[bytes], path: Path, scratch: Path) -> None:
    """What an attacker without a key can do: rewrite the entries and compute a fresh, consistent chain."""
    forged = AuditLog(scratch)
    for line in lines:
        entry = json.loads(line)
        forged.append(entry["action"], entry["object"].replace("three", "tree"), entry["result"], entry["detail"])
    path.write_bytes(scratch.read_bytes())


@pytest.mark.parametrize("tamper", ["delete last line", "edit last line", "truncate to 0", "re-chain"])
def test_audit_verify_catches_tail_tampering_by_default(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        tamper: str) -> None:
    path = _audited_history()
    code, out, _ = run(capsys, "audit", "verify")
    assert code == ExitCode.OK and "--anchor" in out  # says what an external anchor adds
    lines = path.read_bytes().splitlines()
    if tamper == "delete last line":
        path.write_bytes(b"".join(line + b"\n" for line in lines[:-1]))
    elif tamper == "edit last line":
        path.write_bytes(b"".join(line + b"\n" for line in lines[:-1]) + lines[-1].replace(b'"ok"', b'"failed"')
                         + b"\n")
    elif tamper == "truncate to 0":
        path.write_bytes(b"")
    else:
        _rechain(lines, path, tmp_path / "forged.jsonl")
    code, out, _ = run(capsys, "audit", "verify")
    assert code == ExitCode.VERIFY_FAILED, out
    assert out.startswith("Audit log BROKEN")


def test_a_new_log_after_moving_a_damaged_one_aside_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    path = _audited_history()
    path.rename(path.with_name("audit.jsonl.damaged"))
    assert run(capsys, "audit", "verify")[0] == ExitCode.VERIFY_FAILED  # the log is gone
    with Console() as app:
        app.add_target(TargetConfig(name="four", kind="local", options={"path": "/nonexistent"}))
    code, out, _ = run(capsys, "audit", "verify")
    assert code == ExitCode.OK
    assert "Note: at " in out and "a new log was started where entry 4 of the previous one was due" in out


def test_a_deleted_anchor_is_reported_and_a_late_one_says_since_when(capsys: pytest.CaptureFixture[str]) -> None:
    _audited_history()
    anchor = _home().config_dir / "audit-anchor.json"
    anchor.unlink()
    code, out, _ = run(capsys, "audit", "verify")
    assert code == ExitCode.VERIFY_FAILED and "audit-anchor.json is missing" in out
    with Console() as app:
        app.add_target(TargetConfig(name="four", kind="local", options={"path": "/nonexistent"}))
    code, out, _ = run(capsys, "audit", "verify")
    assert code == ExitCode.OK and "anchored this log only since entry 4" in out


# ---------------------------------------------------------------- 19: a second Ctrl-C


def _interrupt_twice(tmp_path: Path, gap: float) -> tuple[int, str, list[Path]]:
    """Start `backup create --from -` fed forever, press Ctrl-C twice `gap` seconds apart once it is working."""
    target, secret = tmp_path / "t", tmp_path / "s"
    target.mkdir(parents=True)
    secret.write_text(SECRET + "\n", "utf-8")
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path / "home")}
    child = subprocess.Popen(
        [sys.executable, "-m", "recovery_console.cli.main", "backup", "create", "--from", "-", "--target",
         str(target), "--secret-key-file", str(secret)],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stdin is not None
    sent = [0]

    def feed() -> None:
        try:
            child.stdin.write(SAMPLE.read_bytes())  # type: ignore[union-attr]
            filler = os.urandom(1 << 16)
            while True:
                child.stdin.write(filler)  # type: ignore[union-attr]
                sent[0] += len(filler)
        except (OSError, ValueError):
            pass

    threading.Thread(target=feed, daemon=True).start()
    deadline = time.monotonic() + 60
    while sent[0] < (4 << 20) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    time.sleep(gap)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    return child.returncode, err.decode(errors="replace"), [p for p in target.rglob("*") if p.is_file()]


@pytest.mark.parametrize("gap", [0.0, 0.01, 0.03, 0.05, 0.1])
def test_a_second_ctrl_c_during_cancel_never_prints_a_traceback(tmp_path: Path, gap: float) -> None:
    for attempt in range(2):
        code, err, left = _interrupt_twice(tmp_path / str(attempt), gap)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert code == ExitCode.CANCELLED, err
        assert left == []  # nothing partial left on the target
