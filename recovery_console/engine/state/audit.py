"""The console's append-only, hash-chained audit log: one JSON line per action taken.

Format
------
The log is a UTF-8 text file (``AppPaths.audit_file``); each entry is exactly one line, the
canonical JSON form ``json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
followed by ``"\\n"``. Fields:

``seq``     1-based position of the entry, increasing by exactly one per line.
``time``    UTC time of the action, ISO-8601 with a trailing ``Z``.
``user``    OS user that ran the console (``getpass.getuser()``, else the numeric uid).
``host``    ``socket.gethostname()``.
``action``  what was done: ``backup.create``, ``backup.verify``, ``restore``, ``target.add`` ...
``object``  what it was done to: a backup id, a path, a target name.
``result``  ``ok``, ``failed`` or ``cancelled``.
``detail``  a JSON object of extra, non-secret data (may be empty).
``prev``    hex SHA-256 of the previous line's exact bytes, without its trailing newline;
            64 zeros (``GENESIS_HASH``) for the first entry.

What the chain proves
---------------------
Every line commits to the exact bytes of the line before it, so :meth:`AuditLog.verify` detects
the editing, removal, insertion or reordering of ANY line except the very last one(s): a change
to line *k* breaks the ``prev`` link stored in line *k + 1*, and a removed or moved line also
breaks the ``seq`` sequence. What the chain alone cannot detect:

* deleting or editing entries at the tail (the last line is not committed to by anything), and
* rewriting the whole file with a freshly computed chain (there is no key: anyone who can write
  the file can forge a consistent one).

Both are detectable only against a copy of a hash kept somewhere the attacker cannot reach.
:meth:`AuditLog.verify` therefore returns ``last_hash`` (the hash of the last line, printed by
``audit verify``); record it elsewhere (a ticket, a notebook, another machine) and later pass it
as ``anchor=``: verification then fails unless a line with that hash is still part of the intact
chain, which proves that nothing up to the recorded point was removed or rewritten.

Secrets
-------
The log is a plain, world-unencrypted file (mode 0600 in a 0700 folder, but backed up, copied and
shown to auditors). Callers must never pass secret values -- passphrases, instance secrets, keys,
tokens, passwords, connection strings with passwords -- in ``object`` or ``detail``. This module
cannot recognise a secret; it only rejects a ``detail`` that is not JSON data (``UsageError``),
so that nothing is written through ``str()``/``repr()`` of arbitrary objects by accident.
Control characters (newlines included) are escaped by JSON, so a value can never start a line.

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
person decides. The remedy given in the error is to inspect the tail (``tail -c 512 FILE | od -c``
and ``recovery-console audit verify``) and then move the damaged file aside, keeping it as
evidence; the next append starts a new chain in a fresh file. A complete last line that is not a
valid entry (hand-edited, garbage) is refused in the same way, since a new entry cannot be
chained to it meaningfully.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import hashlib
import json
import os
import socket
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recovery_console.errors import IntegrityError, QuotaExceededError, RecoveryError, UsageError

GENESIS_HASH = "0" * 64
"""The ``prev`` of the first entry."""

RESULTS = ("ok", "failed", "cancelled")
"""The allowed values of ``result``."""

MAX_LINE_BYTES = 256 * 1024
"""The longest entry line ``append`` writes and the readers accept (bounds every read)."""

_BLOCK = 8192
_FIELDS = ("seq", "time", "user", "host", "action", "object", "result", "detail", "prev")
_FILE_MODE = 0o600
_DIR_MODE = 0o700
_INSPECT_HINT = (
    "Inspect the end of the file with `tail -c 512 {path} | od -c` and run `recovery-console audit verify`. "
    "If the damage is from a crash, move the file aside (keep it as evidence); the next action starts a new log."
)


def hash_line(line: bytes) -> str:
    """Hex SHA-256 of one line's exact bytes, without its trailing newline: the next entry's ``prev``."""
    return hashlib.sha256(line).hexdigest()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _BadLine(Exception):
    """A line that is not a valid entry; the message is the reason shown to the user."""


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    seq: int
    time: str
    user: str
    host: str
    action: str
    object: str
    result: str
    detail: dict[str, Any]
    prev: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def to_json(self) -> str:
        """The canonical one-line JSON form (no trailing newline); its UTF-8 bytes are what is hashed."""
        return _canonical(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditEntry:
        """Parse and check one line; raises ``IntegrityError`` saying why it is not a valid entry."""
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        try:
            return _parse_line(raw.rstrip(b"\n"))
        except _BadLine as exc:
            raise IntegrityError(f"Not a valid audit log entry: {exc}") from None


def _parse_line(line: bytes) -> AuditEntry:
    """Strictly parse one line (without its newline) into an entry, or raise ``_BadLine``."""
    if not line.strip():
        raise _BadLine("the line is empty")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadLine("the line is not valid UTF-8") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise _BadLine("the line is not valid JSON") from None
    if not isinstance(data, dict):
        raise _BadLine("the line is not a JSON object")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise _BadLine(f"required field(s) missing: {', '.join(missing)}")
    extra = sorted(set(data) - set(_FIELDS))
    if extra:
        raise _BadLine(f"unexpected field(s): {', '.join(extra)}")
    seq = data["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise _BadLine("field 'seq' is not a positive integer")
    for name in ("time", "user", "host", "action", "object", "result", "prev"):
        if not isinstance(data[name], str):
            raise _BadLine(f"field '{name}' is not a string")
    if not isinstance(data["detail"], dict):
        raise _BadLine("field 'detail' is not a JSON object")
    if data["result"] not in RESULTS:
        raise _BadLine(f"field 'result' is {data['result']!r}, not one of {', '.join(RESULTS)}")
    prev = data["prev"]
    if len(prev) != 64 or any(c not in "0123456789abcdef" for c in prev):
        raise _BadLine("field 'prev' is not a lowercase hex SHA-256")
    stamp = data["time"]
    try:
        if not stamp.endswith("Z"):
            raise ValueError
        datetime.fromisoformat(stamp[:-1])
    except ValueError:
        raise _BadLine(f"field 'time' is not a UTC ISO-8601 time ending in 'Z': {stamp!r}") from None
    entry = AuditEntry(**data)
    if entry.to_json() != text:
        raise _BadLine("the line is not in the log's canonical JSON form (was it edited by hand?)")
    return entry


@dataclass(frozen=True)
class AuditVerification:
    """The result of checking the whole chain; on failure, where the FIRST broken link is."""

    ok: bool
    entries: int
    """Entries checked and found intact (all of them when ``ok``; those before the break otherwise)."""
    first_broken_seq: int | None
    """The ``seq`` of the entry at the break, when the broken line has a readable one.

    A link is stored in the later line, so an altered entry *k* is reported at entry *k + 1*
    (whose ``prev`` no longer matches); the reason names both.
    """
    first_broken_line: int | None
    """1-based line number of the break."""
    reason: str
    last_hash: str
    """Hash of the last intact line (``GENESIS_HASH`` for an empty log): record it elsewhere."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_line": self.first_broken_line,
            "reason": self.reason,
            "last_hash": self.last_hash,
        }


