"""Managing targets and profiles from the window, and opening a backup file: the actions' slots.

Each opens its dialog (ui/dialogs/) or asks first, then runs the one audited engine call in a job
and has the window re-read its lists. The controller owns the QActions; this class what they do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QAbstractButton, QDialog, QFileDialog, QInputDialog, QMessageBox

from recovery_console.errors import NotFoundError
from recovery_console.models.target import TargetConfig
from recovery_console.ui.jobs import Job

if TYPE_CHECKING:
    from recovery_console.ui.controller import MainController
    from recovery_console.ui.dialogs.profile_dialog import ProfileDialog
    from recovery_console.ui.dialogs.restore_history_dialog import RestoreHistoryDialog
    from recovery_console.ui.main_window import MainWindow


class ManageActions:
    """Add, edit, remove targets and profiles; open a backup file. The dialogs last opened are kept for tests."""

    def __init__(self, window: MainWindow, controller: MainController) -> None:
        self.window = window
        self.controller = controller
        self.target_dialog: QDialog | None = None
        self.remove_box: QMessageBox | None = None
        self.profile_dialog: ProfileDialog | None = None
        self.remove_profile_box: QInputDialog | None = None
        self.open_file_dialog: QDialog | None = None
        self.history_dialog: RestoreHistoryDialog | None = None

    def editing_profile(self) -> bool:
        """A profile dialog is open with unsaved changes (backup and restore wait until it is saved or closed)."""
        dialog = self.profile_dialog
        return dialog is not None and dialog.isVisible() and dialog.dirty

    # ------------------------------------------------------------------ targets

    def add_target(self) -> None:
        self._open_target_dialog(None)

    def edit_target(self) -> None:
        window = self.window
        name = window.selected_target()
        if name is not None and name in window.targets:
            self._open_target_dialog(window.targets[name])

    def _open_target_dialog(self, config: TargetConfig | None) -> None:
        from recovery_console.ui.dialogs.target_dialog import TargetDialog

        window = self.window
        dialog = TargetDialog(window.console, window.runner, config, parent=window)
        dialog.saved.connect(lambda name: self._targets_changed(select=name))
        window.keep(dialog)
        self.target_dialog = dialog
        dialog.show()

    def remove_target(self) -> None:
        """Ask first, saying what happens to the backups on it; then the engine forgets the target."""
        from recovery_console.ui.dialogs.target_dialog import removal_text

        window = self.window
        name = window.selected_target()
        if name is None or name not in window.targets or window.blocking:
            return
        backups = len(window.console.list_backups([name], sync=False)[0])
        question, consequence = removal_text(name, window.targets[name], backups)
        box = QMessageBox(QMessageBox.Icon.Warning, "Remove target", question, parent=window)
        box.setInformativeText(consequence)
        remove = box.addButton("&Remove target", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.remove_box = box

        def answered(button: QAbstractButton) -> None:
            if button is remove:
                window.submit(Job(f"Removing {name}", lambda r: window.console.remove_target(name)),
                              f"Removing {name}", lambda _config: self._targets_changed(), progress=False)

        box.buttonClicked.connect(answered)
        box.open()

    def _targets_changed(self, select: str | None = None) -> None:
        self.window.reload_lists()
        if select is not None:
            self.window.select_target(select)
        self.controller.refresh()

    # ------------------------------------------------------------------ profiles

    def edit_profile(self) -> None:
        from recovery_console.ui.dialogs.profile_dialog import ProfileDialog

        window = self.window
        name = window.selected_profile()
        if name is None or name not in window.profiles:
            return
        dialog = ProfileDialog(window.console, window.runner, window.profiles[name], sorted(window.targets),
                               parent=window)
        dialog.dirty_changed.connect(lambda _dirty: self.controller.update_actions())
        dialog.finished.connect(lambda _code: self.controller.update_actions())
        dialog.saved.connect(lambda _name: self._targets_changed())
        window.keep(dialog)
        self.profile_dialog = dialog
        dialog.show()

    def remove_profile(self) -> None:
        from recovery_console.ui.dialogs.profile_dialog import removal_dialog

        window = self.window
        name = window.selected_profile()
        if name is None or window.blocking:
            return
        dialog = removal_dialog(window, name)
        self.remove_profile_box = dialog

        def confirmed(text: str) -> None:
            if text == name:
                window.submit(Job(f"Removing profile {name}", lambda r: window.console.profiles.remove(name)),
                              f"Removing profile {name}", lambda _p: self._targets_changed(), progress=False)

        dialog.textValueSelected.connect(confirmed)
        dialog.open()

    def open_restore_history(self, profile: str | None = None) -> None:
        """The selected profile's restores, with Roll back and Drop; the backup list is re-read after an action."""
        from recovery_console.ui.dialogs.restore_history_dialog import RestoreHistoryDialog

        window = self.window
        name = profile or window.selected_profile()
        if name is None or name not in window.profiles:
            return
        dialog = RestoreHistoryDialog(window.console, window.runner, name, parent=window)
        dialog.changed.connect(lambda: self.controller.refresh(sync=False))
        window.keep(dialog)
        self.history_dialog = dialog
        dialog.show()

    # ------------------------------------------------------------------ a backup file

    def choose_backup_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a backup file", "",
                                              "Backups (*.enc);;All files (*)")
        if path:
            self.open_backup_file(Path(path))

    def open_backup_file(self, path: Path) -> None:
        """File › Open, a file dropped on the window, or `gui FILE`: verify and list it; decrypt only on request."""
        from recovery_console.ui.dialogs.open_file_dialog import OpenFileDialog

        window = self.window
        if not path.is_file():
            window.show_error("Open backup file", NotFoundError(f"{path} is not a file."))
            return
        dialog = OpenFileDialog(window.console, path, runner=window.runner, secrets=window.secrets, parent=window)
        window.keep(dialog)
        self.open_file_dialog = dialog
        dialog.show()
