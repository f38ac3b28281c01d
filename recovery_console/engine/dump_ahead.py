"""`backup create --profile P`'s pg_dump started first thing, before the console's modules are imported (about a
quarter of a second), and adopted by the backup (engine/live_backup.py) only if it is exactly the pg_dump that
the backup would start.

Best effort, and only for a plain profile: no members, a target, no database password in the keyring (reading
it would cost what this saves), a server version seen before at its dump URL. It runs under the database's
lock, its output read ahead into memory (pipe_ahead.py). Anything else, a busy database or any failure starts
nothing: the backup then goes its usual way and reports what is wrong. What is not adopted is stopped, and its
lock released, by `claim` (a mismatch) or `discard` (the command's end, however it ends).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.pg import pgtools
from recovery_console.engine.pg.pgdump import DUMP_COMPRESSIONS, DumpStream
from recovery_console.engine.pg.postgres import may_hold_password
from recovery_console.engine.pg.server_versions import ServerVersions
from recovery_console.engine.state.locks import database_identity, database_lock
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_store import ProfileStore, dump_password_entry
from recovery_console.errors import RecoveryError
from recovery_console.models.profile import Profile

log = logging.getLogger(__name__)


def backup_lock(paths: AppPaths, profile: Profile) -> AbstractContextManager[None]:
    """The lock a backup of `profile` holds: its database's, for "backup"; BusyError at once if taken."""
    identity = database_identity(profile.dump_url())
    return database_lock(paths, identity, "backup", identity.split("/", 1)[-1] or profile.name)


def find_pg_dumps(profile: Profile) -> list[pgtools.PgTool]:
    """The pg_dumps a backup of `profile` chooses from (each one's version is asked once per process)."""
    return pgtools.discover([Path(d) for d in profile.tool_dirs], names=["pg_dump"])


def tool_as_last_seen(tools: Sequence[pgtools.PgTool], version: str | None) -> pgtools.PgTool | None:
    """The pg_dump for the server version last seen; None when none was seen or no pg_dump fits it."""
    major = pgtools.parse_major(version) if version else None
    if major is None:
        return None
    try:
        return pgtools.choose_pg_dump(tools, major)
    except RecoveryError:
        return None


@dataclass
class DumpAhead:
    """A pg_dump started early for `profile` with `compression`, and what `close` undoes: pg_dump, then the lock."""

    profile: Profile
    compression: str
    dump: DumpStream
    undo: ExitStack

    def close(self) -> None:
        """Stop pg_dump if it still runs (it only reads: SIGTERM to its group) and release the lock."""
        self.undo.close()


_started: DumpAhead | None = None


def start(paths: AppPaths, profile_name: str, compression: str) -> None:
    """Start the profile's pg_dump if it qualifies (module doc); never raises an error of its own."""
    global _started
    discard()
    undo = ExitStack()
    try:
        _started = _start(paths, profile_name, compression, undo)
    except Exception as exc:  # noqa: BLE001 - nothing shown: the backup meets the cause again and reports it
        undo.close()
        log.debug("pg_dump not started ahead: %s: %s", type(exc).__name__, exc)
    except BaseException:  # SIGTERM or Ctrl-C while starting: nothing left running or locked
        undo.close()
        raise


def _start(paths: AppPaths, profile_name: str, compression: str, undo: ExitStack) -> DumpAhead | None:
    profile = ProfileStore(paths).get(profile_name)
    url = profile.dump_url()
    if (compression not in DUMP_COMPRESSIONS or profile.has_members or not profile.target
            or dump_password_entry(profile) is not None or may_hold_password(url)):
        return None
    tool = tool_as_last_seen(find_pg_dumps(profile), ServerVersions(paths.data_dir).get(url))
    if tool is None:
        return None
    undo.enter_context(backup_lock(paths.ensure(), profile))
    dump = undo.enter_context(DumpStream(tool, url, None, compression))
    dump.read_ahead()
    log.debug("pg_dump started ahead for profile %s", profile_name)
    return DumpAhead(profile, compression, dump, undo)


def claim(profile: Profile, compression: str) -> DumpAhead | None:
    """The pg_dump started ahead, if it was started for this very profile and compression; else None, after
    stopping any other (its lock released). The caller then owns it: `close` it when the backup ends."""
    global _started
    ahead, _started = _started, None
    if ahead is not None and (ahead.profile, ahead.compression) != (profile, compression):
        log.debug("pg_dump started ahead not adopted: the profile or compression differ")
        ahead.close()
        return None
    return ahead


def discard() -> None:
    """Stop a pg_dump started ahead and not claimed, and release its lock (the command's end)."""
    global _started
    ahead, _started = _started, None
    if ahead is not None:
        ahead.close()
