"""Sandbox: a backup restored into a throwaway PostgreSQL server of the console's own, for full SQL.

The server (engine/pg/private_server.py) is initdb'd and started on a background thread while the key is
derived and the archive's header is read; the archive then streams into pg_restore as it is decrypted,
as a restore does (no plaintext file), and a backup is proven whole at its end. Its folder is claimed in
the runtime folder (state/runtime_dir.py): leaving the block stops the server and removes the folder, and
if the console is killed, the next start's sweep stops the orphaned server (by its postmaster.pid,
checked to be that server) and removes it. A kept sandbox (`keep`) is restarted holding the claim's
lock: no sweep touches it while it runs; once it is stopped, the next start removes its folder.
Starting and stopping are audited with the backup's identity (backup id, archive SHA-256).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_hex
from urllib.parse import quote

from recovery_console.engine.archive.table_data import encoding_of
from recovery_console.engine.background import in_background
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container.streams import widen_pipe
from recovery_console.engine.forensics.source import OpenedSource, open_source, refuse_directory_dump
from recovery_console.engine.pg.private_server import PrivateServer, choose_server, find_servers, required_major
from recovery_console.engine.pg.text_query import QueryResult, run_text_query
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.runtime_dir import TEMP_FOLDER_PREFIX
from recovery_console.engine.timing import span
from recovery_console.errors import Cancelled, DatabaseError, from_os_error

Secret = Callable[[], str]
PIECE = 1 << 20
POLL = 0.1
RESTORE_OPTIONS = ("--no-owner", "--no-privileges", "--no-tablespaces", "--no-subscriptions", "--no-publications")
"""The sandbox has one role and no tablespaces, subscriptions or publications of the source: left out."""
IGNORED_ERRORS = "errors ignored on restore"
DEFAULT_DATABASE = "restored"


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox: where it is, how to connect, what it holds, and what did not restore."""

    location: str
    backup_id: str | None
    archive_sha256: str
    database: str
    folder: Path
    server: str
    server_pid: int
    conninfo: dict[str, str]
    psql: list[str]
    kept: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A postgresql:// URL (no password in it: a TCP sandbox's is in its passfile)."""
        params = dict(self.conninfo)
        host, port, user, dbname = params.pop("host"), params.pop("port"), params.pop("user"), params.pop("dbname")
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params.items())
        if host.startswith("/"):
            query = f"host={quote(host, safe='')}" + (f"&{query}" if query else "")
            return f"postgresql://{user}@:{port}/{quote(dbname, safe='')}?{query}"
        return f"postgresql://{user}@{host}:{port}/{quote(dbname, safe='')}" + (f"?{query}" if query else "")

    def as_dict(self) -> dict[str, object]:
        return {"source": self.location, "backup_id": self.backup_id, "archive_sha256": self.archive_sha256,
                "database": self.database, "folder": str(self.folder), "server": self.server,
                "server_pid": self.server_pid, "url": self.url, "conninfo": self.conninfo, "psql": self.psql,
                "kept": self.kept, "warnings": self.warnings}


class SandboxSession:
    """What a caller holds while the sandbox runs: its description, queries, and a wait for the user's stop."""

    def __init__(self, console: Console, server: PrivateServer, info: SandboxInfo) -> None:
        self._console = console
        self._server = server
        self.info = info

    def query(self, sql: str, *, read_only: bool = True, max_rows: int | None = None) -> QueryResult:
        """Run `sql` on the restored database (in a read-only transaction unless `read_only` is False)."""
        with self._console.audited("sandbox.query", self.info.location,
                                   {**_identity(self.info), "sql": sql, "read_only": read_only}) as detail:
            result = run_text_query(self._server.conninfo(self.info.database), sql, read_only=read_only,
                                    max_rows=max_rows)
            detail.update(rows=len(result.rows), status=result.status)
            return result

    def wait(self, reporter: Reporter) -> None:
        """Block until the reporter's job is cancelled (Ctrl-C, SIGTERM, the window's Stop); DatabaseError if
        the server stops on its own first."""
        while True:
            try:
                reporter.check()  # through the token, so a front end knows the stop was seen and cleanup runs
            except Cancelled:
                return
            if not self._server.running():
                raise DatabaseError(f"The sandbox server stopped on its own: {self._server.log_tail()}")
            time.sleep(POLL)


