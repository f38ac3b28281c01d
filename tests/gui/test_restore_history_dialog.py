"""The restore history dialog (issue #15): opened from the window for the selected profile, its buttons enabled only
for a restore whose previous database is still kept, Drop only after the name is typed, and the list re-read from
the server after each action. Against a real PostgreSQL 15 and a real local target."""

from __future__ import annotations

import uuid

import pytest
import shiboken6
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox, QLineEdit

from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.restore import Restorer, RestoreResult
from recovery_console.engine.restore_kept import history
from recovery_console.engine.restore_preflight import CHECKED_NOTE, SCRATCH_INFIX, db_name, now_stamp
from recovery_console.formatting import format_bytes
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.dialogs.restore_history_dialog import COLUMNS, RestoreHistoryDialog
from recovery_console.ui.jobs import JobRunner
from tests.fixtures.console import SECRET
from tests.gui.test_main_window import JOB_TIMEOUT, click, click_list_item, type_text
from tests.gui.test_manage_targets import audit_actions, open_window_fixture  # noqa: F401 - the fixture, by name
from tests.gui.test_restore_wizard import MainWindowStandIn, answer
from tests.gui.test_setup_wizard import mnemonic

pytestmark = [pytest.mark.gui]
SIZE = COLUMNS.index("Size now")
RESULT = COLUMNS.index("Result")


@pytest.fixture
def restored(console, local_target, pg15, sample_database) -> tuple[str, RestoreResult]:
    database = sample_database(pg15, f"hist_{uuid.uuid4().hex[:8]}")
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = backup_database(console, "prod", secret=SECRET)
    restorer = Restorer(console)
    return database, restorer.run(restorer.preflight("prod", console.locate(record.short_id), SECRET), SECRET)


@pytest.fixture
def open_dialog(qtbot):
    opened: list[RestoreHistoryDialog] = []

    def open_(console, parent=None) -> RestoreHistoryDialog:
        dialog = RestoreHistoryDialog(console, JobRunner(), "prod", parent=parent)
        if parent is None:  # else it goes with its parent
            qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        qtbot.waitUntil(lambda: not dialog.busy, timeout=JOB_TIMEOUT)
        opened.append(dialog)
        return dialog

    yield open_
    for dialog in opened:
        if not shiboken6.isValid(dialog):  # deleted with its parent
            continue
        dialog.acting = False
        dialog.reject()
        qtbot.waitUntil(lambda d=dialog: not d.busy, timeout=JOB_TIMEOUT)


def cell(dialog: RestoreHistoryDialog, column: int, row: int = 0) -> str:
    return dialog.table.item(row, column).text()


@pytest.mark.integration
def test_a_kept_previous_is_listed_with_its_live_size_and_both_actions(qtbot, console, pg15, restored, open_dialog):
    _, result = restored
    dialog = open_dialog(console)
    assert dialog.table.rowCount() == 1 and dialog.selected_row() is not None
    size = int(pg15.psql(f"SELECT pg_database_size('{result.previous}')"))
    assert cell(dialog, COLUMNS.index("Kept database")) == result.previous
    assert cell(dialog, SIZE) == format_bytes(size) and cell(dialog, RESULT) == "succeeded"
    time_item = dialog.table.item(0, 0)
    assert time_item.toolTip().startswith("UTC: ") and time_item.text()[-3:].strip()  # local, zone shown
    assert dialog.rollback_button.isEnabled() and dialog.drop_button.isEnabled()


@pytest.mark.integration
def test_drop_needs_the_name_typed_and_the_list_then_says_dropped(qtbot, console, pg15, restored, open_dialog):
    _, result = restored
    parent = MainWindowStandIn()
    qtbot.addWidget(parent)
    dialog = open_dialog(console, parent)
    click(qtbot, dialog.drop_button)
    qtbot.waitUntil(lambda: dialog.drop_box is not None and dialog.drop_box.isVisible(), timeout=JOB_TIMEOUT)
    box = dialog.drop_box
    ok = box.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    line = box.findChild(QLineEdit)
    type_text(qtbot, line, result.previous[:-1])
    assert not ok.isEnabled()
    type_text(qtbot, line, result.previous[-1])
    assert ok.isEnabled()
    click(qtbot, ok)
    qtbot.waitUntil(lambda: not dialog.busy and cell(dialog, SIZE) == "dropped", timeout=JOB_TIMEOUT)
    assert result.previous not in pg15.databases()
    assert "Dropped" in dialog.status.text()
    assert not dialog.rollback_button.isEnabled() and not dialog.drop_button.isEnabled()
    assert [active for active, _ in parent.calls] == [True, False]
    assert ("restore.drop_previous", result.previous, "ok") in audit_actions(console)


