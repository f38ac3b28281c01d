"""Checking the audit log's hash chain, and what an anchor adds to it.

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

The console also keeps such a hash itself, in its config folder (audit_anchor.py), and checks it
by default: that catches a removed or edited tail and a re-chained file, unless whoever changed
the log also rewrote the anchor, which only an anchor kept off this machine rules out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from recovery_console.engine.state.audit_anchor import AuditAnchor
from recovery_console.engine.state.audit_entry import GENESIS_HASH, MAX_LINE_BYTES, BadLine, hash_line, parse_line


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
    anchored_entry: int | None = None
    """The entry the console's own anchor names, when it was checked."""
    notes: tuple[str, ...] = ()
    """What a reader should know even when the chain is intact (e.g. the log was restarted)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_line": self.first_broken_line,
            "reason": self.reason,
            "last_hash": self.last_hash,
            "anchored_entry": self.anchored_entry,
            "notes": list(self.notes),
        }


def verify_chain(lines: Iterable[tuple[int, bytes, bool]], anchor: str | None = None, *,
                 kept: AuditAnchor | None = None, kept_problem: str | None = None) -> AuditVerification:
    """Check every line and link of a log, given as `AuditLog` reads it; report the FIRST break.

    ``anchor`` is a ``last_hash`` recorded earlier, elsewhere: if given, the log must still
    contain an intact line with that hash (otherwise entries were removed from the end or the
    log was replaced), which the chain alone cannot prove. ``kept`` is the console's own anchor:
    the entry it names must still be there, unaltered; ``kept_problem`` says why there is none
    (a log with entries then fails: its anchor was removed or damaged).
    """
    if anchor is not None:
        anchor = anchor.strip().lower()
    count, prev, anchor_seen = 0, GENESIS_HASH, anchor == GENESIS_HASH

    def broken(seq: int | None, number: int, reason: str) -> AuditVerification:
        return AuditVerification(False, count, seq, number, reason, prev)

    for number, line, complete in lines:
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
            entry = parse_line(line)
        except BadLine as exc:
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
        if kept is not None and count == kept.entries and prev != kept.last_hash:
            return AuditVerification(
                False, count - 1, count, number,
                f"entry {count} is not the one the console anchored after writing it (hash {kept.last_hash}): "
                "it was edited, or the log was rewritten", prev, kept.entries)
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
    if kept_problem is not None and count > 0:
        return AuditVerification(
            False, count, None, None,
            f"{kept_problem}, so the end of this log cannot be checked: it was deleted or damaged", prev)
    if kept is not None and count < kept.entries:
        return AuditVerification(
            False, count, None, None,
            f"the log ends at entry {count}, but the console anchored entry {kept.entries} "
            f"(hash {kept.last_hash}): entries were removed from the end, or the log was truncated or replaced",
            prev, kept.entries)
    return AuditVerification(True, count, None, None, "", prev, kept.entries if kept else None,
                             _restart_notes(kept))


def _restart_notes(kept: AuditAnchor | None) -> tuple[str, ...]:
    if kept is None:
        return ()
    late = () if kept.since_entry <= 1 else (
        f"the console has anchored this log only since entry {kept.since_entry} ({kept.since}): its anchor was "
        "missing or unreadable before then, so the end of the log before that entry was not checked",)
    return late + tuple(
        f"at {r.at} a new log was started where entry {r.previous_entries + 1} of the previous one was due "
        f"(it had been anchored at entry {r.previous_entries}, hash {r.previous_hash}); that earlier log, "
        "if it was moved aside, is not checked here"
        for r in kept.restarts)


def _readable_seq(line: bytes) -> int | None:
    """The ``seq`` of a line that is JSON but not a valid entry, if it has a usable one."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