def _identity(info: SandboxInfo) -> dict[str, object]:
    return {"backup_id": info.backup_id, "archive_sha256": info.archive_sha256, "database": info.database}


class Sandbox:
    """Starts sandboxes for one console (its catalog, secrets, runtime folder and audit log)."""

    def __init__(self, console: Console, extra_dirs: Sequence[Path] = ()) -> None:
        self.console = console
        self.extra_dirs = list(extra_dirs)

    def locate(self, spec: str, target: str | None = None) -> BackupRef:
        refuse_directory_dump(spec)
        return self.console.locate(spec, target)

    @contextmanager
    def open(self, ref: BackupRef, secret: Secret, *, keep: bool = False, use_socket: bool | None = None,
             reporter: Reporter | None = None) -> Iterator[SandboxSession]:
        """A server holding `ref`'s database for the block; stopped and removed after it (unless `keep`)."""
        reporter = reporter or Reporter()
        in_background(_import_psycopg, name="rc-preload")  # ~0.2 s of CPU, seconds on a busy machine: during initdb
        with self._folder() as folder:
            booting = in_background(self._boot, folder, use_socket, 0, reporter, name="rc-sandbox-boot")
            server: PrivateServer | None = None
            try:
                with self.console.audited("sandbox.start", ref.location, {"keep": keep}) as detail, \
                        open_source(ref, secret, reporter) as source:
                    header = source.archive.header
                    need = required_major(header.version, header.dump_version, header.server_version)
                    with span("sandbox-boot-wait"):
                        server = _wait(booting, reporter)
                    if server.binaries.major < need:  # the best server found is too old: the newest that fits
                        server.stop()
                        shutil.rmtree(server.data_dir, ignore_errors=True)
                        server = self._boot(folder, use_socket, need, reporter)
                    info = self._restore(source, server, folder, keep)
                    if keep:  # restarted holding the claim: the sweep leaves it alone while it runs
                        server.stop(fast=True)
                        server.start(hold_fds=[self.console.runtime.lock_fd(folder)], check=reporter.check)
                        info = _with_pid(info, server)
                    detail.update(_identity(info), server=info.server, folder=str(folder),
                                  warnings=len(info.warnings))
            except BaseException:
                if server is None:
                    with contextlib.suppress(BaseException):
                        server = booting.result()
                if server is not None:
                    server.stop()
                raise
            try:
                yield SandboxSession(self.console, server, info)
            except BaseException:
                self._stop(ref, server, info)
                raise
            if keep:
                self.console.runtime.keep(folder)
                server.detach()
                return
            self._stop(ref, server, info)

    def _stop(self, ref: BackupRef, server: PrivateServer, info: SandboxInfo) -> None:
        with self.console.audited("sandbox.stop", ref.location, _identity(info)):
            server.stop()

    def query_once(self, ref: BackupRef, secret: Secret, sql: str, *, read_only: bool = True,
                   max_rows: int | None = None, reporter: Reporter | None = None) -> tuple[SandboxInfo, QueryResult]:
        """Start a sandbox, run one query, and remove the sandbox."""
        with self.open(ref, secret, reporter=reporter) as session:
            return session.info, session.query(sql, read_only=read_only, max_rows=max_rows)

    @contextmanager
    def _folder(self) -> Iterator[Path]:
        """A new 0700 folder claimed in the runtime folder; as root, in the system temp folder, where the
        server's own user can reach it."""
        from recovery_console.engine.pg.private_server import run_as_user

        if run_as_user() is None:
            with self.console.runtime.private_folder("sandbox-") as folder:
                yield folder
            return
        path = Path(tempfile.gettempdir()).absolute() / f"{TEMP_FOLDER_PREFIX}{token_hex(8)}"
        with self.console.runtime.claim(path):
            try:
                path.mkdir(mode=0o700)
            except OSError as exc:
                raise from_os_error("creating a temporary folder in", str(path.parent), exc) from exc
            yield path

    def _boot(self, folder: Path, use_socket: bool | None, need: int, reporter: Reporter) -> PrivateServer:
        """Find, initdb and start the server (a background thread's work, while the archive is opened)."""
        with span("sandbox-find"):
            server = PrivateServer(choose_server(find_servers(self.extra_dirs), need), folder, use_socket=use_socket)
        with span("sandbox-initdb"):
            server.init()
        with span("sandbox-server-start"):
            server.start(check=reporter.check)
        return server

    def _restore(self, source: OpenedSource, server: PrivateServer, folder: Path, keep: bool) -> SandboxInfo:
        """Create the database and stream the archive into pg_restore; the sandbox's description."""
        database = source.archive.header.dbname or (source.metadata.database if source.metadata else None) \
            or DEFAULT_DATABASE
        with span("sandbox-createdb"):
            _create_database(server, database, encoding_of(source.archive)[0])
        argv = [str(server.binaries.tool("pg_restore")), "--dbname", _conninfo_text(server.conninfo(database)),
                *RESTORE_OPTIONS]
        sha = hashlib.sha256()
        ended_early = False
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
                                    env=server.env(), start_new_session=True)
            assert proc.stdin is not None
            widen_pipe(proc.stdin.fileno())
            try:
                with span("sandbox-streaming"):
                    _feed(source, proc.stdin.write, sha.update)
            except BrokenPipeError:
                ended_early = True  # pg_restore stopped reading: its exit code and messages say why
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            with span("sandbox-pg-restore-end"):
                code = proc.wait()
            errors.seek(0)
            messages = errors.read().decode("utf-8", "replace").strip()
        warnings = _restore_warnings(code, messages)
        if ended_early:  # pg_restore had what it needed: the rest is still read, so that a backup is proven whole
            while piece := source.data.read(PIECE):
                sha.update(piece)
        psql = server.binaries.tool("psql")
        return SandboxInfo(
            location=source.location, backup_id=source.metadata.backup_id if source.metadata else None,
            archive_sha256=sha.hexdigest(), database=database, folder=folder, server=server.binaries.describe(),
            server_pid=server.pid or 0, conninfo=server.conninfo(database),
            psql=[str(psql) if psql.exists() else "psql", _conninfo_text(server.conninfo(database))],
            kept=keep, warnings=warnings)


