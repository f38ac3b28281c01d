"""'Test connection': reach PostgreSQL through the URL pg_dump/pg_restore will use, and report.

The report gives the server version and whether a fitting pg_dump/pg_restore is installed, with
pooler tells as warnings (never blocking). `Profiles.test` reports on a saved profile, its
passwords in the keyring; `check_connection` on the setup wizard's unsaved input, the passwords
still in the URLs the user typed. Nothing is written here.

Blocking (network, subprocesses): call it off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recovery_console.engine.pg import pgtools, postgres
from recovery_console.errors import RecoveryError, UsageError
from recovery_console.models.profile import ConnectionMode


@dataclass(frozen=True)
class ConnectionReport:
    """What 'Test connection' saw through the URL backup and restore will use."""

    profile: str
    url: str
    ok: bool
    server_version: str | None = None
    server_major: int | None = None
    database: str | None = None
    user: str | None = None
    can_create_db: bool | None = None
    pg_dump: str | None = None
    pg_restore: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def pooler_warnings(url: str) -> list[str]:
    """Signs in a URL that it points at a pooler, as the warnings shown for a URL declared direct."""
    try:
        return [f"The URL declared direct looks like a pooler: {tell}." for tell in postgres.pooler_tells(url)]
    except UsageError:
        return []


def check_connection(name: str, database_url: str, mode: ConnectionMode, *, direct_url: str | None = None,
                     tool_dirs: Sequence[str] = ()) -> ConnectionReport:
    """Test an unsaved profile: the URLs may carry their passwords (they are split off, never reported).

    In pool mode the direct URL is the one tested (it is what pg_dump/pg_restore use); in direct
    (or still undeclared) mode the database URL is tested, and actively probed for a pooler.
    """
    if mode is ConnectionMode.POOL:
        if not direct_url:
            raise UsageError("Pool mode needs a direct URL that pg_dump and pg_restore can use.",
                             hint="Give the URL of the PostgreSQL server behind the pooler.")
        url, password = postgres.split_password(direct_url)
        warnings: list[str] = []
    else:
        url, password = postgres.split_password(database_url)
        warnings = pooler_warnings(url)
        warnings += [f"Seen on the direct URL: {seen}." for seen in postgres.probe_pooler(url, password)]
    return report_connection(name, url, password, warnings, tool_dirs)


def report_connection(name: str, url: str, password: str | None, warnings: list[str],
                      tool_dirs: Sequence[str]) -> ConnectionReport:
    """Connect through `url` (already without its password); report the server, the tools that fit it, and
    after `warnings` what a backup or restore would stumble on."""
    shown = postgres.describe(url)
    try:
        with postgres.connect(url, password) as conn:
            info = postgres.server_info(conn)
    except RecoveryError as exc:
        return ConnectionReport(name, shown, False, warnings=warnings, error=exc.message)
    report: dict[str, object] = dict(server_version=info.version, server_major=info.major, database=info.database,
                                     user=info.user, can_create_db=info.can_create_db or info.superuser)
    tools = pgtools.discover([Path(d) for d in tool_dirs])
    try:
        dump = pgtools.choose_pg_dump(tools, info.major)
        report["pg_dump"] = f"{dump.path} ({dump.version})"
    except RecoveryError as exc:
        warnings.append(exc.message + (f" {exc.hint}" if exc.hint else ""))
    restorers = [t for t in tools if t.name == "pg_restore" and t.supported and t.major >= info.major]
    if restorers:
        best = min(restorers, key=lambda t: t.major)
        report["pg_restore"] = f"{best.path} ({best.version})"
    else:
        warnings.append(f"No pg_restore {info.major} or newer was found; restores into this server need one.")
    if not report["can_create_db"]:
        warnings.append(f"The role {info.user} may not create databases; safe restores need CREATEDB.")
    return ConnectionReport(name, shown, True, warnings=warnings, **report)  # type: ignore[arg-type]
