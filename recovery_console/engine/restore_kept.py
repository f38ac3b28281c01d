"""The restore history as it is now: each recorded restore joined with what the server holds, and the actions
on the database it keeps: roll back to a kept previous database, drop it — or, after a rollback, drop the
restored copy the rollback set aside (`__undone_`).

Sizes and existence are asked of the server at each listing, never taken from the file: a kept
database someone dropped shows as gone, one recreated under the same name (another OID) as replaced,
and neither can be rolled back to or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recovery_console.engine.console import Console
from recovery_console.engine.pg import postgres
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_preflight import lock_identity
from recovery_console.engine.state import restore_history as store
from recovery_console.engine.state.locks import database_lock
from recovery_console.engine.state.restore_history import HistoryEntry
from recovery_console.errors import DatabaseError, NotFoundError, RecoveryError, UsageError
from recovery_console.models.profile import Profile

if TYPE_CHECKING:
    import psycopg

KEPT, GONE, REPLACED, LIVE, DROPPED, NONE, UNKNOWN = "kept", "gone", "replaced", "live again", "dropped", "", "unknown"


@dataclass(frozen=True)
class HistoryRow:
    """One entry with the live state of the database it keeps (`kept`: the previous one, or after a rollback the
    restored copy it set aside): `state` is kept, gone, replaced, live again (rolled back to, nothing set aside),
    dropped, unknown (server unreachable) or '' (nothing was kept); `size` in bytes."""

    entry: HistoryEntry
    state: str
    size: int | None = None

    @property
    def set_aside(self) -> bool:
        """Whether the kept database is the restored copy a rollback set aside (else the one from before)."""
        return self.entry.result == store.ROLLED_BACK

    @property
    def kept(self) -> str | None:
        return self.entry.undone if self.set_aside else self.entry.previous

    @property
    def kept_oid(self) -> int | None:
        return self.entry.undone_oid if self.set_aside else self.entry.previous_oid

    @property
    def can_roll_back(self) -> bool:
        return self.entry.result == store.SUCCEEDED and self.state == KEPT

    @property
    def can_drop(self) -> bool:
        return self.state == KEPT and self.kept_oid is not None

    def to_json(self) -> dict[str, Any]:
        return {**self.entry.to_json(), "kept": self.kept, "kept_state": self.state, "kept_size": self.size,
                "can_roll_back": self.can_roll_back, "can_drop": self.can_drop}


@dataclass(frozen=True)
class History:
    """A profile's restores, newest first; `server_error` says why the kept databases' state is unknown."""

    profile: str
    rows: list[HistoryRow]
    server_error: str = ""


def history(console: Console, profile_name: str) -> History:
    """The restores of `profile_name`, newest first, with each kept database's state and size read live."""
    profile = console.profiles.store.get(profile_name)
    entries = store.entries(console.paths, profile_name)
    wanted = sorted({name for name in map(_on_server, entries) if name})
    try:
        live = _live(profile, console.profiles.dump_password(profile), wanted) if wanted else {}
    except RecoveryError as exc:
        rows = [HistoryRow(e, UNKNOWN if _on_server(e) else _settled(e)) for e in entries]
        return History(profile_name, rows, exc.message)
    rows = []
    for entry in entries:
        name = _on_server(entry)
        if not name:
            rows.append(HistoryRow(entry, _settled(entry)))
            continue
        found, oid = live.get(name), HistoryRow(entry, KEPT).kept_oid
        if entry.identity != lock_identity(profile, entry.database):
            rows.append(HistoryRow(entry, UNKNOWN))  # the profile points elsewhere now
        elif found is None:
            rows.append(HistoryRow(entry, GONE))
        elif oid is not None and found[0] != oid:
            rows.append(HistoryRow(entry, REPLACED))
        else:
            rows.append(HistoryRow(entry, KEPT, found[1]))
    return History(profile_name, rows)


def _on_server(entry: HistoryEntry) -> str | None:
    """The database of `entry` to look for on the server: the kept previous one, or the rollback's set-aside copy."""
    if entry.result == store.SUCCEEDED:
        return entry.previous
    if entry.result == store.ROLLED_BACK and not entry.undone_dropped:
        return entry.undone
    return None


def rollback_entry(console: Console, profile_name: str, ref: str) -> tuple[str, str]:
    """Roll back to the database the restore `ref` (entry id or kept name) kept; returns (previous, undone)."""
    row = _row(console, profile_name, ref)
    if not row.can_roll_back:
        raise UsageError(f"The restore {row.entry.id} cannot be rolled back: {_why_not(row)}.",
                         hint="Only a restore whose previous database is still kept can be rolled back.")
    assert row.entry.previous is not None
    return Restorer(console).rollback(profile_name, previous=row.entry.previous)


