"""Every policy run, one JSON line each in runs.jsonl of the data folder: what ran, when, and how it ended.

A run is appended twice under one id: as `running` when it starts, and with its outcome when it ends;
the last line of an id wins. Each line is written with one `write` on an O_APPEND descriptor and
fsynced, so concurrent runs never interleave and a crash loses at most the line being written; a torn
last line is skipped on reading. A `running` entry whose process is gone reads as `interrupted`.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import from_os_error

HISTORY_FILE = "runs.jsonl"
TRIGGERS = ("scheduled", "manual", "replication", "prune")
RESULTS = ("running", "ok", "failed", "skipped", "busy", "cancelled", "interrupted")


@dataclass(frozen=True)
class RunRecord:
    """One run: `reason` holds the error or the skip reason; `slot` the scheduled time it served (UTC, ISO); `set_id`
    the recovery set a run of a profile with members made (`backup_id` names single backups only)."""

    run_id: str
    trigger: str
    profile: str
    target: str | None
    started: str
    duration: float = 0.0
    result: str = "running"
    bytes: int = 0
    reason: str = ""
    slot: str | None = None
    backup_id: str | None = None
    set_id: str | None = None
    pid: int = 0
    host: str = ""

    @classmethod
    def start(cls, trigger: str, profile: str, target: str | None, started: str, slot: str | None) -> RunRecord:
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}")
        return cls(uuid.uuid4().hex, trigger, profile, target, started, slot=slot, pid=os.getpid(),
                   host=socket.gethostname())

    def finished(self, result: str, duration: float, *, bytes: int = 0, reason: str = "",
                 backup_id: str | None = None, set_id: str | None = None) -> RunRecord:
        if result not in RESULTS:
            raise ValueError(f"unknown result {result!r}")
        return replace(self, result=result, duration=round(duration, 3), bytes=bytes, reason=reason,
                       backup_id=backup_id, set_id=set_id or self.set_id)

    @property
    def serves_slot(self) -> bool:
        """Whether the run used up its slot: it ended (ok, failed, skipped, cancelled); busy or interrupted did not."""
        return self.result in ("ok", "failed", "skipped", "cancelled")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


class RunHistory:
    """The run log of one console; reads tolerate a torn last line, writes are whole lines."""

    def __init__(self, paths: AppPaths) -> None:
        self.file: Path = paths.data_dir / HISTORY_FILE

    def append(self, record: RunRecord) -> None:
        line = (json.dumps(record.as_dict(), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.file, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if os.fstat(fd).st_size and not _ends_with_newline(fd):
                    line = b"\n" + line  # a crash tore the last line: never glue onto it
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise from_os_error("recording the run in", str(self.file), exc) from exc

    def records(self, profile: str | None = None) -> list[RunRecord]:
        """Every run (its latest state), oldest first; only `profile`'s when given."""
        try:
            raw = self.file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise from_os_error("reading", str(self.file), exc) from exc
        latest: dict[str, RunRecord] = {}  # in the order the runs started: a run within a run starts after it
        for line in raw.splitlines():
            try:
                record = RunRecord.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # a line torn by a crash
            if profile is None or record.profile == profile:
                latest[record.run_id] = record
        return sorted((_settled(r) for r in latest.values()), key=lambda r: r.started)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return os.pread(fd, 1, size - 1) == b"\n"


def _settled(record: RunRecord) -> RunRecord:
    """A `running` entry of a process that no longer runs (on this host) was interrupted."""
    if record.result != "running" or record.host != socket.gethostname() or _alive(record.pid):
        return record
    return replace(record, result="interrupted", reason="the run stopped before it could record its end")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
