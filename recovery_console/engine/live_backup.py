"""Backups of a live database: pg_dump's stream goes through the encryption engine to the target."""

from __future__ import annotations

from pathlib import Path

from ..models.backup import BackupRecord
from . import pgtools, postgres
from .console import Console
from .errors import UsageError
from .pgdump import DUMP_COMPRESSIONS, DumpStream
from .progress import Reporter


def backup_database(
    console: Console,
    profile_name: str,
    *,
    description: str = "",
    mode: str = "manual",
    compression: str = "zstd",
    secret: str | None = None,
    reporter: Reporter | None = None,
) -> BackupRecord:
    """Dump the profile's database through its direct URL, encrypting on the fly; nothing partial is kept.

    `compression` is "zstd" (pg_dump -Z0, compressed inside the console: much faster than pg_dump's
    gzip), "pg_dump" (pg_dump's own compression) or "none".
    """
    if compression not in DUMP_COMPRESSIONS:
        raise UsageError(f"Unknown compression '{compression}'; choose one of {', '.join(DUMP_COMPRESSIONS)}.")
    profile = console.profiles.store.get(profile_name)
    url = profile.dump_url()
    if not profile.target:
        raise UsageError(f"Profile '{profile_name}' has no backup target.",
                         hint=f"Set one with `profile set-target {profile_name} TARGET`.")
    password = console.profiles.dump_password(profile)
    secret = secret if secret is not None else console.profiles.instance_secret(profile_name)
    with postgres.connect(url, password) as conn:
        info = postgres.server_info(conn)
    tool = pgtools.choose_pg_dump(pgtools.discover([Path(d) for d in profile.tool_dirs]), info.major)
    with DumpStream(tool, url, password, compression) as dump:
        return console.create_backup(
            dump, profile.target, secret, description=description, mode=mode,
            compression="zstd" if compression == "zstd" else "none", database=info.database,
            server_version=info.version, pg_dump_version=tool.version, source_name=f"pg_dump of {info.database}",
            reporter=reporter,
        )
