"""Dropping what failed restores left on a server, as their journals (engine/state/restore_journal.py) record it.

Only a database a journal records as created by the console, still carrying the OID it was
created with and not marked as a finished new database (its comment, written once the restore checked
it in full), is dropped; anything else is reported and left alone: a copy whose OID now has another name
(swapped in before the restore was stopped) is reported under the name it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recovery_console.engine.console import Console
from recovery_console.engine.pg import postgres
from recovery_console.engine.restore_preflight import JournaledFate, journaled_fate, lock_identity
from recovery_console.engine.state import restore_journal
from recovery_console.engine.state.locks import database_lock
from recovery_console.engine.state.restore_journal import RestoreJournal
from recovery_console.errors import BusyError, NotFoundError, RecoveryError

if TYPE_CHECKING:
    import psycopg


@dataclass
class CleanupReport:
    """What a clean-up removed, what it could not remove (with why), and the renamed copies it left to the user."""

    dropped: list[str] = field(default_factory=list)
    not_dropped: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)
    """(copy, its name now, the database its restore was for)"""
    gone: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    @property
    def found_any(self) -> bool:
        """Whether the journals recorded anything (lines() then says what became of each)."""
        return bool(self.dropped or self.not_dropped or self.moved or self.gone or self.finished)

    def lines(self) -> list[str]:
        out = [f"Dropped {name}." for name in self.dropped]
        out += [f"{name} was already gone." for name in self.gone]
        out += [f"Could not drop {name}: {why}." for name, why in self.not_dropped]
        out += [f"{copy} had been swapped in as {now} when its restore was stopped; the original is kept under its "
                "pre-restore name (roll back from the restore history if that is not wanted)." if now == database
                else f"{copy} is named {now} now; left alone." for copy, now, database in self.moved]
        out += [f"Kept {name}: its restore finished and checked it (the database carries the mark)."
                for name in self.finished]
        return out or ["Nothing was left behind by earlier restores."]

    def extend(self, other: CleanupReport) -> None:
        self.dropped += other.dropped
        self.not_dropped += other.not_dropped
        self.moved += other.moved
        self.gone += other.gone
        self.finished += other.finished


def clean_up(console: Console, profile: str | None = None) -> CleanupReport:
    """Drop what the journals of `profile` (or of every profile) record as left behind; one audit entry."""
    report = CleanupReport()
    journals = restore_journal.pending(console.paths, profile)
    with console.audited("restore.cleanup", profile or "all profiles", {"journals": len(journals)}) as detail:
        for journal in journals:
            try:
                with database_lock(console.paths, journal.identity, "restore clean-up", journal.database):
                    report.extend(clean_journal(console, journal))
            except BusyError as exc:
                report.not_dropped += [(name, exc.message) for name in journal.leftovers]
        detail.update(dropped=report.dropped, not_dropped=[name for name, _ in report.not_dropped])
    return report


def clean_before(console: Console, profile: str, held: str) -> CleanupReport:
    """What earlier restores of `profile` left, dropped before a new restore or rollback starts; `held` is the
    lock identity the caller already holds (other databases' locks are taken here, or their journals skipped)."""
    report = CleanupReport()
    for journal in restore_journal.pending(console.paths, profile):
        if journal.identity == held:
            report.extend(clean_journal(console, journal))
            continue
        try:
            with database_lock(console.paths, journal.identity, "restore clean-up", journal.database):
                report.extend(clean_journal(console, journal))
        except BusyError as exc:
            report.not_dropped += [(name, exc.message) for name in journal.leftovers]
    return report


def clean_journal(console: Console, journal: RestoreJournal) -> CleanupReport:
    """Drop what one journal recorded; the caller holds the database's lock."""
    report = CleanupReport()
    try:
        profile = console.profiles.store.get(journal.profile)
    except NotFoundError:
        report.not_dropped += [(name, f"its profile {journal.profile} no longer exists") for name in journal.leftovers]
        return report
    if lock_identity(profile, journal.database) != journal.identity:
        report.not_dropped += [(name, f"profile {journal.profile} now points at another server or database")
                               for name in journal.leftovers]
        return report
    try:
        with postgres.connect(profile.dump_url(), console.profiles.dump_password(profile), dbname="postgres") as admin:
            _drop_recorded(admin, journal, report)
    except RecoveryError as exc:
        report.not_dropped += [(name, f"server unreachable: {exc.message}") for name in journal.created]
        journal.finish(journal.state, f"server unreachable: {exc.message}")
        return report
    if journal.creating:
        report.not_dropped.append((journal.creating, "its creation was never confirmed, so it may not be the "
                                   "console's; check it and drop it yourself if it is"))
        journal.creating = None
    journal.finish(journal.state)
    return report


def drop_created(admin: psycopg.Connection[tuple[Any, ...]], name: str, oid: int) -> JournaledFate:
    """Drop `name` if it still is the unfinished database made with `oid` (kind "dropped"; sessions on it are ended
    first); else leave it alone and say what it is (restore_preflight.journaled_fate)."""
    from psycopg import sql

    fate = journaled_fate(admin, name, oid)
    if fate.kind != "unfinished":
        return fate
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    return JournaledFate("dropped")


def _drop_recorded(admin: psycopg.Connection[tuple[Any, ...]], journal: RestoreJournal, report: CleanupReport) -> None:
    import psycopg

    for name, oid in list(journal.created.items()):
        try:
            fate = drop_created(admin, name, oid)
        except psycopg.Error as exc:
            report.not_dropped.append((name, str(exc).strip()))
            continue
        if fate.kind == "dropped":
            report.dropped.append(name)
        elif fate.kind == "gone":
            report.gone.append(name)
        elif fate.kind == "moved":
            report.moved.append((name, fate.now, journal.database))
        elif fate.kind == "replaced":
            report.not_dropped.append((name, "a database of that name was made since by someone else"))
        elif fate.kind == "finished":
            report.finished.append(name)
        journal.handed_over(name)
