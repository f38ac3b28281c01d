"""The workbench's "Export large objects…": a folder chosen, one file per OID written off the GUI thread; offscreen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.ui.workbench.window import WorkbenchWindow

pytestmark = pytest.mark.gui

WAIT = 60_000
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def window_on(qtbot, console):
    windows: list[WorkbenchWindow] = []

    def open_(source: Path) -> WorkbenchWindow:
        bench = Workbench(console)
        window = WorkbenchWindow(console, str(source), "", bench.tables(bench.locate(str(source)), str))
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield open_
    for window in windows:
        for box in window.error_boxes:
            box.close()
        window.close()
        qtbot.waitUntil(lambda w=window: not w.busy and not w.runner.running, timeout=WAIT)


def test_large_objects_are_written_to_the_chosen_folder(qtbot, window_on, monkeypatch, tmp_path):
    window = window_on(DATA / "sample-pg17.dump")
    folder = tmp_path / "chosen"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    window.blobs_action.trigger()
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert "1 large object written to" in window.statusBar().currentMessage()
    assert (folder / "424242").read_bytes() == b"hello from a large object"  # tests/data/sample_schema.sql
    logged = [e for e in window.bench.console.audit.entries() if e.action == "forensics.export"][-1]
    assert logged.result == "ok" and [f["oid"] for f in logged.detail["files"]] == [424242]

    window.blobs_action.trigger()  # the files are there now: refused, nothing replaced
    qtbot.waitUntil(lambda: not window.busy and bool(window.error_boxes), timeout=WAIT)
    text = window.error_boxes[-1].text() + window.error_boxes[-1].informativeText()
    assert "already holds 1 file" in text and "--" not in text


def test_an_archive_without_large_objects_offers_no_export_of_them(qtbot, window_on, monkeypatch, tmp_path):
    window = window_on(DATA / "diff-a.dump")
    assert not window.blobs_action.isEnabled()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: pytest.fail("no chooser"))
    window.blobs_action.trigger()
    assert not window.busy
