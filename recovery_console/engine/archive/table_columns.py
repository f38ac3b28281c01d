"""A table's columns as pg_dump's TOC states them: names from the COPY statement, types from CREATE TABLE.

pg_dump writes `COPY schema.name (col, "Col 2") FROM stdin;` for each table's data, and its CREATE
TABLE with one column per line (`    name type [COLLATE …] [DEFAULT …] [NOT NULL]`), so both are read
without a SQL parser; a line that is not a column (a constraint) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COPY_COLUMNS = re.compile(r"\((.*)\)\s+FROM\s+stdin;\s*$", re.DOTALL)
_TYPE_END = re.compile(r"\s+(?:COLLATE|DEFAULT|NOT\s+NULL|NULL|GENERATED|CONSTRAINT|CHECK|REFERENCES|UNIQUE|"
                       r"PRIMARY\s+KEY)\b")
_NOT_COLUMNS = ("CONSTRAINT ", "CHECK ", "CHECK(", "UNIQUE ", "PRIMARY KEY", "FOREIGN KEY", "EXCLUDE ", "LIKE ")
_ENCODINGS = {"UTF8": "utf-8", "SQL_ASCII": "latin-1", "LATIN1": "latin-1", "LATIN9": "iso8859-15",
              "WIN1252": "cp1252", "WIN1251": "cp1251", "KOI8R": "koi8-r", "EUC_JP": "euc-jp", "EUC_KR": "euc-kr",
              "EUC_CN": "gb2312", "LATIN2": "iso8859-2", "WIN1250": "cp1250", "ISO_8859_5": "iso8859-5"}


@dataclass(frozen=True)
class Column:
    """A column: its name (unquoted) and its SQL type as pg_dump wrote it ("" when unknown)."""

    name: str
    type: str = ""


def identifier(text: str) -> tuple[str, str]:
    """The SQL identifier at the start of `text` (unquoted, `""` undoubled) and the text after it."""
    if text.startswith('"'):
        end = 1
        while True:
            end = text.find('"', end)
            if end < 0:
                return text[1:].replace('""', '"'), ""
            if text[end + 1:end + 2] == '"':
                end += 2
                continue
            return text[1:end].replace('""', '"'), text[end + 1:]
    match = re.match(r"[^\s,()]*", text)
    assert match is not None
    return match.group(0), text[match.end():]


def copy_columns(copy_stmt: str) -> list[str] | None:
    """The column names of a `COPY … (cols) FROM stdin;` statement; None if it is not one."""
    match = _COPY_COLUMNS.search(copy_stmt)
    if match is None:
        return [] if re.search(r"\s+FROM\s+stdin;\s*$", copy_stmt) else None
    names: list[str] = []
    rest = match.group(1).strip()
    while rest:
        name, rest = identifier(rest)
        names.append(name)
        rest = rest.lstrip().removeprefix(",").lstrip()
    return names


def create_table_columns(defn: str) -> list[Column]:
    """The columns of pg_dump's CREATE TABLE, with their types; [] if the definition has none of that shape."""
    start = defn.find("(\n")
    if start < 0:
        return []
    columns = []
    for line in defn[start + 2:].split("\n"):
        if not line.startswith("    "):
            break
        text = line.strip().removesuffix(",")
        if not text or text.upper().startswith(_NOT_COLUMNS):
            continue
        name, rest = identifier(text)
        rest = rest.strip()
        end = _TYPE_END.search(" " + rest)
        columns.append(Column(name, (rest if end is None else rest[:end.start()]).strip()))
    return columns


def archive_encoding(encoding_defn: str) -> tuple[str, str]:
    """The server encoding named by the TOC's ENCODING entry and the Python codec for it (UTF-8 by default)."""
    match = re.search(r"client_encoding\s*=\s*'([^']*)'", encoding_defn)
    name = match.group(1) if match else "UTF8"
    return name, _ENCODINGS.get(name.upper(), "utf-8")
