"""The hooks engine/restore.py calls so that each restore, swap and rollback lands in the restore history.

Recording never decides a restore's outcome: a history that cannot be written is logged as a warning,
and the restore's result (and its audit entry) stands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from recovery_console.engine.console import Console
from recovery_console.engine.pg import postgres
from recovery_console.engine.restore_preflight import RestorePlan, lock_identity
from recovery_console.engine.state import restore_history as store
from recovery_console.errors import Cancelled, RecoveryError
from recovery_console.models.profile import Profile

log = logging.getLogger(__name__)


@dataclass
class Recording:
    """A restore being recorded; `succeeded` is called once its data is in place."""

    console: Console
    plan: RestorePlan
    done: bool = False

    def succeeded(self, previous: str | None, previous_oid: int | None = None) -> None:
        """`previous_oid`: the kept database's OID if the caller read it already (else it is read here)."""
        self.done = True
        if previous_oid is None:
            previous_oid = _oid(self.console, self.plan.profile, previous)
        _add(self.console, _entry(self.plan.profile, self.plan.database, self.plan.backup_id,
                                  self.plan.ref.location, store.NEW_DATABASE if self.plan.new_database
                                  else store.IN_PLACE, store.SUCCEEDED, previous=previous,
                                  previous_oid=previous_oid))


@contextmanager
def recording(console: Console, plan: RestorePlan) -> Iterator[Recording]:
    """Record the restore run in the block: succeeded (by the block), failed or cancelled (by its exception)."""
    rec = Recording(console, plan)
    try:
        yield rec
    except BaseException as exc:
        if not rec.done:
            result = store.CANCELLED if isinstance(exc, (Cancelled, KeyboardInterrupt)) else store.FAILED
            why = exc.message if isinstance(exc, RecoveryError) else type(exc).__name__
            _add(console, _entry(plan.profile, plan.database, plan.backup_id, plan.ref.location,
                                 store.NEW_DATABASE if plan.new_database else store.IN_PLACE, result, error=why))
        raise


def swapped(console: Console, profile: Profile, database: str, backup_id: str | None, previous: str) -> None:
    """A blocked restore's checked copy was swapped in later: a succeeded in-place restore keeping `previous`."""
    _add(console, _entry(profile, database, backup_id, "", store.IN_PLACE, store.SUCCEEDED, previous=previous,
                         previous_oid=_oid(console, profile, previous)))


def rolled_back(console: Console, profile: Profile, database: str, previous: str, undone: str) -> None:
    """`previous` is live again as `database`; the restore that kept it is now rolled back."""
    identity = lock_identity(profile, database)
    try:
        store.update(console.paths, profile.name,
                     lambda e: e.previous == previous and e.identity == identity and e.result == store.SUCCEEDED,
                     result=store.ROLLED_BACK, undone=undone, undone_oid=_oid(console, profile, undone))
    except RecoveryError as exc:
        log.warning("The rollback to %s could not be recorded in the restore history: %s", previous, exc.message)


def _entry(profile: Profile, database: str, backup_id: str | None, key: str, mode: str, result: str, *,
           error: str = "", previous: str | None = None, previous_oid: int | None = None) -> store.HistoryEntry:
    return store.HistoryEntry(store.new_id(), store.now(), profile.name, database, lock_identity(profile, database),
                              backup_id, key, mode, result, error=error, previous=previous,
                              previous_oid=previous_oid)


def _oid(console: Console, profile: Profile, name: str | None) -> int | None:
    """The OID `name` has right after the swap kept it; None if the server cannot say (then it is never dropped)."""
    import psycopg

    if name is None:
        return None
    try:
        with postgres.connect(profile.dump_url(), console.profiles.dump_password(profile), dbname="postgres") as admin:
            row = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return int(row[0]) if row else None
    except (RecoveryError, psycopg.Error) as exc:  # the restore is done; its record must not fail it
        log.warning("The OID of %s could not be read for the restore history: %s", name, exc)
        return None


def _add(console: Console, entry: store.HistoryEntry) -> None:
    try:
        store.add(console.paths, entry)
    except RecoveryError as exc:
        log.warning("The restore of %s could not be recorded in the restore history: %s %s", entry.database,
                    exc.message, exc.hint)
