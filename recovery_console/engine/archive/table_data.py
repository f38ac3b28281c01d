"""The tables an archive holds, as its TOC describes them, and the COPY text of one table's data block.

A table is a TABLE entry (its CREATE TABLE) and/or a TABLE DATA entry (its COPY statement and, in
the data blocks, its rows); a data-only dump has the latter alone, a schema-only dump the former.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from recovery_console.engine.archive.cursor import OFFSET_NO_DATA
from recovery_console.engine.archive.data_blocks import decompressed
from recovery_console.engine.archive.lz4_stream import unlz4
from recovery_console.engine.archive.pgarchive import Archive, TocEntry
from recovery_console.engine.archive.table_columns import Column, archive_encoding, copy_columns, create_table_columns
from recovery_console.errors import NotFoundError


@dataclass(frozen=True)
class ArchiveTable:
    """One table of an archive: its name, columns, and the TOC entry of its data (None in a schema-only dump)."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    data_id: int | None
    data_promised: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def archive_tables(archive: Archive) -> list[ArchiveTable]:
    """Every table the archive names, in TOC order, with the columns its COPY statement (or CREATE TABLE) gives."""
    defined: dict[tuple[str, str], TocEntry] = {}
    data: dict[tuple[str, str], TocEntry] = {}
    for entry in archive.toc:
        if entry.desc == "TABLE":
            defined.setdefault((entry.namespace, entry.tag), entry)
        elif entry.desc == "TABLE DATA":
            data.setdefault((entry.namespace, entry.tag), entry)
    tables = []
    for key in dict.fromkeys([*defined, *data]):
        table_entry, data_entry = defined.get(key), data.get(key)
        typed = create_table_columns(table_entry.defn) if table_entry else []
        types = {column.name: column.type for column in typed}
        names = copy_columns(data_entry.copy_stmt) if data_entry else None
        columns = typed if names is None else [Column(name, types.get(name, "")) for name in names]
        promised = data_entry is not None and data_entry.had_dumper and data_entry.data_state != OFFSET_NO_DATA
        tables.append(ArchiveTable(schema=key[0], name=key[1], columns=tuple(columns),
                                   data_id=data_entry.dump_id if data_entry else None, data_promised=promised))
    return tables


def find_table(tables: list[ArchiveTable], spec: str) -> ArchiveTable:
    """The table named `spec` (SCHEMA.NAME, or NAME when only one schema has it); NotFoundError lists close names."""
    exact = [t for t in tables if t.qualified == spec]
    if not exact:
        exact = [t for t in tables if t.name == spec]
    if len(exact) == 1:
        return exact[0]
    names = [t.qualified for t in tables]
    if len(exact) > 1:
        raise NotFoundError(f"Several schemas have a table named {spec}: {', '.join(t.qualified for t in exact)}.",
                            hint="Name it as SCHEMA.NAME.")
    close = difflib.get_close_matches(spec, names, n=5, cutoff=0.5)
    close += [n for n in names if spec.lower() in n.lower() and n not in close][:5 - len(close)]
    raise NotFoundError(
        f"The archive has no table {spec}." + (f" Did you mean: {', '.join(close)}?" if close else ""),
        hint="List the archive's tables with the tables command." if names else "This archive holds no tables.",
    )


def encoding_of(archive: Archive) -> tuple[str, str]:
    """The dumped database's encoding and the Python codec for its text (see table_columns.archive_encoding)."""
    for entry in archive.toc:
        if entry.desc == "ENCODING":
            return archive_encoding(entry.defn)
    return archive_encoding("")


def block_text(pieces: Iterator[bytes], compression: str, what: str) -> Iterator[bytes]:
    """A data block's payload decompressed as pg_dump compressed it (none, gzip, lz4 or zstd)."""
    if compression == "lz4":
        return unlz4(pieces, what)
    return decompressed(pieces, compression, what)
