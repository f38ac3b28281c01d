"""What the main window's backup and target actions do: create, download, upload, delete, test a target.

Each asks what it needs (a description, a file, a target, the instance secret), then runs one
engine call in a job through `MainWindow.submit`: progress in the jobs area, failures in the one
error dialog. Jobs on one target share its name as their key, so they run one after another.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QDialog, QFileDialog, QInputDialog, QLineEdit, QMessageBox

from recovery_console.engine.progress import Reporter
from recovery_console.engine.results import FileResult
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.engine.storage.round_trip import CheckReport
from recovery_console.errors import RecoveryError, StorageError, UsageError
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import BackupRecord
from recovery_console.ui.backup_table import format_time, locate_record
from recovery_console.ui.jobs import Job

if TYPE_CHECKING:
    from collections.abc import Callable

    from recovery_console.engine.console import Console
    from recovery_console.ui.main_window import MainWindow


ON_A_BACKUP = ("verify", "download", "delete", "restore", "metadata", "contents")  # actions on the selected backup
_OWN_TIPS = "recoveryConsoleOwnTips"


def explain_unusable(actions: dict[str, QAction], reason: str | None) -> None:
    """With a reason (the backup's target was removed), turn the actions on the selected backup off and say why
    in their tips; without one, give them their own tips back (enabling stays with the caller)."""
    for key in ON_A_BACKUP:
        action = actions[key]
        own = action.property(_OWN_TIPS)
        if own is None:
            own = [action.toolTip(), action.statusTip()]
            action.setProperty(_OWN_TIPS, own)
        if reason:
            action.setEnabled(False)
        action.setToolTip(reason or own[0])
        action.setStatusTip(reason or own[1])


def say_after_refresh(window: MainWindow, message: str) -> None:
    """Re-read the catalog, then say `message` in the status bar (the listing's own count would hide it)."""
    controller = window.controller

    def said(_count: int) -> None:
        controller.backups_refreshed.disconnect(said)
        window.statusBar().showMessage(message, 15000)

    controller.backups_refreshed.connect(said)
    controller.refresh(sync=False)


UPLOAD_FILTERS = ("Backups, pg_dump archives and vault tars (*.enc *.dump *.backup *.tar *.tar.gz *.tgz *.tar.zst);;"
                  "Backups (*.enc);;pg_dump custom-format archives (*.dump *.backup);;"
                  "Tars of a vault folder (*.tar *.tar.gz *.tgz *.tar.zst);;All files (*)")
"""Upload takes a backup as it is, and encrypts a plain pg_dump -Fc archive or a vault's tar on the way (the
engine tells them apart by their first bytes, not by these names)."""


class BackupActions(QObject):
    """The handlers behind Create backup, Download, Upload, Delete and Test target."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.description_dialog: QInputDialog | None = None
        self.confirm_box: QMessageBox | None = None

    def _status(self, text: str, timeout: int = 0) -> None:
        self.window.statusBar().showMessage(text, timeout)

    # ------------------------------------------------------------------ create

    def create_backup(self) -> None:
        """From the selected profile (pg_dump through backup_database; a profile with members: a recovery set through
        backup_set), else from a pg_dump file."""
        window = self.window
        profile_name = window.selected_profile()
        if profile_name:
            profile = window.profiles.get(profile_name)
            target = profile.target if profile is not None else None
            if not target:
                window.show_error("Create backup", UsageError(f"Profile '{profile_name}' has no backup target.",
                                                              hint="Give it one in its settings, then try again."))
                return
            if profile is not None and profile.has_members:
                self._ask_description(f"Back up recovery set {profile_name} now",
                                      lambda text: self._backup_set(profile_name, target, text))
                return
            self._ask_description(f"Back up {profile_name} now",
                                  lambda text: self._backup_profile(profile_name, target, text))
            return
        path, _ = QFileDialog.getOpenFileName(window, "Choose a pg_dump archive to back up", "",
                                              "pg_dump archives (*.dump *.backup *.pgdump);;All files (*)")
        if not path:
            return
        chosen = self.choose_target("Store the backup on which target?")
        if chosen:
            self._ask_description(f"Back up {Path(path).name} now",
                                  lambda text: self._backup_file(Path(path), chosen, text))

    def _backup_profile(self, profile: str, target: str, description: str) -> None:
        from recovery_console.engine.live_backup import backup_database

        self._backup_with_secret(profile, target, f"Backing up {profile}", f"Backing up {profile}",
                                 f"encrypt a backup of {profile}", self._backup_done,
                                 lambda console, secret, reporter: backup_database(
                                     console, profile, description=description, secret=secret, reporter=reporter))

    def _backup_set(self, profile: str, target: str, description: str) -> None:
        """Every member of the profile into one recovery set (the engine's set backup), with progress and cancel."""
        from recovery_console.engine.sets.set_backup import backup_set

        self._backup_with_secret(profile, target, f"Backing up set {profile}", f"Backing up recovery set {profile}",
                                 f"encrypt a recovery set of {profile}", self._set_done,
                                 lambda console, secret, reporter: backup_set(
                                     console, profile, description=description, secret=secret, reporter=reporter))

    def _backup_with_secret(self, profile: str, target: str, job_name: str, title: str, why: str,
                            done: Callable[[Any], None], run: Callable[[Console, str, Reporter], Any]) -> None:
        """The profile's instance secret asked for (`why`), then `run` as a job on `target` with progress and
        cancel; `done` takes its result."""
        window = self.window

        def got(secret: str | None) -> None:
            if secret is None:
                self._status("Backup not started: no instance secret.", 8000)
                return
            console = window.console
            job = Job(job_name, lambda reporter: run(console, secret, reporter), key=target)
            window.submit(job, title, done, error_title=f"{title} failed")

        window.secrets.request(target, got, why=why, profile=profile)

    def _set_done(self, record: SetRecord) -> None:
        members = len(record.manifest.members) if record.manifest is not None else len(record.member_files or ())
        say_after_refresh(self.window, f"Recovery set {record.short_id} stored on {record.target}: {members} "
                                       f"members, {format_bytes(record.size)}.")

    def _backup_file(self, path: Path, target: str, description: str) -> None:
        window = self.window

        def got(secret: str | None) -> None:
            if secret is None:
                self._status("Backup not started: no instance secret.", 8000)
                return
            console = window.console

            def work(reporter: Reporter) -> BackupRecord:
                with ExitStack() as stack:
                    try:
                        size = path.stat().st_size
                        stream = stack.enter_context(path.open("rb"))
                    except OSError as exc:
                        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
                    return console.create_backup(stream, target, secret, description=description,
                                                 source_name=path.name, source_size=size, reporter=reporter)

            window.submit(Job(f"Backing up {path.name}", work, key=target), f"Backing up {path.name}",
                          self._backup_done)

        window.secrets.request(target, got, why=f"encrypt a backup of {path.name}")

    def _backup_done(self, record: BackupRecord) -> None:
        self._status(f"Backup {record.short_id} stored on {record.target} ({format_bytes(record.size)}).", 15000)
        self.window.controller.refresh(sync=False, select=(record.target, record.key))

    def _ask_description(self, title: str, callback: Callable[[str], None]) -> QInputDialog:
        dialog = QInputDialog(self.window)
        dialog.setWindowTitle(title)
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setLabelText("&Description of this backup (optional, stored encrypted inside it):")
        dialog.setOkButtonText("&Back up")
        dialog.setAccessibleName("Backup description")
        line = dialog.findChild(QLineEdit)
        if line is not None:
            line.setAccessibleName("Description")
            line.setMaxLength(1000)

        def finished(result: int) -> None:
            dialog.deleteLater()
            if result == QDialog.DialogCode.Accepted:
                callback(dialog.textValue())

        dialog.finished.connect(finished)
        self.description_dialog = dialog
        dialog.open()
        return dialog

    def choose_target(self, question: str) -> str | None:
        """The selected target, the only one, or the one the user picks; None if there is none."""
        window = self.window
        selected = window.selected_target()
        if selected:
            return selected
        names = sorted(window.targets)
        if len(names) == 1:
            return names[0]
        if not names:
            window.show_error("No target", UsageError("No storage target is configured.",
                                                      hint="Create a profile with its target first (New profile)."))
            return None
        name, ok = QInputDialog.getItem(window, "Choose a target", question, names, 0, False)
        return name if ok and name else None

    # ------------------------------------------------------------------ download, upload

    def download_selected(self) -> None:
        window = self.window
        record = window.selected_backup()
        if record is None:
            return
        folder = QFileDialog.getExistingDirectory(window, f"Download {record.file_name} to which folder?")
        if not folder:
            return
        console = window.console
        job = Job(f"Downloading {record.short_id}",
                  lambda reporter: console.download(locate_record(console, record), Path(folder), reporter=reporter),
                  key=record.target)

        def done(result: FileResult) -> None:
            window.refresh_badges()
            checked = {"sidecar": "matches the sidecar", "catalog": "no sidecar; matches the catalog's record"}.get(
                result.checked_against or "", "NOT checked: the target has no sidecar; verify it with the secret")
            self._status(f"Downloaded to {result.path} (SHA-256 {result.sha256[:16]}…, {checked}).", 15000)

        window.submit(job, f"Downloading {record.file_name}", done, on_failure=self._target_failed)

    def upload_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Choose a file to upload", "", UPLOAD_FILTERS)
        if not path:
            return
        target = self.choose_target(f"Upload {Path(path).name} to which target?")
        if not target:
            return
        self.upload(Path(path), target)

    def upload(self, path: Path, target: str) -> None:
        window = self.window

        def got(secret: str | None) -> None:
            if secret is None:
                self._status("Upload not started: no instance secret.", 8000)
                return
            console = window.console
            job = Job(f"Uploading {path.name}",
                      lambda reporter: console.upload(path, target, secret, reporter=reporter), key=target)

            def done(record: BackupRecord) -> None:
                window.refresh_badges()
                self._backup_done(record)

            window.submit(job, f"Uploading {path.name}", done, on_failure=self._target_failed)

        window.secrets.request(target, got, why=f"verify or encrypt {path.name} before storing it")

    def _target_failed(self, _error: RecoveryError) -> None:
        """The engine recorded the failure against the target; show its new badge."""
        self.window.refresh_badges()

    # ------------------------------------------------------------------ delete

    def delete_selected(self) -> None:
        record = self.window.selected_backup()
        if record is None:
            return
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Delete backup")
        box.setText(f"Delete backup {record.short_id} made {format_time(record.created) or 'at an unknown time'} "
                    f"from target '{record.target}'?")
        box.setInformativeText(f"{record.file_name} and its .sha256 sidecar are removed from the target. "
                               "This cannot be undone.")
        delete = box.addButton("&Delete backup", QMessageBox.ButtonRole.DestructiveRole)
        delete.setAccessibleName("Delete the backup")
        keep = box.addButton("&Keep it", QMessageBox.ButtonRole.RejectRole)
        keep.setAccessibleName("Keep the backup")
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setAccessibleName("Confirm deleting a backup")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: QAbstractButton) -> None:
            if button is delete:
                self._delete(record)

        box.buttonClicked.connect(answered)
        self.confirm_box = box
        box.open()

    def _delete(self, record: BackupRecord) -> None:
        window = self.window
        console = window.console
        job = Job(f"Deleting {record.short_id}", lambda reporter: console.delete(locate_record(console, record)),
                  key=record.target)

        def done(_result: None) -> None:
            self._status(f"Backup {record.short_id} deleted from {record.target}.", 15000)
            window.controller.refresh(sync=False)

        window.submit(job, f"Deleting {record.file_name}", done, progress=False)

    # ------------------------------------------------------------------ targets

    def test_target(self) -> None:
        """A round trip (write, read back, delete a small object) on the chosen target; its badge follows."""
        name = self.choose_target("Test which target?")
        if name:
            self.check_target(name)

    def check_target(self, name: str) -> None:
        """Test `name` now (a round trip recorded as its last check); its badge shows the outcome."""
        window = self.window
        console = window.console
        job = Job(f"Testing {name}", lambda reporter: console.test_target(name), key=name)

        def done(report: CheckReport) -> None:
            steps = ", ".join(f"{s.step} {'ok' if s.ok else 'FAILED'}" for s in report.steps)
            window.refresh_badges()
            if report.ok:
                self._status(f"Target '{name}' passed: {steps}.", 15000)
                return
            bad = next(s for s in report.steps if not s.ok)
            window.show_error(f"Testing target '{name}'", StorageError(
                f"Target '{name}' failed at the {bad.step} step: {bad.message}",
                hint=bad.hint or "Check the target's settings and that it is reachable, then test again.",
                detail="\n".join(f"{s.step}: {'ok' if s.ok else 'failed: ' + s.message}" for s in report.steps)))

        window.submit(job, f"Testing {name}", done, progress=False, on_failure=self._target_failed)
