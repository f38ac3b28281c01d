"""Backups of a live database: pg_dump's stream goes through the encryption engine to the target."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from recovery_console.engine import dump_ahead
from recovery_console.engine.archive import completeness
from recovery_console.engine.archive.pgarchive import ArchiveHeader
from recovery_console.engine.background import in_background
from recovery_console.engine.console import Console
from recovery_console.engine.container import format as fmt
from recovery_console.engine.pg import pgtools, postgres
from recovery_console.engine.pg.pgdump import DUMP_COMPRESSIONS, DumpStream, dump_arguments
from recovery_console.engine.pg.pipe_ahead import SETTLED_DEPTH
from recovery_console.engine.pg.postgres import for_child
from recovery_console.engine.progress import Reporter
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.engine.timing import span
from recovery_console.errors import DatabaseError, RecoveryError, UsageError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import InstanceSecret, Profile

SIZE_QUERY = "SELECT pg_database_size(current_database())"
SIZE_TIMEOUT = 10
"""Seconds psql may take to connect for the size query (pg_dump, connecting alike, reports a server that is gone)."""


def backup_database(
    console: Console,
    profile_name: str,
    *,
    description: str = "",
    mode: str = "manual",
    compression: str = "zstd",
    secret: str | None = None,
    reporter: Reporter | None = None,
    lock_held: bool = False,
    now: Callable[[], datetime] | None = None,
) -> BackupRecord:
    """Dump the profile's database through its direct URL, encrypting on the fly; nothing partial is kept.
    Holds the database's lock (engine/state/locks.py): it does not overlap a restore or rollback of it.

    `compression` is "zstd" (pg_dump -Z0, compressed inside the console: much faster than pg_dump's
    gzip), "pg_dump" (pg_dump's own compression) or "none". `lock_held`: the caller already holds the
    lock (a policy run keeps it across its backup, copies and pruning). `now`: the policy run's clock, which
    names and dates the backup (injected in tests only).
    """
    if compression not in DUMP_COMPRESSIONS:
        raise UsageError(f"Unknown compression '{compression}'; choose one of {', '.join(DUMP_COMPRESSIONS)}.")
    profile = console.profiles.store.get(profile_name)
    if profile.has_members:  # one database of a set alone would pass for the whole: refused, never partial
        raise UsageError(f"Profile '{profile_name}' has members, so a backup of it is a recovery set of all of "
                         "them, which this action cannot make.",
                         hint="Back the whole set up with Run now in the health view, or let its schedule run.",
                         cli_hint=f"Run `recovery-console backup create --profile {profile_name}`.")
    profile.dump_url()  # an undeclared mode is refused before anything else
    if not profile.target:
        raise UsageError(f"Profile '{profile_name}' has no backup target.",
                         hint=f"Edit profile '{profile_name}' and choose the target its backups go to.",
                         cli_hint=f"Set one with `profile set-target {profile_name} TARGET`.")
    if lock_held:
        return _backup(console, profile, profile.target, description, mode, compression, secret, reporter, now)
    # the pg_dump `backup create` started before its imports (engine/dump_ahead.py) holds this lock already
    ahead = dump_ahead.claim(profile, compression)
    with ahead.undo if ahead is not None else dump_ahead.backup_lock(console.paths, profile):
        return _backup(console, profile, profile.target, description, mode, compression, secret, reporter, now,
                       ahead.dump if ahead is not None else None)


def _backup(console: Console, profile: Profile, target: str, description: str, mode: str, compression: str,
            secret: str | None, reporter: Reporter | None, now: Callable[[], datetime] | None = None,
            started: DumpStream | None = None) -> BackupRecord:
    password = console.profiles.dump_password(profile)
    # the instance secret is read from the keyring, and its key derived for this backup's salt, while pg_dump
    # starts and reads the catalog (the keyring is not used here meanwhile: a SecretStore serves one thread at
    # a time)
    salt = os.urandom(fmt.SALT_SIZE)
    pending = in_background(_ahead, console, profile.name, secret, salt, name="rc-backup-ahead")
    with start_dump(console, profile, password, compression, started=started) as (dump, header, database_size):
        with span("instance-secret-wait"):
            made_with, secret, derived = pending.result()
        derived.add_done_callback(lambda _: dump.narrow(SETTLED_DEPTH))  # the writer's hold ends then too
        with span("encrypt-and-store"):
            record = console.create_backup(
                dump, target, secret, description=description, mode=mode,
                compression="zstd" if compression == "zstd" else "none", database=header.dbname,
                database_size=database_size,
                server_version=header.server_version, pg_dump_version=dump.tool.version,
                source_name=f"pg_dump of {header.dbname}", reporter=reporter, salt=salt, now=now,
            )
    # which of its secrets made it, by label (known when read above: no second keyring read)
    SecretRotation(console).record_made(record, profile.name, secret, known=made_with)
    return record


def _ahead(console: Console, profile_name: str, given: str | None,
           salt: bytes) -> tuple[InstanceSecret | None, str, Future[None]]:
    """What the first chunk needs, got while pg_dump starts: the secret (`given`, else the profile's newest from
    the keyring, and which it is); then, each on a thread of its own, its key derivation for `salt` (PBKDF2 frees
    the GIL; its future is returned) and the completeness check's imports (after the keyring read, which they
    would slow; their import lock holds the check until they are done)."""
    with span("instance-secret"):
        made_with, secret = (None, given) if given is not None else console.profiles.newest_secret(profile_name)
    derived = in_background(fmt.derive_ahead, secret, salt, name="rc-derive-key")
    in_background(completeness.prepare, name="rc-check-imports")
    return made_with, secret, derived


@contextmanager
def start_dump(console: Console, profile: Profile, password: str | None, compression: str,
               opened: Callable[[DumpStream], None] | None = None, started: DumpStream | None = None,
               ) -> Iterator[tuple[DumpStream, ArchiveHeader, int | None]]:
    """pg_dump of the profile's dump URL, by the pg_dump that fits its server, its archive header read, and the
    database's size (asked while pg_dump starts); pg_dump is stopped when the block ends. `opened` is told of
    each pg_dump as it starts (before its header, which a lock can hold back), so another thread can stop it.
    `started`: a pg_dump already running (engine/dump_ahead.py), used if it is the one this would start, else
    stopped."""
    url = profile.dump_url()
    with span("tool-discovery"):
        tools = dump_ahead.find_pg_dumps(profile)
    size = in_background(_database_size, url, password, _psql_beside(tools),  # overlaps pg_dump's start
                         name="rc-database-size")
    seen = console.profiles.server_versions
    dump = _dump_as_last_seen(tools, url, password, compression, seen.get(url), opened, started)
    if dump is None:
        with postgres.connect(url, password) as conn:
            info = postgres.server_info(conn)
        dump = DumpStream(pgtools.choose_pg_dump(tools, info.major), url, password, compression)
        if opened is not None:
            opened(dump)
    with dump:
        with span("pg_dump-header"):
            header = dump.archive_header()
        seen.remember(url, header.server_version)
        with span("database-size"):
            database_size = size.result()
        yield dump, header, database_size


def _psql_beside(tools: list[pgtools.PgTool]) -> Path | None:
    """A psql from the folder of a pg_dump found (the client tools ship together), if there is one."""
    for tool in tools:
        psql = tool.path.with_name("psql" + tool.path.suffix)
        if os.access(psql, os.X_OK):
            return psql
    return None


def _database_size(url: str, password: str | None, psql: Path | None = None) -> int | None:
    """The database's size as the backup starts, which a restore's free-space check goes by; None if unreadable.

    Asked through `psql` when given (a process costs ~20 ms of CPU; importing psycopg ~0.3 s, on the
    backup's two cores), else (or if psql fails) through psycopg.
    """
    if psql is not None and (size := _size_by_psql(psql, url, password)) is not None:
        return size
    try:
        with postgres.connect(url, password) as conn:
            return int(postgres.scalar(conn, SIZE_QUERY))
    except DatabaseError:
        return None


def _size_by_psql(psql: Path, url: str, password: str | None) -> int | None:
    """The size query through psql, its password in the child's environment only; None on any failure."""
    bare, password = postgres.for_child(url, password)
    with postgres.libpq_env(password) as env:
        env.setdefault("PGCONNECT_TIMEOUT", str(SIZE_TIMEOUT))
        try:
            done = subprocess.run([str(psql), "-X", "-q", "-A", "-t", "-c", SIZE_QUERY, f"--dbname={bare}"], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=2 * SIZE_TIMEOUT)
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        return int(done.stdout.strip()) if done.returncode == 0 else None
    except ValueError:
        return None


def _dump_as_last_seen(tools: list[pgtools.PgTool], url: str, password: str | None, compression: str,
                       version: str | None, opened: Callable[[DumpStream], None] | None = None,
                       started: DumpStream | None = None) -> DumpStream | None:
    """pg_dump picked for the server version last seen at `url`, if its archive header confirms the pick.

    This spares a backup the probe connection (and importing its driver). None when nothing was
    seen, or pg_dump failed before its header, or the header names a server another pg_dump fits
    better: the caller then probes, and a real connection error gets its own clear message.
    `started` is taken instead of a new pg_dump when it is that same pg_dump (tool and argv), else stopped.
    """
    tool = dump_ahead.tool_as_last_seen(tools, version)
    same = (started is not None and tool is not None and password is None and started.tool == tool
            and started.argv == dump_arguments(tool, for_child(url, None)[0], compression))
    if started is not None and not same:
        started.close()
    if tool is None:
        return None
    dump = started if same and started is not None else DumpStream(tool, url, password, compression)
    if opened is not None:
        opened(dump)
    confirmed = False
    try:
        found = pgtools.parse_major(dump.archive_header().server_version)
        confirmed = found is not None and pgtools.choose_pg_dump(tools, found) == tool
    except RecoveryError:
        pass
    finally:
        if not confirmed:
            dump.close()
    return dump if confirmed else None