@pytest.mark.integration
def test_roll_back_from_the_history_then_a_vanished_copy_shows_gone(qtbot, console, pg15, restored, open_dialog,
                                                                    table_fingerprints):
    database, result = restored
    before = table_fingerprints(pg15, result.previous)
    dialog = open_dialog(console)
    click(qtbot, dialog.rollback_button)
    answer(qtbot, lambda: dialog.confirm_box, "Roll back")
    qtbot.waitUntil(lambda: not dialog.busy and cell(dialog, RESULT).startswith("rolled back"), timeout=JOB_TIMEOUT)
    assert table_fingerprints(pg15, database) == before
    undone = history(console, "prod").rows[0].entry.undone
    assert cell(dialog, COLUMNS.index("Kept database")) == undone  # the restored copy the rollback set aside
    assert cell(dialog, SIZE) == format_bytes(int(pg15.psql(f"SELECT pg_database_size('{undone}')")))
    assert not dialog.rollback_button.isEnabled() and dialog.drop_button.isEnabled()

    second = Restorer(console)  # a second restore, whose kept copy someone else drops
    record = console.catalog.records()[0]
    kept = second.run(second.preflight("prod", console.locate(record.short_id), SECRET), SECRET).previous
    click(qtbot, dialog.refresh_button)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.table.rowCount() == 2, timeout=JOB_TIMEOUT)
    dialog.table.selectRow(0)
    assert dialog.rollback_button.isEnabled()
    pg15.psql(f'DROP DATABASE "{kept}"')
    click(qtbot, dialog.refresh_button)
    qtbot.waitUntil(lambda: not dialog.busy and cell(dialog, SIZE) == "gone", timeout=JOB_TIMEOUT)
    assert not dialog.rollback_button.isEnabled() and not dialog.drop_button.isEnabled()


def test_the_window_opens_the_history_of_the_selected_profile(qtbot, console, local_target, open_window):
    console.profiles.create("prod", "postgresql://app@127.0.0.1:1/prod", target=local_target)
    window = open_window()
    action = window.controller.actions["restore_history"]
    assert not action.isEnabled()
    profile_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Profile")
    assert action in profile_menu.actions()
    click_list_item(qtbot, window.sidebar.profiles_list, "prod")
    assert action.isEnabled()
    action.trigger()
    dialog = window.controller.manage.history_dialog
    assert isinstance(dialog, RestoreHistoryDialog) and dialog.profile == "prod"
    qtbot.waitUntil(lambda: not dialog.busy, timeout=JOB_TIMEOUT)
    assert dialog.table.rowCount() == 0 and "No restore of prod" in dialog.status.text()
    assert not dialog.rollback_button.isEnabled() and not dialog.drop_button.isEnabled()
    dialog.reject()


@pytest.mark.integration
def test_swap_in_a_checked_copy_left_by_a_blocked_swap(qtbot, console, pg15, restored, open_dialog):
    """A checked copy waiting to be swapped in (what a swap blocked by sessions leaves) is swapped in from the window,
    and the history lists it with the database it kept; with none waiting, the engine's plain answer is shown."""
    database, _ = restored
    dialog = open_dialog(console)
    click(qtbot, dialog.swap_button)
    answer(qtbot, lambda: dialog.confirm_box, "Swap in")
    qtbot.waitUntil(lambda: not dialog.busy, timeout=JOB_TIMEOUT)
    assert "no checked restored copy" in dialog.error_dialog.text()
    dialog.error_dialog.accept()

    copy = db_name(database, SCRATCH_INFIX, now_stamp())
    pg15.psql(f'CREATE DATABASE "{copy}" TEMPLATE "{database}"')
    pg15.psql(f"COMMENT ON DATABASE \"{copy}\" IS '{CHECKED_NOTE} 0000-test'")
    click(qtbot, dialog.swap_button)
    answer(qtbot, lambda: dialog.confirm_box, "Swap in")
    qtbot.waitUntil(lambda: not dialog.busy and dialog.table.rowCount() == 2, timeout=JOB_TIMEOUT)
    assert copy not in pg15.databases() and "Swapped in" in dialog.status.text()
    newest = history(console, "prod").rows[0]
    assert newest.entry.result == "succeeded" and newest.kept in pg15.databases() and newest.can_roll_back


def test_every_button_of_the_dialog_has_its_own_mnemonic(qtbot, console):
    """Alt+letter presses one button: the set panel's Roll back whole set… took Alt+W from Swap in… (a walk found
    Alt+W only moving the focus between the two)."""
    dialog = RestoreHistoryDialog(console, JobRunner(), "prod")
    qtbot.addWidget(dialog)
    seen: dict[str, str] = {}
    for button in dialog.findChildren(QAbstractButton):  # hidden ones too: the set panel shows once a set is restored
        key = mnemonic(button.text())
        assert not key or key not in seen, f"{button.text()!r} and {seen[key]!r} share Alt+{key.upper()}"
        if key:
            seen[key] = button.text()
    assert seen["s"] == "Roll back whole &set…"
