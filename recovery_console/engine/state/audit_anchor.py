"""The anchor the console keeps beside the audit log: the last entry's number and hash.

The hash chain cannot show that entries were removed from the end, the last one edited, or the
whole file rewritten with a fresh chain (audit_verify.py). After every append the console writes
the new entry's ``seq`` and hash to an anchor file in the config folder (not beside the log), and
``audit verify`` checks by default that the log still holds that entry. When an append starts a
chain that does not continue the anchored one (the log was moved aside, emptied or replaced), the
anchor records the restart, and every later verify reports it: the earlier log is not checked here.

Anyone who can write both files can still forge both; a hash recorded outside this machine
(``audit verify --anchor``) is what proves nothing before it was changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recovery_console.engine.state.atomic import write_json

ANCHOR_NAME = "audit-anchor.json"
_MAX_RESTARTS = 50


class BadAnchor(ValueError):
    """The anchor file exists but is not one this console wrote."""


@dataclass(frozen=True)
class Restart:
    """A new chain began where the anchor expected the old one to continue."""

    at: str
    previous_entries: int
    previous_hash: str


@dataclass(frozen=True)
class AuditAnchor:
    """The last entry the console appended, and the history of the chain it belongs to."""

    entries: int
    last_hash: str
    since: str
    since_entry: int
    restarts: tuple[Restart, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "last_hash": self.last_hash, "since": self.since,
                "since_entry": self.since_entry, "restarts": [r.__dict__ for r in self.restarts]}

    def after_append(self, seq: int, prev: str, new_hash: str, now: str) -> AuditAnchor:
        """The anchor once entry ``seq`` (linked to ``prev``) is appended.

        It continues this chain if it is the next entry after the anchored one, or a later one
        (the anchor lags one entry behind the log after a crash between the two writes).
        """
        continues = seq > self.entries + 1 or (seq == self.entries + 1 and prev == self.last_hash)
        restarts = self.restarts
        if not continues:
            restarts = (*restarts, Restart(now, self.entries, self.last_hash))[-_MAX_RESTARTS:]
        return AuditAnchor(seq, new_hash, self.since, self.since_entry, restarts)


def first_anchor(seq: int, new_hash: str, now: str) -> AuditAnchor:
    return AuditAnchor(seq, new_hash, now, seq)


def load_anchor(path: Path) -> AuditAnchor | None:
    """The anchor in ``path``; ``None`` if there is none; ``BadAnchor`` if it is not a valid one."""
    try:
        data = json.loads(path.read_bytes())
        restarts = tuple(Restart(str(r["at"]), int(r["previous_entries"]), str(r["previous_hash"]))
                         for r in data.get("restarts", []))
        anchor = AuditAnchor(int(data["entries"]), str(data["last_hash"]), str(data["since"]),
                             int(data["since_entry"]), restarts)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadAnchor(f"the console's audit anchor {path} is unreadable or not valid ({exc})") from None
    if anchor.entries < 1:
        raise BadAnchor(f"the console's audit anchor {path} records no entry")
    return anchor


def save_anchor(path: Path, anchor: AuditAnchor) -> None:
    write_json(path, anchor.to_dict())
