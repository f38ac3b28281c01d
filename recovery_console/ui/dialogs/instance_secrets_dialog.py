"""A profile's instance secrets (docs/SECRETS.md section 6): the list, newest first, with Add (generated, shown once
with its escrow sheet, or entered) and Remove (the label typed out when kept backups still need the secret).

Every change is one audited engine call (`SecretRotation.add`, `remove`) run as a job, off the GUI thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.escrow_sheet import EscrowSheet
from recovery_console.engine.secret_rotation import (
    AddedSecret,
    Needed,
    SecretRotation,
    default_label,
    needed_count,
    needed_name,
)
from recovery_console.engine.who import user_at_host
from recovery_console.errors import RecoveryError
from recovery_console.models.profile import InstanceSecret
from recovery_console.ui.dialogs.escrow_dialog import EscrowSheetDialog
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.typed_confirmation import typed_confirmation

if TYPE_CHECKING:
    from recovery_console.engine.console import Console


class InstanceSecretsDialog(QDialog):
    """The secrets of one profile; Add makes the newest (what new backups use), Remove is guarded."""

    def __init__(self, console: Console, runner: JobRunner, profile: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rotation = SecretRotation(console)
        self.runner = runner
        self.profile = profile
        self.busy = False
        self.boxes: list[QDialog] = []
        self.setWindowTitle(f"Instance secrets of '{profile}'")
        self.setAccessibleName(self.windowTitle())
        intro = wrap_label("New backups use the newest secret (the first row). Older backups open with the secret "
                           "they were made with, tried in this order; keep each secret until no kept backup needs "
                           "it.", "About instance secrets")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Label", "Added (UTC)", "Use"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAccessibleName("Instance secrets, newest first")
        self.table.horizontalHeader().setStretchLastSection(True)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText(default_label())
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("empty: generate a new 256-bit secret")
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.add_button = QPushButton("&Add as newest")
        self.remove_button = QPushButton("&Remove…")
        self.status_label = wrap_label("", "Instance secrets status")
        form = QFormLayout()
        form.addRow(buddy_label("&Label:", self.label_edit, "Label of the new secret"), self.label_edit)
        form.addRow(buddy_label("&Secret:", self.secret_edit, "New instance secret"), self.secret_edit)
        form.addRow(buddy_label("R&epeat:", self.repeat_edit, "Repeat the new instance secret"), self.repeat_edit)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (intro, self.table):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)
        self.add_button.clicked.connect(lambda: self._start(self._add()))
        self.remove_button.clicked.connect(lambda: self._start(self._remove()))
        for edit in (self.secret_edit, self.repeat_edit):
            edit.textChanged.connect(self._update)
        self.table.itemSelectionChanged.connect(self._update)
        self.resize(560, 420)
        self.refresh()

    @property
    def secrets(self) -> tuple[InstanceSecret, ...]:
        return self.rotation.secrets(self.profile)

    def refresh(self) -> None:
        """The list from profiles.json (no keyring read, no key derivation)."""
        secrets = self.secrets
        self.table.setRowCount(len(secrets))
        for index, secret in enumerate(secrets):
            use = "new backups" if index == 0 else "opens older backups"
            for column, text in enumerate((secret.label, secret.created or "before rotation", use)):
                self.table.setItem(index, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._update()

    def selected(self) -> InstanceSecret | None:
        rows = self.table.selectionModel().selectedRows()
        secrets = self.secrets
        return secrets[rows[0].row()] if rows and rows[0].row() < len(secrets) else None

    def _update(self) -> None:
        mismatch = self.secret_edit.text() != self.repeat_edit.text()
        if mismatch:
            self.status_label.setText("The two secrets differ.")
        self.add_button.setEnabled(not self.busy and not mismatch)
        self.remove_button.setEnabled(not self.busy and self.selected() is not None)

    def _start(self, flow: Coroutine[Any, Any, None]) -> None:
        if self.busy:
            flow.close()
            return
        self.busy = True
        self._update()
        start_task(flow)

    def _done(self, status: str) -> None:
        self.busy = False
        self.status_label.setText(status)
        self.refresh()

    def _show_error(self, title: str, error: RecoveryError) -> None:
        box = error_box(self, title, error)
        self.boxes.append(box)
        box.open()

    async def _add(self) -> None:
        label = self.label_edit.text().strip() or None
        value = self.secret_edit.text() or None
        try:
            added: AddedSecret = await run_job(self.runner, Job(
                f"Adding an instance secret to {self.profile}",
                lambda _r: self.rotation.add(self.profile, label, value), key="keyring"))
        except RecoveryError as exc:
            self._done("")
            self._show_error("Secret not added", exc)
            return
        for edit in (self.label_edit, self.secret_edit, self.repeat_edit):
            edit.clear()
        self._done(f"'{added.secret.label}' added: new backups use it.")
        if added.generated is not None:
            sheet = EscrowSheet(self.profile, added.generated, added.secret.created or "", user_at_host(),
                                f"The backups of profile '{self.profile}' made with its secret "
                                f"'{added.secret.label}' (new backups from {added.secret.created}).")
            escrow = EscrowSheetDialog(sheet, self)
            self.boxes.append(escrow)
            escrow.open()

    async def _remove(self) -> None:
        secret = self.selected()
        if secret is None:
            self._done("")
            return
        try:
            needing: list[Needed] = await run_job(self.runner, Job(
                f"Finding the backups that need '{secret.label}'",
                lambda r: self.rotation.needed_by(self.profile, secret.label, r), key="keyring"))
        except RecoveryError as exc:
            self._done("")
            self._show_error("Secret not removed", exc)
            return
        go, confirm = await self._confirm(secret, needing)
        if not go:
            self._done("Nothing was removed.")
            return
        try:
            await run_job(self.runner, Job(
                f"Removing the instance secret '{secret.label}'",
                lambda r: self.rotation.remove(self.profile, secret.label, force=bool(needing), confirm=confirm,
                                               reporter=r), key="keyring"))
        except RecoveryError as exc:
            self._done("")
            self._show_error("Secret not removed", exc)
            return
        self._done(f"'{secret.label}' removed from the profile and the keyring.")

    async def _confirm(self, secret: InstanceSecret, needing: list[Needed]) -> tuple[bool, str | None]:
        """Whether to go on, and the label typed out (asked when kept backups need the secret; else yes or no)."""
        done: asyncio.Future[tuple[bool, str | None]] = asyncio.get_running_loop().create_future()

        def answer(go: bool, typed: str | None) -> None:
            if not done.done():
                done.set_result((go, typed))

        dialog: QDialog
        if needing:
            names = ", ".join(needed_name(r) for r in needing[:10]) + (" …" if len(needing) > 10 else "")
            typed = typed_confirmation(
                self, "Remove a needed secret", secret.label,
                f"label '{secret.label}' to remove it anyway.\n\n{needed_count(needing)} open only "
                f"with it: {names}. Once it is removed they open only with a copy of it kept elsewhere (its escrow "
                "sheet).",
                "Remove secret")
            typed.finished.connect(lambda result: answer(result == QDialog.DialogCode.Accepted, typed.textValue()))
            dialog = typed
        else:
            box = QMessageBox(QMessageBox.Icon.Question, "Remove secret",
                              f"Remove the instance secret '{secret.label}'? No kept backup needs it.",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
            box.finished.connect(lambda _result: answer(
                box.clickedButton() is box.button(QMessageBox.StandardButton.Yes), None))
            dialog = box
        self.boxes.append(dialog)
        self.confirmation = dialog
        dialog.open()
        return await done
