"""PostgreSQL's COPY text format, decoded byte-exactly: rows of tab-separated fields with backslash escapes.

A raw tab always separates fields and a raw newline always ends a row (data tabs and newlines are
escaped). A field that is exactly `\\N` is NULL; otherwise `\\b \\f \\n \\r \\t \\v`, octal `\\NNN` (one
to three digits, the value taken modulo 256), `\\xHH` (one or two hex digits) and a backslash before
any other character (that character itself) are decoded, as the server's CopyReadAttributesText
does. Everything stays bytes in the archive's encoding: nothing is lost to a text decode.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

NULL = b"\\N"
END_OF_DATA = b"\\."
END_TAIL = 16  # the end-of-data line and the empty lines old pg_dump wrote after it
_SIMPLE = {b"b": b"\x08", b"f": b"\x0c", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\x0b"}
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.)|$)", re.DOTALL)
_ENCODE = {ord("\\"): "\\\\", ord("\b"): "\\b", ord("\f"): "\\f", ord("\n"): "\\n", ord("\r"): "\\r",
           ord("\t"): "\\t", ord("\v"): "\\v"}


def decode_escape(octal: bytes | None, hexa: bytes | None, char: bytes | None) -> bytes:
    """What one escape stands for, from its parts: octal digits, hex digits, or the character after the backslash."""
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    if char is None:
        return b""  # a backslash at the very end of a field: the server drops it too
    return _SIMPLE.get(char, char)


def _unescape(match: re.Match[bytes]) -> bytes:
    octal, hexa, char = match.groups()
    return decode_escape(octal, hexa, char)


def decode_field(raw: bytes) -> bytes | None:
    """One field as the server stores it: None for `\\N`, else the field with its escapes decoded."""
    if raw == NULL:
        return None
    if b"\\" not in raw:
        return raw
    return _ESCAPE.sub(_unescape, raw)


def split_row(line: bytes) -> list[bytes | None]:
    """The decoded fields of one row (without its newline)."""
    return [decode_field(raw) for raw in line.split(b"\t")]


def encode_value(value: str) -> str:
    """How COPY text writes `value` (pg_dump's escaping), so a search can look for it in the raw data."""
    return value.translate(_ENCODE)


def complete_lines(pieces: Iterator[bytes], run: int = 0) -> Iterator[bytes]:
    """Regroup a table's COPY data so every chunk holds whole rows, each ending in a newline.

    Pieces are gathered to at least `run` bytes before a chunk is cut at their last newline, and
    joined in one copy. A last row without its newline gets one; an end-of-data line (`\\.`, which
    old archives carry at the end of a table's data, followed by at most a few empty lines) ends the
    data. Memory is bounded by `run` plus the longest row.
    """
    held: list[bytes | memoryview] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size < run or (cut := piece.rfind(b"\n")) < 0:
            held.append(piece)
            continue
        if not held and cut == len(piece) - 1:
            chunk, rest = piece, b""
        else:
            held.append(memoryview(piece)[:cut + 1])
            chunk, rest = b"".join(held), piece[cut + 1:]
        end = _end_of_data(chunk)
        if end is not None:
            if end:
                yield chunk[:end]
            return
        yield chunk
        held, size = ([rest], len(rest)) if rest else ([], 0)
    tail = b"".join(held)
    if tail:
        lines = tail if tail.endswith(b"\n") else tail + b"\n"
        end = _end_of_data(lines)
        if end is None:
            yield lines
        elif end:
            yield lines[:end]


def _end_of_data(chunk: bytes) -> int | None:
    """Where an end-of-data line starts near the end of a chunk of whole lines, or None.

    Only the tail is looked at: a data line is never `\\.` (a value `\\.` is written `\\\\.`), and
    pg_dump wrote the line last, so a scan of every chunk would only cost time.
    """
    if chunk.startswith(END_OF_DATA + b"\n"):
        return 0
    at = chunk.find(b"\n" + END_OF_DATA + b"\n", max(0, len(chunk) - END_TAIL))
    return None if at < 0 else at + 1
