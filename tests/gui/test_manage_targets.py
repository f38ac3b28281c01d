"""Targets managed from the window (issue #15): add outside New profile, edit, test, remove with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from recovery_console.engine.state.audit import AuditLog
from recovery_console.errors import UsageError
from recovery_console.models.target import TargetConfig
from recovery_console.ui.app import create_main_window
from recovery_console.ui.backup_table import COL_TARGET
from recovery_console.ui.dialogs.target_dialog import TargetDialog
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.main_window import MainWindow
from tests.gui.test_main_window import (
    JOB_TIMEOUT,
    click,
    click_list_item,
    dialog_button,
    out_of_band_backup,
    settle,
    type_text,
)

pytestmark = pytest.mark.gui


@pytest.fixture
def target_folder(console, local_target) -> Path:
    return Path(console.targets.load()[local_target].options["path"])


@pytest.fixture(name="open_window")
def open_window_fixture(qtbot, console):
    """`open_window() -> MainWindow`, shown, its first listing done (as in test_main_window)."""
    windows: list[MainWindow] = []

    def open_() -> MainWindow:
        window = create_main_window(console, None)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
            window.show()
        qtbot.waitExposed(window)
        settle(qtbot, window)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.runner.cancel_all()
        qtbot.waitUntil(lambda w=window: not w.runner.running, timeout=JOB_TIMEOUT)
        for dialog in list(window.dialogs):
            dialog.close()


def audit_actions(console) -> list[tuple[str, str, str]]:
    return [(e.action, e.object, e.result) for e in AuditLog.at(console.paths).entries()]


def target_dialog(window) -> TargetDialog:
    dialog = window.controller.manage.target_dialog
    assert isinstance(dialog, TargetDialog)
    return dialog


def test_add_a_local_target_from_the_target_menu(qtbot, console, open_window, tmp_path):
    folder = tmp_path / "second"
    folder.mkdir()
    window = open_window()
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Target")
    assert [a.text() for a in menu.actions()][:2] == ["&Add target…", "&Edit target…"]
    assert window.controller.actions["remove_target"] in window.sidebar.targets_list.actions()  # right-click
    assert window.controller.actions["edit_profile"] in window.sidebar.profiles_list.actions()
    window.controller.actions["add_target"].trigger()
    dialog = target_dialog(window)
    qtbot.waitExposed(dialog)
    assert not dialog.save_button.isEnabled()
    type_text(qtbot, dialog.name_edit, "second")
    type_text(qtbot, dialog.fields.local_path, str(folder))
    click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: dialog.report is not None and not dialog.busy, timeout=JOB_TIMEOUT)
    assert dialog.report is not None and dialog.report.ok
    with qtbot.waitSignal(dialog.saved, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.save_button)
    settle(qtbot, window)
    assert console.targets.load()["second"].options["path"] == str(folder)
    assert window.sidebar.target_item("second") is not None
    assert ("target.add", "second", "ok") in audit_actions(console)


def test_a_missing_folder_is_refused_with_the_engines_words(qtbot, console, open_window, tmp_path):
    window = open_window()
    window.controller.manage.add_target()
    dialog = target_dialog(window)
    type_text(qtbot, dialog.name_edit, "nowhere")
    type_text(qtbot, dialog.fields.local_path, str(tmp_path / "missing"))
    click(qtbot, dialog.save_button)
    qtbot.waitUntil(lambda: bool(dialog.error_boxes), timeout=JOB_TIMEOUT)
    assert "is not an existing folder" in dialog.error_boxes[0].text()
    assert dialog.isVisible() and "nowhere" not in console.targets.load()
    dialog.error_boxes[0].close()


def test_edit_changes_path_and_quota_through_the_audited_call(qtbot, console, open_window, target_folder, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    window = open_window()
    click_list_item(qtbot, window.sidebar.targets_list, "vault")
    assert window.controller.actions["edit_target"].isEnabled()
    window.controller.actions["edit_target"].trigger()
    dialog = target_dialog(window)
    assert dialog.name_edit.text() == "vault" and not dialog.name_edit.isEnabled()
    assert dialog.fields.local_path.text() == str(target_folder)
    dialog.fields.local_path.clear()
    type_text(qtbot, dialog.fields.local_path, str(moved))
    dialog.quota_unit.setCurrentText("GiB")
    dialog.quota_spin.setValue(2)
    with qtbot.waitSignal(dialog.saved, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.save_button)
    settle(qtbot, window)
    saved = console.targets.load()["vault"]
    assert saved.options["path"] == str(moved) and saved.quota == 2 << 30
    assert ("target.update", "vault", "ok") in audit_actions(console)


def test_an_edited_target_shows_its_saved_quota(qtbot, console):
    config = TargetConfig("q", "local", {"path": "/tmp"}, quota=3 << 40)
    dialog = TargetDialog(console, runner=JobRunner(), config=config)
    qtbot.addWidget(dialog)
    assert (dialog.quota_spin.value(), dialog.quota_unit.currentText()) == (3.0, "TiB")
    assert dialog.quota() == 3 << 40


def test_update_target_refuses_a_change_of_kind_and_audits_it(console, local_target):
    with pytest.raises(UsageError, match="kind cannot change"):
        console.update_target(TargetConfig(local_target, "s3", {"bucket": "b"}))
    assert audit_actions(console)[-1] == ("target.update", local_target, "failed")
    assert console.targets.load()[local_target].kind == "local"


def test_remove_says_the_backups_stay_and_keeps_the_files(qtbot, console, open_window, target_folder, tmp_path):
    out_of_band_backup(target_folder, tmp_path)
    window = open_window()
    click_list_item(qtbot, window.sidebar.targets_list, "vault")
    window.controller.actions["remove_target"].trigger()
    box = window.controller.manage.remove_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    said = box.text() + " " + box.informativeText()
    assert "1 backup stay on the storage" in said and "nothing there is deleted" in said
    assert '"target removed"' in said
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    files = sorted(p.name for p in Path(target_folder).rglob("*") if p.is_file())
    click(qtbot, dialog_button(box, "Remove target"))
    qtbot.waitUntil(lambda: "vault" not in console.targets.load(), timeout=JOB_TIMEOUT)
    settle(qtbot, window)
    assert window.sidebar.target_item("vault") is None
    assert sorted(p.name for p in Path(target_folder).rglob("*") if p.is_file()) == files
    assert ("target.remove", "vault", "ok") in audit_actions(console)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 1, timeout=JOB_TIMEOUT)
    model = window.browser.model
    assert model.data(model.index(0, COL_TARGET)) == "vault (target removed)"


def test_remove_cancelled_changes_nothing(qtbot, console, open_window, target_folder):
    window = open_window()
    click_list_item(qtbot, window.sidebar.targets_list, "vault")
    window.controller.manage.remove_target()
    box = window.controller.manage.remove_box
    assert box is not None
    click(qtbot, box.button(QMessageBox.StandardButton.Cancel))
    settle(qtbot, window)
    assert "vault" in console.targets.load()


def test_edit_an_sftp_target_keeps_its_password_and_host_key(qtbot, secret_service, sftp_server, sftp_users,
                                                             sftp_dir, console):
    from recovery_console.engine.state.target_options import sftp_target

    user = sftp_users.password_user
    new = sftp_target("offsite", host=sftp_server.host, port=sftp_server.port, username=user.name,
                      directory=str(sftp_dir), password=user.password)
    options = {**new.config.options, "host_key_fingerprint": sftp_server.fingerprint,
               "host_key_type": sftp_server.host_key_type}
    console.add_target(TargetConfig("offsite", "sftp", options), new.secrets)
    dialog = TargetDialog(console, JobRunner(), console.targets.get("offsite"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.fields.sftp_password.text() == "" and "keep" in dialog.fields.sftp_password.placeholderText()
    dialog.quota_unit.setCurrentText("GiB")
    dialog.quota_spin.setValue(1)
    assert not dialog.save_button.isEnabled()  # a remote target is saved only after a passed test
    click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: dialog.report is not None and not dialog.busy, timeout=JOB_TIMEOUT)
    assert dialog.report is not None and dialog.report.ok  # no host key question: the pinned one is kept
    with qtbot.waitSignal(dialog.saved, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.save_button)
    saved = console.targets.get("offsite")
    assert saved.quota == 1 << 30 and saved.options["host_key_fingerprint"] == sftp_server.fingerprint
    assert console.secrets.get("target:offsite", "password") == user.password


def test_add_an_sftp_target_asks_for_the_host_key_and_pins_it(qtbot, secret_service, sftp_server, sftp_users,
                                                              sftp_dir, console):
    user = sftp_users.password_user
    dialog = TargetDialog(console, JobRunner())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("sftp"))
    type_text(qtbot, dialog.name_edit, "offsite")
    f = dialog.fields
    type_text(qtbot, f.sftp_host, sftp_server.host)
    f.sftp_port.setValue(sftp_server.port)
    type_text(qtbot, f.sftp_user, user.name)
    type_text(qtbot, f.sftp_dir, str(sftp_dir))
    type_text(qtbot, f.sftp_password, user.password)
    click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: dialog.host_key_box is not None and dialog.host_key_box.isVisible(), timeout=JOB_TIMEOUT)
    assert sftp_server.fingerprint in dialog.host_key_box.text()
    click(qtbot, dialog_button(dialog.host_key_box, "Trust this host key"))
    qtbot.waitUntil(lambda: dialog.report is not None and not dialog.busy, timeout=JOB_TIMEOUT)
    assert dialog.report is not None and dialog.report.ok
    with qtbot.waitSignal(dialog.saved, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.save_button)
    saved = console.targets.get("offsite")
    assert saved.options["host_key_fingerprint"] == sftp_server.fingerprint
    assert console.secrets.get("target:offsite", "password") == user.password
    assert ("target.add", "offsite", "ok") in audit_actions(console)
