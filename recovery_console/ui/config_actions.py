"""File → Export configuration… / Import configuration…: the actions and what they open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction

from recovery_console.formatting import counted

if TYPE_CHECKING:
    from recovery_console.ui.dialogs.config_export_dialog import ConfigExportDialog
    from recovery_console.ui.dialogs.config_import_dialog import ConfigImportDialog
    from recovery_console.ui.main_window import MainWindow


class ConfigActions:
    """Opens the export and import dialogs over the window; after an import the window lists the new records."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.export_dialog: ConfigExportDialog | None = None
        self.import_dialog: ConfigImportDialog | None = None
        self.export_action = QAction("E&xport configuration…", window)
        self.export_action.setStatusTip("Write the targets, profiles and policies to a file for another machine")
        self.export_action.triggered.connect(self.export_configuration)
        self.import_action = QAction("&Import configuration…", window)
        self.import_action.setStatusTip("Add the targets and profiles of an exported configuration")
        self.import_action.triggered.connect(self.import_configuration)
        self.actions = [self.export_action, self.import_action]

    def export_configuration(self) -> None:
        from recovery_console.ui.dialogs.config_export_dialog import ConfigExportDialog

        window = self.window
        if window.blocking:  # a restore is running
            return
        dialog = ConfigExportDialog(window.console, window.runner, window)
        dialog.exported.connect(lambda summary: window.show_info(
            "Export configuration", f"Exported {counted(summary.targets, 'target')} and "
            f"{counted(summary.profiles, 'profile')} to {summary.path}"
            + (f", with {counted(summary.secrets, 'secret')}, sealed with the passphrase."
                                 if summary.encrypted else ", without secrets.")))
        self.export_dialog = dialog
        window.keep(dialog)
        dialog.open()

    def import_configuration(self) -> None:
        from recovery_console.ui.dialogs.config_import_dialog import ConfigImportDialog

        window = self.window
        if window.blocking:  # a restore is running
            return
        dialog = ConfigImportDialog(window.console, window.runner, window)
        dialog.imported.connect(self._imported)
        self.import_dialog = dialog
        window.keep(dialog)
        dialog.open()

    def _imported(self, outcomes: list[Any]) -> None:
        self.window.reload_lists()
        done = [o for o in outcomes if o.result in ("added", "replaced", "renamed")]
        if done:
            self.window.show_info("Import configuration", "\n".join(
                f"{o.result.capitalize()} {o.kind} '{o.stored_as}'" for o in done))
