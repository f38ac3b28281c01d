"""The project's error types: each says what happened and what to do next, and maps to an exit code."""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes, shared by every CLI command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    VERIFY_FAILED = 3
    WRONG_KEY = 4
    NOT_FOUND = 5
    STORAGE = 6
    UNSUPPORTED = 7
    SECRET_UNAVAILABLE = 8
    NO_SPACE = 9
    DATABASE = 10
    PARTIAL = 11  # done for some targets only: the others could not be reached (listed with the reason)
    BUSY = 12  # another restore, backup or rollback of the same database is running
    CRASH = 70  # an unexpected error (a bug): see the crash report
    CANCELLED = 130


class RecoveryError(Exception):
    """Base of every error a user can cause or meet; never shown as a traceback."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str = "", detail: str = "", *, cli_hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint  # what to do next in plain words, naming no command or flag: what the window shows
        self.cli_hint = cli_hint  # the same step as the CLI says it, with its command and flags ("": `hint` serves)
        self.detail = detail

    def hint_for_cli(self) -> str:
        """What the CLI prints as the next step: its own phrasing if the error has one, else the plain hint."""
        return self.cli_hint or self.hint

    def __str__(self) -> str:
        return self.message


class UsageError(RecoveryError):
    """The request itself is malformed or contradictory."""

    exit_code = ExitCode.USAGE


class IntegrityError(RecoveryError):
    """A backup or archive failed verification: truncated, altered or not what it claims."""

    exit_code = ExitCode.VERIFY_FAILED


class WrongKeyError(RecoveryError):
    """The secret does not open this backup (or the header that binds the key was altered)."""

    exit_code = ExitCode.WRONG_KEY


class NotFoundError(RecoveryError):
    """A backup, file, target or profile that was named does not exist."""

    exit_code = ExitCode.NOT_FOUND


class StorageError(RecoveryError):
    """A storage target could not be reached or refused an operation."""

    exit_code = ExitCode.STORAGE


class QuotaExceededError(StorageError):
    """Writing would exceed the target's quota or the space available."""

    exit_code = ExitCode.NO_SPACE


class CatalogError(RecoveryError):
    """The catalog file (a cache of what the targets hold) is damaged, unwritable or locked."""


class UnsupportedError(RecoveryError):
    """A file uses a format version or feature this release does not read."""

    exit_code = ExitCode.UNSUPPORTED


class FolderBackupError(UnsupportedError):
    """A folder backup (a vault's tar) where a database's pg_dump archive is needed: a TOC, a restore."""


class SecretUnavailableError(RecoveryError):
    """No instance secret could be obtained from the sources the user allowed."""

    exit_code = ExitCode.SECRET_UNAVAILABLE


class DatabaseError(RecoveryError):
    """PostgreSQL could not be reached, refused us, or a dump/restore tool failed."""

    exit_code = ExitCode.DATABASE


class BusyError(RecoveryError):
    """Another job holds the database (engine/state/locks.py): nothing was done; try again when it ends."""

    exit_code = ExitCode.BUSY


class Cancelled(RecoveryError):
    """The user cancelled a running job; partial outputs were removed."""

    exit_code = ExitCode.CANCELLED

    def __init__(self, message: str = "Cancelled by the user.", hint: str = "", detail: str = "") -> None:
        super().__init__(message, hint, detail)


def from_os_error(action: str, where: str, exc: OSError) -> StorageError:
    """Turn an OSError into the storage error a user can act on (full disk, permissions, other)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return QuotaExceededError(f"The disk holding {where} is full while {action}.",
                                  hint="Free space there or choose another place; nothing partial was kept.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"Permission denied while {action} {where}.",
                            hint="Check the folder's permissions, or that the medium is not read-only.")
    return StorageError(f"Failed while {action} {where}: {exc.strerror or exc}.")
