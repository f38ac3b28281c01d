"""Backups of a removed target (issue #15): listed as "target removed", every action on them off with the reason
said where the user looks (tooltips, status tips, the details pane), and usable again once the target is back."""

from __future__ import annotations

from pathlib import Path

import pytest

from recovery_console.ui.backup_actions import ON_A_BACKUP
from recovery_console.ui.main_window import MainWindow
from tests.gui.test_main_window import JOB_TIMEOUT, out_of_band_backup, settle
from tests.gui.test_manage_targets import open_window_fixture  # noqa: F401 - the fixture, by its name

pytestmark = pytest.mark.gui
REASON = "Target vault was removed; add it again to use these backups."


def relist(qtbot, window: MainWindow) -> None:
    window.reload_lists()
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        window.controller.refresh()
    settle(qtbot, window)
    window.browser.table.selectRow(0)
    qtbot.waitUntil(lambda: window.selected_backup() is not None, timeout=JOB_TIMEOUT)


def test_a_removed_targets_backups_say_why_nothing_can_be_done_with_them(qtbot, console, local_target, open_window,
                                                                         tmp_path):
    folder = Path(console.targets.load()[local_target].options["path"])
    out_of_band_backup(folder, tmp_path)
    window = open_window()
    relist(qtbot, window)
    actions = window.controller.actions
    own_tips = {key: actions[key].toolTip() for key in ON_A_BACKUP}
    assert all(actions[key].isEnabled() for key in ON_A_BACKUP)
    assert not window.details.unusable.isVisible()

    config = console.remove_target(local_target)
    relist(qtbot, window)
    assert window.browser.model.removed_reason(window.selected_backup()) == REASON
    assert [key for key in ON_A_BACKUP if actions[key].isEnabled()] == []
    assert all(actions[key].toolTip() == REASON == actions[key].statusTip() for key in ON_A_BACKUP)
    assert window.details.unusable.isVisible() and window.details.unusable.text() == REASON
    assert not window.details.metadata_button.isEnabled() and not window.details.contents_button.isEnabled()
    for key in ("verify", "download", "delete"):
        toolbar_button = window.toolbar.widgetForAction(actions[key])
        assert toolbar_button is None or not toolbar_button.isEnabled()

    console.add_target(config)
    relist(qtbot, window)
    assert all(actions[key].isEnabled() for key in ON_A_BACKUP)
    assert {key: actions[key].toolTip() for key in ON_A_BACKUP} == own_tips
    assert not window.details.unusable.isVisible() and window.details.metadata_button.isEnabled()
