"""The setup wizard's target page, as the X walk found it: a local folder's box stood as tall as the SFTP fields
and squeezed the four test steps to two rows; Next stayed enabled while Test connection ran."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QWizard

from recovery_console.engine.storage.round_trip import CheckReport, StepResult
from recovery_console.ui.wizards.setup import SetupWizard

pytestmark = pytest.mark.gui


@pytest.fixture
def target_page(qtbot, console, no_keyring):
    wizard = SetupWizard(console)
    qtbot.addWidget(wizard)
    wizard.resize(wizard.minimumSize())
    wizard.setStartId(SetupWizard.TARGET)
    wizard.show()
    qtbot.waitExposed(wizard)
    yield wizard.target_page
    wizard.cancel_jobs()
    qtbot.waitUntil(lambda: not wizard.busy, timeout=30_000)


def test_a_local_folder_leaves_room_for_every_test_step(qtbot, target_page):
    page = target_page
    page.show_report(CheckReport("walk-backups", [StepResult(s, True) for s in ("list", "write", "read", "delete")]))
    local = page.fields.currentWidget()
    qtbot.waitUntil(lambda: page.fields.height() <= local.sizeHint().height() + 4)
    tree = page.steps
    rows = tree.topLevelItemCount()
    assert rows == 4
    last = tree.visualItemRect(tree.topLevelItem(rows - 1))
    assert last.bottom() <= tree.viewport().height(), "the last test step is cut off"



def test_next_waits_while_the_target_is_tested(qtbot, target_page, tmp_path):
    page = target_page
    page.name_edit.setText("walk-backups")
    page.fields.local_path.setText(str(tmp_path))
    next_button = page.wiz.button(QWizard.WizardButton.NextButton)
    assert next_button.isEnabled()
    page.test_target()
    assert not next_button.isEnabled()
    qtbot.waitUntil(lambda: page.report is not None and not page.testing, timeout=30_000)
    assert page.report.ok and next_button.isEnabled()
