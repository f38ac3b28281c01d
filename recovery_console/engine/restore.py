"""Restores that cannot lose data: verify first, restore into a scratch database, check it, then swap.

The backup is proven (every chunk, the end record, the sealed archive hash) while it streams into
pg_restore, so a restore reads it once; pre-flight verifies it first unless the catalog holds a
full verify of the very same file. Safe in-place restore never touches the original database
until the scratch copy has been restored completely and checked (every table present, row
counts equal to the archive's, counted from the same stream). The
swap is two renames in one transaction; the original is kept as `<db>__pre_restore_<ts>` until
the user drops it, and `rollback` swaps it back. Anything failing before the swap drops the
scratch database and leaves the original as it was; a restore journal (engine/state/restore_journal.py)
records what was made, so that what could not be dropped then (the server gone) is dropped later
(engine/restore_cleanup.py), and the error says which happened. A swap the database's sessions block (ones
this role may not end) keeps the checked copy, and `swap` finishes the restore later. One restore,
backup or rollback of a database runs at a time (engine/state/locks.py).

psycopg is imported on first use, so that a local backup's key derivation (PBKDF2, ~0.2 s) runs
on another core while psycopg loads and the server is checked.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import ExitStack, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from recovery_console.engine.archive.copy_chunks import before_numpy
from recovery_console.engine.archive.rowcount import RowCounter
from recovery_console.engine.background import in_background
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container.streams import widen_pipe
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.io_protocols import FlushableStream
from recovery_console.engine.pg import postgres
from recovery_console.engine.pg.process_group import stop_group
from recovery_console.engine.pg.restore_session import session_options, with_session_options
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.restore_check import TableCheck as TableCheck  # re-exported: RestoreResult holds them
from recovery_console.engine.restore_check import check_tables, expected_rows
from recovery_console.engine.restore_cleanup import clean_before, drop_created
from recovery_console.engine.restore_jobs import restore_parallel
from recovery_console.engine.restore_preflight import (
    CHECKED_NOTE,
    PRE_RESTORE_INFIX,
    RESTORED_NOTE,
    SCRATCH_INFIX,
    STAMP_FORMAT,
    UNDONE_INFIX,
    RestorePlan,
    copies_on_server,
    database_note,
    db_name,
    lock_identity,
    now_stamp,
    plan_restore,
    sessions,
)
from recovery_console.engine.restore_recording import recording, rolled_back, swapped
from recovery_console.engine.state import restore_journal
from recovery_console.engine.state.locks import database_lock
from recovery_console.engine.state.restore_journal import RestoreJournal
from recovery_console.engine.timing import span, timed
from recovery_console.errors import DatabaseError, IntegrityError, NotFoundError, RecoveryError, UsageError

if TYPE_CHECKING:
    import psycopg

SWAP_WAIT = 30.0  # seconds the swap keeps trying while sessions it cannot end (autovacuum) hold the database
SWAP_PAUSE = 0.05
STAMP_TRIES = 60


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: the database now holding the backup, where the original was kept, and the checks."""

    database: str
    previous: str | None
    tables: list[TableCheck]
    tool: str
    warnings: list[str]


def _free_stamp(admin: psycopg.Connection[tuple[Any, ...]], stamp: str, names: Callable[[str], list[str]]) -> str:
    """`stamp`, or the next second whose database names are all free: a restore killed and run again
    within the same second would otherwise collide with the scratch copy it left."""
    moment = datetime.strptime(stamp, STAMP_FORMAT)
    for _ in range(STAMP_TRIES):
        candidate = moment.strftime(STAMP_FORMAT)
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = ANY(%s)", (names(candidate),)).fetchone():
            return candidate
        moment += timedelta(seconds=1)
    raise DatabaseError(f"Databases named for every second from {stamp} on already exist.",
                        hint="Drop the leftover __restore_/__pre_restore_/__undone_ databases you have checked.")


