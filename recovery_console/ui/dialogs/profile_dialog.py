"""Edit a profile from the window (URL, connection mode, target, instance secret; its policy on a second
page), and its typed removal.

Each change is one audited engine call (`Profiles.set_url`, `set_mode`, `set_target`,
`set_instance_secret` for a first secret or `SecretRotation.add` for a newer one, `set_policy`, `remove`), run
in a job when Save is pressed. The mode follows the seed rule:
choosing pool clears the direct acknowledgement, choosing direct clears the direct URL. While the
form holds unsaved changes, `dirty` is True and the window keeps backup and restore disabled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from recovery_console.errors import RecoveryError
from recovery_console.models.profile import ConnectionMode, Profile
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.policy_form import PolicyForm
from recovery_console.ui.widgets.typed_confirmation import typed_confirmation

if TYPE_CHECKING:
    from recovery_console.engine.console import Console
    from recovery_console.engine.progress import Reporter

MODE_LABELS = {ConnectionMode.UNDECLARED: "Not declared (backup and restore disabled)",
               ConnectionMode.DIRECT: "Direct to PostgreSQL",
               ConnectionMode.POOL: "Through a connection pooler"}
NO_TARGET = ""


def removal_dialog(parent: QWidget, name: str) -> QInputDialog:
    """Removal asks for the profile's name typed out; OK stays disabled until it matches."""
    return typed_confirmation(
        parent, "Remove profile", name,
        f"profile name '{name}' to remove it.\n\nIts settings and database passwords are forgotten, and its "
        "instance secret leaves the keyring: the backups stay on their target, but can then be opened only with a "
        "copy of that secret kept elsewhere.", "Remove profile")


