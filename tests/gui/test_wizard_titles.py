"""A wizard's window title names the step it is on: the taskbar, window switchers and screen readers show it,
and the X walk (tests/walk) reads it to know which page it is on."""

from __future__ import annotations

import pytest

from recovery_console.ui.wizards.extract import ExtractWizard
from recovery_console.ui.wizards.setup import SetupWizard

pytestmark = pytest.mark.gui


def test_the_setup_wizard_title_follows_its_pages(qtbot, console, no_keyring):
    wizard = SetupWizard(console)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    assert wizard.windowTitle() == "Set up a profile — Profile"
    wizard.setStartId(SetupWizard.CONNECTION)
    wizard.restart()
    assert wizard.windowTitle() == "Set up a profile — Connection mode"
    wizard.back()  # no page before the start page: the title stays as it is
    assert wizard.windowTitle() == "Set up a profile — Connection mode"
    wizard.cancel_jobs()
    qtbot.waitUntil(lambda: not wizard.busy, timeout=30_000)


def test_a_page_without_a_title_leaves_the_wizard_title_alone(qtbot, console):
    wizard = ExtractWizard(console)
    qtbot.addWidget(wizard)
    first = wizard.currentPage() or wizard.page(wizard.startId())
    wizard.show()
    qtbot.waitExposed(wizard)
    assert wizard.windowTitle() == f"Extract a backup (offline) — {first.title()}"
    first.setTitle("")
    wizard.restart()
    assert wizard.windowTitle() == "Extract a backup (offline)"
