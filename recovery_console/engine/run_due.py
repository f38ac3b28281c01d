"""Running what is due (engine/due.py says what is): each due profile gets one backup, under its lock.

One run holds the database's lock (engine/state/locks.py) from the free-space guard through the backup and
what follows it (engine/after_backup.py: a full verify of the new backup, copies to the secondaries, pruning).
Every run is recorded in the run history, as it starts and as it ends. `now` is injectable for tests; the
CLI and the GUI never pass it. A profile without a policy can still be run by hand, with the default one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from recovery_console.engine.console import Console

if TYPE_CHECKING:
    from recovery_console.engine.after_backup import FollowUps
    from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.due import RunOutcome, due_slot, pending
from recovery_console.engine.progress import Reporter
from recovery_console.engine.space_guard import estimate_size, shortfall
from recovery_console.engine.state.locks import database_identity, database_lock
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.engine.state.served_slots import ServedSlots
from recovery_console.errors import BusyError, Cancelled, ExitCode, RecoveryError, UsageError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.policy import Policy
from recovery_console.models.profile import Profile


def run_due(console: Console, profile: str | None = None, *, now: datetime | None = None,
            secret: str | None = None, reporter: Reporter | None = None) -> list[RunOutcome]:
    """Run every due scheduled backup (only `profile`'s when given); a profile not due says so."""
    now = now or datetime.now(UTC)
    history = RunHistory(console.paths)
    return [_run(console, history, item, "scheduled", slot, now, secret, reporter) if slot is not None
            else RunOutcome(item.name, "not due") for item, slot in pending(console.paths, profile, now)]


def run_now(console: Console, profile: str, *, now: datetime | None = None, secret: str | None = None,
            reporter: Reporter | None = None) -> RunOutcome:
    """'Run now': the policy's backup at once, by hand; it serves no scheduled slot."""
    return _run(console, RunHistory(console.paths), console.profiles.store.get(profile), "manual", None,
                now or datetime.now(UTC), secret, reporter)


def _run(console: Console, history: RunHistory, profile: Profile, trigger: str, slot: datetime | None,
         now: datetime, secret: str | None, reporter: Reporter | None) -> RunOutcome:
    started = time.monotonic()
    record = RunRecord.start(trigger, profile.name, profile.target, _iso(now), _iso(slot) if slot else None)
    served = ServedSlots(console.paths)
    try:
        with _run_lock(console, profile):
            if slot is not None and due_slot(profile, served.load().get(profile.name), now) is None:
                return RunOutcome(profile.name, "not due", "another run served this slot")
            history.append(record)
            return _ended(history, served, _locked_run(console, history, profile, record, started, secret,
                                                       reporter))
    except RecoveryError as exc:  # busy, or before the lock: an undeclared mode, a damaged lock folder
        result = "busy" if isinstance(exc, BusyError) else "failed"
        ended = record.finished(result, time.monotonic() - started, reason=exc.message)
        return _ended(history, served, RunOutcome(profile.name, result, exc.message, ended, exc.exit_code))


def _run_lock(console: Console, profile: Profile) -> AbstractContextManager[None]:
    """The database's lock; for a profile with members (a recovery set), the lock of every database in the set."""
    if profile.has_members:
        from recovery_console.engine.sets.set_backup import set_locks

        return set_locks(console, profile)
    identity = database_identity(profile.dump_url())
    return database_lock(console.paths, identity, "backup", identity.split("/", 1)[-1] or profile.name)


def _ended(history: RunHistory, served: ServedSlots, outcome: RunOutcome) -> RunOutcome:
    """Record the run's end, and the slot it served (under the lock, so the next run sees it)."""
    assert outcome.record is not None
    history.append(outcome.record)
    if outcome.record.slot and outcome.record.serves_slot:
        served.mark(outcome.profile, outcome.record.slot)
    return outcome


def _locked_run(console: Console, history: RunHistory, profile: Profile, record: RunRecord, started: float,
                secret: str | None, reporter: Reporter | None) -> RunOutcome:
    """The run's outcome with its finished record (the caller appends it, still under the lock)."""
    try:
        skip = _space_shortfall(console, history, profile)
        if skip is not None:
            skipped = record.finished("skipped", time.monotonic() - started, reason=skip)
            return RunOutcome(profile.name, "skipped", skip, skipped, ExitCode.NO_SPACE)
        clock = partial(_since, now=datetime.fromisoformat(record.started), start=started)
        if profile.has_members:
            return _set_run(console, history, profile, record, started, secret, reporter, clock)
        backup = _backup(console, profile, record.trigger, secret, reporter, clock)
        history.append(replace(record, backup_id=backup.backup_id))  # made: a later run copies it if this one dies
        follow_ups = _after(console, history, profile, backup, secret, reporter, clock)
    except RecoveryError as exc:
        result = "cancelled" if isinstance(exc, Cancelled) else "failed"
        ended = record.finished(result, time.monotonic() - started, reason=exc.message)
        return RunOutcome(profile.name, result, exc.message, ended, exc.exit_code)
    reason = "; ".join(follow_ups.problems)
    done = record.finished("ok", time.monotonic() - started, bytes=backup.size, backup_id=backup.backup_id,
                           reason=reason)
    return RunOutcome(profile.name, "ok", reason, done, ExitCode.PARTIAL if follow_ups.problems else ExitCode.OK)


def _set_run(console: Console, history: RunHistory, profile: Profile, record: RunRecord, started: float,
             secret: str | None, reporter: Reporter | None, clock: Callable[[], datetime]) -> RunOutcome:
    """A recovery set's run (engine/sets/set_runs.py): made, verified from its target, then its follow-ups."""
    from recovery_console.engine.sets.set_runs import back_up_and_verify, follow_ups

    def remember(found: SetRecord) -> None:  # made: the run names it from now on, whatever follows
        nonlocal record
        record = replace(record, set_id=found.set_id)
        history.append(record)

    try:
        made = back_up_and_verify(console, profile, record.trigger, secret, reporter, clock, remember)
        after = follow_ups(console, history, profile, made, reporter, clock)
    except RecoveryError as exc:  # the failed (or cancelled) run's record names the set it made, if it made one
        result = "cancelled" if isinstance(exc, Cancelled) else "failed"
        ended = record.finished(result, time.monotonic() - started, reason=exc.message)
        return RunOutcome(profile.name, result, exc.message, ended, exc.exit_code)
    reason = "; ".join(after.problems)
    done = record.finished("ok", time.monotonic() - started, bytes=made.size, reason=reason, set_id=made.set_id)
    return RunOutcome(profile.name, "ok", reason, done, ExitCode.PARTIAL if after.problems else ExitCode.OK)


def _since(now: datetime, start: float) -> datetime:
    """The run's clock: its (maybe injected) start plus the time it has taken so far."""
    return now + timedelta(seconds=time.monotonic() - start)


def _after(console: Console, history: RunHistory, profile: Profile, backup: BackupRecord, secret: str | None,
           reporter: Reporter | None, clock: Callable[[], datetime]) -> FollowUps:
    """The new backup verified from its target (a run whose backup does not verify failed), then copied and pruned."""
    from recovery_console.engine.after_backup import copy_and_prune, verify_new

    try:
        verify_new(console, backup, secret if secret is not None else console.profiles.instance_secret(profile.name),
                   reporter)
    except Cancelled:
        raise
    except RecoveryError as exc:
        failed = RecoveryError(f"The new backup {backup.short_id} did not pass its verify: {exc.message}",
                               hint=exc.hint)
        failed.exit_code = exc.exit_code
        raise failed from exc
    return copy_and_prune(console, history, profile, backup, reporter, clock)


def _space_shortfall(console: Console, history: RunHistory, profile: Profile) -> str | None:
    if profile.target is None:
        raise UsageError(f"Profile '{profile.name}' has no backup target.",
                         hint="Choose the target its backups go to in the profile's settings.")
    storage = console.storage(profile.target)
    database = database_identity(profile.dump_url()).split("/", 1)[-1]
    estimate = estimate_size([r for r in history.records(profile.name) if r.target == storage.name],
                             console.catalog, storage.name, database)
    if estimate is None and profile.has_members:
        from recovery_console.engine.sets.set_runs import databases_size

        estimate = databases_size(console, profile)
    elif estimate is None:
        estimate = _database_size(console, profile)
    return shortfall(storage, estimate, (profile.policy or Policy()).min_free_bytes)


def _database_size(console: Console, profile: Profile) -> int:
    from recovery_console.engine.pg import postgres  # loaded only for a profile's first backup

    with postgres.connect(profile.dump_url(), console.profiles.dump_password(profile)) as conn:
        return int(postgres.scalar(conn, "SELECT pg_database_size(current_database())"))


def _backup(console: Console, profile: Profile, trigger: str, secret: str | None,
            reporter: Reporter | None, clock: Callable[[], datetime]) -> BackupRecord:
    """The backup itself, named and dated by the run's clock (the real one, or the one a test injected)."""
    from recovery_console.engine.live_backup import backup_database  # pg_dump and its tools: only when a run is due

    return backup_database(console, profile.name, mode="scheduled" if trigger == "scheduled" else "manual",
                           secret=secret, reporter=reporter, lock_held=True, now=clock)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

