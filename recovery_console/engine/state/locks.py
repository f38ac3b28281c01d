"""One lock per database: a restore, a backup, a rollback or a scheduled run of it never overlap.

The lock is an OS file lock (`fcntl.flock`) on a file in the data folder named after the database's
identity (host, port, database name), so two profiles naming the same database share it. The OS
releases it when its holder exits, even by kill -9: a stale lock cannot exist. While held, the file
says who holds it (what, since when, which process), so the one turned away can say so.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import BusyError, from_os_error

LOCKS_FOLDER = "locks"
DEFAULT_PORT = "5432"
LOCAL_HOST = "localhost"
_KEYWORD = re.compile(r"(?P<key>\w+)\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<plain>\S+))")


@dataclass(frozen=True)
class LockHolder:
    """What the lock file says about the job holding it."""

    action: str
    database: str
    pid: int
    host: str
    started: str

    def describe(self) -> str:
        try:
            when = datetime.fromisoformat(self.started).astimezone().strftime("%H:%M:%S")
        except ValueError:
            when = self.started
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{self.action} of {self.database} started {when} by pid {self.pid}{where}"


def database_identity(url: str, dbname: str | None = None) -> str:
    """host:port/dbname of a libpq URL or key=value string (`dbname` overrides the URL's), so that
    spellings of one database share one lock. Parsed here, without the database driver, so that a
    backup does not load it just to lock."""
    params = _conninfo(url)
    host = params.get("hostaddr") or params.get("host") or LOCAL_HOST
    return f"{_canonical_host(host)}:{params.get('port') or DEFAULT_PORT}/{dbname or params.get('dbname') or ''}"


def _canonical_host(host: str) -> str:
    """This machine's server under one name, however it is spelled (a socket folder, localhost, 127.0.0.1, ::1):
    taking one lock for two local servers only makes one wait, while two locks for one server let a restore
    and a backup overlap."""
    first = host.split(",")[0].strip().lower()
    if first.startswith("/") or first.startswith("@") or first in ("localhost", "::1", "0:0:0:0:0:0:0:1") \
            or first.startswith("127."):
        return LOCAL_HOST
    return first


def _conninfo(url: str) -> dict[str, str]:
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        host, port = netloc, ""
        if ":" in netloc.rsplit("]", 1)[-1]:
            host, port = netloc.rsplit(":", 1)
        params = {"host": unquote(host).strip("[]"), "port": port, "dbname": unquote(parts.path.lstrip("/"))}
        params.update({k: v for k, v in parse_qsl(parts.query) if k in ("host", "hostaddr", "port", "dbname")})
        return {k: v for k, v in params.items() if v}
    return {m["key"]: re.sub(r"\\(.)", r"\1", m["quoted"]) if m["quoted"] is not None else m["plain"]
            for m in _KEYWORD.finditer(url)}


def lock_file(paths: AppPaths, identity: str) -> Path:
    return paths.data_dir / LOCKS_FOLDER / (hashlib.sha256(identity.encode()).hexdigest()[:24] + ".lock")


def read_holder(path: Path) -> LockHolder | None:
    """Who holds (or last held) the lock at `path`; None when the file says nothing readable."""
    try:
        data = json.loads(path.read_text("utf-8"))
        return LockHolder(str(data["action"]), str(data["database"]), int(data["pid"]), str(data["host"]),
                          str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def database_lock(paths: AppPaths, identity: str, action: str, database: str) -> Iterator[None]:
    """Hold the lock of database `identity` for `action` (e.g. "restore") or raise BusyError at once.

    `database` is the name shown to whoever is turned away.
    """
    with _locked(paths, identity, database, fcntl.LOCK_EX) as fd:
        holder = {"action": action, "database": database, "pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)


def ensure_free(paths: AppPaths, identity: str, database: str) -> None:
    """Raise BusyError if a job holds the lock of `identity` right now (a check before long preparations)."""
    with _locked(paths, identity, database, fcntl.LOCK_SH):
        pass


@contextmanager
def _locked(paths: AppPaths, identity: str, database: str, mode: int) -> Iterator[int]:
    path = lock_file(paths, identity)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise from_os_error("creating the lock file", str(path), exc) from exc
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise from_os_error("locking", str(path), exc) from exc
            raise _busy(read_holder(path), database) from None
        yield fd
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _busy(holder: LockHolder | None, database: str) -> BusyError:
    what = holder.describe() if holder else f"another job on {database} is running"
    return BusyError(f"busy: {what}.",
                     hint="Wait for it to finish and try again; one restore, backup or rollback of a database "
                          "runs at a time. Nothing was changed.")
