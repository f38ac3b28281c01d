"""File → Import configuration…: preview what an export would add or change, settle each conflict, import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.state.config_transfer import ImportOutcome, ImportPlan, PlannedChange
from recovery_console.errors import RecoveryError
from recovery_console.ui.dialogs.config_export_dialog import passphrase_edit
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label

COLUMNS = ["Kind", "Name", "What happens", "Differs in", "Secrets"]
ACTION_TEXT = {"add": "Added", "unchanged": "Already here, unchanged"}


def choice_combo(change: PlannedChange) -> QComboBox:
    """Keep ours, replace ours, or import under a new name: the choice for one conflict."""
    combo = QComboBox()
    combo.addItem("Keep ours", "keep")
    combo.addItem("Replace ours", "replace")
    combo.addItem(f"Import as '{change.rename_to}'", "rename")
    combo.setAccessibleName(f"Conflict over {change.kind} {change.name}")
    return combo


class ConfigImportDialog(QDialog):
    """Pick an export (and its passphrase), preview it row by row, then import with the choices made."""

    imported = Signal(object)

    def __init__(self, console: Console, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.transfer = console.config_transfer()
        self.busy = False
        self.plan: ImportPlan | None = None
        self.combos: dict[tuple[str, str], QComboBox] = {}
        self.outcomes: list[ImportOutcome] = []
        self.error: QMessageBox | None = None
        self.setWindowTitle("Import configuration")
        self.setAccessibleName("Import configuration")

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("an exported configuration file")
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Choose the file to import")
        browse.clicked.connect(self.choose_file)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.passphrase_edit = passphrase_edit("Passphrase of the export")
        self.preview_button = QPushButton("&Preview")
        self.preview_button.setAccessibleName("Preview the import")
        self.preview_button.clicked.connect(self.preview)
        pass_row = QHBoxLayout()
        pass_row.addWidget(self.passphrase_edit, 1)
        pass_row.addWidget(self.preview_button)
        form = QFormLayout()
        form.addRow(buddy_label("&File:", self.path_edit, "File to import"), path_row)
        form.addRow(buddy_label("&Passphrase:", self.passphrase_edit, "Passphrase of the export"), pass_row)
        self.source_label = wrap_label("Choose a file and preview it: nothing is changed until you import.",
                                       "About the export")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("What the import would do")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.warnings_label = wrap_label("", "Import warnings")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("&Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setAccessibleName("Import the configuration")
        self.buttons.accepted.connect(self.run_import)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.source_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.buttons)
        self.path_edit.textChanged.connect(self._path_changed)
        self.passphrase_edit.textChanged.connect(self._forget_plan)
        self._path_changed()
        self.resize(760, 460)

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import configuration", "",
                                              "Configuration (*.rcx *.json);;All files (*)")
        if name:
            self.path_edit.setText(name)

    def _sealed(self) -> bool | None:
        path = Path(self.path_edit.text().strip()).expanduser()
        if not path.is_file():
            return None
        try:
            return self.transfer.needs_passphrase(path)
        except RecoveryError:
            return None

    def _path_changed(self) -> None:
        sealed = self._sealed()
        self.passphrase_edit.setEnabled(bool(sealed))
        self._forget_plan()

    def _forget_plan(self) -> None:
        self.plan = None
        self.table.setRowCount(0)
        self.combos.clear()
        self.warnings_label.setText("")
        self._update_buttons()

    def _update_buttons(self) -> None:
        sealed = self._sealed()
        self.preview_button.setEnabled(not self.busy and sealed is not None and (
            not sealed or bool(self.passphrase_edit.text())))
        self.import_button.setEnabled(not self.busy and self.plan is not None)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()

    def preview(self) -> None:
        if self.preview_button.isEnabled():
            self._set_busy(True)
            start_task(self._preview())

    async def _preview(self) -> None:
        path = Path(self.path_edit.text().strip()).expanduser()
        passphrase = self.passphrase_edit.text() or None
        transfer = self.transfer
        try:
            plan: ImportPlan = await run_job(self.runner, Job(
                "Reading the exported configuration", lambda r: transfer.plan(path, passphrase),
                key="config-transfer"))
        except RecoveryError as exc:
            self._show_error(exc)
            return
        finally:
            self._set_busy(False)
        self.show_plan(plan)

    def show_plan(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.combos.clear()
        self.table.setRowCount(len(plan.changes))
        for row, change in enumerate(plan.changes):
            cells = [change.kind.capitalize(), change.name, ACTION_TEXT.get(change.action, ""),
                     ", ".join(d.replace("_", " ") for d in change.differences),
                     ", ".join(s.replace("_", " ") for s in change.secrets) or "none"]
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
            if change.action == "conflict":
                combo = choice_combo(change)
                self.combos[change.key] = combo
                self.table.setCellWidget(row, 2, combo)
        document = plan.document
        sealed = "encrypted, with secrets" if document.sealed else "readable, without secrets"
        self.source_label.setText(f"Exported {document.exported_at or 'at an unknown time'} by "
                                  f"{document.exported_by or 'unknown'} ({sealed}). Nothing is changed until you "
                                  "import.")
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in plan.warnings))
        self._update_buttons()

    def choices(self) -> dict[tuple[str, str], str]:
        return {key: str(combo.currentData()) for key, combo in self.combos.items()}

    def run_import(self) -> None:
        if self.import_button.isEnabled():
            self._set_busy(True)
            start_task(self._import())

    async def _import(self) -> None:
        plan, choices, transfer = self.plan, self.choices(), self.transfer
        assert plan is not None
        try:
            outcomes: list[ImportOutcome] = await run_job(self.runner, Job(
                "Importing the configuration", lambda r: transfer.apply(plan, choices), key="config-transfer"))
        except RecoveryError as exc:
            self._show_error(exc)
            self.imported.emit([])  # what was imported before the failure is listed again by the window
            return
        finally:
            self._set_busy(False)
        self.outcomes = outcomes
        self.imported.emit(outcomes)
        self.accept()

    def _show_error(self, exc: RecoveryError) -> None:
        self.error = error_box(self, "Import configuration", exc)
        self.error.open()
