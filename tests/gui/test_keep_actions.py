"""Pin, Unpin and Copy to target… from the main window, and the details pane showing the hold and the copies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QComboBox, QDialogButtonBox

from recovery_console.engine.sets.set_import import import_set
from recovery_console.formatting import format_bytes
from recovery_console.models.target import TargetConfig
from recovery_console.ui.app import create_main_window
from recovery_console.ui.widgets.usage_delegate import USAGE_ROLE
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.gui.test_main_window import JOB_TIMEOUT, answer_input, click, click_row, dialog_button, settle

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, console, make_backup, tmp_path):
    """The main window over a backup on 'vault', with a second local target 'spare'."""
    (tmp_path / "spare").mkdir()
    console.add_target(TargetConfig(name="spare", kind="local", options={"path": str(tmp_path / "spare")}))
    record = make_backup()
    window = create_main_window(console, None)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        window.show()
    qtbot.waitExposed(window)
    settle(qtbot, window)
    click_row(qtbot, window, 0)
    assert window.selected_backup().key == record.key
    yield window
    window.runner.cancel_all()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=JOB_TIMEOUT)


def refreshed(qtbot, window) -> None:
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.selected_backup() is not None, timeout=JOB_TIMEOUT)


def test_pin_shows_the_hold_blocks_delete_and_unpin_releases_it(qtbot, window, console):
    keep = window.keep_actions
    label = window.details.file_labels["target"]
    assert label.text() == "vault"
    assert keep.pin_action.isEnabled() and not keep.unpin_action.isEnabled()
    keep.pin_action.trigger()
    answer_input(qtbot, keep.dialog, "incident 2026-12-07")
    refreshed(qtbot, window)
    record = window.selected_backup()
    assert console.pins.get("vault", record.key).reason == "incident 2026-12-07"
    assert label.text().startswith("vault · PINNED: incident 2026-12-07 (since ")
    assert not keep.pin_action.isEnabled() and keep.unpin_action.isEnabled()

    window.controller.actions["delete"].trigger()
    click(qtbot, dialog_button(window.controller.backups.confirm_box, "Delete backup"))
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.error_dialog is not None and window.error_dialog.isVisible())
    assert "pinned (legal hold: incident 2026-12-07)" in window.error_dialog.text()
    window.error_dialog.close()
    assert (Path(console.targets.get("vault").options["path"]) / record.key).exists()

    keep.unpin_action.trigger()
    refreshed(qtbot, window)
    assert console.pins.get("vault", record.key) is None and label.text() == "vault"
    assert keep.pin_action.isEnabled()


def test_copy_to_target_copies_and_the_details_name_both_targets(qtbot, window, console, tmp_path):
    keep = window.keep_actions
    assert keep.copy_action.isEnabled()
    record = window.selected_backup()
    keep.copy_action.trigger()
    dialog = keep.dialog
    qtbot.waitUntil(dialog.isVisible)
    combo = dialog.findChild(QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == ["spare"]
    click(qtbot, dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    refreshed(qtbot, window)
    copy = tmp_path / "spare" / record.key
    assert copy.read_bytes() == (Path(console.targets.get("vault").options["path"]) / record.key).read_bytes()
    click_row(qtbot, window, 0)
    shown = window.selected_backup().target
    other = {"vault": "spare", "spare": "vault"}[shown]
    assert window.details.file_labels["target"].text() == f"{shown} · also on {other}"
    if os.environ.get("RC_SCREENSHOTS"):
        keep.pin_action.trigger()
        answer_input(qtbot, keep.dialog, "case 4711")
        refreshed(qtbot, window)
        for width in (1366, 1024):
            window.resize(width, 768)
            qtbot.wait(200)
            window.grab().save(str(Path(os.environ["RC_SCREENSHOTS"]) / f"keep_{width}.png"))


def test_the_targets_list_shows_each_targets_usage_against_its_quota(qtbot, console, make_backup, tmp_path):
    (tmp_path / "capped").mkdir()
    console.add_target(TargetConfig(name="capped", kind="local", options={"path": str(tmp_path / "capped")},
                                    quota=4 << 20))
    record = make_backup(target="capped")
    window = create_main_window(console, None)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        window.show()
    settle(qtbot, window)
    sidebar = window.sidebar
    share = record.size * 100 // (4 << 20)
    assert sidebar.target_item("capped").data(USAGE_ROLE) == f"{format_bytes(record.size)} of 4.0 MiB ({share}%)"
    assert sidebar.target_item("vault").data(USAGE_ROLE) == "holds 0 B"  # no quota: what it holds
    assert sidebar.target_item(None).data(USAGE_ROLE) is None  # "All targets"
    tall = sidebar.targets_list.visualItemRect(sidebar.target_item("capped")).height()
    assert tall >= 2 * sidebar.targets_list.fontMetrics().height()  # the usage line has its own room
    window.reload_lists()  # rebuilding the lists keeps the last usage
    assert sidebar.target_item("capped").data(USAGE_ROLE).startswith(f"{format_bytes(record.size)} of 4.0 MiB")
    if os.environ.get("RC_RENDER_DIR"):
        sidebar.grab().save(str(Path(os.environ["RC_RENDER_DIR"]) / "sidebar-usage.png"))
    window.runner.cancel_all()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=JOB_TIMEOUT)


def test_the_targets_list_counts_a_recovery_sets_files_in_its_usage(qtbot, console, make_backup, sample_dump,
                                                                    tmp_path):
    record = make_backup()
    made = import_set(console, [sample_dump], "nightly", "vault", SECRET, iterations=FAST_ITERATIONS)
    set_files = sum(p.stat().st_size for p in (tmp_path / "target" / "sets").rglob("*") if p.is_file())
    window = create_main_window(console, None)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        window.show()
    settle(qtbot, window)
    assert window.sidebar.used == {"vault": record.size + set_files} and made.size == set_files > 0
    assert window.sidebar.target_item("vault").data(USAGE_ROLE) == f"holds {format_bytes(record.size + set_files)}"
    window.runner.cancel_all()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=JOB_TIMEOUT)
