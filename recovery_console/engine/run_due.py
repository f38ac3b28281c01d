"""Running what is due: each profile whose policy has a slot not yet served gets one backup, under its lock.

A profile is due when the latest slot of its schedule (engine/schedule_times.py) is later than both the
policy's `since` and the last slot a scheduled run served: so a machine that was off through many
slots runs once, not once per slot. One run holds the database's lock (engine/state/locks.py) from the
free-space guard through the backup; whatever a policy does after the backup (copies, pruning) belongs
inside that same lock, after `_backup`. Every run is recorded in the run history, as it starts and as it
ends. `now` is injectable for tests; the CLI and the GUI never pass it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.schedule_times import latest_slot
from recovery_console.engine.space_guard import estimate_size, shortfall
from recovery_console.engine.state.locks import database_identity, database_lock
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.errors import BusyError, Cancelled, ExitCode, RecoveryError, UsageError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile


@dataclass(frozen=True)
class RunOutcome:
    """What one profile's run came to: the history record (None when nothing was due) and its exit code."""

    profile: str
    result: str
    reason: str = ""
    record: RunRecord | None = None
    exit_code: int = ExitCode.OK

    def line(self) -> str:
        """'prod: ok, 12.3 MB in 4.1 s', 'prod: skipped: 312 MB free < 500 MB minimum', 'prod: not due'."""
        if self.result == "ok" and self.record is not None:
            return f"{self.profile}: ok, {self.record.bytes:,} bytes in {self.record.duration:.1f} s"
        return f"{self.profile}: {self.result}" + (f": {self.reason}" if self.reason else "")

    def as_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "result": self.result, "reason": self.reason,
                "exit_code": int(self.exit_code), "run": self.record.as_dict() if self.record else None}


def run_due(console: Console, profile: str | None = None, *, now: datetime | None = None,
            secret: str | None = None, reporter: Reporter | None = None) -> list[RunOutcome]:
    """Run every due scheduled backup (only `profile`'s when given); a profile not due says so."""
    now = now or datetime.now(UTC)
    profiles = console.profiles.store.load()
    if profile is not None:
        profiles = {profile: console.profiles.store.get(profile)}
    history = RunHistory(console.paths)
    records = history.records()
    outcomes = []
    for item in profiles.values():
        slot = due_slot(item, [r for r in records if r.profile == item.name], now)
        if slot is None:
            outcomes.append(RunOutcome(item.name, "not due"))
        else:
            outcomes.append(_run(console, history, item, "scheduled", slot, now, secret, reporter))
    return outcomes


def run_now(console: Console, profile: str, *, now: datetime | None = None, secret: str | None = None,
            reporter: Reporter | None = None) -> RunOutcome:
    """'Run now': the policy's backup at once, by hand; it serves no scheduled slot."""
    return _run(console, RunHistory(console.paths), console.profiles.store.get(profile), "manual", None,
                now or datetime.now(UTC), secret, reporter)


def due_slot(profile: Profile, history: list[RunRecord], now: datetime) -> datetime | None:
    """The slot a scheduled run of `profile` would serve now, or None when nothing is due."""
    policy = profile.policy
    if policy is None or not policy.scheduled:
        return None
    slot = latest_slot(policy.schedule, now)
    if slot is None or (policy.since is not None and slot < _instant(policy.since)):
        return None
    served = [_instant(r.slot) for r in history if r.slot and r.trigger == "scheduled" and _serves(r)]
    return None if served and max(served) >= slot else slot


def _serves(record: RunRecord) -> bool:
    """Whether a run used up its slot: it ended (ok, failed, skipped); busy or interrupted runs did not."""
    return record.result in ("ok", "failed", "skipped", "cancelled")