class ProfileDialog(QDialog):
    """One saved profile's settings; `saved(name)` once every change was stored, `dirty_changed` as edits come."""

    saved = Signal(str)
    dirty_changed = Signal(bool)

    def __init__(self, console: Console, runner: JobRunner, profile: Profile, targets: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.profile = profile
        self.busy = False
        self.dirty = False
        self.error_boxes: list[QMessageBox] = []
        self.setWindowTitle(f"Edit profile '{profile.name}'")
        self.setAccessibleName(self.windowTitle())

        self.url_edit = QLineEdit(profile.database_url)
        self.url_edit.setPlaceholderText("postgresql://user@host:5432/db (a password goes to the keyring)")
        self.mode_combo = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(profile.mode))
        self.ack_check = QCheckBox("This URL goes straight to PostgreSQL, &not through a pooler")
        self.ack_check.setAccessibleName("The URL is not a connection pooler")
        self.ack_check.setChecked(profile.direct_acknowledged)
        self.direct_edit = QLineEdit(profile.direct_url or "")
        self.direct_edit.setPlaceholderText("the PostgreSQL server behind the pooler, for pg_dump and pg_restore")
        self.target_combo = QComboBox()
        self.target_combo.addItem("No target", NO_TARGET)
        for name in sorted({*targets, *([profile.target] if profile.target else [])}):
            self.target_combo.addItem(name, name)
        self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(profile.target or NO_TARGET)))
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("empty: keep the stored instance secret")
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_note = wrap_label("A new instance secret becomes the profile's newest: the next backups use it, "
                                      "and older backups still open with the secrets before it (see Instance "
                                      "secrets…).", "About a new secret")

        form = QFormLayout()
        form.addRow(buddy_label("Database &URL:", self.url_edit, "Database URL"), self.url_edit)
        form.addRow(buddy_label("&Connection:", self.mode_combo, "Connection mode"), self.mode_combo)
        form.addRow(self.ack_check)
        self.direct_label = buddy_label("&Direct URL:", self.direct_edit, "Direct URL behind the pooler")
        form.addRow(self.direct_label, self.direct_edit)
        form.addRow(buddy_label("&Target:", self.target_combo, "Backup target"), self.target_combo)
        form.addRow(buddy_label("New instance &secret:", self.secret_edit, "New instance secret"), self.secret_edit)
        form.addRow(buddy_label("&Repeat the secret:", self.repeat_edit, "Repeat the new instance secret"),
                    self.repeat_edit)
        form.addRow(self.secret_note)
        self.secrets_button = QPushButton("Instance secre&ts…")
        self.secrets_button.setAccessibleName("Instance secrets: list, add or remove")
        self.secrets_button.clicked.connect(self.show_secrets)
        form.addRow(self.secrets_button)
        self.status_label = wrap_label("", "Profile status")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.policy_form = PolicyForm(profile.policy, [t for t in targets if t != profile.target])
        self.tabs = QTabWidget()
        connection = QWidget()
        connection.setLayout(form)
        self.tabs.addTab(connection, "Co&nnection")
        self.tabs.addTab(self.policy_form, "&Policy")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.resize(620, self.sizeHint().height())

        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self.url_edit.textChanged.connect(self._url_changed)
        for edit in (self.direct_edit, self.secret_edit, self.repeat_edit):
            edit.textChanged.connect(self._changed)
        self.ack_check.toggled.connect(self._changed)
        self.target_combo.currentIndexChanged.connect(self._changed)
        self.policy_form.changed.connect(self._changed)
        self._show_mode_fields()
        self._changed()

    def show_secrets(self) -> None:
        """The profile's instance secrets in rotation: newest first, add and remove (instance_secrets_dialog.py)."""
        from recovery_console.ui.dialogs.instance_secrets_dialog import InstanceSecretsDialog

        self.secrets_dialog = InstanceSecretsDialog(self.console, self.runner, self.profile.name, self)
        self.secrets_dialog.open()

    @property
    def mode(self) -> ConnectionMode:
        return ConnectionMode(self.mode_combo.currentData())

    def _show_mode_fields(self) -> None:
        self.ack_check.setVisible(self.mode is ConnectionMode.DIRECT)
        self.direct_label.setVisible(self.mode is ConnectionMode.POOL)
        self.direct_edit.setVisible(self.mode is ConnectionMode.POOL)

    def _mode_changed(self) -> None:
        """The seed rule: what belonged to the other mode is cleared, never carried over."""
        if self.mode is not ConnectionMode.DIRECT:
            self.ack_check.setChecked(False)
        if self.mode is not ConnectionMode.POOL:
            self.direct_edit.clear()
        self._show_mode_fields()
        self._changed()

    def _url_changed(self) -> None:
        if self.mode is ConnectionMode.DIRECT and self.url_edit.text().strip() != self.profile.database_url:
            self.ack_check.setChecked(False)  # the acknowledgement was for the old URL
        self._changed()

    def _changes(self) -> list[tuple[str, Callable[[], Any]]]:
        """The engine calls that Save makes, in order (leaving direct before a URL change, entering it after)."""
        profiles, name, p = self.console.profiles, self.profile.name, self.profile
        url, mode, ack = self.url_edit.text().strip(), self.mode, self.ack_check.isChecked()
        direct = self.direct_edit.text().strip()
        target = str(self.target_combo.currentData())
        secret = self.secret_edit.text()
        calls: list[tuple[str, Callable[[], Any]]] = []
        url_call = [("the database URL", lambda: profiles.set_url(name, url, acknowledge_direct=ack))]
        if url == p.database_url:
            url_call = []
        mode_changed = (mode, ack if mode is ConnectionMode.DIRECT else False, direct or None) != (
            p.mode, p.direct_acknowledged if p.mode is ConnectionMode.DIRECT else False, p.direct_url)
        mode_call = [("the connection mode", lambda: profiles.set_mode(
            name, mode, acknowledge_direct=ack, direct_url=direct or None))] if mode_changed else []
        calls += url_call + mode_call if mode is ConnectionMode.DIRECT else mode_call + url_call
        if target != (p.target or NO_TARGET) and target:
            calls.append(("the target", lambda: profiles.set_target(name, target)))
        if secret and p.secrets_newest_first:  # the old secret stays, for the backups made with it
            from recovery_console.engine.secret_rotation import SecretRotation

            rotation = SecretRotation(self.console)
            calls.append(("the instance secret", lambda: rotation.add(name, None, secret)))
        elif secret:
            calls.append(("the instance secret",
                          lambda: profiles.set_instance_secret(name, secret, replace_existing=True)))
        if self.policy_form.is_changed() and self.policy_form.error() is None:
            policy = self.policy_form.policy()
            calls.append(("the policy", lambda: profiles.set_policy(name, policy)))
        return calls

    def _changed(self) -> None:
        dirty = bool(self._changes())
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)
        mismatch = bool(self.secret_edit.text()) and self.secret_edit.text() != self.repeat_edit.text()
        undeclared = not ((self.mode is ConnectionMode.DIRECT and self.ack_check.isChecked())
                          or (self.mode is ConnectionMode.POOL and self.direct_edit.text().strip()))
        policy_error = self.policy_form.error()
        if mismatch:
            self.status_label.setText("The two secrets differ.")
        elif policy_error:
            self.status_label.setText(f"Policy: {policy_error}")
        elif undeclared:
            self.status_label.setText("Backup and restore stay disabled until the connection mode is declared "
                                      "(direct, acknowledged; or pool, with a direct URL).")
        elif dirty:
            self.status_label.setText("Unsaved changes: backup and restore are disabled until you save.")
        else:
            self.status_label.setText("")
        self.save_button.setEnabled(dirty and not mismatch and not policy_error and not self.busy)

    def show_error(self, title: str, error: RecoveryError) -> None:
        box = error_box(self, title, error)
        self.error_boxes.append(box)
        box.open()

    def save(self) -> None:
        if not self.busy and self.dirty:
            self.busy = True
            self.save_button.setEnabled(False)
            start_task(self._save())

    async def _save(self) -> None:
        calls = self._changes()

        def apply(_reporter: Reporter) -> Profile:
            for _what, call in calls:
                call()
            return self.console.profiles.store.get(self.profile.name)

        try:
            self.profile = await run_job(self.runner, Job(f"Saving profile {self.profile.name}", apply))
        except RecoveryError as exc:
            with contextlib.suppress(RecoveryError):
                self.profile = self.console.profiles.store.get(self.profile.name)  # what did get saved
            self.show_error("Saving the profile", exc)
            return
        finally:
            self.busy = False
            self.policy_form.saved = self.profile.policy
            self._changed()
        self.saved.emit(self.profile.name)
        self.accept()
