"""`recovery-console export`: a table's rows from a backup or archive as CSV, JSON lines or COPY text (offline)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recovery_console.cli.common import console, emit, job, secret_from
from recovery_console.cli.tables_cmd import add_source
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.forensics.row_formats import FORMATS
from recovery_console.engine.forensics.workbench import ExportedTable, Workbench
from recovery_console.errors import ExitCode, IntegrityError, UsageError
from recovery_console.formatting import counted


def register(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--table", metavar="SCHEMA.NAME", help="the table to export")
    which.add_argument("--all-tables", action="store_true", help="every table with data, one file each in --out-dir")
    which.add_argument("--blobs", type=Path, metavar="DIR",
                       help="the archive's large objects instead, one file DIR/<oid> each (DIR made if absent)")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv (with a header row, as COPY … CSV HEADER writes it), jsonl, or copy (raw COPY text)")
    parser.add_argument("-o", "--output", type=Path, help="the file to write (default: standard output)")
    parser.add_argument("--out-dir", type=Path, help="with --all-tables: the folder for the files")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N rows")
    parser.add_argument("--force", action="store_true", help="replace existing regular output files")
    parser.add_argument("--keep-going", action="store_true",
                        help="with --all-tables: skip a table whose data is damaged and export the others (exit 11)")
    parser.set_defaults(func=cmd_export)


def _line(item: ExportedTable) -> str:
    where = item.path if item.path is not None else "standard output"
    return f"{item.table}: {item.rows:,} rows to {where}, SHA-256 {item.sha256}"


def cmd_export(args: argparse.Namespace) -> int:
    app = console()
    bench = Workbench(app)
    ref = bench.locate(args.source, args.target)
    if args.blobs is not None:
        return _export_blobs(args, bench, ref)
    if args.all_tables:
        if args.out_dir is None or args.output is not None or args.limit is not None:
            raise UsageError("--all-tables writes one file per table: give --out-dir DIR (and no -o or --limit).")
        damaged: list[dict[str, str]] = []

        def skipped(table: str, exc: IntegrityError) -> None:
            damaged.append({"table": table, "error": exc.message})

        with job(args) as reporter:
            items = bench.export_all(ref, lambda: secret_from(args), args.out_dir, args.format,
                                     overwrite=args.force, reporter=reporter,
                                     on_damage=skipped if args.keep_going else None)
        lines = [_line(item) for item in items] or ["No table in this archive has data."]
        lines += [f"{item['table']}: NOT exported, its data is damaged: {item['error']}" for item in damaged]
        if damaged:
            lines.append(f"{counted(len(damaged), 'table')} could not be exported; the others are whole.")
        emit(args, {"files": [item.as_dict() for item in items], "damaged": damaged}, lines)
        return ExitCode.PARTIAL if damaged else ExitCode.OK
    if args.keep_going:
        raise UsageError("--keep-going goes with --all-tables: one table either exports whole or not at all.")
    if args.out_dir is not None:
        raise UsageError("--out-dir goes with --all-tables; for one table use -o FILE.")
    if args.output is None and args.json:
        raise UsageError("--json describes a written file: give -o FILE with it.")
    if args.output is None and sys.stdout.isatty():
        raise UsageError("export writes the table's raw data; on a terminal, control characters in it would act on "
                         "the terminal itself.", hint="Give -o FILE, or pipe the output (for a look: | less).")
    stream = sys.stdout.buffer if args.output is None else None
    with job(args) as reporter:
        item = bench.export(ref, lambda: secret_from(args), args.table, args.format, out=args.output, stream=stream,
                            limit=args.limit, overwrite=args.force, reporter=reporter)
    if stream is not None:
        stream.flush()
        print(_line(item), file=sys.stderr)
    else:
        emit(args, item.as_dict(), _line(item))
    return ExitCode.OK


def _export_blobs(args: argparse.Namespace, bench: Workbench, ref: BackupRef) -> int:
    """--blobs DIR: every large object to DIR/<oid>, each file's SHA-256 printed."""
    if args.output is not None or args.out_dir is not None or args.limit is not None or args.force or args.keep_going:
        raise UsageError("--blobs DIR writes one file per large object into DIR and never replaces a file: "
                         "give it alone (no -o, --out-dir, --limit, --force or --keep-going).")
    with job(args) as reporter:
        items = bench.export_large_objects(ref, lambda: secret_from(args), args.blobs, reporter=reporter)
    lines = [f"large object {item.oid}: {item.size:,} bytes to {item.path}, SHA-256 {item.sha256}" for item in items]
    lines.append(f"{counted(len(items), 'large object')} written to {args.blobs}.")
    emit(args, {"files": [item.as_dict() for item in items]}, lines)
    return ExitCode.OK
