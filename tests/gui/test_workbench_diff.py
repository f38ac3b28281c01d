"""The workbench's Compare view (issue #17): a second backup picked by file or by id, compared off the GUI thread,
counts per table, and a table's differing rows with the changed values highlighted; offscreen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.ui.workbench.diff_panel import CHANGED_COLOR
from recovery_console.ui.workbench.window import WorkbenchWindow
from tests.fixtures.console import DATA, SECRET
from tests.fixtures.diff_db import EXPECTED

pytestmark = pytest.mark.gui

WAIT = 60_000
A, B = DATA / "diff-a.dump", DATA / "diff-b.dump"


@pytest.fixture
def open_window(qtbot, console):
    windows: list[WorkbenchWindow] = []

    def open_(source: str, secret: str) -> WorkbenchWindow:
        bench = Workbench(console)
        report = bench.tables(bench.locate(source), lambda: secret)
        window = WorkbenchWindow(console, source, secret, report)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        for box in window.error_boxes:
            box.close()
        window.close()
        qtbot.waitUntil(lambda w=window: not w.busy and not w.runner.running, timeout=WAIT)


def _counts(window: WorkbenchWindow) -> dict[str, tuple[int, ...]]:
    table = window.diff.tables
    return {table.item(r, 0).text(): tuple(int(table.item(r, c).text().replace(",", "")) for c in (1, 2, 3))
            for r in range(table.rowCount())}


def test_compare_with_a_file_shows_counts_and_a_tables_rows(qtbot, open_window, console, monkeypatch):
    window = open_window(str(A), "")
    window.tabs.setCurrentWidget(window.diff)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(B), ""))
    qtbot.mouseClick(window.diff.browse_button, Qt.MouseButton.LeftButton)
    assert not window.diff.compare_button.isEnabled()  # running off the GUI thread, its progress shown
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert _counts(window) == EXPECTED
    assert "5 schema differences" in window.diff.status.text() and "8 of 8 tables differ" in window.diff.status.text()
    table = window.diff.tables
    notes = {table.item(r, 0).text(): table.item(r, 4).text() for r in range(table.rowCount())}
    assert notes["public.settings"] == "columns only in the other: changed_by"
    assert notes["public.gone"] == "table only in this backup"
    customers = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "shop.customers")
    window.diff.tables.selectRow(customers)
    model = window.diff.model
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())] == \
        ["Change", "id (key)", "name", "balance"]
    lines = [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert ["Only in this backup", "10", "customer 10", "100.00"] in lines
    assert sum(line[0] == "Only in the other" for line in lines) == 2
    twelve = [r for r, line in enumerate(lines) if line[1] == "12"]
    assert [lines[r][0] for r in twelve] == ["Changed: this backup", "Changed: the other"]
    assert lines[twelve[1]][2] == 'tab⇥here, "quoted"'
    name, balance = model.index(twelve[1], 2), model.index(twelve[1], 3)
    assert model.data(name, Qt.ItemDataRole.BackgroundRole).color() == CHANGED_COLOR
    assert model.data(balance, Qt.ItemDataRole.BackgroundRole) is None
    assert "all 6 differing rows" in window.diff.rows_status.text()
    settings = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "public.settings")
    window.diff.tables.selectRow(settings)
    lines = [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert lines == [["Changed: this backup", "retention", "30", "—"],
                     ["Changed: the other", "retention", "90", "carol"]]
    entry = [e for e in console.audit.entries() if e.action == "forensics.diff"][-1]
    assert entry.result == "ok" and entry.detail["b"] == str(B)
    shots = os.environ.get("RC_SCREENSHOT_DIR")
    for width in (1366, 1024):
        window.resize(width, 768)
        qtbot.wait(50)
        image = window.grab()
        assert not image.isNull()
        if shots:
            image.save(str(Path(shots) / f"workbench-diff-{width}.png"))


def test_a_backup_compared_with_a_backup_id_and_a_name_that_is_neither(qtbot, open_window, console, make_backup):
    a = make_backup(A)
    b = make_backup(B)
    source = str(Path(console.storage("vault").location(a.key)))
    window = open_window(source, SECRET)
    window.diff.other_edit.setText("no-such-backup")
    qtbot.mouseClick(window.diff.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert "could not be compared" in window.diff.status.text() and window.error_boxes
    assert window.diff.compare_button.isEnabled()
    window.diff.other_edit.setText(b.short_id)
    qtbot.keyClick(window.diff.other_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert _counts(window) == EXPECTED
    assert window.diff.model.rowCount() > 0  # the first table is opened at once


def test_a_long_comparison_is_cancelled_from_its_progress_panel(qtbot, open_window, console, tmp_path):
    from tests.fixtures.big_archive import make_events_archive

    big = make_events_archive(tmp_path / "events.dump", 1_000_000, distinct=False)
    window = open_window(str(big), "")
    window.tabs.setCurrentWidget(window.diff)
    window.diff.other_edit.setText(str(big))
    qtbot.mouseClick(window.diff.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.diff.panel.job is not None, timeout=WAIT)
    qtbot.mouseClick(window.diff.panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert "Comparison cancelled." in window.diff.status.text() and window.diff.compare_button.isEnabled()
    assert window.diff.tables.rowCount() == 0
    assert [e for e in console.audit.entries() if e.action == "forensics.diff"][-1].result == "cancelled"
    assert not list(console.paths.runtime_dir.glob("*"))
