"""Verify, Pin, Unpin, Copy to target…, Download… and Delete… on the recovery set selected in the backup browser (#18).

They sit in the set list's context menu and in Backup › Recovery set, enabled for the selected set as they apply (a
damaged set: only Verify and Delete). Each asks what it needs, then runs one engine call (`set_listing`, `set_pins`,
`set_copy`, `set_download`) in a job through `MainWindow.submit`; the engine refuses what it must (a pinned set's
delete) and the refusal goes to the one error dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QLineEdit, QMenu

from recovery_console.engine import pinning
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_copy import copy_set
from recovery_console.engine.sets.set_download import SetDownload, download_set
from recovery_console.engine.sets.set_listing import SetVerifyResult, delete_set, verify_set
from recovery_console.engine.sets.set_pins import pin_set, set_pin, unpin_set
from recovery_console.engine.sets.set_transfer import SentSet
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes
from recovery_console.ui.backup_actions import say_after_refresh
from recovery_console.ui.jobs import Job
from recovery_console.ui.keep_actions import keep_dialog
from recovery_console.ui.widgets.typed_confirmation import typed_confirmation

if TYPE_CHECKING:
    from collections.abc import Callable

    from recovery_console.ui.main_window import MainWindow

ON_A_DAMAGED_SET = ("verify", "delete")


class SetActions(QObject):
    """The actions on the selected recovery set, by key in `actions`; `menu` holds them for the Backup menu."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: QInputDialog | None = None
        self.actions: dict[str, QAction] = {}
        for key, text, tip, handler in (
                ("verify", "&Verify set", "Read every member of the selected set whole with the key",
                 self.verify_selected),
                ("pin", "&Pin set (legal hold)…", "Hold the selected set: no prune or delete may remove it",
                 self.pin_selected),
                ("unpin", "U&npin set", "Release the selected set's legal hold", self.unpin_selected),
                ("copy", "Cop&y set to target…", "Copy the selected set as it is to another target, checked there",
                 self.copy_selected),
                ("download", "&Download set…", "Download the selected set's files into a folder on this computer",
                 self.download_selected),
                ("delete", "De&lete set…", "Remove the selected set and all its files from its target",
                 self.delete_selected)):
            action = QAction(text, self)
            action.setStatusTip(tip)
            action.setToolTip(tip)
            action.triggered.connect(lambda _checked=False, run=handler: run())
            self.actions[key] = action
        self.menu = QMenu("Recovery &set", window)
        self.menu.addActions(list(self.actions.values()))
        table = window.browser.sets.table
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        table.addActions(list(self.actions.values()))
        window.browser.selection_changed.connect(self.update_actions)
        window.blocking_changed.connect(lambda _blocking: self.update_actions())
        window.controller.backups_refreshed.connect(lambda _count: self.update_actions())
        self.update_actions()

    def selected(self) -> SetRecord | None:
        return self.window.browser.selected_set()

    def update_actions(self) -> None:
        chosen = None if self.window.blocking else self.selected()
        pinned = False
        if chosen is not None:
            try:
                pinned = set_pin(self.window.console, chosen) is not None
            except RecoveryError:
                pinned = False
        for key, action in self.actions.items():
            usable = chosen is not None and (chosen.state != DAMAGED or key in ON_A_DAMAGED_SET)
            if key == "pin":
                usable = usable and not pinned
            elif key == "unpin":
                usable = usable and pinned
            elif key == "copy":
                usable = usable and chosen is not None and bool(self._other_targets(chosen))
            action.setEnabled(usable)

    def _other_targets(self, record: SetRecord) -> list[str]:
        return sorted(name for name in self.window.targets if name != record.target)

    def _shown(self, message: str) -> None:
        say_after_refresh(self.window, message)
        self.update_actions()

    def _ask(self, title: str, label: str, ok: str, items: list[str] | None = None) -> QInputDialog:
        self.dialog = keep_dialog(self.window, title, label, ok, items)
        return self.dialog

    def _on_accept(self, dialog: QInputDialog, then: Callable[[str], None]) -> QInputDialog:
        def finished(result: int) -> None:
            dialog.deleteLater()
            if result == QDialog.DialogCode.Accepted and dialog.textValue():
                then(dialog.textValue())

        dialog.finished.connect(finished)
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ verify

    def verify_selected(self) -> None:
        record = self.selected()
        if record is None:
            return
        window = self.window
        profile = record.manifest.profile if record.manifest is not None else None

        def got(secret: str | None) -> None:
            if secret is None:
                window.statusBar().showMessage("Verify not started: no instance secret.", 8000)
                return
            console = window.console
            job = Job(f"Verifying set {record.short_id}",
                      lambda reporter: verify_set(console, record, secret, reporter), key=record.target)

            def done(result: SetVerifyResult) -> None:
                names = ", ".join(v.member.name for v in result.members)
                self._shown(f"Set {record.short_id} on {record.target} passed: all {len(result.members)} members "
                            f"({names}) read whole with the key and match the manifest.")

            def failed(_error: RecoveryError) -> None:
                window.controller.refresh(sync=False)  # a failed verify is recorded: the set shows it

            window.submit(job, f"Verifying set {record.short_id}", done, on_failure=failed)

        window.secrets.request(record.target, got, why=f"verify recovery set {record.short_id}", profile=profile)

    # ------------------------------------------------------------------ pin, unpin

    def pin_selected(self) -> QInputDialog | None:
        record = self.selected()
        if record is None:
            return None
        dialog = self._ask("Pin recovery set", f"Hold recovery set {record.short_id} on '{record.target}' (legal "
                           "hold): no prune or delete may remove any of its files until it is unpinned.\n\n"
                           "&Reason (the incident or case):", "&Pin")
        line = dialog.findChild(QLineEdit)
        if line is not None:
            line.setAccessibleName("Reason")
            line.setMaxLength(pinning.MAX_REASON)
        return self._on_accept(dialog, lambda reason: self._pin(record, reason))

    def _pin(self, record: SetRecord, reason: str) -> None:
        console = self.window.console
        job = Job(f"Pinning set {record.short_id}", lambda reporter: pin_set(console, [record], reason),
                  key=record.target)
        self.window.submit(job, f"Pinning set {record.short_id}",
                           lambda _pins: self._shown(f"Set {record.short_id} on {record.target} is pinned."),
                           progress=False)

    def unpin_selected(self) -> None:
        record = self.selected()
        if record is None:
            return
        console = self.window.console
        job = Job(f"Unpinning set {record.short_id}", lambda reporter: unpin_set(console, [record]),
                  key=record.target)
        self.window.submit(job, f"Unpinning set {record.short_id}",
                           lambda _freed: self._shown(f"Set {record.short_id} on {record.target} is no longer "
                                                      "pinned."), progress=False)

    # ------------------------------------------------------------------ copy, download

    def copy_selected(self) -> QInputDialog | None:
        record = self.selected()
        if record is None:
            return None
        dialog = self._ask("Copy recovery set", f"Copy recovery set {record.short_id} ({format_bytes(record.size)}) "
                           "as it is to which target? Every file is read back there and checked; the set is listed "
                           "there only once it is whole.\n\n&Target:", "&Copy", self._other_targets(record))
        return self._on_accept(dialog, lambda target: self._copy(record, target))

    def _copy(self, record: SetRecord, target: str) -> None:
        window = self.window
        console = window.console

        def work(reporter: Reporter) -> SentSet:
            return copy_set(console, record, target, reporter)

        def done(sent: SentSet) -> None:
            window.refresh_badges()
            what = "was already on" if sent.already else "copied to"
            self._shown(f"Set {record.short_id} {what} {target} and checked there ({sent.files} files, "
                        f"{format_bytes(sent.size)}).")

        window.submit(Job(f"Copying set {record.short_id} to {target}", work, key=target),
                      f"Copying set {record.short_id} to {target}", done)

    def download_selected(self) -> None:
        record = self.selected()
        if record is None:
            return
        window = self.window
        folder = QFileDialog.getExistingDirectory(window, f"Download set {record.short_id} into which folder?")
        if folder:
            self.download(record, Path(folder))

    def download(self, record: SetRecord, folder: Path) -> None:
        """Download the set into a new folder named as the set's inside `folder`."""
        window = self.window
        console = window.console
        job = Job(f"Downloading set {record.short_id}",
                  lambda reporter: download_set(console, record, folder, reporter), key=record.target)

        def done(got: SetDownload) -> None:
            checked = "the manifest's sizes and hashes" if got.checked_against == "manifest" else "its sidecars"
            window.statusBar().showMessage(f"Set {record.short_id} downloaded to {got.folder} ({got.files} files, "
                                           f"{format_bytes(got.size)}, each checked against {checked}).", 15000)

        window.submit(job, f"Downloading set {record.short_id}", done)

    # ------------------------------------------------------------------ delete

    def delete_selected(self) -> QInputDialog | None:
        record = self.selected()
        if record is None:
            return None
        members = len(record.manifest.members) if record.manifest is not None else len(record.member_files or ())
        dialog = typed_confirmation(
            self.window, "Delete recovery set", record.short_id,
            f"set's id '{record.short_id}' to delete it.\n\nEvery file of recovery set {record.short_id} "
            f"({members} members, {format_bytes(record.size)}) is removed from target '{record.target}'. "
            "Its manifest goes first: from then on the set is no longer restorable. This cannot be undone.",
            "Delete set")
        self.dialog = dialog
        return self._on_accept(dialog, lambda _typed: self._delete(record))

    def _delete(self, record: SetRecord) -> None:
        console = self.window.console
        job = Job(f"Deleting set {record.short_id}", lambda reporter: delete_set(console, record), key=record.target)
        self.window.submit(job, f"Deleting set {record.short_id}",
                           lambda removed: self._shown(f"Set {record.short_id} deleted from {record.target} "
                                                       f"({removed.files} files)."
                                                       + (f" {removed.folder_kept}" if removed.folder_kept else "")),
                           progress=False)