def _run(console: Console, history: RunHistory, profile: Profile, trigger: str, slot: datetime | None,
         now: datetime, secret: str | None, reporter: Reporter | None) -> RunOutcome:
    started = time.monotonic()
    record = RunRecord.start(trigger, profile.name, profile.target, _iso(now), _iso(slot) if slot else None)
    try:
        url = profile.dump_url()
        identity = database_identity(url)
        with database_lock(console.paths, identity, "backup", identity.split("/", 1)[-1] or profile.name):
            if slot is not None and due_slot(profile, history.records(profile.name), now) is None:
                return RunOutcome(profile.name, "not due", "another run served this slot")
            history.append(record)
            return _locked_run(console, history, profile, record, started, secret, reporter)
    except BusyError as exc:
        busy = record.finished("busy", time.monotonic() - started, reason=exc.message)
        history.append(busy)
        return RunOutcome(profile.name, "busy", exc.message, busy, exc.exit_code)
    except RecoveryError as exc:  # before the lock: an undeclared mode, a damaged lock folder
        failed = record.finished("failed", time.monotonic() - started, reason=exc.message)
        history.append(failed)
        return RunOutcome(profile.name, "failed", exc.message, failed, exc.exit_code)


def _locked_run(console: Console, history: RunHistory, profile: Profile, record: RunRecord, started: float,
                secret: str | None, reporter: Reporter | None) -> RunOutcome:
    try:
        skip = _space_shortfall(console, history, profile)
        if skip is not None:
            skipped = record.finished("skipped", time.monotonic() - started, reason=skip)
            history.append(skipped)
            return RunOutcome(profile.name, "skipped", skip, skipped, ExitCode.NO_SPACE)
        backup = _backup(console, profile, record.trigger, secret, reporter)
    except Cancelled as exc:
        cancelled = record.finished("cancelled", time.monotonic() - started, reason=exc.message)
        history.append(cancelled)
        return RunOutcome(profile.name, "cancelled", exc.message, cancelled, exc.exit_code)
    except RecoveryError as exc:
        failed = record.finished("failed", time.monotonic() - started, reason=exc.message)
        history.append(failed)
        return RunOutcome(profile.name, "failed", exc.message, failed, exc.exit_code)
    done = record.finished("ok", time.monotonic() - started, bytes=backup.size, backup_id=backup.backup_id)
    history.append(done)
    return RunOutcome(profile.name, "ok", "", done)


def _space_shortfall(console: Console, history: RunHistory, profile: Profile) -> str | None:
    if profile.target is None:
        raise UsageError(f"Profile '{profile.name}' has no backup target.",
                         hint="Choose the target its backups go to in the profile's settings.")
    assert profile.policy is not None
    storage = console.storage(profile.target)
    database = database_identity(profile.dump_url()).split("/", 1)[-1]
    estimate = estimate_size([r for r in history.records(profile.name) if r.target == storage.name],
                             console.catalog, storage.name, database)
    if estimate is None:
        estimate = _database_size(console, profile)
    return shortfall(storage, estimate, profile.policy.min_free_bytes)


def _database_size(console: Console, profile: Profile) -> int:
    from recovery_console.engine.pg import postgres  # loaded only for a profile's first backup

    with postgres.connect(profile.dump_url(), console.profiles.dump_password(profile)) as conn:
        return int(postgres.scalar(conn, "SELECT pg_database_size(current_database())"))


def _backup(console: Console, profile: Profile, trigger: str, secret: str | None,
            reporter: Reporter | None) -> BackupRecord:
    from recovery_console.engine.live_backup import backup_database  # pg_dump and its tools: only when a run is due

    return backup_database(console, profile.name, mode="scheduled" if trigger == "scheduled" else "manual",
                           secret=secret, reporter=reporter, lock_held=True)


def exit_code(outcomes: list[RunOutcome]) -> int:
    """The first failure's exit code (busy 12, no space 9, …), or 0 when every due run succeeded."""
    return next((int(o.exit_code) for o in outcomes if o.exit_code != ExitCode.OK), int(ExitCode.OK))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

