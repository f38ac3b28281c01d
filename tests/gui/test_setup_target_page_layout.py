"""The setup wizard's target page gives a local folder's one field the room it needs, not the SFTP fields' room:
the X walk found the local folder's box as tall as the SFTP fields and the four test steps squeezed to two rows."""

from __future__ import annotations

import pytest

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