def _current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getpass raises KeyError/OSError/ImportError depending on platform
        return str(os.getuid())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    """The audit log at ``path``; see the module docstring for the format and guarantees."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

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
        user, host = _current_user(), socket.gethostname()

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
            data: dict[str, Any] = json.loads(_canonical(dict(detail)))
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
                    fcntl.flock(fd, fcntl.LOCK_EX)
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
        hint = _INSPECT_HINT.format(path=self.path)
        if os.pread(fd, 1, size - 1) != b"\n":
            start = self._line_start(fd, size)
            where = f"the {size - start} bytes at offset {start}" if start is not None else "its last bytes"
            raise IntegrityError(
                f"The audit log's last line is incomplete (the log was cut off: {where} have no newline); "
                f"refusing to append to {self.path}.",
                hint=hint,
            )
        end = size - 1
        start = self._line_start(fd, end)
        if start is None:
            raise IntegrityError(
                f"The audit log's last line is longer than {MAX_LINE_BYTES} bytes; refusing to append to {self.path}.",
                hint=hint,
            )
        line = os.pread(fd, end - start, start)
        try:
            last = _parse_line(line)
        except _BadLine as exc:
            raise IntegrityError(
                f"The audit log's last line (offset {start}) is not a valid entry: {exc}; "
                f"refusing to append to {self.path}.",
                hint=hint,
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
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
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
                    hint="Run `recovery-console audit verify`.",
                )
            try:
                yield _parse_line(line)
            except _BadLine as exc:
                raise IntegrityError(
                    f"Line {number} of the audit log {self.path} is not a valid entry: {exc}.",
                    hint="Run `recovery-console audit verify`.",
                ) from None

    def verify(self, anchor: str | None = None) -> AuditVerification:
        """Check every line and link; report the FIRST break. An absent or empty log is ok with 0 entries.

        ``anchor`` is a ``last_hash`` recorded earlier, elsewhere: if given, the log must still
        contain an intact line with that hash (otherwise entries were removed from the end or the
        log was replaced), which the chain alone cannot prove.
        """
        if anchor is not None:
            anchor = anchor.strip().lower()
        count, prev, anchor_seen = 0, GENESIS_HASH, anchor == GENESIS_HASH

        def broken(seq: int | None, number: int, reason: str) -> AuditVerification:
            return AuditVerification(False, count, seq, number, reason, prev)

        for number, line, complete in self._lines():
            expected = count + 1
            if not complete:
                return broken(
                    None,
                    number,
                    f"the log was cut off: the last line ({len(line)} bytes) has no trailing newline; "
                    "an append was interrupted (crash, full disk) or the file was truncated",
                )
            if len(line) > MAX_LINE_BYTES:
                return broken(None, number, f"the line is longer than {MAX_LINE_BYTES} bytes")
            try:
                entry = _parse_line(line)
            except _BadLine as exc:
                seq = _readable_seq(line)
                return broken(seq, number, str(exc))
            if entry.seq != expected:
                if entry.seq > expected:
                    what = f"entry {expected}" if entry.seq == expected + 1 else f"entries {expected}-{entry.seq - 1}"
                    reason = f"seq jumps from {count} to {entry.seq}: {what} missing or moved"
                else:
                    reason = f"seq {entry.seq} follows {count}: entries were reordered, duplicated or inserted"
                return broken(entry.seq, number, reason)
            if entry.prev != prev:
                if count == 0:
                    reason = "the first entry's prev is not the genesis hash: entries before it were removed"
                else:
                    reason = (
                        f"prev does not match the hash of line {number - 1} (entry {count}): "
                        f"entry {count} was altered, or this entry's prev was"
                    )
                return broken(entry.seq, number, reason)
            count, prev = entry.seq, hash_line(line)
            if anchor is not None and prev == anchor:
                anchor_seen = True
        if anchor is not None and not anchor_seen:
            return AuditVerification(
                False,
                count,
                None,
                None,
                f"the recorded hash {anchor} is not in the log: entries were removed from the end, "
                "or the log was rewritten or replaced",
                prev,
            )
        return AuditVerification(True, count, None, None, "", prev)


def _readable_seq(line: bytes) -> int | None:
    """The ``seq`` of a line that is JSON but not a valid entry, if it has a usable one."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