def drop_previous(console: Console, profile_name: str, ref: str, *, confirm: str) -> str:
    """Drop the database the restore `ref` (entry id or kept name) keeps — its previous database, or after a
    rollback the restored copy set aside — once `confirm` is its name.

    Only a database this console kept for this profile, still carrying the OID it had when kept, is
    dropped; under the database's lock, with an audit entry. Returns the dropped name."""
    profile = console.profiles.store.get(profile_name)
    entry = store.find(console.paths, profile_name, ref)
    name = HistoryRow(entry, KEPT).kept or ref
    with database_lock(console.paths, lock_identity(profile, entry.database), "drop of a kept copy", entry.database), \
            console.audited("restore.drop_previous", name, {"profile": profile_name, "entry": entry.id}) as detail:
        row = _row(console, profile_name, entry.id)
        if not row.can_drop:
            raise UsageError(f"{name} is not a database this console keeps for profile {profile_name}: "
                             f"{_why_not(row)}. Nothing was dropped.",
                             hint="Only a database a restore kept, still the very same database, can be dropped here.")
        if confirm != name:
            raise UsageError(f"The typed confirmation does not match {name}; nothing was dropped.",
                             hint="Type the database's name exactly to confirm dropping it.")
        oid = row.kept_oid
        assert oid is not None
        _drop(profile, console.profiles.dump_password(profile), name, oid)
        if entry.result == store.ROLLED_BACK:
            store.update(console.paths, profile_name, lambda e: e.id == entry.id, undone_dropped=True)
        else:
            store.update(console.paths, profile_name, lambda e: e.id == entry.id, result=store.DROPPED)
        detail.update(oid=oid, size=row.size)
        return name


def _row(console: Console, profile_name: str, ref: str) -> HistoryRow:
    entry = store.find(console.paths, profile_name, ref)
    found = history(console, profile_name)
    if found.server_error:
        raise DatabaseError(f"The server could not be asked about {entry.previous}: {found.server_error}",
                            hint="Nothing was changed. Try again when the server is reachable.")
    return next(r for r in found.rows if r.entry.id == entry.id)


def _why_not(row: HistoryRow) -> str:
    if row.entry.result not in (store.SUCCEEDED, store.ROLLED_BACK):
        return f"its result is '{row.entry.result}'"
    if not row.kept:
        return "it kept no database (a restore into a new database, or a rollback that set nothing aside)"
    if row.state == DROPPED:
        return f"{row.kept} was dropped already"
    if row.kept_oid is None:
        return f"the identity (OID) of {row.kept} was not recorded when it was kept"
    return {GONE: f"{row.kept} no longer exists on the server",
            REPLACED: f"{row.kept} is another database now (made since by someone else)",
            UNKNOWN: "the profile now points at another server or database"}.get(row.state, row.state)


def _settled(entry: HistoryEntry) -> str:
    """The state of an entry's kept database that needs no server: what the console itself did to it."""
    if entry.result == store.ROLLED_BACK:
        return DROPPED if entry.undone_dropped else LIVE
    if not entry.previous:
        return NONE
    return DROPPED if entry.result == store.DROPPED else NONE


def live_oid(console: Console, profile_name: str, name: str) -> int | None:
    """The OID of database `name` on the profile's server now; None if there is none."""
    profile = console.profiles.store.get(profile_name)
    found = _live(profile, console.profiles.dump_password(profile), [name]).get(name)
    return found[0] if found else None


def _live(profile: Profile, password: str | None, names: list[str]) -> dict[str, tuple[int, int | None]]:
    """name → (OID, size in bytes or None when this role may not see it) of those of `names` on the server."""
    import psycopg

    found: dict[str, tuple[int, int | None]] = {}
    with postgres.connect(profile.dump_url(), password, dbname="postgres") as admin:
        try:
            rows = admin.execute("SELECT datname, oid FROM pg_database WHERE datname = ANY(%s)", (names,)).fetchall()
        except psycopg.Error as exc:
            raise DatabaseError(f"Listing the databases failed: {str(exc).strip()}") from None
        for name, oid in rows:
            try:
                with admin.transaction():
                    size = postgres.scalar(admin, "SELECT pg_database_size(%s::oid)", (oid,))
            except psycopg.Error:  # no CONNECT privilege on it: exists, size unknown
                size = None
            found[str(name)] = (int(oid), int(size) if size is not None else None)
    return found


def _drop(profile: Profile, password: str | None, name: str, oid: int) -> None:
    import psycopg

    try:
        with postgres.connect(profile.dump_url(), password, dbname="postgres") as admin:
            _drop_if_same(admin, name, oid)
    except psycopg.Error as exc:
        raise DatabaseError(f"Dropping {name} failed: {str(exc).strip()}",
                            hint="Fix the cause the server names and drop it again from the restore history.") from None


def _drop_if_same(admin: psycopg.Connection[tuple[Any, ...]], name: str, oid: int) -> None:
    """Drop `name` in one step with its OID check: sessions on it are ended first."""
    from psycopg import sql

    row = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if row is None or int(row[0]) != oid:
        raise NotFoundError(f"{name} changed on the server while it was being dropped; nothing was dropped.")
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
