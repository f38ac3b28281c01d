"""COPY text rows turned into CSV (as PostgreSQL's `COPY … TO … CSV HEADER` writes it), JSON lines, or kept as COPY.

CSV follows RFC 4180 the way the server does: comma, double quotes doubled inside quoted fields,
a field quoted when it holds a comma, quote, CR or LF; NULL is an empty unquoted field and an
empty string `""`; a lone `\\.` in a one-column table is quoted; rows end in LF. Text stays in
the archive's encoding, byte for byte. JSON lines map column names to text values (NULL → null).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Protocol

from recovery_console.engine.archive.copy_text import END_OF_DATA, split_row
from recovery_console.errors import UsageError

FORMATS = ("csv", "jsonl", "copy")
SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "copy": ".copy"}
_CSV_SPECIAL = re.compile(rb'[,"\r\n]')
_CSV_SLOW = re.compile(rb'[\\,"\r]|\t\t|\t\n|\n\t|\n\n|^\t|^\n')


class RowFormat(Protocol):
    """Turns a table's chunks of whole COPY rows into output bytes."""

    def header(self) -> bytes: ...

    def rows(self, chunk: bytes) -> bytes: ...


def _csv_field(value: bytes | None, single: bool) -> bytes:
    if value is None:
        return b""
    if value == b"" or (single and value == END_OF_DATA) or _CSV_SPECIAL.search(value):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


class CsvFormat:
    """PostgreSQL's CSV with a header row; rows without escapes, commas, quotes or empty fields take a fast path."""

    def __init__(self, columns: Sequence[str], codec: str) -> None:
        self._single = len(columns) == 1
        self._columns = columns
        self._codec = codec

    def header(self) -> bytes:
        names = [name.encode(self._codec, "backslashreplace") for name in self._columns]
        return b",".join(_csv_field(name, self._single) for name in names) + b"\n"

    def rows(self, chunk: bytes) -> bytes:
        if not self._columns:
            return chunk  # a table without columns: one empty line per row
        if not _CSV_SLOW.search(chunk):
            return chunk.replace(b"\t", b",")
        single = self._single
        return b"".join(b",".join(_csv_field(value, single) for value in split_row(line)) + b"\n"
                        for line in chunk.split(b"\n")[:-1])


class JsonLinesFormat:
    """One JSON object per row, keyed by column name, values as the server's text (NULL → null)."""

    def __init__(self, columns: Sequence[str], codec: str) -> None:
        self._columns = list(columns)
        self._codec = codec

    def header(self) -> bytes:
        return b""

    def rows(self, chunk: bytes) -> bytes:
        out = []
        for line in chunk.split(b"\n")[:-1]:
            values = split_row(line) if self._columns else []
            names = self._columns + [f"column {i + 1}" for i in range(len(self._columns), len(values))]
            row = {name: None if value is None else value.decode(self._codec, "backslashreplace")
                   for name, value in zip(names, values, strict=False)}
            out.append(json.dumps(row, ensure_ascii=False))
        return ("\n".join(out) + "\n").encode("utf-8") if out else b""


class CopyFormat:
    """The COPY text itself, as pg_restore would send it to the server."""

    def header(self) -> bytes:
        return b""

    def rows(self, chunk: bytes) -> bytes:
        return chunk


def row_format(name: str, columns: Sequence[str], codec: str) -> RowFormat:
    if name == "csv":
        return CsvFormat(columns, codec)
    if name == "jsonl":
        return JsonLinesFormat(columns, codec)
    if name == "copy":
        return CopyFormat()
    raise UsageError(f"Unknown export format {name!r}; choose one of {', '.join(FORMATS)}.")
