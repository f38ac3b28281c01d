"""The forensic workbench's front door: list, export and search the tables of a backup or archive, no server needed.

Each operation reads its source once, forward (a backup decrypted as a stream), and writes its
audit entry through `Console.audited`; every output file appears whole (temp name, rename, 0600)
and its SHA-256 is returned and recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.table_data import ArchiveTable, archive_tables, encoding_of, find_table
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.forensics import table_walk
from recovery_console.engine.forensics.large_objects import (
    ExportedObject,
    has_large_objects,
    toc_large_objects,
    write_large_objects,
)
from recovery_console.engine.forensics.row_formats import SUFFIXES, row_format
from recovery_console.engine.forensics.source import OpenedSource, open_source, refuse_directory_dump
from recovery_console.engine.forensics.table_search import Matcher, SearchHit, chunk_hits
from recovery_console.engine.forensics.table_walk import TableRows, table_blocks
from recovery_console.engine.io_protocols import WritableStream
from recovery_console.engine.output_checks import check_output, is_folder
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.errors import IntegrityError, NotFoundError, UsageError, from_os_error
from recovery_console.models.backup import BackupMetadata

if TYPE_CHECKING:  # loaded by the operations that use them: export and search start sooner without
    from recovery_console.engine.forensics.diff import DiffReport
    from recovery_console.engine.forensics.row_pages import RowPages
    from recovery_console.engine.forensics.sandbox import Sandbox

Secret = Callable[[], str]


@dataclass
class TableStats:
    """A table and what this archive holds of it."""

    table: ArchiveTable
    has_data: bool = False
    rows: int = 0
    text_bytes: int = 0
    stored_bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"schema": self.table.schema, "name": self.table.name, "has_data": self.has_data,
                "rows": self.rows if self.has_data else None, "data_bytes": self.text_bytes,
                "stored_bytes": self.stored_bytes,
                "columns": [{"name": c.name, "type": c.type} for c in self.table.columns]}


@dataclass(frozen=True)
class TablesReport:
    location: str
    metadata: BackupMetadata | None
    compression: str
    tables: list[TableStats]
    large_objects: int | None = 0
    """How many large objects the archive holds data of, as its TOC counts them; None when it holds large-object
    data without the BLOB or BLOB METADATA entries that count it."""


@dataclass(frozen=True)
class ExportedTable:
    """One export output: a file (None for a stream), its table, rows, size and SHA-256."""

    table: str
    path: Path | None
    rows: int
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table, "path": str(self.path) if self.path else None, "rows": self.rows,
                "size": self.size, "sha256": self.sha256}


@dataclass
class SearchSummary:
    hits: int = 0
    tables_with_hits: set[str] = field(default_factory=set)
    tables_searched: int = 0


class _Hashing:
    """Writes through to a sink, hashing and counting."""

    def __init__(self, sink: WritableStream) -> None:
        self._sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if data:
            self.sha.update(data)
            self.size += len(data)
            self._sink.write(data)


def _write_rows(rows: TableRows, fmt: str, codec: str, sink: WritableStream, limit: int | None) -> tuple[int, str, int]:
    """Write one table's rows in `fmt` to `sink`: the rows written, SHA-256 and byte count."""
    out = _Hashing(sink)
    formatter = row_format(fmt, [column.name for column in rows.table.columns], codec)
    out.write(formatter.header())
    count = 0
    for chunk in rows.chunks:
        if limit is not None and count + chunk.count(b"\n") >= limit:
            chunk = _first_lines(chunk, limit - count)
        lines, pieces = formatter.pieces(chunk)
        for piece in pieces:
            out.write(piece)
        count += lines
        if count == limit:
            break
    return count, out.sha.hexdigest(), out.size


def _first_lines(chunk: bytes, n: int) -> bytes:
    end = 0
    for _ in range(n):
        end = chunk.index(b"\n", end) + 1
    return chunk[:end]


def _data_of(table: ArchiveTable) -> int:
    """The dump id of the table's data; NotFoundError when the archive holds none."""
    if table.data_id is None or not table.data_promised:
        raise NotFoundError(f"The archive holds no data for table {table.qualified} (a schema-only dump, or a "
                            "table without rows of its own, such as a partitioned parent).")
    return table.data_id


def _located(exc: IntegrityError, source: OpenedSource, table: ArchiveTable) -> IntegrityError:
    """The error with where the damaged table's data block starts in the archive, when the TOC records it."""
    entry = next((e for e in source.archive.toc if e.dump_id == table.data_id), None)
    if entry is None or not entry.data_offset or " byte " in exc.message:
        return exc
    return IntegrityError(f"{exc.message} (The data block of {table.qualified} starts at byte {entry.data_offset:,} "
                          "of the archive.)", hint=exc.hint, detail=exc.detail)


