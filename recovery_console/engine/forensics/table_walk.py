"""One forward pass over an archive's data blocks, handing each table's COPY rows to the caller.

Shared by `tables`, `export` and `search`: the blocks are met in stream order, each table's
payload decompressed and regrouped into chunks of whole rows; memory stays bounded by a piece of
payload and the longest row. Asked for some tables only, the walk stops after the last of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from recovery_console.engine.archive.copy_text import complete_lines
from recovery_console.engine.archive.data_blocks import BLOCK_DATA, walk
from recovery_console.engine.archive.table_data import ArchiveTable, archive_tables, block_text
from recovery_console.engine.forensics.source import OpenedSource
from recovery_console.errors import IntegrityError
from recovery_console.formatting import counted

RUN = 1 << 20  # every later step works a whole chunk at a time: fewer, larger chunks cost less per row
# For steps that pass over a chunk several times (CSV's bytes.replace passes, search's find and count): a
# chunk that stays in a core's L2 cache made CSV ~40% cheaper than 1 MiB chunks (bench/forensics.py).
CACHED_RUN = 256 << 10


@dataclass
class Sizes:
    """What a table's data block took: stored (compressed) bytes and COPY text bytes."""

    stored: int = 0
    text: int = 0


@dataclass
class TableRows:
    """A table met in the data: its chunks of whole COPY rows (each ending in a newline), read once."""

    table: ArchiveTable
    chunks: Iterator[bytes]
    sizes: Sizes = field(default_factory=Sizes)


def _counted(pieces: Iterator[bytes], sizes: Sizes, stored: bool) -> Iterator[bytes]:
    for piece in pieces:
        if stored:
            sizes.stored += len(piece)
        else:
            sizes.text += len(piece)
        yield piece


def table_blocks(source: OpenedSource, wanted: set[int] | None = None, run: int | None = None) -> Iterator[TableRows]:
    """Each table's data as its block arrives (only the TABLE DATA dump ids in `wanted`, if given), in chunks
    of at least `run` bytes (RUN if not given) where the payload's pieces allow.

    Stops as soon as every wanted table was met, so one table of a large backup costs only the
    read up to its block; without `wanted` the archive is read to its end. An archive that ends
    before a promised block raises IntegrityError once the blocks before the cut were handed out.
    """
    archive = source.archive
    by_id = {table.data_id: table for table in archive_tables(archive) if table.data_id is not None}
    left = set(wanted) if wanted is not None else None
    compression = archive.header.compression
    seen: set[int] = set()
    for dump_id, block_type, pieces in walk(source.data, archive):
        table = by_id.get(dump_id)
        if block_type != BLOCK_DATA or table is None or (left is not None and dump_id not in left):
            continue
        seen.add(dump_id)
        sizes = Sizes()
        what = f"table {table.qualified} (TOC entry {dump_id})"
        text = _counted(block_text(_counted(pieces, sizes, True), compression, what), sizes, False)
        yield TableRows(table, complete_lines(text, RUN if run is None else run), sizes)
        if left is not None:
            left.discard(dump_id)
            if not left:
                return
    missing = [t.qualified for i, t in by_id.items() if t.data_promised and i not in seen
               and (left is None or i in left)]
    if missing:
        raise IntegrityError(
            f"The archive is truncated: it ends without the data of {counted(len(missing), 'table')} its TOC lists "
            f"({', '.join(missing[:5])}{', …' if len(missing) > 5 else ''}).",
            hint="The file was cut short (an interrupted copy, or a full disk while dumping); what was read "
                 "before the cut is still shown.",
        )