def _maintenance_work_mem(url: str, password: str | None) -> int | None:
    """The server's maintenance_work_mem for this role, in kB (None if it cannot be read)."""
    import psycopg

    try:
        with postgres.connect(url, password, dbname="postgres") as conn:
            return int(postgres.scalar(conn, "SELECT setting::bigint FROM pg_settings "
                                             "WHERE name = 'maintenance_work_mem'"))
    except (RecoveryError, psycopg.Error, TypeError, ValueError):
        return None


def _prepare_streaming(url: str, password: str | None) -> int | None:
    """Off the restore's path, while the console waits on the server (CREATE DATABASE): read the server's
    maintenance_work_mem for pg_restore's session options, and import numpy (~0.1–0.3 s), which the row
    counter would otherwise import as the first archive bytes reach it, with pg_restore waiting for them."""
    server_kb = _maintenance_work_mem(url, password)
    before_numpy()
    import numpy  # noqa: F401

    return server_kb


def _import_psycopg() -> None:
    import psycopg  # noqa: F401


def _with_db(url: str, dbname: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, dbname=dbname)


class Restorer:
    """Plans and runs restores for one console; each public method is one step the UI can show."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._prepared: tuple[RestorePlan, Future[int | None]] | None = None  # the last plan's server sort memory
        # psycopg takes ~0.2–0.3 s of CPU to import; the pre-flight needs it, and the secret's keyring look-up
        # before it mostly waits: load it meanwhile
        in_background(_import_psycopg, name="rc-preload")

    @timed("pre-flight")
    def preflight(self, profile_name: str, ref: BackupRef, secret: str, *, new_database: str | None = None,
                  jobs: int = 1, verify_first: bool = False, allow_other_database: bool = False,
                  reporter: Reporter | None = None) -> RestorePlan:
        """Run every check (engine/restore_preflight.py); nothing on the server is changed."""
        plan = plan_restore(self.console, profile_name, ref, secret, new_database=new_database, jobs=jobs,
                            verify_first=verify_first, allow_other_database=allow_other_database, reporter=reporter)
        if plan.ready:
            with suppress(RecoveryError):  # the keyring: then run() reports it
                url, password = plan.profile.dump_url(), self.console.profiles.dump_password(plan.profile)
                self._prepared = plan, in_background(_prepare_streaming, url, password, name="rc-prepare")
        return plan

    def run(self, plan: RestorePlan, secret: str, *, exit_on_error: bool = True, no_owner: bool = False,
            reporter: Reporter | None = None) -> RestoreResult:
        """Restore per the plan. Safe in-place: scratch → check → swap; the original is kept."""
        if not plan.ready:
            failed = "; ".join(f"{c.name}: {c.detail}" + (" (not acknowledged)" if c.needs_ack else "")
                               for c in plan.checks if c.blocking or c in plan.unacknowledged)
            raise UsageError(f"The restore did not pass its pre-flight checks: {failed}.")
        assert plan.tool is not None and plan.archive is not None
        reporter = reporter or Reporter()
        url = plan.profile.dump_url()
        password = self.console.profiles.dump_password(plan.profile)
        audit_detail = {"backup_id": plan.backup_id, "database": plan.database, "profile": plan.profile.name,
                        "mode": "new database" if plan.new_database else "safe in-place", "tool": str(plan.tool.path)}
        identity = lock_identity(plan.profile, plan.database)
        with database_lock(self.console.paths, identity, "restore", plan.database), \
                self.console.audited("restore", plan.ref.location, audit_detail) as detail, \
                recording(self.console, plan) as history, ExitStack() as held:
            earlier = clean_before(self.console, plan.profile.name, identity)
            journal = restore_journal.begin(self.console.paths, plan.profile.name, plan.database, identity,
                                            claims=self.console.runtime)
            self._create_scratch(plan, url, password, journal)
            try:
                row_counts = self._pg_restore(plan, url, password, secret, exit_on_error, no_owner, reporter)
                reporter.start(Phase.CHECK)
                tables = self._check_tables(plan, row_counts, url, password)
                bad = [t for t in tables if not t.ok]
                if bad:
                    raise IntegrityError(
                        "The restored copy does not match the backup: " + "; ".join(
                            f"{t.schema}.{t.table} has {t.restored_rows} rows, expected {t.expected_rows}"
                            if t.restored_rows is not None else f"{t.schema}.{t.table} is missing" for t in bad[:5]))
                admin = None  # in place: one connection marks the checked copy, swaps it in and marks it restored
                if not plan.new_database:
                    admin = held.enter_context(postgres.connect(url, password, dbname="postgres"))
                    _note(admin, plan.scratch_name, f"{CHECKED_NOTE} {plan.backup_id}")
                reporter.start(Phase.SWAP)
            except BaseException as exc:
                self._abandon(plan, url, password, journal, exc)
                raise
            # restored in full: now the new database, or a checked copy. The server holds the durable record of
            # what it became (a new database's committed mark; a swapped-in copy's new name), so the journal lets
            # it go without waiting for the disk. Only an unmarked new database needs the journal's word
            unmarked = self._mark(plan, url, password, None) if plan.new_database else None
            if unmarked:
                journal.handed_over(plan.scratch_name)
            else:
                journal.completed(plan.scratch_name)
            try:
                previous = None if admin is None else self._swap(plan, admin)
            finally:
                journal.finish("done")
            warnings = [c.detail for c in plan.checks if c.status == "warn"]
            warnings += [f"Left by an earlier restore: {line}" for line in earlier.lines() if earlier.found_any]
            if not plan.new_database:
                unmarked = self._mark(plan, url, password, admin)
            if unmarked:
                warnings.append(unmarked)
            detail.update(previous=previous, tables=len(tables), earlier_dropped=earlier.dropped)
            history.succeeded(previous, _oid_of(admin, previous) if admin is not None and previous else None)
            return RestoreResult(plan.database, previous, tables, f"{plan.tool.path} {plan.tool.version}", warnings)

    def _abandon(self, plan: RestorePlan, url: str, password: str | None, journal: RestoreJournal,
                 exc: BaseException) -> None:
        """The restore failed before any swap: drop what it made, and make the error's hint say what is true now."""
        import psycopg

        what = f"The new database {plan.scratch_name}" if plan.new_database else \
            f"The scratch copy {plan.scratch_name}"
        note = problem = ""
        oid = journal.created.get(plan.scratch_name)
        if oid is not None:
            try:
                with postgres.connect(url, password, dbname="postgres") as admin:
                    outcome = drop_created(admin, plan.scratch_name, oid).kind
                journal.handed_over(plan.scratch_name)
                note = {"dropped": f"{what} was dropped.", "gone": f"{what} was already gone.",
                        "finished": f"{what} was kept: it had been restored and checked in full.",
                        "moved": f"{what} was left alone: someone renamed it meanwhile."}.get(
                    outcome, f"{what} was left alone: another database has its name now.")
            except (RecoveryError, psycopg.Error) as failure:
                why = "server unreachable" if isinstance(failure, RecoveryError) else str(failure).strip()
                problem = f"server unreachable: {failure.message}" if isinstance(failure, RecoveryError) else why
                note = (f"{what} could not be dropped ({why}); it is recorded and is dropped when the server "
                        "is back: by the next restore of this profile, or by a clean-up.")
        journal.finish("failed", problem)
        if isinstance(exc, RecoveryError):
            untouched = "" if plan.new_database else f"The original database {plan.database} was not touched."
            exc.hint = " ".join(part for part in (untouched, note, exc.hint) if part)

    @timed("create-database")
    def _create_scratch(self, plan: RestorePlan, url: str, password: str | None, journal: RestoreJournal) -> None:
        """Create the database pg_restore fills; in place, under names no earlier restore left behind. The
        journal records it as the console's once the server has confirmed its creation."""
        import psycopg
        from psycopg import sql

        with postgres.connect(url, password, dbname="postgres") as admin:
            if not plan.new_database:
                plan.stamp = _free_stamp(admin, plan.stamp, lambda stamp: [
                    db_name(plan.database, SCRATCH_INFIX, stamp), db_name(plan.database, PRE_RESTORE_INFIX, stamp)])
            create = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(plan.scratch_name))
            journal.will_create(plan.scratch_name)
            try:
                admin.execute(create)
                oid = postgres.scalar(admin, "SELECT oid FROM pg_database WHERE datname = %s", (plan.scratch_name,))
                journal.made(plan.scratch_name, int(oid))
            except psycopg.Error as exc:
                if not isinstance(exc, psycopg.OperationalError):
                    journal.creation_failed()
                journal.finish("failed", str(exc).strip())
                raise DatabaseError(f"Could not create the database {plan.scratch_name}: {str(exc).strip()}",
                                    hint="Nothing was changed. Fix the cause the server names and run the restore "
                                         "again.") from None

    def _pg_restore(self, plan: RestorePlan, url: str, password: str | None, secret: str, exit_on_error: bool,
                    no_owner: bool, reporter: Reporter) -> dict[int, int]:
        """Run pg_restore into the scratch database; return the archive's row counts, taken on the way."""
        assert plan.tool is not None
        url, password = postgres.for_child(url, password)
        argv = [str(plan.tool.path), f"--dbname={_with_db(url, plan.scratch_name)}"]
        if exit_on_error:
            argv.append("--exit-on-error")
        if no_owner:
            argv.append("--no-owner")
        prepared, self._prepared = self._prepared, None
        server_kb = prepared[1].result() if prepared and prepared[0] is plan else _maintenance_work_mem(url, password)
        options = session_options(server_kb, plan.jobs)
        with postgres.libpq_env(password) as base, span("streaming"):
            env = with_session_options(base, options)
            if plan.jobs > 1:
                return self._restore_parallel(plan, argv, env, secret, reporter)
            return self._restore_streaming(plan, argv, env, secret, reporter)

    def _restore_streaming(self, plan: RestorePlan, argv: list[str], env: dict[str, str], secret: str,
                           reporter: Reporter) -> dict[int, int]:
        """Decrypted archive bytes go straight into pg_restore's stdin; nothing is written to disk."""
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=errors, stdout=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
            assert proc.stdin is not None
            widen_pipe(proc.stdin.fileno())
            failure: RecoveryError | None = None
            counts: dict[int, int] = {}
            try:
                counts = self._decrypt_into(plan, secret, proc.stdin, reporter)
                proc.stdin.close()
            except RecoveryError as exc:
                failure = exc
            except BaseException:
                stop_group(proc)
                raise
            if failure is not None and proc.poll() is None:
                stop_group(proc)
                raise failure
            code = proc.wait()
            if code != 0:
                errors.seek(0)
                raise DatabaseError(f"pg_restore failed (exit code {code}): "
                                    f"{errors.read().decode('utf-8', 'replace').strip()[-2000:]}")
            if failure is not None:
                raise failure
            return counts

    def _restore_parallel(self, plan: RestorePlan, argv: list[str], env: dict[str, str], secret: str,
                          reporter: Reporter) -> dict[int, int]:
        """pg_restore -j needs a seekable file: engine/restore_jobs.py."""
        return restore_parallel(self.console.runtime, plan.jobs, argv, env,
                                lambda sink: self._decrypt_into(plan, secret, sink, reporter), reporter)

    def _decrypt_into(self, plan: RestorePlan, secret: str, sink: FlushableStream,
                      reporter: Reporter) -> dict[int, int]:
        """Feed the archive to `sink`, proving every chunk and the sealed archive hash, and count its rows on the way.

        `sink` gets pg_dump -Z0's one-row chunks joined into large ones: one CopyData message per row
        costs pg_restore and the server about as much again as the rows themselves.

        A backup damaged or changed since its verify fails here, before the scratch copy can be swapped
        in, and the catalog forgets that it once verified (the next pre-flight verifies it again).
        """
        counter = RowCounter(forward=sink)
        try:
            with plan.ref.open() as stream:
                read_stream(stream, secret, sink=counter, require_archive=False, hash_ciphertext=False,
                            reporter=reporter, total=plan.ref.size)
        except IntegrityError as exc:
            if plan.ref.record is not None:
                self.console.catalog.remember_verify(plan.ref.record, "failed", exc.message)
            raise
        finally:
            counter.close()
        return counter.result()

    @timed("row-count-check")
    def _check_tables(self, plan: RestorePlan, row_counts: dict[int, int], url: str,
                      password: str | None) -> list[TableCheck]:
        """Every table present, with the archive's rows (engine/restore_check.py)."""
        assert plan.archive is not None
        with postgres.connect(url, password, dbname=plan.scratch_name) as conn:
            return check_tables(conn, expected_rows(plan.archive, row_counts))

    @timed("swap")
    def _swap(self, plan: RestorePlan, admin: psycopg.Connection[tuple[Any, ...]]) -> str:
        """Rename original → pre_restore and scratch → original in one transaction, after disconnecting sessions."""
        _rename_pair(admin, plan.database, plan.pre_restore_name, plan.scratch_name,
                     _kept_hint(plan.database, plan.scratch_name, plan.profile.name))
        return plan.pre_restore_name

    def swap(self, profile_name: str, scratch: str | None = None) -> tuple[str, str]:
        """Finish a restore whose swap was blocked: swap in its checked copy (default: the newest);
        returns (the copy swapped in, the name the original is kept under)."""
        profile = self.console.profiles.store.get(profile_name)
        url = profile.dump_url()
        password = self.console.profiles.dump_password(profile)
        database = postgres.parse(url).get("dbname") or ""
        with database_lock(self.console.paths, lock_identity(profile, database), "restore swap", database), \
                self.console.audited("restore.swap", database, {"profile": profile_name}) as detail:
            with postgres.connect(url, password, dbname="postgres") as admin:
                checked = {name: note for name in copies_on_server(admin, database, SCRATCH_INFIX)
                           if (note := database_note(admin, name)).startswith(CHECKED_NOTE)}
                if scratch is None:
                    if not checked:
                        raise NotFoundError(f"There is no checked restored copy of {database} waiting to be "
                                            "swapped in.", hint="Run the restore again.")
                    scratch = list(checked)[-1]  # the newest
                elif scratch not in checked:
                    raise UsageError(f"{scratch} is not a restored copy of {database} that passed its checks.",
                                     hint="Only a copy a restore checked completely can be swapped in; run the "
                                          "restore again.")
                stamp = _free_stamp(admin, now_stamp(), lambda stamp: [db_name(database, PRE_RESTORE_INFIX, stamp)])
                previous = db_name(database, PRE_RESTORE_INFIX, stamp)
                _rename_pair(admin, database, previous, scratch, _kept_hint(database, scratch, profile_name))
            backup_id = checked[scratch].removeprefix(CHECKED_NOTE).strip()
            detail.update(swapped_in=scratch, previous=previous, backup_id=backup_id)
            _comment(url, password, database, _restored_note(backup_id))
            swapped(self.console, profile, database, backup_id, previous)
            return scratch, previous

    def _mark(self, plan: RestorePlan, url: str, password: str | None,
              admin: psycopg.Connection[tuple[Any, ...]] | None) -> str | None:
        """Name the backup and time in a comment on the restored database; past the swap a failure here is
        only a warning (returned), since the restore itself is complete."""
        try:
            note = _restored_note(plan.backup_id)
            if admin is not None:
                _note(admin, plan.database, note)
            else:
                _comment(url, password, plan.database, note)
        except RecoveryError as exc:
            return (f"The restore is complete, but marking {plan.database} with the backup it came from failed: "
                    f"{str(exc).strip()}")
        return None

    def rollback(self, profile_name: str, previous: str | None = None, *, lock_held: bool = False) -> tuple[str, str]:
        """Swap the kept pre-restore database back in; the restored one is kept as `<db>__undone_<ts>`.
        `lock_held`: the caller holds the database's lock already (a set's rollback holds all of its members')."""
        profile = self.console.profiles.store.get(profile_name)
        url = profile.dump_url()
        password = self.console.profiles.dump_password(profile)
        database = postgres.parse(url).get("dbname") or ""
        identity = lock_identity(profile, database)
        with nullcontext() if lock_held else database_lock(self.console.paths, identity, "rollback", database), \
                self.console.audited("restore.rollback", database, {"profile": profile_name}) as detail:
            detail.update(earlier_dropped=clean_before(self.console, profile_name, identity).dropped)
            with postgres.connect(url, password, dbname="postgres") as admin:
                if previous is None:
                    kept = copies_on_server(admin, database, PRE_RESTORE_INFIX)
                    if not kept:
                        raise UsageError(f"There is no pre-restore copy of {database} to roll back to.")
                    previous = kept[-1]
                stamp = _free_stamp(admin, now_stamp(), lambda stamp: [db_name(database, UNDONE_INFIX, stamp)])
                undone = db_name(database, UNDONE_INFIX, stamp)
                _rename_pair(admin, database, undone, previous, "Nothing was renamed; roll back again when they "
                             "have disconnected.")
            detail.update(restored_from=previous, kept_as=undone)
            rolled_back(self.console, profile, database, previous, undone)
            return previous, undone


