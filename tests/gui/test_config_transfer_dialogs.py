"""File → Export / Import configuration (issue #18): the passphrase with its strength, the preview with a
keep/replace/rename choice per conflict, and refusals that change nothing. Real gnome-keyring, real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QComboBox

from recovery_console.engine.console import Console
from recovery_console.engine.state.keyring_store import INSTANCE_SECRET
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.profile import Profile
from recovery_console.models.target import TargetConfig
from recovery_console.ui.app import create_main_window
from recovery_console.ui.dialogs.config_import_dialog import ConfigImportDialog
from recovery_console.ui.jobs import JobRunner
from tests.gui.test_main_window import JOB_TIMEOUT, click, settle, type_text

pytestmark = pytest.mark.gui

PASSPHRASE = "lantern orbit 42 velvet-crane"


@pytest.fixture
def window(qtbot, console, secret_service, tmp_path):
    console.add_target(TargetConfig("vault", "local", {"path": str(tmp_path)}))
    console.profiles.create("prod", "postgresql://app:dbpass@db/app", target="vault", instance_secret="inst ✓")
    win = create_main_window(console, None)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        win.show()
    qtbot.waitExposed(win)
    settle(qtbot, win)
    yield win
    win.runner.cancel_all()
    qtbot.waitUntil(lambda: not win.runner.running, timeout=JOB_TIMEOUT)
    for dialog in list(win.dialogs):
        dialog.close()


def _menu_texts(window) -> list[str]:
    file_menu = window.menuBar().actions()[0].menu()
    return [a.text().replace("&", "") for a in file_menu.actions()]


def export_sealed(qtbot, window, path: Path) -> None:
    window.config_actions.export_action.trigger()
    dialog = window.config_actions.export_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.path_edit.setText(str(path))
    assert dialog.encrypt_check.isChecked()
    type_text(qtbot, dialog.passphrase_edit, "short1")
    type_text(qtbot, dialog.repeat_edit, "short1")
    assert "weak" in dialog.strength_label.text() and dialog.weak_check.isVisible()
    assert not dialog.export_button.isEnabled()  # weak, unless confirmed
    dialog.passphrase_edit.setText(PASSPHRASE)
    assert not dialog.export_button.isEnabled() and "differ" in dialog.strength_label.text()
    dialog.repeat_edit.setText(PASSPHRASE)
    assert "strong" in dialog.strength_label.text() and not dialog.weak_check.isVisible()
    click(qtbot, dialog.export_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=JOB_TIMEOUT)
    assert dialog.summary is not None and dialog.summary.secrets == 2


def test_export_and_import_from_the_file_menu_with_a_choice_per_conflict(qtbot, window, console, tmp_path):
    assert "Export configuration…" in _menu_texts(window) and "Import configuration…" in _menu_texts(window)
    sealed = tmp_path / "config.rcx"
    export_sealed(qtbot, window, sealed)
    assert sealed.stat().st_mode & 0o777 == 0o600 and b"dbpass" not in sealed.read_bytes()

    other = Console(AppPaths(config_dir=tmp_path / "b" / "config", data_dir=tmp_path / "b" / "data"))
    other.add_target(TargetConfig("vault", "local", {"path": "/somewhere/else"}))
    other.profiles.store.add(Profile("prod", "postgresql://other@db/other"))
    runner = JobRunner()
    dialog = ConfigImportDialog(other, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path_edit.setText(str(sealed))
    assert dialog.passphrase_edit.isEnabled() and not dialog.preview_button.isEnabled()

    type_text(qtbot, dialog.passphrase_edit, PASSPHRASE + "x")
    click(qtbot, dialog.preview_button)
    qtbot.waitUntil(lambda: dialog.error is not None and dialog.error.isVisible(), timeout=JOB_TIMEOUT)
    assert "passphrase does not open" in dialog.error.text() and dialog.plan is None
    assert not dialog.import_button.isEnabled()
    dialog.error.close()

    dialog.passphrase_edit.setText(PASSPHRASE)
    click(qtbot, dialog.preview_button)
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=JOB_TIMEOUT)
    rows = {(dialog.table.item(r, 0).text(), dialog.table.item(r, 1).text()): r for r in range(dialog.table.rowCount())}
    assert set(rows) == {("Target", "vault"), ("Profile", "prod")}
    target_choice = dialog.table.cellWidget(rows[("Target", "vault")], 2)
    profile_choice = dialog.table.cellWidget(rows[("Profile", "prod")], 2)
    assert isinstance(target_choice, QComboBox) and isinstance(profile_choice, QComboBox)
    assert "options" in dialog.table.item(rows[("Target", "vault")], 3).text()
    target_choice.setCurrentIndex(target_choice.findData("rename"))
    profile_choice.setCurrentIndex(profile_choice.findData("replace"))
    shot = tmp_path / "preview.png"
    dialog.grab().save(str(shot))

    click(qtbot, dialog.import_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=JOB_TIMEOUT)
    assert {(o.name, o.result, o.stored_as) for o in dialog.outcomes} == {
        ("vault", "renamed", "vault-imported"), ("prod", "replaced", "prod")}
    prod = other.profiles.store.get("prod")
    assert prod.target == "vault-imported" and prod.database_url == "postgresql://app@db/app"
    assert other.targets.get("vault").options == {"path": "/somewhere/else"}
    assert other.profiles.instance_secret("prod") == "inst ✓"
    assert INSTANCE_SECRET in prod.stored_secrets


def test_a_plain_export_and_a_tampered_file_in_the_import_dialog(qtbot, window, console, tmp_path):
    window.config_actions.export_action.trigger()
    dialog = window.config_actions.export_dialog
    plain = tmp_path / "config.json"
    dialog.path_edit.setText(str(plain))
    click(qtbot, dialog.encrypt_check)
    assert not dialog.passphrase_edit.isEnabled() and "no secrets" in dialog.note.text()
    click(qtbot, dialog.export_button)
    qtbot.waitUntil(lambda: plain.exists(), timeout=JOB_TIMEOUT)
    assert "dbpass" not in plain.read_text("utf-8") and json.loads(plain.read_text("utf-8"))["schema_version"] == 1

    sealed = tmp_path / "config.rcx"
    export_sealed(qtbot, window, sealed)
    raw = bytearray(sealed.read_bytes())
    raw[len(raw) // 2] ^= 1
    sealed.write_bytes(bytes(raw))

    window.config_actions.import_action.trigger()
    importer = window.config_actions.import_dialog
    assert importer is not None
    importer.path_edit.setText(str(sealed))
    importer.passphrase_edit.setText(PASSPHRASE)
    click(qtbot, importer.preview_button)
    qtbot.waitUntil(lambda: importer.error is not None and importer.error.isVisible(), timeout=JOB_TIMEOUT)
    assert "damaged or was altered" in importer.error.text() and importer.plan is None
    importer.error.close()

    importer.path_edit.setText(str(plain))
    assert not importer.passphrase_edit.isEnabled()
    click(qtbot, importer.preview_button)
    qtbot.waitUntil(lambda: importer.plan is not None, timeout=JOB_TIMEOUT)
    assert {importer.table.item(r, 2).text() for r in range(importer.table.rowCount())} == {
        "Already here, unchanged"}
    assert "no secrets" in importer.warnings_label.text()
