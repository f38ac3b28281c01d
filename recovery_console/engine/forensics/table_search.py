"""Finding a string or pattern in every table's values, without decoding the rows that cannot hold it.

A literal pattern is first looked for in the raw COPY text of each chunk of rows, escaped the way
pg_dump escapes values (a value holds the pattern exactly when its escaped form holds the escaped
pattern), so only the rows around a raw hit are decoded and checked column by column. A regular
expression, or a case-insensitive search for non-ASCII text, has no such shortcut: every row is decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from recovery_console.engine.archive.copy_text import encode_value, split_row
from recovery_console.engine.archive.table_data import ArchiveTable
from recovery_console.errors import UsageError

EXCERPT = 400
CONTEXT = 150


@dataclass(frozen=True)
class SearchHit:
    """A value holding the pattern: table, 1-based row, column, and the match within `excerpt`.

    `excerpt` is the whole value when it is short, else the part around the match starting at
    `excerpt_offset` characters into the value (of `value_length` characters).
    """

    table: str
    row: int
    column: str
    excerpt: str
    start: int
    end: int
    excerpt_offset: int
    value_length: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Matcher:
    """The pattern as a regular expression over decoded values, and (when it can be) a prefilter over raw COPY text."""

    def __init__(self, pattern: str, *, regex: bool = False, ignore_case: bool = False, codec: str = "utf-8") -> None:
        if not pattern:
            raise UsageError("The search pattern is empty.", hint="Give the text or regular expression to look for.",
                             cli_hint="Give the text (or --regex pattern) to look for.")
        ascii_fold = ignore_case and not regex and pattern.isascii()
        flags = (re.IGNORECASE if ignore_case else 0) | (re.ASCII if ascii_fold else 0)
        try:
            self.regex = re.compile(pattern if regex else re.escape(pattern), flags)
        except re.error as exc:
            raise UsageError(f"The regular expression does not compile: {exc}.",
                             hint="Check its syntax (Python's re module), or search for plain text instead.",
                             cli_hint="Check its syntax (Python's re module), or search for plain text without "
                                      "--regex.") from None
        self.prefilter: bytes | None = None  # the escaped pattern (lower case when case is ignored)
        self.fold = False
        if not regex and (ascii_fold or not ignore_case):
            try:
                raw = encode_value(pattern).encode(codec)
            except UnicodeEncodeError:
                raw = b"\x00\n"  # a value in this encoding cannot hold it; nothing matches raw rows
            self.prefilter = raw.lower() if ignore_case else raw
            self.fold = ignore_case

    def haystack(self, chunk: bytes) -> bytes:
        """The raw COPY text to look for the prefilter in: lowered when case is ignored (ASCII only, so every
        byte keeps its place; a pass of bytes.lower and find is ~6x faster than a case-blind regex search)."""
        return chunk.lower() if self.fold else chunk


def _hit(table: str, row: int, column: str, value: str, match: re.Match[str]) -> SearchHit:
    start, end = match.span()
    if len(value) <= EXCERPT:
        return SearchHit(table, row, column, value, start, end, 0, len(value))
    first = max(0, start - CONTEXT)
    last = min(len(value), max(end, start + 1) + CONTEXT)
    return SearchHit(table, row, column, value[first:last], start - first, end - first, first, len(value))


def _row_hits(table: ArchiveTable, line: bytes, row: int, matcher: Matcher, codec: str) -> Iterator[SearchHit]:
    names = [column.name for column in table.columns]
    for index, raw in enumerate(split_row(line)):
        if raw is None:
            continue
        value = raw.decode(codec, "backslashreplace")
        match = matcher.regex.search(value)
        if match is not None:
            column = names[index] if index < len(names) else f"column {index + 1}"
            yield _hit(table.qualified, row, column, value, match)


def chunk_hits(table: ArchiveTable, chunk: bytes, first_row: int, matcher: Matcher,
               codec: str) -> Iterator[SearchHit]:
    """Hits in a chunk of whole COPY rows whose first row is number `first_row`."""
    if matcher.prefilter is None:
        for offset, line in enumerate(chunk.split(b"\n")[:-1]):
            yield from _row_hits(table, line, first_row + offset, matcher, codec)
        return
    row, counted, pos = first_row, 0, 0
    haystack = matcher.haystack(chunk)
    while (found := haystack.find(matcher.prefilter, pos)) >= 0:
        start = chunk.rfind(b"\n", 0, found) + 1
        end = chunk.find(b"\n", found)
        end = len(chunk) if end < 0 else end
        row += chunk.count(b"\n", counted, start)
        counted = start
        yield from _row_hits(table, chunk[start:end], row, matcher, codec)
        pos = end + 1
