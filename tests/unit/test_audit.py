"""The hash-chained audit log: chaining, tamper detection, torn tails, concurrency and the CLI."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from recovery_console.cli import audit_cmd
from recovery_console.cli.main import build_parser
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.audit_entry import GENESIS_HASH, AuditEntry, hash_line
from recovery_console.engine.state.audit_verify import AuditVerification
from recovery_console.engine.state.paths import HOME_ENV, AppPaths
from recovery_console.errors import ExitCode, IntegrityError, UsageError


def _fill(log: AuditLog, count: int) -> list[AuditEntry]:
    return [
        log.append("backup.create", f"backup-{i}", "ok", {"n": i, "target": "local"}) for i in range(1, count + 1)
    ]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "data" / "audit.jsonl")


def test_chain_of_entries_verifies(log: AuditLog) -> None:
    written = _fill(log, 5)
    lines = _lines(log.path)
    assert [e.seq for e in written] == [1, 2, 3, 4, 5]
    assert written[0].prev == GENESIS_HASH
    for before, entry in zip(lines[:-1], written[1:], strict=True):
        assert entry.prev == hash_line(before)
    assert list(log.entries()) == written
    result = log.verify()
    assert result == AuditVerification(True, 5, None, None, "", hash_line(lines[-1]))


def test_entry_fields_and_canonical_json(log: AuditLog) -> None:
    entry = log.append("restore", "db/ünïcode\nname", "cancelled", {"tables": ("a", "b")})
    line = _lines(log.path)[0]
    assert line.decode("utf-8") == entry.to_json()
    assert AuditEntry.from_json(line) == entry
    data = json.loads(line)
    assert sorted(data) == sorted(["seq", "time", "user", "host", "action", "object", "result", "detail", "prev"])
    assert data["time"].endswith("Z") and data["detail"] == {"tables": ["a", "b"]}
    assert entry.detail == {"tables": ["a", "b"]}  # what is returned is what is on disk
    assert b"\n" not in line  # the newline in the object is escaped, it cannot start a line
    assert "ü" in line.decode("utf-8")  # ensure_ascii=False


def test_empty_or_absent_log_verifies(log: AuditLog) -> None:
    assert log.verify() == AuditVerification(True, 0, None, None, "", GENESIS_HASH)
    assert list(log.entries()) == []
    log.path.parent.mkdir(parents=True)
    log.path.write_bytes(b"")
    assert log.verify().ok and log.verify().entries == 0


def test_edited_middle_line_caught(log: AuditLog) -> None:
    _fill(log, 5)
    lines = _lines(log.path)
    data = json.loads(lines[2])  # entry 3
    data["result"] = "failed"
    lines[2] = AuditEntry(**data).to_json().encode()  # still canonical and well-formed
    _write_lines(log.path, lines)
    result = log.verify()
    assert not result.ok
    assert result.first_broken_seq == 4 and result.first_broken_line == 4
    assert result.entries == 3
    assert "entry 3 was altered" in result.reason


def test_non_canonical_edit_caught_on_the_line_itself(log: AuditLog) -> None:
    _fill(log, 3)
    lines = _lines(log.path)
    lines[2] = json.dumps(json.loads(lines[2])).encode()  # same data, other spacing: last line
    _write_lines(log.path, lines)
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line) == (False, 3, 3)
    assert "canonical" in result.reason


def test_deleted_middle_line_caught(log: AuditLog) -> None:
    _fill(log, 5)
    lines = _lines(log.path)
    del lines[2]
    _write_lines(log.path, lines)
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line, result.entries) == (False, 4, 3, 2)
    assert "entry 3 missing" in result.reason


def test_deleted_first_line_caught(log: AuditLog) -> None:
    _fill(log, 3)
    _write_lines(log.path, _lines(log.path)[1:])
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line) == (False, 2, 1)


def test_reordered_lines_caught(log: AuditLog) -> None:
    _fill(log, 5)
    lines = _lines(log.path)
    lines[1], lines[2] = lines[2], lines[1]
    _write_lines(log.path, lines)
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line) == (False, 3, 2)


def test_renumbered_reorder_still_caught_by_hash(log: AuditLog) -> None:
    _fill(log, 4)
    lines = _lines(log.path)
    a, b = json.loads(lines[1]), json.loads(lines[2])
    a["seq"], b["seq"] = 3, 2
    lines[1], lines[2] = AuditEntry(**b).to_json().encode(), AuditEntry(**a).to_json().encode()
    _write_lines(log.path, lines)
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line) == (False, 2, 2)
    assert "prev" in result.reason


def test_torn_last_line_caught_as_cut_off(log: AuditLog) -> None:
    _fill(log, 4)
    raw = log.path.read_bytes()
    log.path.write_bytes(raw[:-20])
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line, result.entries) == (False, None, 4, 3)
    assert "cut off" in result.reason
    assert result.last_hash == hash_line(_lines(log.path)[2])


def test_valid_json_without_newline_is_cut_off(log: AuditLog) -> None:
    _fill(log, 2)
    log.path.write_bytes(log.path.read_bytes()[:-1])
    result = log.verify()
    assert (result.ok, result.first_broken_line) == (False, 2)
    assert "cut off" in result.reason


def test_append_refuses_after_torn_line_and_writes_nothing(log: AuditLog) -> None:
    _fill(log, 3)
    torn = log.path.read_bytes()[:-7]
    log.path.write_bytes(torn)
    with pytest.raises(IntegrityError) as caught:
        log.append("backup.verify", "b1", "ok")
    assert "incomplete" in caught.value.message and "cut off" in caught.value.message
    assert "audit verify" in caught.value.hint_for_cli()
    assert log.path.read_bytes() == torn
    # The documented remedy: move the damaged file aside, keep it; a new chain starts.
    log.path.rename(log.path.with_suffix(".damaged"))
    entry = log.append("backup.verify", "b1", "ok")
    assert (entry.seq, entry.prev) == (1, GENESIS_HASH)
    assert log.verify().ok


def test_append_refuses_after_garbage_last_line(log: AuditLog) -> None:
    _fill(log, 2)
    with open(log.path, "ab") as handle:
        handle.write(b"hello world\n")
    with pytest.raises(IntegrityError, match="not a valid entry"):
        log.append("decrypt", "x", "ok")


def test_garbage_line_caught(log: AuditLog) -> None:
    _fill(log, 5)
    lines = _lines(log.path)
    lines[2] = b"\x00\xffnot json at all"
    _write_lines(log.path, lines)
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line, result.entries) == (False, None, 3, 2)
    assert "UTF-8" in result.reason or "JSON" in result.reason
    with pytest.raises(IntegrityError, match="Line 3"):
        list(log.entries())


def test_missing_field_caught(log: AuditLog) -> None:
    _fill(log, 3)
    lines = _lines(log.path)
    data = json.loads(lines[1])
    del data["host"]
    lines[1] = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    _write_lines(log.path, lines)
    result = log.verify()
    assert (result.ok, result.first_broken_seq, result.first_broken_line) == (False, 2, 2)
    assert "missing" in result.reason and "host" in result.reason


def test_blank_line_caught(log: AuditLog) -> None:
    _fill(log, 2)
    lines = _lines(log.path)
    _write_lines(log.path, [lines[0], b"", lines[1]])
    result = log.verify()
    assert (result.ok, result.first_broken_line) == (False, 2)


def test_anchor_detects_removed_tail(log: AuditLog) -> None:
    _fill(log, 4)
    recorded = log.verify().last_hash
    log.append("backup.delete", "b2", "ok")
    assert log.verify(anchor=recorded).ok  # the log grew; the recorded point is still in it
    _write_lines(log.path, _lines(log.path)[:3])  # the tail, including the recorded entry, removed
    assert log.verify().ok  # undetectable by the chain alone
    result = log.verify(anchor=recorded)
    assert not result.ok and "recorded hash" in result.reason


def test_detail_must_be_json(log: AuditLog) -> None:
    with pytest.raises(UsageError):
        log.append("backup.create", "b", "ok", {"when": object()})
    with pytest.raises(UsageError):
        log.append("backup.create", "b", "ok", {"x": float("nan")})
    with pytest.raises(UsageError):
        log.append("backup.create", "b", "ok", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        log.append("backup.create", "b", "done")
    with pytest.raises(UsageError):
        log.append("", "b", "ok")
    with pytest.raises(UsageError):
        log.append("backup.create", "b", "ok", {"blob": "x" * 300_000})
    assert not log.path.exists() or log.path.read_bytes() == b""


def test_file_and_folder_modes(log: AuditLog) -> None:
    old = os.umask(0o022)
    try:
        log.append("target.add", "s3://bucket", "ok")
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700


def test_file_mode_under_strict_umask(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    old = os.umask(0o277)
    try:
        log.append("target.add", "t1", "ok")
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    log.append("target.add", "t2", "ok")  # still writable
    assert log.verify().entries == 2


def test_tail_read_is_bounded_with_long_lines(log: AuditLog) -> None:
    # Entries longer than the read block: the backwards tail scan must cross block boundaries.
    for i in range(3):
        log.append("backup.upload", f"b{i}", "ok", {"note": "y" * 20_000})
    assert log.verify().ok and log.verify().entries == 3


def _append_many(path: str, worker: int, count: int) -> None:
    log = AuditLog(Path(path))
    for i in range(count):
        log.append("backup.verify", f"w{worker}-{i}", "ok", {"worker": worker, "i": i})


def test_concurrent_appends_from_two_processes(log: AuditLog) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(log.path), w, 200)) for w in (1, 2)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=300)
        assert proc.exitcode == 0
    result = log.verify()
    assert result.ok, result.reason
    assert result.entries == 400
    objects = [e.object for e in log.entries()]
    assert sorted(objects) == sorted(f"w{w}-{i}" for w in (1, 2) for i in range(200))
    for w in (1, 2):  # each worker's own entries stay in its order
        mine = [o for o in objects if o.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}" for i in range(200)]


# ---------------------------------------------------------------- CLI


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditLog:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return AuditLog.at(AppPaths.default())  # the console's log, with its anchor


def _run(argv: list[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    return args.func(args)


def test_cli_verify_intact_and_json(home: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["audit", "verify"]) == ExitCode.OK
    assert "Audit log intact: 0 entries" in capsys.readouterr().out
    _fill(home, 3)
    assert _run(["audit", "verify"]) == ExitCode.OK
    last = home.verify().last_hash
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Audit log intact: 3 entries, last hash {last}"
    assert out[1:] == [audit_cmd.EXTERNAL_ANCHOR]
    assert _run(["audit", "verify", "--json"]) == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["entries"] == 3 and doc["last_hash"] == last
    assert doc["first_broken_seq"] is None and doc["path"] == str(home.path)
    assert _run(["audit", "verify", "--anchor", last]) == ExitCode.OK


def test_cli_verify_broken(home: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home, 4)
    lines = _lines(home.path)
    del lines[1]
    _write_lines(home.path, lines)
    assert _run(["audit", "verify"]) == ExitCode.VERIFY_FAILED
    out = capsys.readouterr().out
    assert out.startswith("Audit log BROKEN at entry 3 (line 2): ")
    assert _run(["audit", "verify", "--json"]) == ExitCode.VERIFY_FAILED
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["first_broken_seq"], doc["first_broken_line"]) == (False, 3, 2)


def test_cli_verify_torn_via_namespace(home: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home, 2)
    home.path.write_bytes(home.path.read_bytes()[:-3])
    code = audit_cmd.verify_handler(argparse.Namespace(json=False, anchor=None))
    assert code == ExitCode.VERIFY_FAILED
    assert "Audit log BROKEN at line 2: the log was cut off" in capsys.readouterr().out


def test_cli_show(home: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["audit", "show"]) == ExitCode.OK
    assert "empty" in capsys.readouterr().out
    home.append("backup.create", "b-1", "ok")
    home.append("restore", "a-much-longer-object-name\x1b[31m", "failed", {"error": "x"})
    home.append("backup.delete", "b-1", "cancelled")
    assert _run(["audit", "show"]) == ExitCode.OK
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert "\x1b" not in "".join(out)  # control characters are not sent to the terminal
    first = next(home.entries())
    user_host = f"{first.user}@{first.host}"
    assert all(user_host in line for line in out)
    # aligned: the action column starts at the same place on every line
    actions = ["backup.create", "restore", "backup.delete"]
    assert len({line.index(action) for line, action in zip(out, actions, strict=True)}) == 1
    assert out[1].rstrip().endswith("failed")

    assert _run(["audit", "show", "--json", "--limit", "2"]) == ExitCode.OK
    doc = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in doc["entries"]] == [2, 3]
    assert doc["entries"][0]["detail"] == {"error": "x"} and doc["error"] is None

    code = audit_cmd.show_handler(argparse.Namespace(json=False, limit=1))
    assert code == ExitCode.OK
    assert "backup.delete" in capsys.readouterr().out


def test_cli_show_broken_log(home: AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(home, 2)
    home.path.write_bytes(home.path.read_bytes()[:-3])
    assert _run(["audit", "show", "--json"]) == ExitCode.VERIFY_FAILED
    doc = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in doc["entries"]] == [1]
    assert "cut off" in doc["error"]["message"]


def test_cli_rejects_bad_limit(home: AuditLog) -> None:
    with pytest.raises(SystemExit):
        _run(["audit", "show", "--limit", "0"])
    with pytest.raises(SystemExit):
        _run(["audit"])
