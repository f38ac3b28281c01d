"""Profiles managed from the window (issue #15): URL, connection mode (the seed rule), target, secret, removal."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

from recovery_console.engine.state.profiles import INSTANCE_SECRET
from recovery_console.errors import UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from recovery_console.ui.dialogs.profile_dialog import ProfileDialog
from tests.gui.test_main_window import JOB_TIMEOUT, click, click_list_item, settle, type_text
from tests.gui.test_manage_targets import audit_actions, open_window_fixture  # noqa: F401 - the fixture, by name

pytestmark = pytest.mark.gui
URL = "postgresql://app@127.0.0.1:1/prod"
DIRECT = "postgresql://app@127.0.0.1:2/prod"


@pytest.fixture
def prod(console, local_target):
    console.profiles.create("prod", URL, target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


def edit(qtbot, window, name: str = "prod") -> ProfileDialog:
    click_list_item(qtbot, window.sidebar.profiles_list, name)
    window.controller.actions["edit_profile"].trigger()
    dialog = window.controller.manage.profile_dialog
    assert isinstance(dialog, ProfileDialog)
    qtbot.waitExposed(dialog)
    return dialog


def save(qtbot, window, dialog: ProfileDialog) -> None:
    with qtbot.waitSignal(dialog.saved, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.save_button)
    settle(qtbot, window)


def test_direct_to_pool_clears_the_acknowledgement_and_backup_waits_for_save(qtbot, console, open_window, prod):
    window = open_window()
    dialog = edit(qtbot, window)
    actions = window.controller.actions
    assert dialog.ack_check.isChecked() and actions["create"].isEnabled() and actions["restore"].isEnabled()
    dialog.mode_combo.setCurrentIndex(dialog.mode_combo.findData(ConnectionMode.POOL))
    assert not dialog.ack_check.isChecked() and dialog.direct_edit.isVisible()
    assert not actions["create"].isEnabled() and not actions["restore"].isEnabled()
    type_text(qtbot, dialog.direct_edit, DIRECT)
    save(qtbot, window, dialog)
    profile = console.profiles.store.get("prod")
    assert (profile.mode, profile.direct_acknowledged, profile.direct_url) == (ConnectionMode.POOL, False, DIRECT)
    assert ("profile.set-mode", "prod", "ok") in audit_actions(console)
    assert actions["create"].isEnabled() and actions["restore"].isEnabled()


def test_pool_to_direct_clears_the_direct_url_and_needs_the_acknowledgement(qtbot, console, open_window, prod):
    console.profiles.set_mode("prod", ConnectionMode.POOL, direct_url=DIRECT)
    window = open_window()
    dialog = edit(qtbot, window)
    assert dialog.direct_edit.text() == DIRECT
    dialog.mode_combo.setCurrentIndex(dialog.mode_combo.findData(ConnectionMode.DIRECT))
    assert dialog.direct_edit.text() == "" and not dialog.ack_check.isChecked()
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: bool(dialog.error_boxes), timeout=JOB_TIMEOUT)
    assert "acknowledgement" in dialog.error_boxes[0].text()
    dialog.error_boxes[0].close()
    assert console.profiles.store.get("prod").mode is ConnectionMode.POOL
    dialog.ack_check.setChecked(True)
    save(qtbot, window, dialog)
    profile = console.profiles.store.get("prod")
    assert (profile.mode, profile.direct_acknowledged, profile.direct_url) == (ConnectionMode.DIRECT, True, None)


def test_a_new_url_on_a_direct_profile_asks_for_the_acknowledgement_again(qtbot, console, open_window, prod,
                                                                         tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    console.add_target(TargetConfig("other", "local", {"path": str(folder)}))
    window = open_window()
    dialog = edit(qtbot, window)
    new_url = "postgresql://app@127.0.0.1:3/prod"
    dialog.url_edit.clear()
    type_text(qtbot, dialog.url_edit, new_url)
    assert not dialog.ack_check.isChecked()
    dialog.ack_check.setChecked(True)
    dialog.target_combo.setCurrentIndex(dialog.target_combo.findData("other"))
    save(qtbot, window, dialog)
    profile = console.profiles.store.get("prod")
    assert (profile.database_url, profile.target, profile.mode) == (new_url, "other", ConnectionMode.DIRECT)
    assert {("profile.set-url", "prod", "ok"), ("profile.set-target", "prod", "ok")} <= set(audit_actions(console))


def test_set_url_refuses_a_direct_profile_without_acknowledgement(console, prod):
    with pytest.raises(UsageError, match="acknowledgement"):
        console.profiles.set_url("prod", "postgresql://elsewhere/prod")
    assert console.profiles.store.get("prod").database_url == URL
    assert audit_actions(console)[-1] == ("profile.set-url", "prod", "failed")


def test_replace_the_instance_secret(qtbot, secret_service, console, open_window, prod):
    window = open_window()
    dialog = edit(qtbot, window)
    type_text(qtbot, dialog.secret_edit, "new secret 1")
    type_text(qtbot, dialog.repeat_edit, "new secret 2")
    assert not dialog.save_button.isEnabled() and "differ" in dialog.status_label.text()
    dialog.repeat_edit.clear()
    type_text(qtbot, dialog.repeat_edit, "new secret 1")
    save(qtbot, window, dialog)
    assert console.profiles.instance_secret("prod") == "new secret 1"
    assert INSTANCE_SECRET in console.profiles.store.get("prod").stored_secrets


def test_remove_needs_the_name_typed(qtbot, console, open_window, prod):
    window = open_window()
    click_list_item(qtbot, window.sidebar.profiles_list, "prod")
    window.controller.actions["remove_profile"].trigger()
    box = window.controller.manage.remove_profile_box
    assert box is not None and "instance secret leaves the keyring" in box.labelText()
    ok = box.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    line = box.findChild(QLineEdit)
    type_text(qtbot, line, "pro")
    assert not ok.isEnabled()
    type_text(qtbot, line, "d")
    assert ok.isEnabled()
    click(qtbot, ok)
    qtbot.waitUntil(lambda: "prod" not in console.profiles.store.load(), timeout=JOB_TIMEOUT)
    settle(qtbot, window)
    assert window.sidebar.profiles_list.count() == 0
    assert ("profile.remove", "prod", "ok") in audit_actions(console)
