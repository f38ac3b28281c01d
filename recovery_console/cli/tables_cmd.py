"""`recovery-console tables`: every table of a backup or archive with its columns, rows and size (offline)."""

from __future__ import annotations

import argparse

from recovery_console.cli.common import add_json, add_secret_options, console, emit, job, secret_from
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import ExitCode
from recovery_console.formatting import counted, format_bytes


def add_source(parser: argparse.ArgumentParser) -> None:
    """The SRC argument and its options, shared by tables, export and search."""
    parser.add_argument("source", metavar="SRC", help="a backup id, a backup .enc file, or a pg_dump -Fc archive")
    parser.add_argument("--target", help="look the id up on this target only")
    add_secret_options(parser)
    add_json(parser)


def register(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.set_defaults(func=cmd_tables)


def cmd_tables(args: argparse.Namespace) -> int:
    app = console()
    bench = Workbench(app)
    ref = bench.locate(args.source, args.target)
    with job(args) as reporter:
        report = bench.tables(ref, lambda: secret_from(args), reporter)
    data = {"source": report.location, "compression": report.compression,
            "metadata": report.metadata.as_dict() if report.metadata else None,
            "tables": [stats.as_dict() for stats in report.tables], "large_objects": report.large_objects}
    lines = [f"{counted(len(report.tables), 'table')} in {report.location} (data compressed: {report.compression})"]
    if report.large_objects != 0:
        held = "some" if report.large_objects is None else f"{report.large_objects:,}"
        lines.append(f"Large objects: {held} (export --blobs DIR writes them out)")
    for stats in report.tables:
        held = (f"{stats.rows:,} rows, {format_bytes(stats.text_bytes)}" if stats.has_data
                else "no data in this archive")
        lines.append(f"{stats.table.qualified}  ({held})")
        lines += [f"    {c.name}  {c.type}".rstrip() for c in stats.table.columns]
    emit(args, data, lines)
    return ExitCode.OK
