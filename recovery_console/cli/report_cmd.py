"""`recovery-console report`: a chain-of-custody report of a backup or archive, as HTML or PDF (offline)."""

from __future__ import annotations

import argparse
from pathlib import Path

from recovery_console.cli.common import console, emit, job, secret_from
from recovery_console.cli.tables_cmd import add_source
from recovery_console.engine.forensics.custody_report import make_report
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import ExitCode, UsageError
from recovery_console.formatting import counted

SUFFIXES = (".html", ".htm", ".pdf")


def register(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                        help="the report to write: FILE.html or FILE.pdf")
    parser.add_argument("--examiner", help="who examines the file (default: the user running the console)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    out: Path = args.output
    if out.suffix.lower() not in SUFFIXES:
        raise UsageError(f"{out.name}: the report is written as .html or .pdf.",
                         hint="Name the output FILE.html or FILE.pdf.")
    pdf = None
    if out.suffix.lower() == ".pdf":
        from recovery_console.ui.html_pdf import html_pdf  # Qt, loaded only for a PDF

        pdf = html_pdf
    app = console()
    bench = Workbench(app)
    ref = bench.locate(args.source, args.target)
    with job(args) as reporter:
        report, written = make_report(bench, ref, lambda: secret_from(args), out, examiner=args.examiner, pdf=pdf,
                                      overwrite=args.force, reporter=reporter)
    data = {"report": written.as_dict(), "facts": report.as_dict()}
    verdict = "verified in full" if report.verify else "a plain archive, identified by its SHA-256"
    lines = [f"Report written to {out} ({written.size:,} bytes, SHA-256 {written.sha256}).",
             f"{report.location}: {verdict}; {counted(len(report.tables.tables), 'table')}, "
             f"{counted(len(report.audit_entries), 'audit entry', 'audit entries')} about it; audit chain "
             f"{'intact' if report.audit_chain.ok else 'BROKEN'}, head {report.audit_chain.last_hash}."]
    emit(args, data, lines)
    return ExitCode.OK
