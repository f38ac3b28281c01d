"""`recovery-console diff`: what changed between two backups or archives: schema, and rows per table (offline)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recovery_console.cli.common import add_json, add_secret_options, console, emit, job, secret_from
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import ExitCode, UsageError
from recovery_console.formatting import counted

if TYPE_CHECKING:  # the diff imports numpy, which Workbench.diff prepares first (before_numpy)
    from recovery_console.engine.forensics.diff import DiffReport, TableDiff

FORMATS = ("summary", "csv", "jsonl")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="the older backup: a backup id, a backup .enc file, or a pg_dump -Fc "
                                               "archive")
    parser.add_argument("b", metavar="B", help="the newer one, named the same ways")
    parser.add_argument("--target", help="look the ids up on this target only")
    parser.add_argument("--table", metavar="SCHEMA.NAME", help="compare this table only")
    parser.add_argument("--format", choices=FORMATS, default="summary",
                        help="summary (counts per table), or the differing rows as jsonl (any tables) or csv "
                             "(with --table)")
    parser.add_argument("-o", "--output", type=Path, help="with csv or jsonl: the file for the rows "
                                                           "(default: standard output)")
    parser.add_argument("--force", action="store_true", help="replace an existing regular output file")
    add_secret_options(parser)
    add_json(parser)
    parser.set_defaults(func=cmd_diff)


def _table_line(table: TableDiff) -> str:
    if not table.in_b:
        return f"{table.table}: only in A ({counted(table.rows_a, 'row')})"
    if not table.in_a:
        return f"{table.table}: only in B ({counted(table.rows_b, 'row')})"
    how = f"key {', '.join(table.key)}" if table.key else "no primary key: compared as a multiset of rows"
    parts = [f"{table.only_a:,} only in A", f"{table.only_b:,} only in B", f"{table.changed:,} changed"]
    line = f"{table.table} ({how}): {', '.join(parts)} ({table.rows_a:,} → {table.rows_b:,} rows)"
    if table.columns_only_a or table.columns_only_b or table.retyped:
        said = []
        if table.columns_only_a:
            said.append(f"columns only in A: {', '.join(table.columns_only_a)}")
        if table.columns_only_b:
            said.append(f"columns only in B: {', '.join(table.columns_only_b)}")
        said += [f"column {name} is {type_a} in A, {type_b} in B" for name, type_a, type_b in table.retyped]
        line += f"; the columns differ: {'; '.join(said)}"
        if table.columns_only_a or table.columns_only_b:
            line += " (rows compared on the columns both have)"
    return line


def summary_lines(report: DiffReport) -> list[str]:
    lines = [f"A: {report.a}", f"B: {report.b}",
             f"Schema: {counted(len(report.schema), 'difference')}" + (":" if report.schema else ".")]
    for change in report.schema:
        name = f"{change.schema}.{change.name}" if change.schema else change.name
        lines.append(f"  {change.change:<8} {change.kind} {name}")
    differing = [table for table in report.tables if table.differs]
    lines.append(f"Tables that differ: {len(differing)} of {len(report.tables)}"
                 + (":" if differing else "."))
    lines += [f"  {_table_line(table)}" for table in differing]
    return lines


def cmd_diff(args: argparse.Namespace) -> int:
    app = console()
    bench = Workbench(app)
    a, b = bench.locate(args.a, args.target), bench.locate(args.b, args.target)
    secret = functools.cache(lambda: secret_from(args))  # asked once, however many times the sources are read
    if args.format == "summary":
        if args.output is not None:
            raise UsageError("-o is for the rows: give --format csv or jsonl with it.")
        with job(args) as reporter:
            report = bench.diff(a, b, secret, table=args.table, reporter=reporter)
        emit(args, report.as_dict(), summary_lines(report))
        return ExitCode.OK
    if args.output is None and args.json:
        raise UsageError("--json describes the comparison; with csv or jsonl rows give -o FILE for the rows.")
    if args.output is None and sys.stdout.isatty():
        raise UsageError("The rows hold the tables' raw data; on a terminal, control characters in it would act on "
                         "the terminal itself.", hint="Give -o FILE, or pipe the output (for a look: | less).")
    stream = sys.stdout.buffer if args.output is None else None
    with job(args) as reporter:
        report = bench.diff(a, b, secret, table=args.table, fmt=args.format, out=args.output, stream=stream,
                            overwrite=args.force, reporter=reporter)
    if stream is not None:
        stream.flush()
        if not args.quiet:
            emit(args, report.as_dict(), summary_lines(report), out=sys.stderr)
    else:
        emit(args, report.as_dict(), [*summary_lines(report),
                                      f"{counted(report.rows_written, 'row')} written to {args.output}."])
    return ExitCode.OK
