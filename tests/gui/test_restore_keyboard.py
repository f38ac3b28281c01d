"""The restore wizard from the keyboard: Return on the pre-flight page waits for the checks, never stops them;
when the restore ends, Return goes on to its result (found by the X
walk: the focus fell from the disabled "Cancel the restore" to the wizard's Cancel, and Return closed the wizard
with its result page, and Roll back, unseen); after a roll back, Return finishes. And "1 backup.", not "1 backup(s).".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QWizard

from recovery_console.engine.live_backup import backup_database
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.wizards.restore import RestoreWizard
from tests.fixtures.console import SECRET
from tests.gui.test_restore_wizard import MainWindowStandIn, answer, click, next_page, type_text

pytestmark = [pytest.mark.gui, pytest.mark.integration]
WAIT = 120_000


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"keys_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def profile(console, local_target, pg15, database) -> str:
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


@pytest.fixture
def wizard(qtbot, console, profile) -> Iterator[RestoreWizard]:
    parent = MainWindowStandIn()
    qtbot.addWidget(parent)
    record = backup_database(console, profile, secret=SECRET)
    wizard = RestoreWizard(console, parent=parent, backup=record.short_id, profile=profile)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    yield wizard
    wizard.cancel_jobs()  # no job may outlive its test
    qtbot.waitUntil(lambda: not wizard.busy, timeout=WAIT)


def test_return_after_the_restore_shows_its_result_and_after_the_roll_back_finishes(qtbot, wizard):
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and not page.looking_up and not page.loading, timeout=WAIT)
    assert page.list_status.text() == "1 backup."
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: page.secret_dialog is not None and page.secret_dialog.isVisible(), timeout=WAIT)
    edit = page.secret_dialog.findChild(QLineEdit)
    edit.setFocus()
    type_text(qtbot, edit, SECRET)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.DESTINATION, timeout=WAIT)
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)
    preflight = wizard.preflight_page
    assert wizard.focusWidget() is preflight.checks  # not the Cancel of the checks' progress
    qtbot.keyClick(preflight.checks, Qt.Key.Key_Return)  # Next is still disabled: nothing happens, nothing stops
    qtbot.waitUntil(lambda: preflight.isComplete(), timeout=WAIT)
    assert "cancelled" not in preflight.verdict.text()
    qtbot.keyClick(wizard.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.CONFIRM, timeout=WAIT)
    qtbot.keyClicks(wizard.confirm_page.confirm_edit, "RESTORE")
    qtbot.keyClick(wizard.confirm_page.confirm_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.PROGRESS, timeout=WAIT)
    progress = wizard.progress_page
    qtbot.waitUntil(lambda: progress.outcome is not None and not progress.running, timeout=WAIT)
    assert progress.outcome == "ok"

    focused = wizard.focusWidget()
    assert focused is wizard.button(QWizard.WizardButton.NextButton), focused
    qtbot.keyClick(focused, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.RESULT, timeout=WAIT)
    assert wizard.isVisible()

    result = wizard.result_page
    click(qtbot, result.rollback_button)
    answer(qtbot, lambda: result.rollback_box, "Roll back")
    qtbot.waitUntil(lambda: result.rolled_back is not None and not result.rolling_back, timeout=WAIT)
    focused = wizard.focusWidget()
    assert focused is wizard.button(QWizard.WizardButton.FinishButton), focused
    qtbot.keyClick(focused, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)
    assert wizard.result() == QWizard.DialogCode.Accepted
