"""The chain-of-custody report: what file was examined, that it is intact, what it holds, and who looked when.

Built for auditors from facts the console proves in the same run — a full verify of the backup
(ciphertext against its sidecar, every chunk, the archive's sealed SHA-256) or, for a plain
archive, its SHA-256 — the decrypted metadata, every table with its rows, and the audit entries
about this backup with the audit chain's checked head. The HTML is self-contained and escaped.
"""

from __future__ import annotations

import getpass
import hashlib
import html
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recovery_console import __version__
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.forensics.source import is_backup
from recovery_console.engine.forensics.workbench import ExportedTable, Secret, TablesReport, Workbench
from recovery_console.engine.output_checks import check_output
from recovery_console.engine.progress import Reporter
from recovery_console.engine.results import VerifyResult
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.audit_entry import AuditEntry
from recovery_console.engine.state.audit_verify import AuditVerification
from recovery_console.errors import from_os_error
from recovery_console.formatting import format_bytes

READ_PIECE = 1 << 20


@dataclass(frozen=True)
class Examination:
    """Who made the report, where and when."""

    examiner: str
    host: str
    made_at: str
    console_version: str

    @classmethod
    def now(cls, examiner: str | None) -> Examination:
        return cls(examiner or getpass.getuser(), socket.gethostname(),
                   datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), __version__)


@dataclass(frozen=True)
class CustodyReport:
    """Everything the report states, each fact established in the run that made it."""

    location: str
    file_size: int
    file_sha256: str
    verify: VerifyResult | None
    tables: TablesReport
    audit_entries: list[AuditEntry]
    audit_chain: AuditVerification
    examination: Examination

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "file_size": self.file_size, "file_sha256": self.file_sha256,
                "verify": self.verify.as_dict() if self.verify else None,
                "tables": [stats.as_dict() for stats in self.tables.tables],
                "audit_entries": [entry.to_dict() for entry in self.audit_entries],
                "audit_chain": {"ok": self.audit_chain.ok, "entries": self.audit_chain.entries,
                                "head": self.audit_chain.last_hash, "problem": self.audit_chain.reason or None},
                "examination": dict(self.examination.__dict__)}


def plain_file_sha256(ref: BackupRef) -> str:
    """The SHA-256 of a plain archive file, read once."""
    digest = hashlib.sha256()
    with ref.open() as stream:
        while piece := stream.read(READ_PIECE):
            digest.update(piece)
    return digest.hexdigest()


def about_this_backup(entries: list[AuditEntry], ref: BackupRef, backup_id: str | None) -> list[AuditEntry]:
    """The audit entries naming this file (its location or, for a backup, its id)."""
    return [entry for entry in entries if entry.object == ref.location
            or (backup_id is not None and entry.detail.get("backup_id") == backup_id)]


def _row(label: str, value: object) -> str:
    return f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>"


