"""The chain-of-custody report (#17): facts proven in the same run, every value escaped, written whole or not at all."""

from __future__ import annotations

import hashlib
import stat

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.forensics.custody_report import make_report
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import IntegrityError
from tests.fixtures.console import SECRET


def test_a_plain_archive_is_identified_by_its_sha256_with_its_tables_and_audit_trail(console, sample_dump, tmp_path):
    bench = Workbench(console)
    out = tmp_path / "custody.html"
    report, written = make_report(bench, bench.locate(str(sample_dump)), str, out, examiner="<b>Eve & co</b>")
    page = out.read_text()
    assert report.file_sha256 == hashlib.sha256(sample_dump.read_bytes()).hexdigest() and report.file_sha256 in page
    assert report.verify is None and "plain pg_dump custom archive" in page
    assert "&lt;b&gt;Eve &amp; co&lt;/b&gt;" in page and "<b>Eve" not in page
    assert "<td>shop.customers</td><td class=n>37</td>" in page
    assert report.audit_chain.ok and report.audit_chain.last_hash in page
    assert [e.action for e in report.audit_entries] == ["forensics.tables"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert written.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    logged = [e for e in console.audit.entries() if e.action == "forensics.report"][-1]
    assert logged.result == "ok" and logged.detail["sha256"] == written.sha256


def test_a_backup_is_verified_in_full_and_its_metadata_and_history_are_reported(console, make_backup, tmp_path):
    record = make_backup(description="evidence")
    bench = Workbench(console)
    ref = bench.locate(record.short_id)
    out = tmp_path / "custody.html"
    report, _ = make_report(bench, ref, lambda: SECRET, out)
    page = out.read_text()
    assert report.verify is not None and report.verify.mode == "full"
    assert report.file_sha256 == report.verify.sidecar_sha256 == ref.sidecar_sha256()
    assert f"{report.file_sha256} (matches)" in page and record.metadata.backup_id in page
    assert {"backup.create", "backup.verify", "forensics.tables"} <= {e.action for e in report.audit_entries}
    assert "PostgreSQL" in page or "Dumped from" in page


def test_a_tampered_backup_gets_no_report(console, make_backup, tmp_path):
    record = make_backup()
    bench = Workbench(console)
    ref = bench.locate(record.short_id)
    path = ref.local_file()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    out = tmp_path / "custody.html"
    with pytest.raises(IntegrityError):
        make_report(bench, ref, lambda: SECRET, out)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".custody")]
    assert [e for e in console.audit.entries() if e.action == "forensics.report"][-1].result == "failed"


def test_cli_refuses_other_suffixes_and_writes_json(console, sample_dump, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path / "home"))
    assert main(["report", str(sample_dump), "-o", str(tmp_path / "r.txt")]) == 2
    assert "html or .pdf" in capsys.readouterr().err
    assert main(["report", str(sample_dump), "-o", str(tmp_path / "r.html"), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"file_sha256"' in out and (tmp_path / "r.html").exists()
    assert main(["report", str(sample_dump), "-o", str(tmp_path / "r.html")]) != 0  # exists, no --force
    assert main(["report", str(sample_dump), "-o", str(tmp_path / "r.html"), "--force"]) == 0
