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
# Chunk-wide CSV (CsvFormat.rows) decodes the fields that have escapes in place. NUL, which no text value holds,
# marks what decoding gave that must not look like a delimiter: a tab, a newline, or NULL itself.
TAB, NEWLINE, CR, COMMA, QUOTE, BACKSLASH, DOT, LAST_CONTROL = 9, 10, 13, 44, 34, 92, 46, 13
MARK = b"\x00"
MARK_TAB, MARK_NEWLINE, MARK_NULL = MARK + b"t", MARK + b"n", MARK + b"N"
_NULL_FIELD = re.compile(rb"\\N(?<=[\t\n]\\N)(?=[\t\n])")  # the literal first: re searches for it fast
_ESCAPED_FIELD = re.compile(rb"([\t\n])([^\t\n\\]*+\\[^\t\n]*+)")
# What each delimiter becomes, by (newline, the field before it quoted, the field after it quoted): a
# placeholder byte (a control character no chunk that reaches it holds) where it grows.
_DELIMITER_BYTES = bytes([COMMA, 1, 2, 3, NEWLINE, 4, 5, 6])
_GROWN = {1: b',"', 2: b'",', 3: b'","', 5: b'\n"', 6: b'"\n', 7: b'"\n"'}


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
        if not self._columns or not chunk:
            return chunk  # a table without columns: one empty line per row
        if b"\\" not in chunk:
            return _quoted(chunk, self._single)
        if MARK in chunk:  # a NUL in the data: row by row instead
            return self._row_by_row(chunk)
        self._marked = False
        text = _NULL_FIELD.sub(MARK_NULL, b"\n" + chunk)
        if b"\\" in text:
            text = _ESCAPED_FIELD.sub(self._decoded, text)
        if self._marked:
            return self._row_by_row(chunk)
        text = _quoted(text[1:], self._single)
        return text.replace(MARK_NULL, b"").replace(MARK_TAB, b"\t").replace(MARK_NEWLINE, b"\n")

    def _row_by_row(self, chunk: bytes) -> bytes:
        return b"".join(b",".join(csv_field(value, self._single) for value in split_row(line)) + b"\n"
                        for line in chunk.split(b"\n")[:-1])

    def _decoded(self, match: re.Match[bytes]) -> bytes:
        """A field with escapes, decoded; what could pass for a delimiter or an empty field is marked (see MARK)."""
        value = decode_field(match.group(2))
        if value is None:
            return match.group(1) + MARK_NULL
        if MARK in value:
            self._marked = True
        return match.group(1) + value.replace(b"\t", MARK_TAB).replace(b"\n", MARK_NEWLINE)


def _quoted(chunk: bytes, single: bool) -> bytes:
    """Whole rows (tab-separated, newline-ended; decoded fields marked, see MARK) as CSV, for a chunk at once.

    A field is quoted when it holds a comma, quote, CR or marked newline, is empty, or is a lone \\. in a
    one-column table; quotes inside are doubled. Only the delimiters and those bytes are looked at one by one
    (numpy): each delimiter becomes a comma or newline, or a placeholder byte for the same with quotes beside
    it, which one bytes.replace per kind then widens.
    """
    before_numpy()
    import numpy as np

    text = chunk.replace(b'"', b'""') if b'"' in chunk else chunk
    buf = bytearray(text)
    data = np.frombuffer(buf, np.uint8)
    at = np.flatnonzero((data <= LAST_CONTROL) | (data == COMMA) | (data == QUOTE))
    kind = data[at]
    if np.any((kind > 0) & (kind < 7)):  # a placeholder byte in the data: quote field by field instead
        return _quoted_by_field(text, single)
    delimiter = (kind == TAB) | (kind == NEWLINE)
    special = (kind == COMMA) | (kind == QUOTE) | (kind == CR)
    special |= (kind == 0) & (data[np.minimum(at + 1, len(data) - 1)] == MARK_NEWLINE[1])
    specials = np.cumsum(special)
    index = np.flatnonzero(delimiter)
    ends = at[index]  # ends[k]: the delimiter after field k; the chunk's last byte is the last row's newline
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    before = np.zeros_like(specials, shape=len(index))
    before[1:] = specials[index[:-1]]
    wrap = (specials[index] > before) | (ends == starts)
    if single:
        two = ends - starts == 2
        wrap |= two & (data[np.minimum(starts, len(data) - 1)] == BACKSLASH) & (
            data[np.minimum(starts + 1, len(data) - 1)] == DOT)
    after = np.zeros_like(wrap)
    after[:-1] = wrap[1:]  # the field after each delimiter (none after the last newline)
    code = (kind[index] == NEWLINE) * 4 + wrap * 2 + after
    data[ends] = np.frombuffer(_DELIMITER_BYTES, np.uint8)[code]
    out = bytes(buf)
    for grown in np.flatnonzero(np.bincount(code, minlength=8)):
        if int(grown) in _GROWN:
            out = out.replace(_DELIMITER_BYTES[grown:grown + 1], _GROWN[int(grown)])
    return b'"' + out if wrap[0] else out


def _quoted_by_field(text: bytes, single: bool) -> bytes:
    """_quoted's rules one field at a time, for the rare chunk holding a byte _quoted uses as a placeholder."""
    def field(value: bytes) -> bytes:
        if value == MARK_NULL:
            return value
        quote = value == b"" or (single and value == END_OF_DATA) or _CSV_SPECIAL.search(value) or (
            MARK_NEWLINE in value)
        return b'"' + value + b'"' if quote else value
    return b"".join(b",".join(field(value) for value in line.split(b"\t")) + b"\n"
                    for line in text.split(b"\n")[:-1])


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
