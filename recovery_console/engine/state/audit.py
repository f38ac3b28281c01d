"""The console's append-only, hash-chained audit log: one JSON line per action taken.

The entry format and what may go in it: audit_entry.py; what the chain proves and how it is checked:
audit_verify.py. This module writes and reads the file.

Concurrency and durability
--------------------------
:meth:`AuditLog.append` opens the file with ``O_APPEND``, takes an exclusive ``fcntl.flock``,
reads the last line backwards from the end in bounded blocks (never the whole file), writes the
new line in one ``write`` and ``fsync``\\ s before releasing the lock, so several processes may
append at once and still produce one valid chain. If the write fails part-way (disk full), the
file is truncated back to its previous length while the lock is still held, so a failed append
leaves no partial line behind. Readers (``entries``, ``verify``) take a shared lock only long
enough to note the file's length, then read that many bytes: appends only ever add after it.

A torn last line (the choice made here)
---------------------------------------
A crash or power loss during an append can still leave a last line without its newline (or
with zero bytes the file system never filled in). ``append`` then REFUSES, raising
``IntegrityError`` that names the file, the offset and length of the incomplete line and how to
inspect it; nothing is written. The alternatives were rejected:

* writing ``"\\n"`` first and continuing would bury a non-JSON line in the middle of the log,
  so ``verify`` would report the log broken forever -- and it would make a genuine cut-off
  (tampering) look like routine crash damage;
* chaining the next entry from the torn bytes would keep the links consistent, but ``verify``
  would then have to treat some garbage lines as acceptable, which is exactly what an attacker
  would use to hide an edit;
* silently truncating the torn bytes would destroy evidence without telling anyone.

Refusing is honest: the damage stays visible (``verify`` reports "the log was cut off") and a
person decides. ``check_appendable`` runs the same checks before an action starts, so the console
refuses to act rather than act and then fail to record it. The remedy given in the error is to
inspect the tail (``tail -c 512 FILE | od -c`` and ``recovery-console audit verify``) and then
move the damaged file aside, keeping it as evidence; the next append starts a new chain in a
fresh file. A complete last line that is not a
valid entry (hand-edited, garbage) is refused in the same way, since a new entry cannot be
chained to it meaningfully.

The anchor
----------
An ``AuditLog`` given an ``anchor`` path (``AuditLog.at`` gives the console's) keeps the last
entry's number and hash there after every append, and ``verify`` checks the log against it:
see audit_anchor.py.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import stat
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recovery_console.engine.state.audit_anchor import (
    ANCHOR_NAME,
    AuditAnchor,
    BadAnchor,
    first_anchor,
    load_anchor,
    save_anchor,
)
from recovery_console.engine.state.audit_entry import (
    GENESIS_HASH,
    MAX_LINE_BYTES,
    RESULTS,
    AuditEntry,
    BadLine,
    canonical,
    hash_line,
    parse_line,
)
from recovery_console.engine.state.audit_verify import AuditVerification, verify_chain
from recovery_console.engine.state.file_lock import lock_within
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.who import current_user
from recovery_console.errors import IntegrityError, QuotaExceededError, RecoveryError, UsageError

log = logging.getLogger(__name__)
_BLOCK = 8192
_FILE_MODE = 0o600
_DIR_MODE = 0o700
_INSPECT_HINT = (
    "Inspect the end of the file with `tail -c 512 {path} | od -c` and {verify}. "
    "If the damage is from a crash, move the file aside (keep it as evidence); the next action starts a new log."
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    """The audit log at ``path``; see the module docstrings for the format and guarantees."""

    def __init__(self, path: Path, anchor: Path | None = None) -> None:
        self.path = Path(path)
        self.anchor_path = anchor

    @classmethod
    def at(cls, paths: AppPaths) -> AuditLog:
        """The console's log, with its anchor in the config folder (away from the log's folder)."""
        return cls(paths.audit_file, paths.config_dir / ANCHOR_NAME)

    def check_appendable(self) -> None:
        """Raise the ``IntegrityError`` that ``append`` would (a torn or invalid last line); write nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # the first append creates it
        except OSError as exc:
            raise RecoveryError(
                f"Cannot open the audit log {self.path}: {exc.strerror or exc}",
                hint="Check that the folder exists and belongs to you.",
            ) from exc
        try:
            lock_within(fd, fcntl.LOCK_SH, "audit log", self.path)
            self._tail(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- writing

    def append(
        self,
        action: str,
        object: str,  # noqa: A002 - the field's documented name
        result: str,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry and fsync it; returns the entry as written.

        Never pass secret values in ``object`` or ``detail``. Raises ``UsageError`` for bad
        arguments (including a ``detail`` that is not JSON data), ``IntegrityError`` when the
        log's last line is incomplete or not a valid entry (nothing is written then).
        """
        if not isinstance(action, str) or not action.strip():
            raise UsageError("An audit entry needs a non-empty action name.")
        if not isinstance(object, str):
            raise UsageError(f"An audit entry's object must be a string, not {type(object).__name__}.")
        if result not in RESULTS:
            raise UsageError(f"An audit entry's result must be one of {', '.join(RESULTS)}, not {result!r}.")
        detail_data = self._normalise_detail(detail)
        user, host = current_user(), socket.gethostname()

        fd = self._open_locked()
        try:
            size = os.fstat(fd).st_size
            seq, prev = self._tail(fd, size)
            entry = AuditEntry(
                seq=seq,
                time=_now(),
                user=user,
                host=host,
                action=action,
                object=object,
                result=result,
                detail=detail_data,
                prev=prev,
            )
            try:
                data = entry.to_json().encode("utf-8") + b"\n"
            except UnicodeEncodeError:
                raise UsageError(
                    "An audit entry contains text that cannot be written as UTF-8 (a lone surrogate?)."
                ) from None
            if len(data) > MAX_LINE_BYTES:
                raise UsageError(
                    f"The audit entry would be {len(data)} bytes; the limit is {MAX_LINE_BYTES}.",
                    hint="Keep audit details short: identifiers and counts, not contents.",
                )
            self._write_all(fd, data, size)
            self._keep_anchor(seq, prev, hash_line(data[:-1]), entry.time)
            return entry
        finally:
            os.close(fd)  # also releases the lock

    @staticmethod
    def _normalise_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
        if detail is None:
            return {}
        if not isinstance(detail, Mapping):
            raise UsageError(f"An audit entry's detail must be a dict, not {type(detail).__name__}.")
        try:
            # Round-trip so the returned entry equals what is on disk (tuples become lists, ...).
            data: dict[str, Any] = json.loads(canonical(dict(detail)))
            return data
        except (TypeError, ValueError, RecursionError) as exc:
            raise UsageError(
                f"An audit entry's detail is not JSON data: {exc}",
                hint="Pass only strings, numbers, booleans, None, lists and dicts with string keys.",
            ) from None

    def _open_locked(self) -> int:
        """Open (creating 0600 in a 0700 folder) and lock the log exclusively; returns the fd."""
        folder = self.path.parent
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
                os.chmod(folder, _DIR_MODE)  # mkdir's mode is reduced by the umask
            for _ in range(10):
                created = False
                flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
                try:
                    fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, _FILE_MODE)
                    created = True
                except FileExistsError:
                    fd = os.open(self.path, flags)
                try:
                    if created:
                        os.fchmod(fd, _FILE_MODE)  # a strict umask must not make it unwritable
                        self._fsync_dir(folder)
                    lock_within(fd, fcntl.LOCK_EX, "audit log", self.path)
                    # Someone may have moved the file aside while we waited: lock the current one.
                    opened, current = os.fstat(fd), os.stat(self.path)
                    if (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino):
                        return fd
                except FileNotFoundError:
                    pass
                except BaseException:
                    os.close(fd)
                    raise
                os.close(fd)
        except OSError as exc:
            raise RecoveryError(
                f"Cannot open the audit log {self.path}: {exc.strerror or exc}",
                hint="Check that the folder exists and belongs to you.",
            ) from exc
        raise RecoveryError(f"The audit log {self.path} kept being replaced while opening it; try again.")

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    def _tail(self, fd: int, size: int) -> tuple[int, str]:
        """The next ``seq`` and ``prev``, from the last line read backwards in bounded blocks."""
        if size == 0:
            return 1, GENESIS_HASH
        hint = _INSPECT_HINT.format(path=self.path, verify="verify the audit log")
        cli_hint = _INSPECT_HINT.format(path=self.path, verify="run `recovery-console audit verify`")
        if os.pread(fd, 1, size - 1) != b"\n":
            start = self._line_start(fd, size)
            where = f"the {size - start} bytes at offset {start}" if start is not None else "its last bytes"
            raise IntegrityError(
                f"The audit log's last line is incomplete (the log was cut off: {where} have no newline); "
                f"refusing to append to {self.path}.",
                hint=hint, cli_hint=cli_hint,
            )
        end = size - 1
        start = self._line_start(fd, end)
        if start is None:
            raise IntegrityError(
                f"The audit log's last line is longer than {MAX_LINE_BYTES} bytes; refusing to append to {self.path}.",
                hint=hint, cli_hint=cli_hint,
            )
        line = os.pread(fd, end - start, start)
        try:
            last = parse_line(line)
        except BadLine as exc:
            raise IntegrityError(
                f"The audit log's last line (offset {start}) is not a valid entry: {exc}; "
                f"refusing to append to {self.path}.",
                hint=hint, cli_hint=cli_hint,
            ) from None
        return last.seq + 1, hash_line(line)

    @staticmethod
    def _line_start(fd: int, end: int) -> int | None:
        """Offset just after the last newline before ``end`` (0 if none); ``None`` past the size bound."""
        pos = end
        while pos > 0:
            if end - pos > MAX_LINE_BYTES:
                return None
            step = min(_BLOCK, pos)
            block = os.pread(fd, step, pos - step)
            index = block.rfind(b"\n")
            if index >= 0:
                return pos - step + index + 1
            pos -= step
        return 0

    def _keep_anchor(self, seq: int, prev: str, new_hash: str, now: str) -> None:
        """Record the entry just written in the anchor (still under the log's lock); never fails the append."""
        if self.anchor_path is None:
            return
        try:
            anchor = load_anchor(self.anchor_path)
        except BadAnchor:
            anchor = None
        try:
            updated = anchor.after_append(seq, prev, new_hash, now) if anchor else first_anchor(seq, new_hash, now)
            save_anchor(self.anchor_path, updated)
        except (RecoveryError, OSError) as exc:  # the entry is written; verify names the stale anchor
            log.warning("The audit entry was written, but its anchor %s could not be updated: %s",
                        self.anchor_path, exc)

    def kept_anchor(self) -> AuditAnchor | None:
        """The console's anchor, if this log keeps one and it exists."""
        return load_anchor(self.anchor_path) if self.anchor_path is not None else None

    def _write_all(self, fd: int, data: bytes, size: int) -> None:
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            if written:
                try:  # leave no partial line behind: we still hold the lock
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                except OSError:
                    pass
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise QuotaExceededError(
                    f"No space left to write the audit log {self.path}.",
                    hint="Free some space on that disk; the action was not recorded.",
                ) from exc
            raise RecoveryError(f"Cannot write the audit log {self.path}: {exc.strerror or exc}") from exc

    # ---------------------------------------------------------------- reading

    def _snapshot(self) -> tuple[Any, int] | None:
        """An open binary file and a length at an entry boundary (appends complete under the lock)."""
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RecoveryError(f"Cannot read the audit log {self.path}: {exc.strerror or exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise RecoveryError(f"The audit log {self.path} is not a regular file.")
            lock_within(handle.fileno(), fcntl.LOCK_SH, "audit log", self.path)
            size = os.fstat(handle.fileno()).st_size
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except BaseException:
            handle.close()
            raise
        return handle, size

    def _lines(self) -> Iterator[tuple[int, bytes, bool]]:
        """(line number, bytes without newline, complete) for each line, bounded in length.

        A line longer than ``MAX_LINE_BYTES`` is yielded as its first bytes, marked complete, so
        it fails parsing instead of being read whole.
        """
        snap = self._snapshot()
        if snap is None:
            return
        handle, remaining = snap
        with handle:
            number = 0
            while remaining > 0:
                raw = handle.readline(min(remaining, MAX_LINE_BYTES + 1))
                if not raw:
                    break
                remaining -= len(raw)
                number += 1
                if raw.endswith(b"\n"):
                    yield number, raw[:-1], True
                elif len(raw) > MAX_LINE_BYTES:
                    yield number, raw, True
                    while remaining > 0:  # skip the rest of the over-long line
                        more = handle.readline(min(remaining, _BLOCK))
                        if not more:
                            return
                        remaining -= len(more)
                        if more.endswith(b"\n"):
                            break
                else:
                    yield number, raw, False

    def entries(self) -> Iterator[AuditEntry]:
        """Stream the entries in order; raises ``IntegrityError`` at the first line that is not one.

        This only parses lines; use :meth:`verify` to check the chain.
        """
        for number, line, complete in self._lines():
            if not complete:
                raise IntegrityError(
                    f"The audit log {self.path} was cut off: line {number} is incomplete.",
                    hint="Verify the audit log.", cli_hint="Run `recovery-console audit verify`.",
                )
            try:
                yield parse_line(line)
            except BadLine as exc:
                raise IntegrityError(
                    f"Line {number} of the audit log {self.path} is not a valid entry: {exc}.",
                    hint="Verify the audit log.", cli_hint="Run `recovery-console audit verify`.",
                ) from None

    def verify(self, anchor: str | None = None) -> AuditVerification:
        """Check every line and link (audit_verify.py); an absent or empty log is ok with 0 entries.

        ``anchor`` is a ``last_hash`` recorded earlier, elsewhere: the log must still hold it. The
        console's own anchor (``kept_anchor``) is checked too, when this log keeps one.
        """
        if self.anchor_path is None:
            return verify_chain(self._lines(), anchor)
        try:
            kept = load_anchor(self.anchor_path)
        except BadAnchor as exc:
            return verify_chain(self._lines(), anchor, kept=None, kept_problem=str(exc))
        return verify_chain(self._lines(), anchor, kept=kept, kept_problem=None if kept else
                            f"the console's audit anchor {self.anchor_path} is missing (a log written only by "
                            "a console older than the anchor has none; the next action starts one)")
