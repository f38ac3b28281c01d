"""COPY text rows turned into CSV (RFC 4180, read back by `COPY … FROM … CSV HEADER`), JSON lines, or kept as COPY.

CSV: comma-separated, every data value quoted (quotes inside doubled), NULL an empty unquoted field,
rows ending in LF, so an empty string (`""`) and NULL stay apart and `COPY … CSV` loads the same rows
back; the header row is quoted as the server quotes it. Quoting every value lets a whole chunk of rows
be converted by a few C-speed bytes passes instead of field by field. Text stays in the archive's
encoding, byte for byte. JSON lines map column names to text values (NULL → null).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Protocol

from recovery_console.engine.archive.copy_text import END_OF_DATA, decode_escape, split_row
from recovery_console.errors import UsageError

FORMATS = ("csv", "jsonl", "copy")
SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "copy": ".copy"}
_CSV_SPECIAL = re.compile(rb'[,"\r\n]')
# In COPY text turned into quoted CSV by bytes.replace (quotes doubled, tab → `","`, newline → `"\n"`), a NULL
# is `"\N"` between delimiters (a data quote is always doubled, so it cannot pose as the quote of a delimiter),
# and every other backslash starts an escape. A backslash before a doubled quote escapes that quote; before a
# lone quote (the field's closing one) it ends its field and, as for the server, stands for nothing.
_NULL_QUOTED = re.compile(rb'"\\N"(?<![^,\n]"\\N")(?=[,\n])')
_QUOTED_ESCAPE = re.compile(rb'\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|("")|(?=")|(.))', re.DOTALL)


Piece = bytes | memoryview


class RowFormat(Protocol):
    """Turns a table's chunks of whole COPY rows into output bytes."""

    def header(self) -> bytes: ...

    def rows(self, chunk: bytes) -> bytes: ...

    def pieces(self, chunk: bytes) -> tuple[int, tuple[Piece, ...]]:
        """The chunk's row count and the output of `rows` in pieces, written one after the other (saves a join)."""


def csv_field(value: bytes | None, single: bool) -> bytes:
    """One value as PostgreSQL's CSV writes it, quoted only where needed (`single`: the table has one column)."""
    if value is None:
        return b""
    if value == b"" or (single and value == END_OF_DATA) or _CSV_SPECIAL.search(value):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


class CsvFormat:
    """CSV with a header row and every value quoted, made a whole chunk of rows at a time."""

    def __init__(self, columns: Sequence[str], codec: str) -> None:
        self._single = len(columns) == 1
        self._columns = columns
        self._codec = codec

    def header(self) -> bytes:
        names = [name.encode(self._codec, "backslashreplace") for name in self._columns]
        return b",".join(csv_field(name, self._single) for name in names) + b"\n"

    def rows(self, chunk: bytes) -> bytes:
        return b"".join(self.pieces(chunk)[1])

    def pieces(self, chunk: bytes) -> tuple[int, tuple[Piece, ...]]:
        if not self._columns or not chunk:
            return chunk.count(b"\n"), (chunk,)  # a table without columns: one empty line per row
        fields = chunk.replace(b'"', b'""').replace(b"\t", b'","')
        text = fields.replace(b"\n", b'"\n"')
        rows = (len(text) - len(fields)) // 2  # each newline grew by two quotes: the rows, counted for free
        if b"\\" not in chunk:  # no NULL, no escape: the rows need only their first opening quote
            return rows, (b'"', memoryview(text)[:-1])
        text = _NULL_QUOTED.sub(b"", b'"' + text)
        if b"\\" in text:
            text = _QUOTED_ESCAPE.sub(_decoded_escape, text)
        return rows, (memoryview(text)[:-1],)


def _decoded_escape(match: re.Match[bytes]) -> bytes:
    """One COPY escape inside a quoted CSV field, decoded, a quote it gives doubled."""
    octal, hexa, quote, char = match.groups()
    if quote is not None:
        return quote
    value = decode_escape(octal, hexa, char)
    return b'""' if value == b'"' else value


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

    def pieces(self, chunk: bytes) -> tuple[int, tuple[Piece, ...]]:
        return chunk.count(b"\n"), (self.rows(chunk),)


class CopyFormat:
    """The COPY text itself, as pg_restore would send it to the server."""

    def header(self) -> bytes:
        return b""

    def rows(self, chunk: bytes) -> bytes:
        return chunk

    def pieces(self, chunk: bytes) -> tuple[int, tuple[Piece, ...]]:
        return chunk.count(b"\n"), (chunk,)


def row_format(name: str, columns: Sequence[str], codec: str) -> RowFormat:
    if name == "csv":
        return CsvFormat(columns, codec)
    if name == "jsonl":
        return JsonLinesFormat(columns, codec)
    if name == "copy":
        return CopyFormat()
    raise UsageError(f"Unknown export format {name!r}; choose one of {', '.join(FORMATS)}.")
