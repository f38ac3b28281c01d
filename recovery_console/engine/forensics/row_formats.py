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

from recovery_console.engine.archive.copy_chunks import before_numpy
from recovery_console.engine.archive.copy_text import END_OF_DATA, decode_field, split_row
from recovery_console.errors import UsageError

FORMATS = ("csv", "jsonl", "copy")
SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "copy": ".copy"}
_CSV_SPECIAL = re.compile(rb'[,"\r\n]')
_CSV_SLOW = re.compile(rb'[\\,"\r]|\t\t|\t\n|\n\t|\n\n|^\t|^\n')
# Chunk-wide CSV (CsvFormat.rows) works on "\n" + chunk, so that every field follows a delimiter. NUL, which no
# text value holds, marks what decoding an escaped field gave that must not look like a delimiter: a tab, a
# newline, or NULL itself.
TAB, NEWLINE, CR, COMMA, QUOTE, BACKSLASH, DOT = 9, 10, 13, 44, 34, 92, 46
MARK = b"\x00"
MARK_TAB, MARK_NEWLINE, MARK_NULL = MARK + b"t", MARK + b"n", MARK + b"N"
_ESCAPED_FIELD = re.compile(rb"([\t\n])([^\t\n\\]*+\\[^\t\n]*+)")


class RowFormat(Protocol):
    """Turns a table's chunks of whole COPY rows into output bytes."""

    def header(self) -> bytes: ...

    def rows(self, chunk: bytes) -> bytes: ...


def csv_field(value: bytes | None, single: bool) -> bytes:
    """One value as PostgreSQL's CSV writes it (`single`: the table has one column)."""
    if value is None:
        return b""
    if value == b"" or (single and value == END_OF_DATA) or _CSV_SPECIAL.search(value):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


class CsvFormat:
    """PostgreSQL's CSV with a header row, made a chunk of rows at a time with a few whole-chunk passes."""

    def __init__(self, columns: Sequence[str], codec: str) -> None:
        self._single = len(columns) == 1
        self._columns = columns
        self._codec = codec
        self._marked = False

    def header(self) -> bytes:
        names = [name.encode(self._codec, "backslashreplace") for name in self._columns]
        return b",".join(csv_field(name, self._single) for name in names) + b"\n"

    def rows(self, chunk: bytes) -> bytes:
        if not self._columns:
            return chunk  # a table without columns: one empty line per row
        if not _CSV_SLOW.search(chunk):
            return chunk.replace(b"\t", b",")
        self._marked = MARK in chunk
        text = b"\n" + chunk
        if not self._marked and b"\\" in chunk:
            text = _ESCAPED_FIELD.sub(self._decoded, text)
        if self._marked:  # a NUL in the data: row by row instead
            return b"".join(b",".join(csv_field(value, self._single) for value in split_row(line)) + b"\n"
                            for line in chunk.split(b"\n")[:-1])
        text = _quoted(text.replace(b'"', b'""'), self._single)
        if MARK in text:
            text = text.replace(MARK_NULL, b"").replace(MARK_TAB, b"\t").replace(MARK_NEWLINE, b"\n")
        return text[1:]

    def _decoded(self, match: re.Match[bytes]) -> bytes:
        """A field with escapes, decoded; what could pass for a delimiter or an empty field is marked (see MARK)."""
        value = decode_field(match.group(2))
        if value is None:
            return match.group(1) + MARK_NULL
        if MARK in value:
            self._marked = True
        return match.group(1) + value.replace(b"\t", MARK_TAB).replace(b"\n", MARK_NEWLINE)


def _quoted(text: bytes, single: bool) -> bytes:
    """Quote the fields of "\\n" + rows that need it (a comma, quote, CR or marked newline; empty; a lone \\. in a
    one-column table) and turn tab delimiters into commas, for the whole chunk at once with numpy."""
    before_numpy()
    import numpy as np

    data = np.frombuffer(text, np.uint8)
    delimiters = np.flatnonzero((data == TAB) | (data == NEWLINE))
    starts, ends = delimiters[:-1] + 1, delimiters[1:]  # field k lies between delimiters k and k + 1
    special = (data == COMMA) | (data == QUOTE) | (data == CR)
    special[:-1] |= (data[:-1] == 0) & (data[1:] == MARK_NEWLINE[1])
    hits = np.flatnonzero(special)
    first = np.searchsorted(hits, starts)  # the first special byte at or after each field's start
    wrap = ends == starts
    if len(hits):
        wrap |= (first < len(hits)) & (np.take(hits, first, mode="clip") < ends)
    if single:
        two = (ends - starts == 2) & (starts + 1 < len(data))
        wrap |= two & (data[np.minimum(starts, len(data) - 1)] == BACKSLASH) & (
            data[np.minimum(starts + 1, len(data) - 1)] == DOT)
    at = np.sort(np.concatenate((starts[wrap], ends[wrap])), kind="stable")
    out = np.insert(data, at, QUOTE)
    out[out == TAB] = COMMA
    return out.tobytes()


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
