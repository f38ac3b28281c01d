"""Talking to PostgreSQL: URLs without passwords, server facts, pooler tells, and libpq environments.

Passwords never go on a command line nor into a file: a child process gets its password in its own
environment only (PGPASSWORD, readable by this user alone), never in this process's. psycopg is
imported on first use: it costs about 0.1 s, which commands that never connect should not pay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recovery_console.errors import DatabaseError, UsageError

if TYPE_CHECKING:
    import psycopg
    from psycopg.abc import QueryNoTemplate

CONNECT_TIMEOUT = 10
APPLICATION_NAME = "recovery-console"
POOLER_HOST_WORDS = ("pooler", "pgbouncer", "proxy")
POOLER_PORTS = (6432, 25061)
_USERINFO_PASSWORD = re.compile(r"://[^/?#@]*:[^/?#@]*@")


@dataclass(frozen=True)
class ServerInfo:
    """What a connection tells about the server and our role on it."""

    version_num: int
    version: str
    database: str
    user: str
    superuser: bool
    can_create_db: bool

    @property
    def major(self) -> int:
        return self.version_num // 10000


def parse(url: str) -> dict[str, str]:
    """The URL's connection parameters by libpq keyword (values as libpq parses them: text)."""
    import psycopg

    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("The database URL is not valid UTF-8 text.",
                         hint="Type or paste it again as UTF-8 (a URL copied from a file in another encoding can "
                              "carry bytes that are not).") from None
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        why = _first_line(exc).rstrip(".")
        if may_hold_password(url):
            why = re.sub(r'"[^"]*"', '"…"', why)  # libpq quotes the text it stumbled on: maybe the password
        raise UsageError(f"The database URL is not valid: {why}.",
                         hint="Use postgresql://user@host:port/dbname or 'host=… dbname=…'.") from None
    return {key: str(value) for key, value in params.items() if value is not None}


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password (safe to store and show), and the password if it had one.

    Every form is taken out: userinfo (`user:pw@host`), the `password=` query parameter of a URL, and the
    `password` keyword of a conninfo string.
    """
    params = parse(url)
    if "sslpassword" in params:
        raise UsageError("The database URL carries an sslpassword, which would be kept in the settings file and "
                         "passed on the command line of pg_dump and pg_restore.",
                         hint="Remove sslpassword from the URL and give the client key unencrypted, readable only "
                              "by you (chmod 600 on the sslkey file).")
    password = params.pop("password", None)
    if password is None:
        return url, None
    if "://" in url:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        userinfo = netloc[0].split(":", 1)[0] if len(netloc) == 2 else ""
        host = netloc[-1]
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
        bare = urlunsplit(parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host, query=query))
        return bare, password or None
    import psycopg

    return psycopg.conninfo.make_conninfo(**params), password or None


def may_hold_password(url: str) -> bool:
    """A quick look, without parsing: whether `url` may carry a password (userinfo or a `password` keyword)."""
    return "password" in url.lower() or bool(_USERINFO_PASSWORD.search(url))


def redact(url: str) -> str:
    """The URL as it may be shown or stored: without any password (one that cannot be parsed is hidden whole)."""
    if not may_hold_password(url):
        return url  # nothing to take out: spares importing psycopg
    try:
        return split_password(url)[0]
    except UsageError:
        return "(a database URL that could not be read)"


def for_child(url: str, password: str | None) -> tuple[str, str | None]:
    """The URL for a child's argv (no password in it) and the password for its environment: the given
    one, else one a URL still carries (a profile saved by an older release)."""
    if not may_hold_password(url):
        return url, password  # spares importing psycopg before pg_dump starts
    bare, embedded = split_password(url)
    return bare, password if password is not None else embedded


def describe(url: str) -> str:
    """user@host:port/db, for messages (never includes a password)."""
    p = parse(url)
    user = f"{p['user']}@" if p.get("user") else ""
    return f"{user}{p.get('host', 'localhost')}:{p.get('port', '5432')}/{p.get('dbname', '')}"


def is_local(url: str) -> bool:
    """Whether the server runs on this machine (loopback or a Unix socket), so its disk can be measured."""
    host = parse(url).get("host", "")
    return host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/")


def pooler_tells(url: str) -> list[str]:
    """Signs in the URL itself that it may point at a pooler."""
    params = parse(url)
    host = params.get("host", "").lower()
    tells = [f"the host name contains '{word}'" for word in POOLER_HOST_WORDS if word in host]
    try:
        port = int(params.get("port", "5432"))
    except ValueError:
        port = 5432
    if port in POOLER_PORTS:
        tells.append(f"port {port} is a common pooler port")
    return tells


def connect(url: str, password: str | None = None, *, dbname: str | None = None,
            autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection that also works through PgBouncer (no server-side prepared statements), named
    `recovery-console` in pg_stat_activity unless the URL names it otherwise."""
    import psycopg

    try:  # a None password or dbname is left out: the URL's own (or libpq's default) applies
        return psycopg.connect(url, autocommit=autocommit, prepare_threshold=None, connect_timeout=CONNECT_TIMEOUT,
                               fallback_application_name=APPLICATION_NAME, password=password, dbname=dbname)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"Could not connect to {describe(url)}: {_first_line(exc)}",
                            hint="Check the host, port, database name, user and password, and that the server "
                                 "accepts connections from this machine.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def scalar(conn: psycopg.Connection[tuple[Any, ...]], query: QueryNoTemplate, params: Sequence[object] = ()) -> Any:
    """The first column of the one row a query returns (a count, a setting, a size)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise DatabaseError(f"The server returned no row for: {query!r}.")
    return row[0]


def server_info(conn: psycopg.Connection[tuple[Any, ...]]) -> ServerInfo:
    row = conn.execute(
        "SELECT current_setting('server_version_num')::int, current_setting('server_version'), current_database(), "
        "current_user, r.rolsuper, r.rolcreatedb FROM pg_roles r WHERE r.rolname = current_user").fetchone()
    assert row is not None
    return ServerInfo(*row)


def probe_pooler(url: str, password: str | None = None) -> list[str]:
    """Cheap active checks for a pooler; each finding is reported as seen, never as certainty."""
    import psycopg

    seen: list[str] = []
    try:
        with connect(url, password, dbname="pgbouncer") as admin:
            version = admin.execute("SHOW VERSION").fetchone()
            seen.append(f"the server answers PgBouncer's admin console ({version[0] if version else 'SHOW VERSION'})")
    except (DatabaseError, psycopg.Error):
        pass
    try:
        if _backend_changes(url, password):
            seen.append("two statements on one connection ran in different server processes "
                        "(transaction pooling)")
    except (DatabaseError, psycopg.Error):
        pass
    return seen


def _backend_changes(url: str, password: str | None) -> bool:
    """Whether one session's statements land on different server processes.

    Session A holds a server in a transaction while session B takes a second one; A then lets
    go, B takes a server again and A runs once more. Directly connected, A always reports the
    same pid; through a transaction pooler A lands on the server B left, so its pid changes.
    """
    pid = "SELECT pg_backend_pid()"
    with connect(url, password) as a, connect(url, password) as b:
        with a.transaction():
            first = a.execute(pid).fetchone()
            b.execute(pid)
        with b.transaction():
            b.execute(pid)
            second = a.execute(pid).fetchone()
    return first != second


@contextmanager
def libpq_env(password: str | None) -> Iterator[dict[str, str]]:
    """Environment for pg_dump/pg_restore: the password in PGPASSWORD of this copy only, never in a file
    and never in os.environ (on Linux only this user and root can read a process's environment)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PGPASSFILE")}
    if password is not None:
        env["PGPASSWORD"] = password
    yield env
