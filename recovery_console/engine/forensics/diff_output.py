"""The rows a diff found, written as JSON lines (any tables) or as one table's CSV, or kept (a few per table) for a
viewer.

JSON lines: one object per row, `{"table", "change": "only_a" | "only_b" | "changed", "key", "a", "b"}`
with each side's row keyed by its own column names (text as the server writes it, NULL → null).
CSV (one table): a `change` column, then the columns of A followed by those only B has; a changed
row is two lines, `changed_a` then `changed_b`; fields as PostgreSQL's CSV writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from recovery_console.engine.archive.copy_text import split_row
from recovery_console.engine.forensics.row_formats import csv_field
from recovery_console.errors import UsageError

DIFF_FORMATS = ("summary", "csv", "jsonl")


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class DiffRows(Protocol):
    """Where the second pass sends each differing row (COPY text lines, without their newline)."""

    written: int

    def row(self, table: str, columns_a: Sequence[str], columns_b: Sequence[str], key: Sequence[str] | None,
            change: str, a: bytes | None, b: bytes | None) -> None: ...


def _named(columns: Sequence[str], line: bytes | None, codec: str) -> dict[str, str | None] | None:
    if line is None:
        return None
    values = split_row(line) if columns else []
    return {name: None if value is None else value.decode(codec, "backslashreplace")
            for name, value in zip(columns, values, strict=False)}


class JsonLinesRows:
    def __init__(self, sink: ByteSink, codec: str) -> None:
        self._sink = sink
        self._codec = codec
        self.written = 0

    def row(self, table: str, columns_a: Sequence[str], columns_b: Sequence[str], key: Sequence[str] | None,
            change: str, a: bytes | None, b: bytes | None) -> None:
        row_a, row_b = _named(columns_a, a, self._codec), _named(columns_b, b, self._codec)
        either = row_a if row_a is not None else row_b
        record = {"table": table, "change": change,
                  "key": {name: either.get(name) for name in key} if key and either is not None else None,
                  "a": row_a, "b": row_b}
        self._sink.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self.written += 1


class CsvRows:
    """One table's differing rows as CSV under a single header (the union of both sides' columns)."""

    def __init__(self, sink: ByteSink, codec: str) -> None:
        self._sink = sink
        self._codec = codec
        self._columns: list[str] | None = None
        self.written = 0

    def row(self, table: str, columns_a: Sequence[str], columns_b: Sequence[str], key: Sequence[str] | None,
            change: str, a: bytes | None, b: bytes | None) -> None:
        if self._columns is None:
            self._columns = list(columns_a) + [name for name in columns_b if name not in columns_a]
            names = [name.encode(self._codec, "backslashreplace") for name in ["change", *self._columns]]
            self._sink.write(b",".join(csv_field(name, False) for name in names) + b"\n")
        if a is not None:
            self._line("changed_a" if change == "changed" else change, columns_a, a)
        if b is not None:
            self._line("changed_b" if change == "changed" else change, columns_b, b)

    def _line(self, change: str, columns: Sequence[str], line: bytes) -> None:
        assert self._columns is not None
        values = dict(zip(columns, split_row(line) if columns else [], strict=False))
        fields = [change.encode()] + [csv_field(values.get(name), False) for name in self._columns]
        self._sink.write(b",".join(fields) + b"\n")
        self.written += 1


@dataclass(frozen=True)
class DiffRow:
    """One differing row as a viewer shows it: each side's values by column name (None: that side lacks the row),
    and for a changed row the columns whose values differ."""

    change: str
    key: dict[str, str | None] | None
    a: dict[str, str | None] | None
    b: dict[str, str | None] | None
    changed: tuple[str, ...] = ()


@dataclass
class SampledTable:
    """The first rows of each kind of one table's differences (up to the sample's limit per kind) and how many
    there were in all."""

    table: str
    key: tuple[str, ...] | None
    columns: list[str]
    rows: list[DiffRow] = field(default_factory=list)
    total: int = 0
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.rows) == self.total


class SampledRows:
    """Keeps up to `limit` differing rows of each kind (only in A, only in B, changed) per table, decoded, in memory:
    what the workbench's diff view shows."""

    def __init__(self, codec: str, limit: int) -> None:
        self._codec = codec
        self._limit = limit
        self.tables: dict[str, SampledTable] = {}
        self.written = 0

    def row(self, table: str, columns_a: Sequence[str], columns_b: Sequence[str], key: Sequence[str] | None,
            change: str, a: bytes | None, b: bytes | None) -> None:
        self.written += 1
        sample = self.tables.get(table)
        if sample is None:
            columns = list(columns_a) + [name for name in columns_b if name not in columns_a]
            sample = self.tables[table] = SampledTable(table, tuple(key) if key else None, columns)
        sample.total += 1
        if sample.kept.get(change, 0) >= self._limit:
            return
        sample.kept[change] = sample.kept.get(change, 0) + 1
        row_a, row_b = _named(columns_a, a, self._codec), _named(columns_b, b, self._codec)
        either = row_a if row_a is not None else row_b
        changed: tuple[str, ...] = ()
        if row_a is not None and row_b is not None:
            changed = tuple(name for name in row_a if name in row_b and row_a[name] != row_b[name])
        sample.rows.append(DiffRow(change, {name: either.get(name) for name in key} if key and either else None,
                                   row_a, row_b, changed))


def diff_rows(fmt: str, sink: ByteSink, codec: str) -> JsonLinesRows | CsvRows:
    if fmt == "jsonl":
        return JsonLinesRows(sink, codec)
    if fmt == "csv":
        return CsvRows(sink, codec)
    raise UsageError(f"Unknown diff format {fmt!r}; choose one of {', '.join(DIFF_FORMATS)}.")
