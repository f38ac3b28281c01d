"""File → Export configuration…: targets, profiles and policies to a file, optionally sealed with the secrets."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.state.config_bundle import passphrase_strength
from recovery_console.engine.state.config_transfer import ExportSummary
from recovery_console.errors import RecoveryError
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored

LEVEL_COLORS = {"weak": FAIL_COLOR, "fair": WARN_COLOR, "strong": PASS_COLOR}


def passphrase_edit(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setAccessibleName(name)
    return edit


class ConfigExportDialog(QDialog):
    """Where to write, and whether to seal the file with a passphrase (then the keyring's secrets go with it)."""

    exported = Signal(object)

    def __init__(self, console: Console, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.busy = False
        self.replace_ok = False
        self.summary: ExportSummary | None = None
        self.error: QMessageBox | None = None
        self.setWindowTitle("Export configuration")
        self.setAccessibleName("Export configuration")

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("e.g. /media/usb/console-config.rcx")
        self.path_edit.textEdited.connect(self._path_typed)
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Choose the export file")
        browse.clicked.connect(self.choose_file)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.encrypt_check = QCheckBox("&Encrypt with a passphrase and include the secrets")
        self.encrypt_check.setAccessibleName("Encrypt and include the secrets")
        self.encrypt_check.setChecked(True)
        self.passphrase_edit = passphrase_edit("Passphrase")
        self.repeat_edit = passphrase_edit("Repeat the passphrase")
        self.strength_label = wrap_label("", "Passphrase strength", rich=True)
        self.weak_check = QCheckBox("Use this &weak passphrase anyway")
        self.weak_check.setAccessibleName("Use a weak passphrase anyway")
        form = QFormLayout()
        form.addRow(buddy_label("&File:", self.path_edit, "Export file"), path_row)
        form.addRow("", self.encrypt_check)
        form.addRow(buddy_label("&Passphrase:", self.passphrase_edit, "Passphrase"), self.passphrase_edit)
        form.addRow(buddy_label("&Repeat:", self.repeat_edit, "Repeat the passphrase"), self.repeat_edit)
        form.addRow("", self.strength_label)
        form.addRow("", self.weak_check)
        self.note = wrap_label("", "What the export holds")
        self.result_label = wrap_label("", "Export result")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("E&xport", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setAccessibleName("Export the configuration")
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.result_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        for widget in (self.path_edit, self.passphrase_edit, self.repeat_edit):
            widget.textChanged.connect(self._changed)
        for check in (self.encrypt_check, self.weak_check):
            check.toggled.connect(self._changed)
        self._changed()
        self.resize(620, self.sizeHint().height())

    def _path_typed(self) -> None:
        self.replace_ok = False  # only the file chooser's own overwrite question lets a file be replaced

    def choose_file(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export configuration", "console-config.rcx",
                                              "Configuration (*.rcx *.json);;All files (*)")
        if name:
            self.path_edit.setText(name)
            self.replace_ok = True

    def _changed(self) -> None:
        sealed = self.encrypt_check.isChecked()
        for widget in (self.passphrase_edit, self.repeat_edit):
            widget.setEnabled(sealed)
        passphrase = self.passphrase_edit.text()
        strength = passphrase_strength(passphrase) if sealed and passphrase else None
        text = ""
        if strength is not None:
            text = colored(f"Strength: {strength.level}", LEVEL_COLORS[strength.level], True) + \
                f" (an estimate from its length and kinds of characters). {strength.advice}"
            if self.repeat_edit.text() and self.repeat_edit.text() != passphrase:
                text += "<br>" + colored("The two passphrases differ.", FAIL_COLOR, True)
        self.strength_label.setText(text)
        self.weak_check.setVisible(strength is not None and strength.level == "weak")
        self.note.setText(
            "The file will hold the targets, the profiles and their policies, and the instance secrets, target "
            "logins and database passwords from the OS keyring, sealed with the passphrase." if sealed else
            "The file will hold the targets, the profiles and their policies as readable text, and no secrets: "
            "on the other machine they have to be given again.")
        ready = bool(self.path_edit.text().strip()) and not self.busy
        if sealed:
            ready = ready and bool(passphrase) and passphrase == self.repeat_edit.text() and (
                strength is None or strength.level != "weak" or self.weak_check.isChecked())
        self.export_button.setEnabled(ready)

    def export(self) -> None:
        if self.export_button.isEnabled():
            self.busy = True
            self._changed()
            start_task(self._export())

    async def _export(self) -> None:
        path = Path(self.path_edit.text().strip()).expanduser()
        passphrase = self.passphrase_edit.text() if self.encrypt_check.isChecked() else None
        allow_weak, replace = self.weak_check.isChecked(), self.replace_ok
        transfer = self.console.config_transfer()
        try:
            summary: ExportSummary = await run_job(self.runner, Job(
                "Exporting the configuration",
                lambda r: transfer.export(path, passphrase=passphrase, allow_weak=allow_weak, overwrite=replace),
                key="config-transfer"))
        except RecoveryError as exc:
            self.error = error_box(self, "Export configuration", exc)
            self.error.open()
            return
        finally:
            self.busy = False
            self._changed()
        self.summary = summary
        self.exported.emit(summary)
        self.accept()