def _kept_hint(database: str, scratch: str, profile: str) -> str:
    return (f"The original is untouched; the restored and checked copy is kept as {scratch}. When the sessions "
            f"have gone, swap it in with Swap in a checked copy in the restore history of profile {profile}, without "
            f"restoring again (or drop {scratch} and run the restore again).")


def _restored_note(backup_id: str | None) -> str:
    when = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"{RESTORED_NOTE} {backup_id} at {when}"


def _comment(url: str, password: str | None, database: str, note: str) -> None:
    with postgres.connect(url, password, dbname="postgres") as admin:
        _note(admin, database, note)


def _oid_of(admin: psycopg.Connection[tuple[Any, ...]], database: str) -> int | None:
    """The database's OID read on a connection already open (None if it cannot be read there)."""
    import psycopg

    with suppress(psycopg.Error):
        row = admin.execute("SELECT oid FROM pg_database WHERE datname = %s", (database,)).fetchone()
        return int(row[0]) if row else None
    return None


def _note(admin: psycopg.Connection[tuple[Any, ...]], database: str, note: str) -> None:
    import psycopg
    from psycopg import sql

    try:
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(database), sql.Literal(note)))
    except psycopg.Error as exc:
        raise DatabaseError(f"Commenting on database {database} failed: {str(exc).strip()}") from None


