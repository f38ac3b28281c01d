"""`report -o FILE.pdf` from the CLI with no display: Qt lays the report out offscreen in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fixtures.console import DATA

pytestmark = pytest.mark.gui


def test_a_pdf_report_needs_no_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["RECOVERY_CONSOLE_HOME"] = str(tmp_path / "home")
    out = tmp_path / "custody.pdf"
    done = subprocess.run([sys.executable, "-m", "recovery_console.cli.main", "report", str(DATA / "sample-pg15.dump"),
                           "-o", str(out), "--examiner", "J. Doe"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF-") and out.stat().st_size > 1000
    assert "Report written to" in done.stdout
