"""Audit entries written out for an auditor: JSON lines (each line the log's own canonical form) or CSV.

The JSON lines of an unfiltered export are byte for byte the log's lines, so the chain can be checked
on the copy; a filtered export keeps each entry's `prev`, which shows where entries were left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.audit_entry import FIELDS, AuditEntry, canonical, hash_line


def entry_hash(entry: AuditEntry) -> str:
    """The hash the next entry's `prev` holds: SHA-256 of this entry's line (its canonical JSON)."""
    return hash_line(canonical(entry.to_dict()).encode("utf-8"))


def jsonl_text(entries: Iterable[AuditEntry]) -> str:
    return "".join(canonical(entry.to_dict()) + "\n" for entry in entries)


def csv_text(entries: Iterable[AuditEntry]) -> str:
    """One row per entry, the log's fields as columns; `detail` as its canonical JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for entry in entries:
        row = entry.to_dict()
        writer.writerow([canonical(row[name]) if name == "detail" else row[name] for name in FIELDS])
    return buffer.getvalue()


def export_entries(entries: Iterable[AuditEntry], out: Path, *, as_csv: bool, overwrite: bool = False) -> int:
    """Write `entries` to `out` (whole or not at all); how many were written."""
    listed = list(entries)
    text = csv_text(listed) if as_csv else jsonl_text(listed)
    with atomic_output(out, overwrite) as sink:
        sink.write(text.encode("utf-8"))
    return len(listed)
