"""One line of the console's audit log: the entry, its canonical JSON form and its hash.

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

Secrets
-------
The log is a plain, world-unencrypted file (mode 0600 in a 0700 folder, but backed up, copied and
shown to auditors). Callers must never pass secret values -- passphrases, instance secrets, keys,
tokens, passwords, connection strings with passwords -- in ``object`` or ``detail``. This module
cannot recognise a secret; it only rejects a ``detail`` that is not JSON data (``UsageError``),
so that nothing is written through ``str()``/``repr()`` of arbitrary objects by accident.
Control characters (newlines included) are escaped by JSON, so a value can never start a line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recovery_console.errors import IntegrityError

GENESIS_HASH = "0" * 64
"""The ``prev`` of the first entry."""

RESULTS = ("ok", "failed", "cancelled")
"""The allowed values of ``result``."""

MAX_LINE_BYTES = 256 * 1024
"""The longest entry line ``append`` writes and the readers accept (bounds every read)."""

FIELDS = ("seq", "time", "user", "host", "action", "object", "result", "detail", "prev")


def hash_line(line: bytes) -> str:
    """Hex SHA-256 of one line's exact bytes, without its trailing newline: the next entry's ``prev``."""
    return hashlib.sha256(line).hexdigest()


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class BadLine(Exception):
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
        return {name: getattr(self, name) for name in FIELDS}

    def to_json(self) -> str:
        """The canonical one-line JSON form (no trailing newline); its UTF-8 bytes are what is hashed."""
        return canonical(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditEntry:
        """Parse and check one line; raises ``IntegrityError`` saying why it is not a valid entry."""
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        try:
            return parse_line(raw.rstrip(b"\n"))
        except BadLine as exc:
            raise IntegrityError(f"Not a valid audit log entry: {exc}") from None


def parse_line(line: bytes) -> AuditEntry:
    """Strictly parse one line (without its newline) into an entry, or raise ``BadLine``."""
    if not line.strip():
        raise BadLine("the line is empty")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("the line is not valid UTF-8") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadLine("the line is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadLine("the line is not a JSON object")
    missing = [name for name in FIELDS if name not in data]
    if missing:
        raise BadLine(f"required field(s) missing: {', '.join(missing)}")
    extra = sorted(set(data) - set(FIELDS))
    if extra:
        raise BadLine(f"unexpected field(s): {', '.join(extra)}")
    seq = data["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise BadLine("field 'seq' is not a positive integer")
    for name in ("time", "user", "host", "action", "object", "result", "prev"):
        if not isinstance(data[name], str):
            raise BadLine(f"field '{name}' is not a string")
    if not isinstance(data["detail"], dict):
        raise BadLine("field 'detail' is not a JSON object")
    if data["result"] not in RESULTS:
        raise BadLine(f"field 'result' is {data['result']!r}, not one of {', '.join(RESULTS)}")
    prev = data["prev"]
    if len(prev) != 64 or any(c not in "0123456789abcdef" for c in prev):
        raise BadLine("field 'prev' is not a lowercase hex SHA-256")
    stamp = data["time"]
    try:
        if not stamp.endswith("Z"):
            raise ValueError
        datetime.fromisoformat(stamp[:-1])
    except ValueError:
        raise BadLine(f"field 'time' is not a UTC ISO-8601 time ending in 'Z': {stamp!r}") from None
    entry = AuditEntry(**data)
    if entry.to_json() != text:
        raise BadLine("the line is not in the log's canonical JSON form (was it edited by hand?)")
    return entry
