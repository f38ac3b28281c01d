"""The forensic workbench window (issue #17): tables, rows paged in as they are read, search, export; offscreen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.ui.workbench.rows_model import NULL_TEXT
from recovery_console.ui.workbench.window import WorkbenchWindow
from tests.fixtures.big_archive import event_row, make_events_archive

pytestmark = pytest.mark.gui

WAIT = 60_000
BIG_ROWS = 300_000


@pytest.fixture(scope="module")
def events_archive(tmp_path_factory) -> Path:
    return make_events_archive(tmp_path_factory.mktemp("big") / "events.dump", BIG_ROWS)


@pytest.fixture
def open_window(qtbot, console):
    windows: list[WorkbenchWindow] = []

    def open_(source: Path) -> WorkbenchWindow:
        bench = Workbench(console)
        report = bench.tables(bench.locate(str(source)), str)
        window = WorkbenchWindow(console, str(source), "", report)
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


def row_of_table(window: WorkbenchWindow, name: str) -> int:
    return next(i for i, s in enumerate(window.report.tables) if s.table.qualified == name)


def test_choosing_a_table_shows_its_rows_numbered_with_nulls_marked(qtbot, open_window, sample_dump):
    window = open_window(sample_dump)
    assert window.tables.rowCount() == 5
    assert window.tables.item(row_of_table(window, "shop.customers"), 1).text() == "37"
    window.tables.selectRow(row_of_table(window, "shop.customers"))
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    model = window.model
    assert model.rowCount() == 37 and "shop.customers: 37 rows." in window.rows_status.text()
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())] == \
        ["id", "name", "balance", "joined"]
    assert model.headerData(36, Qt.Orientation.Vertical) == "37"
    assert [model.data(model.index(0, c)) for c in range(3)] == ["1", "customer 1", "12.50"]
    window.tables.selectRow(row_of_table(window, "audit.empty_log"))
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert window.model.rowCount() == 0 and "0 rows" in window.rows_status.text()


def test_rows_are_on_screen_before_a_long_read_is_over(qtbot, open_window, tmp_path):
    window = open_window(make_events_archive(tmp_path / "long.dump", 2_000_000, distinct=False))
    window.tables.selectRow(0)
    qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=WAIT)
    assert window.busy and window.model.rowCount() < 2_000_000  # 100 MB of rows: still reading
    assert window.model.data(window.model.index(0, 2)) == "event 0⇥seen on host 0"
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert window.model.rowCount() == 2_000_000


def test_a_large_table_is_held_compressed_and_every_row_is_reachable(qtbot, open_window, events_archive):
    window = open_window(events_archive)
    window.tables.selectRow(0)
    qtbot.waitUntil(lambda: not window.busy and window.model.rowCount() > 0, timeout=WAIT)
    model = window.model
    assert model.rowCount() == BIG_ROWS and f"{BIG_ROWS:,} rows." in window.rows_status.text()
    window.rows.scrollToBottom()
    last = BIG_ROWS - 1
    assert model.data(model.index(last, 0)) == event_row(last).split(b"\t")[0].decode()
    null_row = 999
    assert model.data(model.index(null_row, 2)) == NULL_TEXT
    assert model.data(model.index(null_row, 2), Qt.ItemDataRole.FontRole).italic()
    kept, text = model.pages.memory
    assert kept * 3 < text  # the rows are held compressed, not as Python objects


def test_search_lists_hits_and_opening_one_selects_its_row(qtbot, open_window, sample_dump):
    window = open_window(sample_dump)
    window.tabs.setCurrentIndex(1)
    panel = window.search
    qtbot.keyClicks(panel.pattern_edit, "customer 12")
    qtbot.keyClick(panel.pattern_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert panel.results.rowCount() >= 1 and "Searched every table: " in panel.status.text()
    cells = [panel.results.item(0, c).text() for c in range(4)]
    assert cells[0] == "shop.customers" and cells[2] == "name" and cells[3] == "customer 12"
    panel.results.doubleClicked.emit(panel.results.model().index(0, 0))
    qtbot.waitUntil(lambda: not window.busy and window.model.rowCount() == 37, timeout=WAIT)
    assert window.tabs.currentIndex() == 0
    selected = window.rows.selectionModel().selectedRows()
    assert [index.row() for index in selected] == [int(cells[1]) - 1]
    assert window.model.data(window.model.index(selected[0].row(), 1)) == "customer 12"
    entries = [e.action for e in window.bench.console.audit.entries()]
    assert "forensics.search" in entries and "forensics.browse" in entries


def test_export_writes_the_selected_table_as_csv(qtbot, open_window, sample_dump, monkeypatch, tmp_path):
    window = open_window(sample_dump)
    window.tables.selectRow(row_of_table(window, "shop.orders"))
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    out = tmp_path / "orders.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    window.export_action.trigger()
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert out.read_bytes().count(b"\n") == 24  # the header and 23 rows
    assert "23 rows of shop.orders written" in window.statusBar().currentMessage()


def test_report_is_written_as_pdf_from_the_menu(qtbot, open_window, sample_dump, monkeypatch, tmp_path):
    window = open_window(sample_dump)
    out = tmp_path / "custody.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    window.report_action.trigger()
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert out.read_bytes().startswith(b"%PDF-")
    assert "Report written to" in window.statusBar().currentMessage()
    logged = [e for e in window.bench.console.audit.entries() if e.action == "forensics.report"][-1]
    assert logged.result == "ok" and logged.detail["path"] == str(out)


def test_closing_the_window_stops_a_read_in_progress(qtbot, open_window, tmp_path):
    window = open_window(make_events_archive(tmp_path / "huge.dump", 2_000_000, distinct=False))
    window.tables.selectRow(0)
    qtbot.waitUntil(lambda: bool(window.runner.running), timeout=WAIT)
    window.close()
    assert not window.isVisible()
    qtbot.waitUntil(lambda: not window.busy and not window.runner.running, timeout=WAIT)
    browse = [e for e in window.bench.console.audit.entries() if e.action == "forensics.browse"][-1]
    assert browse.result == "cancelled" and window.model.rowCount() < 2_000_000


def test_renders_at_both_screen_sizes(qtbot, open_window, sample_dump, tmp_path):
    window = open_window(sample_dump)
    window.tables.selectRow(row_of_table(window, "shop.customers"))
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    folder = Path(os.environ.get("RC_SCREENSHOTS", tmp_path))
    for width in (1366, 1024):
        window.resize(width, 768 - 40)
        qtbot.wait(50)
        assert window.rows.viewport().width() > 300
        window.grab().save(str(folder / f"workbench_{width}.png"))
    window.tabs.setCurrentIndex(1)
    qtbot.keyClicks(window.search.pattern_edit, "customer 1")
    qtbot.keyClick(window.search.pattern_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert window.search.results.rowCount() == 10  # customer 1, 10 and 12–19 (number 11 has another name)
    window.grab().save(str(folder / "workbench_search.png"))
