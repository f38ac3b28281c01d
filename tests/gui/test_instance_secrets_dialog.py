"""The profile's "Instance secrets" dialog (rotation, #18) against a real gnome-keyring: a generated newest secret
shown once, a needed secret removed only with its label typed, and "Opens with" in the details pane."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.engine.state.keyring_store import profile_scope
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.dialogs.escrow_dialog import EscrowSheetDialog
from recovery_console.ui.dialogs.instance_secrets_dialog import InstanceSecretsDialog
from recovery_console.ui.dialogs.verify import VerifyDialog
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.secrets import FixedSecret
from tests.fixtures.console import SECRET
from tests.gui.test_main_window import JOB_TIMEOUT, click, click_row, type_text
from tests.gui.test_manage_profiles import edit, save
from tests.gui.test_manage_targets import audit_actions, open_window_fixture  # noqa: F401 - the fixture, by name

pytestmark = pytest.mark.gui


def test_add_a_generated_secret_and_remove_a_needed_one_only_by_typing_its_label(
        qtbot, secret_service, console, local_target, make_backup, open_window):
    console.profiles.create("prod", "postgresql://app@127.0.0.1:1/prod", target=local_target, instance_secret=SECRET)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = make_backup()
    SecretRotation(console).record_made(record, "prod", SECRET)
    window = open_window()
    click_row(qtbot, window, 0)
    assert window.details.file_labels["opens_with"].text() == "original key (profile prod)"

    profile_dialog = edit(qtbot, window)
    click(qtbot, profile_dialog.secrets_button)
    dialog = profile_dialog.secrets_dialog
    assert isinstance(dialog, InstanceSecretsDialog)
    qtbot.waitExposed(dialog)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 0).text() == "original key"

    type_text(qtbot, dialog.label_edit, "2026-12 key")
    click(qtbot, dialog.add_button)  # no secret typed: one is generated, and shown once
    qtbot.waitUntil(lambda: any(isinstance(b, EscrowSheetDialog) for b in dialog.boxes), timeout=JOB_TIMEOUT)
    escrow = next(b for b in dialog.boxes if isinstance(b, EscrowSheetDialog))
    assert [dialog.table.item(r, 0).text() for r in range(2)] == ["2026-12 key", "original key"]
    newest = console.profiles.store.get("prod").instance_secrets[0]
    assert console.secrets.get(profile_scope("prod"), newest.entry) == escrow.sheet.secret
    assert console.profiles.instance_secret("prod") == escrow.sheet.secret  # new backups use it
    escrow.close()

    dialog.table.selectRow(1)
    click(qtbot, dialog.remove_button)
    qtbot.waitUntil(lambda: getattr(dialog, "confirmation", None) is not None and dialog.confirmation.isVisible(),
                    timeout=JOB_TIMEOUT)
    confirmation = dialog.confirmation
    assert record.short_id in confirmation.labelText()
    line = confirmation.findChild(QLineEdit)
    ok = confirmation.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    type_text(qtbot, line, "original")
    assert not ok.isEnabled()  # only the exact label enables it
    type_text(qtbot, line, " key")
    assert ok.isEnabled()
    click(qtbot, ok)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1 and not dialog.busy, timeout=JOB_TIMEOUT)
    assert dialog.table.item(0, 0).text() == "2026-12 key"
    assert console.secrets.get(profile_scope("prod"), "instance_secret") is None
    assert ("profile.secret-remove", "prod", "ok") in audit_actions(console)


def test_verify_given_the_newest_secret_opens_an_older_backup_with_the_secret_it_needs(
        qtbot, secret_service, console, local_target, make_backup):
    console.profiles.create("prod", "postgresql://app@127.0.0.1:1/prod", target=local_target, instance_secret=SECRET)
    record = make_backup()  # made with the original secret; the catalog does not know that yet
    newest = SecretRotation(console).add("prod", "2026-12 key").generated
    assert newest is not None and console.profiles.instance_secret("prod") == newest
    dialog = VerifyDialog(console, record, secrets=FixedSecret(newest), runner=JobRunner())
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.verified, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    qtbot.waitUntil(lambda: not dialog.running, timeout=JOB_TIMEOUT)
    assert console.catalog.opened_with()[(record.target, record.key)].label == "original key"


def test_a_new_secret_typed_in_the_profile_dialog_keeps_the_old_one_for_older_backups(
        qtbot, secret_service, console, local_target, open_window):
    console.profiles.create("prod", "postgresql://app@127.0.0.1:1/prod", target=local_target, instance_secret=SECRET)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    window = open_window()
    dialog = edit(qtbot, window)
    type_text(qtbot, dialog.secret_edit, "the december secret")
    type_text(qtbot, dialog.repeat_edit, "the december secret")
    save(qtbot, window, dialog)
    assert console.profiles.instance_secret("prod") == "the december secret"
    assert [s.label for s in SecretRotation(console).secrets("prod")][1:] == ["original key"]
    assert console.secrets.get(profile_scope("prod"), "instance_secret") == SECRET