def _import_psycopg() -> None:
    import psycopg  # noqa: F401


def _wait(booting: Future[PrivateServer], reporter: Reporter) -> PrivateServer:
    while True:
        try:
            return booting.result(POLL)
        except FutureTimeout:
            reporter.check()


def _feed(source: OpenedSource, write: Callable[[bytes], object], seen: Callable[[bytes], None]) -> None:
    """The archive's bytes, header and TOC first, into pg_restore; reading to the end proves a backup whole."""
    write(source.head)
    seen(source.head)
    while piece := source.data.read(PIECE):
        seen(piece)
        write(piece)


def _restore_warnings(code: int, messages: str) -> list[str]:
    """pg_restore's outcome: ignored errors (an extension the sandbox lacks) are warnings; anything else fails."""
    if code == 0:
        return []
    if IGNORED_ERRORS in messages:
        return [line.removeprefix("pg_restore: ").strip() for line in messages.splitlines()
                if line.startswith("pg_restore: error:")] or [messages[-500:]]
    raise DatabaseError(f"pg_restore failed (exit code {code}): {messages[-2000:]}")


def _create_database(server: PrivateServer, name: str, encoding: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LOCALE 'C'").format(
        sql.Identifier(name), sql.Literal(encoding))
    try:
        with psycopg.connect(make_conninfo(**server.conninfo("postgres")), autocommit=True) as admin:
            if name != "postgres":
                admin.execute(statement)
    except psycopg.Error as exc:
        raise DatabaseError(f"Creating the database {name} in the sandbox failed: {str(exc).strip()}") from None


def _conninfo_text(params: dict[str, str]) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(**params)


def _with_pid(info: SandboxInfo, server: PrivateServer) -> SandboxInfo:
    return replace(info, server_pid=server.pid or 0)