def _large_object_count(archive: Archive) -> int | None:
    """TablesReport.large_objects: from the TOC alone, no data read."""
    if not has_large_objects(archive):
        return 0
    return len(toc_large_objects(archive)) or None


def _file_name(table: ArchiveTable, fmt: str) -> str:
    """A safe file name for a table's export: SCHEMA.NAME with unusual characters replaced."""
    safe = re.sub(r"[^\w.@+-]", "_", table.qualified).lstrip(".") or "table"
    return safe[:200] + SUFFIXES[fmt]


class Workbench:
    """Offline reading of backups and archives through one console (its catalog, secrets, audit log)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def sandbox(self) -> Sandbox:
        """Full SQL on a throwaway server (engine/forensics/sandbox.py), through this workbench's console."""
        from recovery_console.engine.forensics.sandbox import Sandbox

        return Sandbox(self.console)

    def locate(self, spec: str, target: str | None = None) -> BackupRef:
        """What SRC names: a file, TARGET:KEY or a backup id (Console.locate); a directory dump is refused."""
        refuse_directory_dump(spec)
        return self.console.locate(spec, target)

    def tables(self, ref: BackupRef, secret: Secret, reporter: Reporter | None = None) -> TablesReport:
        """Every table with its columns, rows and sizes; the whole archive is read (and a backup proven whole)."""
        reporter = reporter or Reporter()
        with self.console.audited("forensics.tables", ref.location) as detail, \
                open_source(ref, secret, reporter) as source:
            stats = [TableStats(t) for t in archive_tables(source.archive)]
            by_data: dict[int | None, TableStats] = {s.table.data_id: s for s in stats if s.table.data_id is not None}
            for rows in table_blocks(source):
                entry = by_data[rows.table.data_id]
                entry.has_data = True
                entry.rows = sum(chunk.count(b"\n") for chunk in rows.chunks)
                entry.text_bytes, entry.stored_bytes = rows.sizes.text, rows.sizes.stored
            reporter.finish()
            detail.update(tables=len(stats))
            return TablesReport(ref.location, source.metadata, source.archive.header.compression,
                                stats, _large_object_count(source.archive))

    def export(self, ref: BackupRef, secret: Secret, table: str, fmt: str = "csv", *, out: Path | None = None,
               stream: BinaryIO | None = None, limit: int | None = None, overwrite: bool = False,
               reporter: Reporter | None = None) -> ExportedTable:
        """One table's rows to `out` (whole or not at all) or to `stream`; stops reading after its data block."""
        row_format(fmt, [], "utf-8")
        if (out is None) == (stream is None):
            raise UsageError("Give either an output file or a stream to export to.")
        if limit is not None and limit < 0:
            raise UsageError("The row limit must be 0 or more.")
        reporter = reporter or Reporter()
        with self.console.audited("forensics.export", ref.location,
                                  {"table": table, "format": fmt, "output": str(out) if out else "stdout"}) as detail:
            if out is not None:
                check_output(out, [ref.local_file()])
            with open_source(ref, secret, reporter) as source:
                chosen = find_table(archive_tables(source.archive), table)
                _data_of(chosen)
                codec = encoding_of(source.archive)[1]
                result = self._export_one(source, chosen, fmt, codec, out, stream, limit, overwrite)
            detail.update(result.as_dict())
            return result

    def _export_one(self, source: OpenedSource, table: ArchiveTable, fmt: str, codec: str, out: Path | None,
                    stream: BinaryIO | None, limit: int | None, overwrite: bool) -> ExportedTable:
        assert table.data_id is not None
        for rows in table_blocks(source, {table.data_id}, table_walk.CACHED_RUN):
            if stream is not None:
                count, sha, size = _write_rows(rows, fmt, codec, stream, limit)
                return ExportedTable(table.qualified, None, count, size, sha)
            assert out is not None
            try:
                with atomic_output(out, overwrite, claims=self.console.runtime, large=True) as sink:
                    count, sha, size = _write_rows(rows, fmt, codec, sink, limit)
            except OSError as exc:
                raise from_os_error("writing", str(out), exc) from exc
            return ExportedTable(table.qualified, out, count, size, sha)
        raise NotFoundError(f"The archive ends before the data of table {table.qualified}.",
                            hint="The file was cut short (an interrupted copy, or a full disk while dumping).")

    def export_all(self, ref: BackupRef, secret: Secret, out_dir: Path, fmt: str = "csv", *,
                   overwrite: bool = False, reporter: Reporter | None = None,
                   on_file: Callable[[ExportedTable], None] | None = None,
                   on_damage: Callable[[str, IntegrityError], None] | None = None) -> list[ExportedTable]:
        """Every table with data, one file each in `out_dir` (SCHEMA.NAME.csv…), in one pass over the archive.

        A table whose data is damaged stops the export, unless `on_damage` is given: then that table is
        reported to it, nothing is written for it, and the tables after it are still exported."""
        row_format(fmt, [], "utf-8")
        reporter = reporter or Reporter()
        if not is_folder(out_dir):
            raise UsageError(f"{out_dir} is not a folder.", hint="Create it first, or name an existing folder.")
        done: list[ExportedTable] = []
        damaged: list[dict[str, str]] = []
        with self.console.audited("forensics.export", ref.location,
                                  {"table": "*", "format": fmt, "output": str(out_dir)}) as detail:
            try:
                with open_source(ref, secret, reporter) as source:
                    codec = encoding_of(source.archive)[1]
                    names: set[str] = set()
                    for rows in table_blocks(source, run=table_walk.CACHED_RUN):
                        name = _file_name(rows.table, fmt)
                        if name in names:  # "a.b" in schema "x" and "b" in schema "x.a"
                            name = f"{name.removesuffix(SUFFIXES[fmt])}-{rows.table.data_id}{SUFFIXES[fmt]}"
                        names.add(name)
                        path = out_dir / name
                        check_output(path, [ref.local_file()])
                        try:
                            with atomic_output(path, overwrite, claims=self.console.runtime, large=True) as sink:
                                count, sha, size = _write_rows(rows, fmt, codec, sink, None)
                        except OSError as exc:
                            raise from_os_error("writing", str(path), exc) from exc
                        except IntegrityError as exc:
                            located = _located(exc, source, rows.table)
                            if on_damage is None:
                                raise located from exc
                            damaged.append({"table": rows.table.qualified, "error": located.message})
                            on_damage(rows.table.qualified, located)
                            continue  # a broken framing fails again at the next block, and stops the export
                        done.append(ExportedTable(rows.table.qualified, path, count, size, sha))
                        if on_file is not None:
                            on_file(done[-1])
            finally:
                detail.update(files=[item.as_dict() for item in done], damaged=damaged, ok=not damaged)
            return done

    def export_large_objects(self, ref: BackupRef, secret: Secret, out_dir: Path, *,
                             reporter: Reporter | None = None,
                             on_file: Callable[[ExportedObject], None] | None = None) -> list[ExportedObject]:
        """Every large object of the archive to out_dir/<oid> (engine/forensics/large_objects.py), audited with
        each file's SHA-256; stops at the first damage, the files written before it whole and listed."""
        reporter = reporter or Reporter()
        done: list[ExportedObject] = []

        def written(item: ExportedObject) -> None:
            done.append(item)
            if on_file is not None:
                on_file(item)

        with self.console.audited("forensics.export", ref.location,
                                  {"large_objects": True, "output": str(out_dir)}) as detail:
            try:
                with open_source(ref, secret, reporter) as source:
                    write_large_objects(source, out_dir, self.console.runtime, reporter, written)
                reporter.finish()
            finally:  # each file is out_dir/<oid>: the folder is recorded once, not per file
                detail.update(objects=len(done),
                              files=[{"oid": i.oid, "size": i.size, "sha256": i.sha256} for i in done])
            return done

    def search(self, ref: BackupRef, secret: Secret, pattern: str, *, regex: bool = False, ignore_case: bool = False,
               table: str | None = None, on_hit: Callable[[SearchHit], None],
               reporter: Reporter | None = None) -> SearchSummary:
        """Report every value holding `pattern` to `on_hit`, table by table as the data arrives."""
        reporter = reporter or Reporter()
        summary = SearchSummary()
        with self.console.audited("forensics.search", ref.location,
                                  {"pattern": pattern, "regex": regex, "ignore_case": ignore_case,
                                   "table": table or "*"}) as detail, open_source(ref, secret, reporter) as source:
            codec = encoding_of(source.archive)[1]
            matcher = Matcher(pattern, regex=regex, ignore_case=ignore_case, codec=codec)
            wanted = None
            if table is not None:
                wanted = {_data_of(find_table(archive_tables(source.archive), table))}
            for rows in table_blocks(source, wanted, table_walk.CACHED_RUN):
                summary.tables_searched += 1
                row = 1
                for chunk in rows.chunks:
                    for hit in chunk_hits(rows.table, chunk, row, matcher, codec):
                        summary.hits += 1
                        summary.tables_with_hits.add(hit.table)
                        on_hit(hit)
                    row += chunk.count(b"\n")
            detail.update(hits=summary.hits, tables_with_hits=sorted(summary.tables_with_hits))
            return summary

    def browse(self, ref: BackupRef, secret: Secret, table: str, *, on_rows: Callable[[RowPages], None],
               reporter: Reporter | None = None) -> RowPages:
        """Read one table's rows into compressed pages for a viewer, telling `on_rows` as each page is readable."""
        from recovery_console.engine.forensics.row_pages import RowPages

        reporter = reporter or Reporter()
        with self.console.audited("forensics.browse", ref.location, {"table": table}) as detail, \
                open_source(ref, secret, reporter) as source:
            chosen = find_table(archive_tables(source.archive), table)
            data_id = _data_of(chosen)
            pages = RowPages([column.name for column in chosen.columns], encoding_of(source.archive)[1])
            on_rows(pages)
            for rows in table_blocks(source, {data_id}):
                for chunk in rows.chunks:
                    shown = pages.count
                    if pages.add(chunk) != shown:
                        on_rows(pages)
                pages.finish()
                on_rows(pages)
                detail.update(table=chosen.qualified, rows=pages.count)
                reporter.finish()
                return pages
            raise NotFoundError(f"The archive ends before the data of table {chosen.qualified}.",
                                hint="The file was cut short (an interrupted copy, or a full disk while dumping).")
    def diff(self, a: BackupRef, b: BackupRef, secret: Secret, *, table: str | None = None, fmt: str = "summary",
             out: Path | None = None, stream: BinaryIO | None = None, overwrite: bool = False,
             reporter: Reporter | None = None, budget: int | None = None, keep_rows: int = 0) -> DiffReport:
        """Compare A with B: schema and per-table row counts; with csv/jsonl also the rows, to `out` or `stream`;
        with the summary and `keep_rows`, the first rows of each kind per table in `report.samples`."""
        from recovery_console.engine.archive.copy_chunks import before_numpy

        before_numpy()
        from recovery_console.engine.forensics import diff
        from recovery_console.engine.forensics.diff_output import DIFF_FORMATS, DiffRows, SampledRows, diff_rows

        if fmt not in DIFF_FORMATS:
            raise UsageError(f"Unknown diff format {fmt!r}; choose one of {', '.join(DIFF_FORMATS)}.")
        if fmt == "summary" and (out is not None or stream is not None):
            raise UsageError("The summary is the report itself; rows go to a file with the csv or jsonl format.")
        if fmt != "summary" and (out is None) == (stream is None):
            raise UsageError("Give either an output file or a stream for the differing rows.")
        if fmt == "csv" and table is None:
            raise UsageError("CSV holds the columns of one table: name the table to compare.",
                             hint="Or show the rows of every table as JSON lines.")
        reporter = reporter or Reporter()
        detail_in = {"a": a.location, "b": b.location, "table": table or "*", "format": fmt,
                     "output": str(out) if out else ("stdout" if stream is not None else None)}
        with self.console.audited("forensics.diff", f"{a.location} ↔ {b.location}", detail_in) as detail, \
                self.console.runtime.private_folder("diff-") as folder:
            if out is not None:
                check_output(out, [a.local_file(), b.local_file()])

            def run(rows: Callable[[str], DiffRows] | None) -> DiffReport:
                return diff.compare(lambda: open_source(a, secret, reporter), lambda: open_source(b, secret, reporter),
                                    (a.size, b.size), folder, reporter, table=table, rows=rows,
                                    budget=budget or diff.DEFAULT_BUDGET)

            def written_to(sink: _Hashing) -> Callable[[str], DiffRows]:
                return lambda codec: diff_rows(fmt, sink, codec)

            kept: list[SampledRows] = []

            def sampled(codec: str) -> SampledRows:
                kept.append(SampledRows(codec, keep_rows))
                return kept[-1]

            sha, size = None, None
            if fmt == "summary":
                report = run(sampled if keep_rows else None)
                report.samples = kept[0].tables if kept else {}
            elif stream is not None:
                hashing = _Hashing(stream)
                report = run(written_to(hashing))
                sha, size = hashing.sha.hexdigest(), hashing.size
            else:
                assert out is not None
                try:
                    with atomic_output(out, overwrite, claims=self.console.runtime, large=True) as sink:
                        hashing = _Hashing(sink)
                        report = run(written_to(hashing))
                except OSError as exc:
                    raise from_os_error("writing", str(out), exc) from exc
                sha, size = hashing.sha.hexdigest(), hashing.size
            reporter.finish()
            detail.update(schema_changes=len(report.schema), rows_written=report.rows_written, sha256=sha, size=size,
                          tables=[t.as_dict() for t in report.tables if t.differs])
            return report
