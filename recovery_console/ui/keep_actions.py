"""Pin (legal hold), Unpin and Copy to target… on the selected backup, and the details lines that show them.

Each action asks what it needs (a reason, a target) in a non-blocking dialog, then runs one engine call
(`pinning.pin`/`unpin`, `replicate.replicate`) in a job through `MainWindow.submit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QInputDialog, QLineEdit, QWidget

from recovery_console.engine import pinning
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.replicate import CopyResult, replicate
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import BackupRecord
from recovery_console.ui.backup_table import format_time, locate_record
from recovery_console.ui.jobs import Job

if TYPE_CHECKING:
    from recovery_console.ui.main_window import MainWindow


def target_text(console: Console, record: BackupRecord) -> str:
    """The details' Target line: 'vault', with '· also on offsite-s3' for copies and '· PINNED: reason (since …)'."""
    parts = [record.target]
    try:
        where = pinning.copies(r for r in console.catalog.records() if r.key == record.key)
        others = [name for name in where.get(record.key, []) if name != record.target]
        if others:
            parts.append(f"also on {', '.join(others)}")
        held = console.pins.get(record.target, record.key)
    except RecoveryError as exc:
        return f"{record.target} · pins and copies unknown: {exc.message}"
    if held is not None:
        parts.append(f"PINNED: {held.reason} (since {format_time(held.pinned_at)})")
    return " · ".join(parts)


class KeepActions(QObject):
    """The Pin, Unpin and Copy to target… actions; enabled for the selected backup as they apply."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: QInputDialog | None = None
        self.pin_action = QAction("&Pin (legal hold)…", self)
        self.pin_action.setStatusTip("Hold the selected backup: no prune or delete may remove it")
        self.pin_action.triggered.connect(lambda _checked=False: self.pin_selected())
        self.unpin_action = QAction("U&npin", self)
        self.unpin_action.setStatusTip("Release the selected backup's legal hold")
        self.unpin_action.triggered.connect(lambda _checked=False: self.unpin_selected())
        self.copy_action = QAction("Cop&y to target…", self)
        self.copy_action.setStatusTip("Copy the selected backup as it is to another target, and check it there")
        self.copy_action.triggered.connect(lambda _checked=False: self.copy_selected())
        window.browser.selection_changed.connect(self.update_actions)
        window.blocking_changed.connect(lambda _blocking: self.update_actions())
        window.controller.backups_refreshed.connect(lambda _count: self.update_actions())
        self.update_actions()

    @property
    def actions(self) -> list[QAction]:
        return [self.pin_action, self.unpin_action, self.copy_action]

    def update_actions(self) -> None:
        window = self.window
        record = None if window.blocking else window.selected_backup()
        pinned = False
        if record is not None:
            try:
                pinned = window.console.pins.get(record.target, record.key) is not None
            except RecoveryError:
                pinned = False
        self.pin_action.setEnabled(record is not None and not pinned)
        self.unpin_action.setEnabled(record is not None and pinned)
        self.copy_action.setEnabled(record is not None and len(self._other_targets(record)) > 0)

    def _other_targets(self, record: BackupRecord) -> list[str]:
        return sorted(name for name in self.window.targets if name != record.target)

    def _ask(self, title: str, label: str, ok: str, items: list[str] | None = None) -> QInputDialog:
        self.dialog = keep_dialog(self.window, title, label, ok, items)
        return self.dialog

    def _shown(self, record: BackupRecord) -> None:
        """After a change: refresh the list (the details follow the selection) and the actions."""
        self.window.controller.refresh(sync=False, select=(record.target, record.key))
        self.update_actions()

    # ------------------------------------------------------------------ pin, unpin

    def pin_selected(self) -> QInputDialog | None:
        record = self.window.selected_backup()
        if record is None:
            return None
        dialog = self._ask("Pin backup", f"Hold backup {record.short_id} on '{record.target}' (legal hold): no prune "
                           "or delete may remove it until it is unpinned.\n\n&Reason (the incident or case):", "&Pin")

        def finished(result: int) -> None:
            dialog.deleteLater()
            if result == QDialog.DialogCode.Accepted:
                self._pin(record, dialog.textValue())

        dialog.finished.connect(finished)
        dialog.open()
        return dialog

    def _pin(self, record: BackupRecord, reason: str) -> None:
        console = self.window.console
        ref = f"{record.target}:{record.key}"
        job = Job(f"Pinning {record.short_id}", lambda reporter: pinning.pin(console, ref, reason), key=record.target)

        def done(_pins: object) -> None:
            self.window.statusBar().showMessage(f"Backup {record.short_id} on {record.target} is pinned.", 15000)
            self._shown(record)

        self.window.submit(job, f"Pinning {record.short_id}", done, progress=False)

    def unpin_selected(self) -> None:
        record = self.window.selected_backup()
        if record is None:
            return
        console = self.window.console
        ref = f"{record.target}:{record.key}"
        job = Job(f"Unpinning {record.short_id}", lambda reporter: pinning.unpin(console, ref), key=record.target)

        def done(_released: object) -> None:
            self.window.statusBar().showMessage(f"Backup {record.short_id} on {record.target} is no longer pinned.",
                                                15000)
            self._shown(record)

        self.window.submit(job, f"Unpinning {record.short_id}", done, progress=False)

    # ------------------------------------------------------------------ copy

    def copy_selected(self) -> QInputDialog | None:
        record = self.window.selected_backup()
        if record is None:
            return None
        others = self._other_targets(record)
        dialog = self._ask("Copy to target", f"Copy backup {record.short_id} ({format_bytes(record.size)}) as it is "
                           "to which target? It is read back there and checked against its SHA-256.\n\n&Target:",
                           "&Copy", others)

        def finished(result: int) -> None:
            dialog.deleteLater()
            if result == QDialog.DialogCode.Accepted and dialog.textValue():
                self._copy(record, dialog.textValue())

        dialog.finished.connect(finished)
        dialog.open()
        return dialog

    def _copy(self, record: BackupRecord, target: str) -> None:
        window = self.window
        console = window.console

        def work(reporter: Reporter) -> CopyResult:
            return replicate(console, locate_record(console, record), target, reporter)

        def done(result: CopyResult) -> None:
            window.refresh_badges()
            what = "was already on" if result.already else "copied to"
            window.statusBar().showMessage(f"Backup {record.short_id} {what} {target} and checked there "
                                           f"(SHA-256 {result.sha256[:16]}…).", 15000)
            self._shown(record)

        window.submit(Job(f"Copying {record.short_id} to {target}", work, key=target),
                      f"Copying {record.short_id} to {target}", done)


def keep_dialog(parent: QWidget, title: str, label: str, ok: str, items: list[str] | None = None) -> QInputDialog:
    """The dialog of a hold or a copy: a reason typed (as long as a pin's may be), or a target chosen from `items`."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    dialog.setOkButtonText(ok)
    dialog.setAccessibleName(title)
    if items is not None:
        dialog.setComboBoxItems(items)
        dialog.setComboBoxEditable(False)
    else:
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        line = dialog.findChild(QLineEdit)
        if line is not None:
            line.setAccessibleName("Reason")
            line.setMaxLength(pinning.MAX_REASON)
    return dialog
