"""Restore pre-flight: every check made before a restore touches anything, gathered into a plan.

The plan says where the backup goes (a new database, or a scratch copy swapped in for the
original), which pg_restore loads it, and which checks pass, warn or block; `engine/restore.py`
carries it out. The backup itself is verified here unless the catalog holds a full verify of the
very same file.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container.end_record import read_end_record
from recovery_console.engine.container.reader import derive_keys_ahead
from recovery_console.engine.container.verify import read_toc
from recovery_console.engine.io_protocols import ReadableFile, SeekableStream
from recovery_console.engine.pg import pgtools, postgres
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state import restore_journal
from recovery_console.engine.state.locks import database_identity, ensure_free
from recovery_console.errors import Cancelled, DatabaseError, RecoveryError, UsageError
from recovery_console.formatting import counted, format_bytes
from recovery_console.models.profile import Profile

if TYPE_CHECKING:
    import psycopg

SCRATCH_INFIX = "__restore_"
PRE_RESTORE_INFIX = "__pre_restore_"
UNDONE_INFIX = "__undone_"
MAX_DB_NAME = 63  # bytes: PostgreSQL cuts longer names (NAMEDATALEN - 1)
STAMP_FORMAT = "%Y%m%d%H%M%S"
STAMP_LENGTH = 14
OTHER_DATABASE = "backup is of this database"
CHECKED_NOTE = "Recovery Console: restored and checked, waiting to be swapped in; backup"
RESTORED_NOTE = "Restored by Recovery Console from backup"  # a new database's mark: restored and checked in full
AUTOVACUUM = "autovacuum worker"
# Sessions on a database, and whether the current role may end them: PostgreSQL lets a non-superuser
# signal only backends of roles whose privileges it has (or all non-superuser ones with
# pg_signal_backend), never a superuser's session nor a process with no role (autovacuum).
SESSIONS_SQL = """
SELECT a.pid, coalesce(a.usename, a.backend_type), coalesce(a.application_name, ''), a.backend_type,
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
       OR (r.oid IS NOT NULL AND NOT r.rolsuper AND (pg_has_role(current_user, r.oid, 'USAGE')
                                                     OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE')))
FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.datname = %s AND a.pid <> pg_backend_pid()
"""
_MAJOR = re.compile(r"^(\d+)")


def now_stamp() -> str:
    """This second in UTC, as the suffix of the databases a restore names."""
    return datetime.now(UTC).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class Session:
    """A connection to a database other than ours, and whether our role may end it."""

    pid: int
    user: str
    application: str
    backend_type: str
    can_end: bool

    def describe(self) -> str:
        return f"{self.user}@{self.application or '?'} (pid {self.pid})"


def sessions(conn: psycopg.Connection[tuple[Any, ...]], database: str) -> list[Session]:
    return [Session(int(pid), str(user), str(app), str(kind), bool(can_end))
            for pid, user, app, kind, can_end in conn.execute(SESSIONS_SQL, (database,))]


def lock_identity(profile: Profile, database: str) -> str:
    """The lock key (engine/state/locks.py) of `database` on the profile's server."""
    return database_identity(profile.dump_url(), database)


@dataclass(frozen=True)
class Check:
    """One pre-flight check: passed, failed (blocks the restore) or a warning, with the reason."""

    name: str
    status: str
    detail: str
    needs_ack: bool = False  # a warning the restore may go past only when the user says so

    @property
    def blocking(self) -> bool:
        return self.status == "fail"


@dataclass
class RestorePlan:
    """Everything decided before anything is touched; `checks` says whether it may proceed."""

    profile: Profile
    ref: BackupRef
    database: str
    new_database: bool
    jobs: int
    checks: list[Check] = field(default_factory=list)
    tool: pgtools.PgTool | None = None
    archive: pgarchive.Archive | None = None
    backup_id: str | None = None
    stamp: str = field(default_factory=now_stamp)
    source_database: str | None = None  # the database the backup was taken of, as it recorded it
    allow_other_database: bool = False  # the user acknowledged restoring another database's backup here
    source_size: int | None = None  # bytes: the source database's size when the backup was taken, if recorded

    @property
    def unacknowledged(self) -> list[Check]:
        """Warnings that need the user's explicit acknowledgement and have not had it."""
        return [] if self.allow_other_database else [c for c in self.checks if c.needs_ack]

    @property
    def ready(self) -> bool:
        return bool(self.checks) and not any(c.blocking for c in self.checks) and not self.unacknowledged

    @property
    def scratch_name(self) -> str:
        return db_name(self.database, SCRATCH_INFIX, self.stamp) if not self.new_database else self.database

    @property
    def pre_restore_name(self) -> str:
        return db_name(self.database, PRE_RESTORE_INFIX, self.stamp)


def name_prefix(base: str, infix: str) -> str:
    """What every name `db_name(base, infix, …)` starts with: `base` cut at a character boundary so that
    the prefix and a stamp fit PostgreSQL's 63 bytes (UTF-8), then the infix."""
    room = MAX_DB_NAME - len(infix.encode()) - STAMP_LENGTH
    cut = base.encode()[:room].decode("utf-8", "ignore")
    return cut + infix


def db_name(base: str, infix: str, stamp: str) -> str:
    """`base` with the infix and stamp appended, cut so the whole fits PostgreSQL's 63-byte names."""
    return name_prefix(base, infix) + stamp


def named_copies(names: list[str], base: str, infix: str) -> list[str]:
    """Those of `names` that `db_name(base, infix, stamp)` gives for some stamp, oldest first."""
    prefix = name_prefix(base, infix)
    found = [n for n in names if n.startswith(prefix) and len(n) == len(prefix) + STAMP_LENGTH
             and n[len(prefix):].isdigit()]
    return sorted(found, key=lambda n: n[len(prefix):])


def copies_on_server(conn: psycopg.Connection[tuple[Any, ...]], base: str, infix: str) -> list[str]:
    """The databases on the server named for `base` with `infix` (see named_copies), oldest first."""
    return named_copies([str(r[0]) for r in conn.execute("SELECT datname FROM pg_database")], base, infix)


def _major(version: str | None) -> int | None:
    match = _MAJOR.match(version or "")
    return int(match.group(1)) if match else None


def plan_restore(console: Console, profile_name: str, ref: BackupRef, secret: str, *,
                 new_database: str | None = None, jobs: int = 1, verify_first: bool = False,
                 allow_other_database: bool = False, reporter: Reporter | None = None) -> RestorePlan:
    """Run every check; nothing on the server is changed.

    The backup is verified in full here unless the catalog shows this exact object already
    passed a full verify (`verify_first` insists); the restore itself checks it again anyway.
    A backup of another database (or of an unrecorded one) restored in place needs
    `allow_other_database` (see RestorePlan.unacknowledged).
    """
    if ref.is_local:
        derive_keys_ahead(ref.open, secret)
    profile = console.profiles.store.get(profile_name)
    url = profile.dump_url()
    database = new_database or postgres.parse(url).get("dbname") or ""
    if not database:
        raise UsageError("The profile's database URL names no database to restore into.")
    ensure_free(console.paths, lock_identity(profile, database), database)
    plan = RestorePlan(profile, ref, database, new_database is not None, max(1, jobs),
                       allow_other_database=allow_other_database)
    plan.checks.append(Check("connection mode declared", "pass",
                             f"{profile.mode.value}; pg_restore will use {postgres.describe(url)}"))
    password = console.profiles.dump_password(profile)
    try:
        with postgres.connect(url, password, dbname="postgres") as conn:
            info = postgres.server_info(conn)
            journaled = [name for journal in restore_journal.pending(console.paths, profile_name)
                         for name, oid in journal.created.items()
                         if journaled_fate(conn, name, oid).kind == "unfinished"]
            space = _server_checks(plan, conn, info, journaled)
    except DatabaseError as exc:
        plan.checks.append(Check("server reachable", "fail", exc.message))
        return plan
    # found while the backup's key is still being derived (on another thread): reading the TOC waits for it
    tools = pgtools.discover([Path(d) for d in profile.tool_dirs], names=["pg_restore"])
    archive_length = _verify_check(console, plan, secret, verify_first, reporter)
    plan.checks.append(_space_check(space, *_space_needed(plan, secret, archive_length, space.current)))
    if plan.archive is not None:
        _tool_check(plan, info.major, tools)
    return plan


def _server_checks(plan: RestorePlan, conn: psycopg.Connection[tuple[Any, ...]], info: postgres.ServerInfo,
                   journaled: list[str]) -> ServerSpace:
    """`journaled`: databases earlier restores of this profile made and could not drop (their journals).
    Returns the room the server has, for the free-space check made once the backup has been read."""
    if journaled:
        plan.checks.append(Check("left by an earlier restore", "warn",
                                 f"{', '.join(journaled)} (made by a restore that failed) will be dropped when "
                                 "this restore starts"))
    plan.checks.append(Check("server reachable", "pass", f"PostgreSQL {info.version}"))
    can_create = info.superuser or info.can_create_db
    plan.checks.append(Check("role may create databases", "pass" if can_create else "fail",
                             f"role {info.user} " + ("has CREATEDB" if can_create else "lacks CREATEDB: "
                                                     "ask an administrator to grant it")))
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (plan.database,)).fetchone()
    if plan.new_database:
        plan.checks.append(Check("new database name is free", "fail" if exists else "pass",
                                 f"{plan.database} already exists" if exists else f"{plan.database} will be created"))
    else:
        plan.checks.append(Check("database exists", "pass" if exists else "fail",
                                 f"{plan.database}" if exists else f"{plan.database} does not exist: restore "
                                 "into a new database instead"))
        _session_checks(plan, sessions(conn, plan.database), info.user)
        leftovers = copies_on_server(conn, plan.database, SCRATCH_INFIX)
        checked = [name for name in leftovers if database_note(conn, name).startswith(CHECKED_NOTE)]
        leftovers = [name for name in leftovers if name not in checked and name not in journaled]
        if checked:
            plan.checks.append(Check("restored copy waiting", "warn",
                                     f"{', '.join(checked)} is a restored and checked copy whose swap was blocked: "
                                     "it can be swapped in without restoring again (or dropped)"))
        if leftovers:
            plan.checks.append(Check("leftover scratch databases", "warn",
                                     f"{', '.join(leftovers)} remain from an interrupted restore; drop them when "
                                     "you have checked them"))
    return _server_space(plan, conn, info, bool(exists) and not plan.new_database)


def _session_checks(plan: RestorePlan, found: list[Session], role: str) -> None:
    """Sessions the swap will end; autovacuum, which PostgreSQL stops itself; and sessions nobody here can end."""
    endable = [s for s in found if s.can_end]
    autovacuum = [s for s in found if not s.can_end and s.backend_type == AUTOVACUUM]
    stuck = [s for s in found if not s.can_end and s.backend_type != AUTOVACUUM]
    plan.checks.append(Check("connected sessions", "warn" if endable else "pass",
                             f"{counted(len(endable), 'session')} ({', '.join(s.describe() for s in endable)}) will be "
                             "disconnected at the swap" if endable else "nobody is connected"))
    if autovacuum:
        plan.checks.append(Check("autovacuum", "warn", f"autovacuum is working in {plan.database}; the swap "
                                 "waits for PostgreSQL to stop it (a bounded wait)"))
    if stuck:
        plan.checks.append(Check(
            "sessions this role cannot end", "fail",
            f"{counted(len(stuck), 'session')} ({', '.join(s.describe() for s in stuck)}) belong to a superuser, which "
            f"role {role} may not disconnect, so the swap would fail: ask them to disconnect, or have a superuser "
            f"end them (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            f"'{plan.database}'), then run the pre-flight again; or restore into a new database"))


def database_note(conn: psycopg.Connection[tuple[Any, ...]], database: str) -> str:
    """The comment on a database ('' if none)."""
    row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                       (database,)).fetchone()
    return str(row[0]) if row and row[0] is not None else ""


@dataclass(frozen=True)
class JournaledFate:
    """What a database a restore journal records as made is now: `kind` is "unfinished" (the console's to drop),
    "gone", "moved" (its OID has another name, `now`: a copy swapped in), "replaced" (another database has the
    name) or "finished" (it carries the mark of a restore that checked it in full); clean-up adds "dropped"."""

    kind: str
    now: str = ""


def journaled_fate(conn: psycopg.Connection[tuple[Any, ...]], name: str, oid: int) -> JournaledFate:
    """What the database a journal records as `name`, created with `oid`, is now."""
    row = conn.execute("SELECT oid, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
                       "WHERE datname = %s", (name,)).fetchone()
    if row is None:
        renamed = conn.execute("SELECT datname FROM pg_database WHERE oid = %s", (oid,)).fetchone()
        return JournaledFate("moved", str(renamed[0])) if renamed else JournaledFate("gone")
    if int(row[0]) != oid:
        return JournaledFate("replaced")
    return JournaledFate("finished" if str(row[1]).startswith(RESTORED_NOTE) else "unfinished")


@dataclass(frozen=True)
class ServerSpace:
    """Where the server keeps its data: bytes free (None when not measurable from here), and the size of the
    database a restore in place replaces (None for a new database)."""

    free: int | None
    current: int | None


def _server_space(plan: RestorePlan, conn: psycopg.Connection[tuple[Any, ...]], info: postgres.ServerInfo,
                  exists: bool) -> ServerSpace:
    current = postgres.scalar(conn, "SELECT pg_database_size(%s)", (plan.database,)) if exists else None
    data_dir = postgres.scalar(conn, "SELECT current_setting('data_directory')") if info.superuser else None
    free = None
    if data_dir and os.path.isdir(data_dir) and postgres.is_local(plan.profile.dump_url()):
        free = shutil.disk_usage(data_dir).free
    return ServerSpace(free, int(current) if current is not None else None)


def _space_needed(plan: RestorePlan, secret: str, archive_length: int | None,
                  current: int | None) -> tuple[int | None, str]:
    """What a second copy of the data needs, and the basis of that estimate, best first: the source database's
    size recorded at backup time; else the larger of the archive's uncompressed size and the database replaced."""
    if plan.source_size is not None:
        return plan.source_size, "the source database's size when it was backed up"
    if archive_length is None and plan.archive is not None:
        archive_length = _archive_length(plan.ref, secret)
    compressed = plan.archive is not None and plan.archive.header.compression != "none"
    basis = ("the archive's size, its data compressed by pg_dump, so likely an underestimate" if compressed
             else "the archive's uncompressed size; indexes add to it")
    if current is not None and (archive_length is None or current > archive_length):
        return current, f"the size of {plan.database}, which it replaces; the backup does not record its own"
    return archive_length, basis


def _archive_length(ref: BackupRef, secret: str) -> int | None:
    """The archive's length as the backup's sealed end record states it: read from the file's tail alone."""
    def open_at(offset: int) -> ReadableFile:
        if ref.path is None:
            assert ref.storage is not None and ref.record is not None
            return ref.storage.open_read(ref.record.key, offset)
        stream = ref.open()  # a file on this machine
        assert isinstance(stream, SeekableStream)
        stream.seek(offset)
        return stream

    try:
        return read_end_record(open_at, ref.size, secret).archive_length
    except (RecoveryError, OSError):
        return None


def _space_check(space: ServerSpace, needed: int | None, basis: str) -> Check:
    """Human-readable sizes, with the basis of the estimate named."""
    about = f"about {format_bytes(needed)} needed for a second copy ({basis})" if needed is not None else \
        "the size a second copy needs is unknown (the backup could not be read)"
    if space.free is None:
        return Check("free space on the server", "warn", f"cannot be measured from here; {about} — check the "
                     "server's disk")
    ok = needed is not None and space.free > needed
    return Check("free space on the server", "pass" if ok else "fail" if needed is not None else "warn",
                 f"{format_bytes(space.free)} free, {about}")


def _verify_check(console: Console, plan: RestorePlan, secret: str, verify_first: bool,
                  reporter: Reporter | None) -> int | None:
    """Returns the archive's length when the verify made here measured it."""
    archive_length = None
    try:
        verified_at = None if verify_first else console.full_verify_on_record(plan.ref)
        if verified_at is None:
            result = console.verify(plan.ref, secret, reporter=reporter)
            archive_length = result.archive_length
            detail = f"{result.chunk_count} chunks, archive SHA-256 {result.archive_sha256}"
        else:
            detail = f"full verify on record from {verified_at}, file unchanged since"
        with plan.ref.open() as stream:
            metadata, plan.archive = read_toc(stream, secret)
    except Cancelled:
        raise
    except RecoveryError as exc:
        plan.checks.append(Check("backup fully verified", "fail", exc.message))
        return None
    plan.backup_id = metadata.backup_id
    plan.source_database = metadata.database or None
    plan.source_size = metadata.database_size
    plan.checks.append(Check("backup fully verified", "pass", detail + "; checked again as it is restored"))
    if not plan.new_database:
        plan.checks.append(_database_check(plan.source_database, plan.database))
    return archive_length


def _database_check(source: str | None, database: str) -> Check:
    """A backup restored in place should be of the database it replaces; anything else needs an acknowledgement."""
    if source == database:
        return Check(OTHER_DATABASE, "pass", f"the backup is of database {database}")
    if source is None:
        return Check(OTHER_DATABASE, "warn", f"the backup does not record which database it is of; it would "
                     f"replace database {database}", needs_ack=True)
    return Check(OTHER_DATABASE, "warn", f"the backup is of database {source}, not {database}: restoring it "
                 f"replaces {database} with the data of {source}", needs_ack=True)


def _tool_check(plan: RestorePlan, server_major: int, tools: list[pgtools.PgTool]) -> None:
    assert plan.archive is not None
    header = plan.archive.header
    source_major = _major(header.server_version)
    if source_major is not None and source_major > server_major:
        plan.checks.append(Check(
            "server version can load this dump", "fail",
            f"the backup is of a PostgreSQL {source_major} database and the target server runs "
            f"PostgreSQL {server_major}; PostgreSQL does not support loading a dump into an older major "
            f"version — restore into a PostgreSQL {source_major} or newer server"))
        return
    try:
        choice = pgtools.choose_pg_restore(tools, header.version[:2], _major(header.dump_version), server_major)
    except RecoveryError as exc:
        plan.checks.append(Check("pg_restore compatible", "fail", exc.message))
        return
    plan.tool = choice.tool
    plan.checks.append(Check("pg_restore compatible", "warn" if choice.warnings else "pass",
                             f"{choice.tool.path} {choice.tool.version} reads archive {header.version_str} "
                             f"(dumped by pg_dump {header.dump_version})"
                             + "".join(f"; {w}" for w in choice.warnings)))