def render_html(report: CustodyReport) -> str:
    """The report as one self-contained HTML page (every value escaped; prints well on A4)."""
    verify = report.verify
    meta = report.tables.metadata
    facts = [_row("File", report.location), _row("Size", f"{report.file_size:,} bytes "
                                                 f"({format_bytes(report.file_size)})"),
             _row("File SHA-256", report.file_sha256)]
    if verify is not None:
        sidecar = ("matches" if verify.sidecar_sha256 == verify.ciphertext_sha256 else "does NOT match") \
            if verify.sidecar_sha256 else "no sidecar beside the file"
        facts += [_row("Sidecar SHA-256", f"{verify.sidecar_sha256 or '—'} ({sidecar})"),
                  _row("Verify", f"passed, {verify.mode}: {verify.chunk_count:,} chunks authenticated, "
                                 f"archive SHA-256 sealed at backup time matches, at {report.examination.made_at}"),
                  _row("Archive SHA-256", verify.archive_sha256 or "—"),
                  _row("Archive size", f"{verify.archive_length or 0:,} bytes")]
    else:
        facts.append(_row("Kind", "a plain pg_dump custom archive (not encrypted): its SHA-256 above identifies it"))
    if meta is not None:
        facts += [_row("Backup id", meta.backup_id), _row("Created", meta.created_at),
                  _row("Created by", meta.created_by or "not recorded"), _row("Mode", meta.mode),
                  _row("Source database", meta.database or "not recorded"),
                  _row("Made by console version", meta.app_version)]
    if verify is not None:
        facts += [_row("Dumped from", verify.dumped_from or "—"), _row("Dumped by", verify.dumped_by or "—")]
    tables = "".join(
        f"<tr><td>{html.escape(s.table.qualified)}</td><td class=n>{f'{s.rows:,}' if s.has_data else 'no data'}"
        f"</td><td class=n>{format_bytes(s.text_bytes) if s.has_data else '—'}</td></tr>"
        for s in report.tables.tables)
    audit = "".join(
        f"<tr><td>{e.seq}</td><td>{html.escape(e.time)}</td><td>{html.escape(e.user)}@{html.escape(e.host)}</td>"
        f"<td>{html.escape(e.action)}</td><td>{html.escape(e.result)}</td></tr>" for e in report.audit_entries)
    chain = report.audit_chain
    chain_text = (f"intact: {chain.entries:,} entries, head {chain.last_hash}" if chain.ok
                  else f"BROKEN: {chain.reason} (last intact head {chain.last_hash})")
    exam = report.examination
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Chain-of-custody report</title>
<style>
body {{ font-family: sans-serif; font-size: 10pt; margin: 2em; color: #000; }}
h1 {{ font-size: 16pt; }} h2 {{ font-size: 12pt; margin-top: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #888; padding: 3px 6px; text-align: left; vertical-align: top; word-break: break-all; }}
th {{ width: 28%; background: #eee; }} td.n {{ text-align: right; }}
</style></head><body>
<h1>Chain-of-custody report</h1>
<p>Examined by <b>{html.escape(exam.examiner)}</b> on <b>{html.escape(exam.host)}</b> at
<b>{html.escape(exam.made_at)}</b> with Recovery Console {html.escape(exam.console_version)}.</p>
<h2>The file</h2><table>{"".join(facts)}</table>
<h2>Tables ({len(report.tables.tables):,})</h2>
<table><tr><th>Table</th><th>Rows</th><th>Data</th></tr>{tables}</table>
<h2>Audit entries about this file ({len(report.audit_entries):,})</h2>
<table><tr><th>#</th><th>Time</th><th>Who</th><th>Action</th><th>Result</th></tr>{audit}</table>
<p>Audit log chain: {html.escape(chain_text)}.</p>
</body></html>
"""


def make_report(bench: Workbench, ref: BackupRef, secret: Secret, out: Path, *, examiner: str | None = None,
                pdf: Callable[[str, str], bytes] | None = None, overwrite: bool = False,
                reporter: Reporter | None = None) -> tuple[CustodyReport, ExportedTable]:
    """Verify the file (a backup fully; a plain archive by its SHA-256), read its tables, and write the report.

    The report is HTML, or the PDF that `pdf(html, title)` lays out (the front end's Qt does that:
    the engine stays Qt-free). It appears whole (temp name, rename, 0600); its SHA-256 is returned
    and recorded in the audit log, so the report itself can be proven later.
    """
    reporter = reporter or Reporter()
    console = bench.console
    check_output(out, [ref.local_file()])
    with console.audited("forensics.report", ref.location, {"output": str(out)}) as detail:
        verify: VerifyResult | None = None
        if is_backup(ref):
            verify = console.verify(ref, secret(), reporter=reporter)
            file_sha = verify.ciphertext_sha256 or ""
        else:
            file_sha = plain_file_sha256(ref)
        tables = bench.tables(ref, secret, reporter)
        backup_id = tables.metadata.backup_id if tables.metadata else None
        report = CustodyReport(ref.location, ref.size, file_sha, verify, tables,
                               about_this_backup(list(console.audit.entries()), ref, backup_id),
                               console.audit.verify(), Examination.now(examiner))
        page = render_html(report)
        data = pdf(page, f"Chain-of-custody report: {ref.location}") if pdf is not None else page.encode()
        try:
            with atomic_output(out, overwrite, claims=console.runtime) as sink:
                sink.write(data)
        except OSError as exc:
            raise from_os_error("writing", str(out), exc) from exc
        written = ExportedTable("report", out, len(report.tables.tables), len(data), hashlib.sha256(data).hexdigest())
        detail.update(written.as_dict(), file_sha256=file_sha, audit_head=report.audit_chain.last_hash)
        return report, written