def _rename_pair(admin: psycopg.Connection[tuple[Any, ...]], current: str, keep_as: str, replacement: str,
                 hint: str) -> None:
    """current → keep_as and replacement → current, atomically; sessions on `current` are disconnected first.

    Only sessions this role may end are ended; PostgreSQL itself stops autovacuum for a rename. Ended
    sessions take a moment to exit and new ones may arrive, so the renames are retried for up to
    SWAP_WAIT seconds; each attempt is one transaction, so an interruption leaves both as they were.
    On failure, DatabaseError names who holds the database, with `hint`.
    """
    import psycopg
    from psycopg import sql

    deadline = time.monotonic() + SWAP_WAIT
    attempt = 0
    while True:
        found = sessions(admin, current)
        endable = [s.pid for s in found if s.can_end]
        if endable:
            # A session may end meanwhile and its pid go to one we may not end: then the next round sees it.
            with suppress(psycopg.errors.InsufficientPrivilege), admin.transaction():
                admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (endable,))
        time.sleep(min(SWAP_PAUSE * attempt, 1.0))
        try:
            with admin.transaction():
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(current),
                                                                              sql.Identifier(keep_as)))
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(replacement),
                                                                              sql.Identifier(current)))
            return
        except psycopg.errors.ObjectInUse as exc:
            if time.monotonic() >= deadline:
                now = sessions(admin, current)
                stuck = [s for s in now if not s.can_end]
                who = ", ".join(s.describe() for s in stuck or now) or str(exc).strip()
                why = "sessions this role may not end" if stuck else "sessions that keep reconnecting"
                raise DatabaseError(f"{current} is still in use after {SWAP_WAIT:.0f} s by {why}: {who}.",
                                    hint=hint) from None
        except psycopg.Error as exc:
            raise DatabaseError(f"Renaming {current} failed: {str(exc).strip()}", hint=hint) from None
        attempt += 1


