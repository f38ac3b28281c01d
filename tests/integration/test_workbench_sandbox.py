"""The workbench window's SQL sandbox tab (#17): start, query read-only, refuse a write, stop and leave nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QRunnable, Qt, QThreadPool

from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.ui.workbench.window import WorkbenchWindow
from tests.fixtures.console import DATA, SECRET
from tests.fixtures.postgres import pypi_dirs

pytestmark = [pytest.mark.integration, pytest.mark.gui, pytest.mark.slow]

WAIT = 180_000


@pytest.fixture
def window(qtbot, console, make_backup, monkeypatch, tmp_path):
    monkeypatch.setenv("RECOVERY_CONSOLE_PG_DIRS", os.pathsep.join(str(d) for d in pypi_dirs()))
    record = make_backup(DATA / "sample-pg17.dump")
    source = str(Path(console.targets.load()[record.target].options["path"]) / record.key)
    bench = Workbench(console)
    report = bench.tables(bench.locate(source), lambda: SECRET)
    w = WorkbenchWindow(console, source, SECRET, report)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    for box in w.error_boxes:
        box.close()
    w.close()
    qtbot.waitUntil(lambda: not w.busy and not w.runner.running, timeout=WAIT)


@pytest.fixture
def busy_console_threads():
    """Every thread of the application's shared pool taken by other work, as a long verify or sync would."""
    pool = QThreadPool.globalInstance()
    release = threading.Event()
    for _ in range(pool.maxThreadCount()):
        pool.start(QRunnable.create(lambda: release.wait(600)))
    yield
    release.set()
    pool.waitForDone(30_000)


def test_the_sandbox_tab_answers_a_query_refuses_a_write_and_stops_clean(qtbot, window, tmp_path,
                                                                        busy_console_threads):
    panel = window.sandbox
    window.tabs.setCurrentWidget(panel)
    assert not panel.run_button.isEnabled()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.session is not None and panel.connection.text() != "", timeout=WAIT)
    folder = panel.session.info.folder
    assert folder.is_dir() and "Running" in panel.status.text() and panel.connection.text().startswith("postgresql://")
    panel.query_edit.setPlainText("SELECT count(*) AS customers, min(name) FROM shop.customers")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.querying and panel.results.rowCount() == 1, timeout=WAIT)
    assert [panel.results.item(0, c).text() for c in range(2)] == ["37", "Zoë Ünïcødé"]
    assert panel.results.horizontalHeaderItem(0).text() == "customers" and "SELECT 1" in panel.result_status.text()
    panel.query_edit.setPlainText("DELETE FROM shop.customers")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.querying and "✘" in panel.result_status.text(), timeout=WAIT)
    assert "read-only" in panel.result_status.text()
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.session is None and "removed" in panel.status.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert not folder.exists() and panel.start_button.isEnabled()
    actions = [e.action for e in window.bench.console.audit.entries()]
    assert actions.count("sandbox.query") == 2 and "sandbox.start" in actions and "sandbox.stop" in actions
    if os.environ.get("RC_SCREENSHOTS"):
        window.grab().save(str(Path(os.environ["RC_SCREENSHOTS"]) / "workbench_sandbox.png"))


def test_closing_the_window_stops_a_running_sandbox(qtbot, window):
    panel = window.sandbox
    window.start_sandbox()
    qtbot.waitUntil(lambda: panel.session is not None, timeout=WAIT)
    folder = panel.session.info.folder
    window.close()
    assert not window.isVisible()
    qtbot.waitUntil(lambda: not window.busy and not window.runner.running, timeout=WAIT)
    assert not folder.exists()
