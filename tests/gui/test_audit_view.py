"""The audit view (issue #15): action and day filters with a count that follows, the entry in full, the chain
head hash to copy, and export as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QApplication

from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.audit_export import entry_hash
from recovery_console.models.target import TargetConfig
from recovery_console.ui.views import audit_view
from recovery_console.ui.views.audit_view import AuditView
from tests.gui.test_main_window import JOB_TIMEOUT, click

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot, console, tmp_path):
    for name in ("a", "b", "c"):
        folder = tmp_path / name
        folder.mkdir()
        console.add_target(TargetConfig(name, "local", {"path": str(folder)}))
    console.remove_target("c")
    dialog = AuditView(console)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 4, timeout=JOB_TIMEOUT)
    yield dialog
    qtbot.waitUntil(lambda: not dialog.busy, timeout=JOB_TIMEOUT)


def test_action_filter_and_the_count_follow_each_other(view):
    assert view.status.text() == "4 entries."
    view.action_combo.setCurrentIndex(view.action_combo.findData("target.add"))
    assert view.proxy.rowCount() == 3 and view.status.text() == "3 of 4 entries."
    view.filter_edit.setText("b")
    assert view.proxy.rowCount() == 1 and view.status.text() == "1 of 4 entries."


def test_date_range_filter(view):
    today = datetime.now(UTC).astimezone().date()
    tomorrow = today + timedelta(days=1)
    view.from_edit.setDate(QDate(tomorrow.year, tomorrow.month, tomorrow.day))
    assert view.proxy.rowCount() == 0 and view.status.text() == "0 of 4 entries."
    view.from_edit.setDate(QDate(today.year, today.month, today.day))
    view.to_edit.setDate(QDate(today.year, today.month, today.day))
    assert view.proxy.rowCount() == 4
    view.from_edit.setDate(view.from_edit.minimumDate())  # "any"
    yesterday = today - timedelta(days=1)
    view.to_edit.setDate(QDate(yesterday.year, yesterday.month, yesterday.day))
    assert view.proxy.rowCount() == 0


def test_details_panel_holds_the_whole_entry_and_copies_it(qtbot, view):
    view.table.selectRow(0)  # newest first: the removal
    shown = json.loads(view.details.toPlainText().rsplit("\nhash of this entry:", 1)[0])
    assert (shown["action"], shown["object"], shown["seq"]) == ("target.remove", "c", 4)
    click(qtbot, view.copy_details_button)
    assert QApplication.clipboard().text() == view.details.toPlainText()


def test_chain_head_is_the_full_last_hash_and_copies(qtbot, view, console):
    last = list(AuditLog.at(console.paths).entries())[-1]
    assert view.head_edit.text() == entry_hash(last) and len(view.head_edit.text()) == 64
    with qtbot.waitSignal(view.chain_checked, timeout=JOB_TIMEOUT) as checked:
        click(qtbot, view.verify_button)
    assert checked.args[0].last_hash == view.head_edit.text()
    click(qtbot, view.copy_head_button)
    assert QApplication.clipboard().text() == entry_hash(last)


def test_export_json_lines_is_the_log_itself(qtbot, view, console, tmp_path, monkeypatch):
    out = tmp_path / "audit.jsonl"
    monkeypatch.setattr(audit_view.QFileDialog, "getSaveFileName", lambda *a: (str(out), ""))
    click(qtbot, view.export_jsonl_button)
    qtbot.waitUntil(lambda: "exported" in view.status.text(), timeout=JOB_TIMEOUT)
    assert out.read_bytes() == console.audit.path.read_bytes()


def test_export_csv_follows_the_filter(qtbot, view, tmp_path, monkeypatch):
    out = tmp_path / "audit.csv"
    monkeypatch.setattr(audit_view.QFileDialog, "getSaveFileName", lambda *a: (str(out), ""))
    view.action_combo.setCurrentIndex(view.action_combo.findData("target.add"))
    click(qtbot, view.export_csv_button)
    qtbot.waitUntil(lambda: "3 entries exported" in view.status.text(), timeout=JOB_TIMEOUT)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["seq"], r["action"], r["object"]) for r in rows] == [
        ("1", "target.add", "a"), ("2", "target.add", "b"), ("3", "target.add", "c")]
    assert json.loads(rows[0]["detail"]) == {"kind": "local"}
