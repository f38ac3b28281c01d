"""The main window's actions: the QActions themselves, when each is enabled, and what the window-level ones do.

Listing the backups (Refresh), opening the verify dialog, the audit view and the wizards live
here; the operations on backups and targets are in `backup_actions`, adding, editing and removing
targets and profiles (and opening a backup file) in `manage_actions`. The controller talks to
the window only through its public methods (selection, `submit`, `show_error`, `keep`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWizard

from recovery_console import __version__
from recovery_console.engine.pinning import usage
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_listing import list_sets
from recovery_console.engine.sets.set_pins import set_pin
from recovery_console.engine.state.targets import AD_HOC_LOCAL
from recovery_console.errors import RecoveryError, StorageError
from recovery_console.formatting import counted
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.ui import theme
from recovery_console.ui.backup_actions import BackupActions, explain_unusable
from recovery_console.ui.jobs import Job
from recovery_console.ui.manage_actions import ManageActions

if TYPE_CHECKING:
    from recovery_console.ui.dialogs.verify import VerifyDialog
    from recovery_console.ui.main_window import MainWindow
    from recovery_console.ui.views.audit_view import AuditView
    from recovery_console.ui.views.health_view import HealthView

Shortcut = QKeySequence | QKeySequence.StandardKey | str | None
Listing = tuple[list[BackupRecord], dict[str, RecoveryError], list[SetRecord], frozenset[tuple[str, str]]]


def create_text(profile: str | None) -> str:
    """The Create action's text says what it will back up: the selected profile's database, else a dump file."""
    if profile:
        return f"&Back up {profile.replace('&', '&&')} now…"
    return "&Back up a pg_dump file…"


class MainController(QObject):
    """Owns the window's actions (`actions`, by key) and the backup list's refresh job.

    `backups_refreshed(count)` fires once a listing has fully ended.
    """

    backups_refreshed = Signal(int)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.backups = BackupActions(window)
        self.manage = ManageActions(window, self)
        self.verify_dialog: VerifyDialog | None = None
        self.audit_view: AuditView | None = None
        self.health_view: HealthView | None = None
        self.wizard: QWizard | None = None
        self._refresh_job: Job | None = None
        self._refresh_again: bool | None = None
        self._refresh_result: int | None = None
        self._select_after_refresh: tuple[str, str] | None = None
        self.actions: dict[str, QAction] = {}
        self._build_actions()

    # ------------------------------------------------------------------ actions

    def _action(self, key: str, text: str, icon_name: str, shortcut: Shortcut, tip: str,
                slot: Callable[[], object]) -> QAction:
        action = QAction(theme.icon(icon_name), text, self.window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip + (f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                                 if shortcut else ""))
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.actions[key] = action
        return action

    def _build_actions(self) -> None:
        backups, manage = self.backups, self.manage
        self._action("refresh", "&Refresh", "refresh", "F5",
                     "List the backups on every target again", self.refresh)
        self._action("create", "&Create backup now…", "backup", "Ctrl+B",
                     "Back up the selected profile's database now, or a pg_dump file", backups.create_backup)
        self.actions["create"].setIconText("Back up")  # short, so that the whole toolbar fits a 1024-pixel screen
        self._action("verify", "&Verify…", "verify", "Ctrl+Shift+V",
                     "Prove the selected backup is whole and restorable", self.verify_selected)
        self._action("download", "&Download…", "download", "Ctrl+D",
                     "Copy the selected backup and its checksum to this computer", backups.download_selected)
        self._action("upload", "&Upload…", "upload", "Ctrl+U",
                     "Store a backup file on a target after verifying it, or encrypt a pg_dump archive or a "
                     "vault's tar into one", backups.upload_file)
        self._action("restore", "Re&store…", "restore", "Ctrl+R",
                     "Restore a backup into a database, step by step", self.open_restore)
        self._action("delete", "De&lete…", "delete", QKeySequence.StandardKey.Delete,
                     "Delete the selected backup from its target", backups.delete_selected)
        self._action("extract", "E&xtract…", "extract", "Ctrl+E",
                     "Open a backup file, or a downloaded recovery set's folder, offline: metadata, decrypt, contents",
                     self.open_extract)
        self._action("open_file", "&Open backup file…", "extract", QKeySequence.StandardKey.Open,
                     "Verify a backup file on this computer and list its contents, writing nothing",
                     manage.choose_backup_file)
        self._action("new_profile", "&New profile…", "profile", "Ctrl+Shift+N",
                     "Set up a database, its secret and its backup target", self.open_setup)
        self._action("test_target", "&Test target", "target", "Ctrl+T",
                     "Write, read back and delete a small object on the selected target", backups.test_target)
        self._action("add_target", "&Add target…", "target", None,
                     "Add a storage target (a folder, bucket, share or SFTP server)", manage.add_target)
        self._action("edit_target", "&Edit target…", "target", None,
                     "Change the selected target's path, credentials or quota", manage.edit_target)
        self._action("remove_target", "&Remove target…", "delete", None,
                     "Forget the selected target (its backups stay on the storage)", manage.remove_target)
        self._action("edit_profile", "&Edit profile…", "profile", None,
                     "Change the selected profile's URL, connection mode, target or secret", manage.edit_profile)
        self._action("remove_profile", "&Remove profile…", "delete", None,
                     "Forget the selected profile (typed confirmation)", manage.remove_profile)
        self._action("restore_history", "Restore &history…", "restore", "Ctrl+H",
                     "The selected profile's restores: roll back or drop the database each one kept",
                     manage.open_restore_history)
        self._action("audit", "&Audit log", "audit", "Ctrl+L",
                     "Everything this console did, and a check of the log's chain", self.open_audit)
        self._action("health", "&Health", "verify", "Ctrl+Shift+H",
                     "Each profile's last runs, next run and newest verified backup against its RPO; Run now",
                     self.open_health)
        details = self.window.details
        self.actions["metadata"] = details.metadata_action
        self.actions["contents"] = details.contents_action
        self.quit_action = QAction("&Quit", self.window)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.window.close)
        self.about_action = QAction("&About Recovery Console", self.window)
        self.about_action.triggered.connect(self.about)

    def update_actions(self) -> None:
        """Enable what makes sense for the selection; nothing while the window is blocked."""
        window = self.window
        if window.blocking:
            for action in self.actions.values():
                action.setEnabled(False)
            window.sidebar.set_buttons_enabled(new_profile=False, test_target=False)
            return
        has_backup = window.selected_backup() is not None
        chosen_set = window.browser.selected_set()
        damaged_set = chosen_set is not None and chosen_set.state == DAMAGED  # never offered for restore
        has_targets = bool(window.targets)
        enabled = {
            "refresh": True,  # while a listing runs, another one is queued
            "create": has_targets or window.selected_profile() is not None,
            "verify": has_backup, "download": has_backup, "delete": has_backup,
            "upload": has_targets, "restore": not damaged_set, "extract": True, "new_profile": True,
            "add_target": True, "edit_target": window.selected_target() is not None,
            "remove_target": window.selected_target() is not None,
            "edit_profile": window.selected_profile() is not None,
            "remove_profile": window.selected_profile() is not None,
            "restore_history": window.selected_profile() is not None,
            "open_file": True,
            "test_target": has_targets, "audit": True, "metadata": has_backup, "contents": has_backup,
        }
        if self.manage.editing_profile():
            enabled.update(create=False, restore=False)  # not on settings the user is still changing
        for key, action in self.actions.items():
            action.setEnabled(enabled.get(key, True))
        unusable = window.browser.model.removed_reason(window.selected_backup())
        explain_unusable(self.actions, unusable)
        window.details.show_unusable(unusable)
        self.actions["create"].setText(create_text(window.selected_profile()))
        window.sidebar.set_buttons_enabled(new_profile=True, test_target=has_targets)

    # ------------------------------------------------------------------ the backup list

    def refresh(self, sync: bool = True, select: tuple[str, str] | None = None) -> Job | None:
        """List the backups of every configured target (synced from storage unless sync is False) in a job.

        `select` (target, key) is selected once the list is shown. While a listing runs, the next
        one waits and starts when it ends.
        """
        window = self.window
        if select is not None:
            self._select_after_refresh = select
        if self._refresh_job is not None:
            self._refresh_again = bool(self._refresh_again) or sync
            return None
        if sync:
            window.reload_lists()
        console = window.console
        names = sorted(window.targets)

        def work(reporter: Reporter) -> Listing:
            problems: dict[str, RecoveryError] = {}
            if sync:
                for name in names:
                    reporter.check()
                    try:
                        for synced in console.list_backups([name], sync=True)[1]:
                            if synced.error:  # an unreachable target is reported, not raised
                                problems[name] = StorageError(synced.error)
                    except RecoveryError as exc:
                        problems[name] = exc
            records, _ = console.list_backups(names, sync=False)
            removed = [r for r in console.catalog.records()  # still on their storage: shown, never hidden
                       if r.target not in names and not r.target.startswith(AD_HOC_LOCAL)]
            sets = list_sets(console, [n for n in names if n not in problems], sync=sync)[0]
            pinned = frozenset((s.target, s.folder) for s in sets if set_pin(console, s) is not None)
            return records + removed, problems, sets, pinned

        job = Job("Listing the targets" if sync else "Reading the catalog", work, key="refresh")
        self._refresh_job = job
        self._refresh_result = None
        job.succeeded.connect(self._refreshed)
        job.failed.connect(lambda error: window.show_error("Listing the backups failed", error))
        job.done.connect(self._refresh_done)
        if sync:
            window.statusBar().showMessage("Listing the backups on every target…")
            window.jobs_area.track(job, "Listing the targets")
        window.runner.submit(job)
        return job

    def _refresh_done(self) -> None:
        self._refresh_job = None
        self.update_actions()
        count, self._refresh_result = self._refresh_result, None
        if count is not None:
            self.backups_refreshed.emit(count)  # after the job has fully ended
        again, self._refresh_again = self._refresh_again, None
        if again is not None:
            self.refresh(sync=again)

    def _refreshed(self, result: Listing) -> None:
        window = self.window
        records, problems, sets, pinned = result
        window.browser.model.removed_targets = frozenset(r.target for r in records if r.target not in window.targets)
        select, self._select_after_refresh = self._select_after_refresh, None
        if not window.browser.show_records(records, select):
            window.details.show_record(window.selected_backup())
        window.browser.sets.show_sets(sets, pinned)
        window.browser.update_counts(has_targets=bool(window.targets))
        window.refresh_badges()  # the listing was itself a check of every target
        window.sidebar.show_usage(usage(records, sets))
        if problems:
            names = ", ".join(sorted(problems))
            window.statusBar().showMessage(f"Could not list {names}; showing what the catalog last saw.", 15000)
            name, error = sorted(problems.items())[0]
            window.show_error(f"Listing target '{name}' failed", error)
        else:
            also = f" and {counted(len(sets), 'recovery set')}" if sets else ""
            window.statusBar().showMessage(f"{counted(len(records), 'backup')}{also} listed.", 5000)
        self.update_actions()
        self._refresh_result = len(records)

    # ------------------------------------------------------------------ dialogs

    def verify_selected(self) -> None:
        """The verify dialog for the selected backup; the list is re-read when it ends (its verdict is kept)."""
        window = self.window
        record = window.selected_backup()
        if record is None or window.blocking:
            return
        from recovery_console.ui.dialogs.verify import VerifyDialog

        dialog = VerifyDialog(window.console, record, secrets=window.secrets, runner=window.runner, parent=window)
        dialog.verified.connect(lambda _r: self.refresh(sync=False))
        dialog.verify_failed.connect(lambda _e: self.refresh(sync=False))
        window.keep(dialog)
        self.verify_dialog = dialog
        dialog.show()
        dialog.start_button.setFocus()

    def open_audit(self) -> None:
        from recovery_console.ui.views.audit_view import AuditView

        window = self.window
        view = AuditView(window.console, runner=window.runner, parent=window)
        window.keep(view)
        self.audit_view = view
        view.show()

    def open_health(self) -> None:
        from recovery_console.ui.views.health_view import HealthView

        window = self.window
        view = HealthView(window.console, runner=window.runner, parent=window)
        view.ran.connect(lambda _outcome: self.refresh(sync=False))
        window.keep(view)
        self.health_view = view
        view.show()

    def point_out_failed_runs(self) -> None:
        """On start: the runs that failed since the window was last open, if any."""
        from recovery_console.ui.views.health_view import failed_since_last_open, failures_text

        failures = failed_since_last_open(self.window.console, self.window.settings)
        if failures:
            self.window.show_info("Runs that did not succeed", failures_text(failures))

    def about(self) -> None:
        paths = self.window.console.paths
        self.window.show_info("About Recovery Console",
                              f"Recovery Console {__version__}\nEncrypted PostgreSQL backups you can trust on your "
                              f"worst day.\n\nSettings: {paths.config_dir}\nData: {paths.data_dir}")

    # ------------------------------------------------------------------ wizards

    def _show_wizard(self, what: str, build: Callable[[], QWizard]) -> QWizard | None:
        """Build a wizard and show it; an engine error while building it is explained, not a traceback."""
        window = self.window
        try:
            wizard = build()
        except RecoveryError as exc:
            window.show_error(what, exc)
            return None
        window.keep(wizard)
        self.wizard = wizard
        wizard.show()
        return wizard

    def open_restore(self) -> None:
        """The restore wizard with the selected backup or recovery set."""
        self.restore_set(self.window.browser.selected_set())

    def restore_set(self, chosen_set: SetRecord | None) -> None:
        """The restore wizard with `chosen_set` (its own profile chosen with it), else the selected backup."""
        from recovery_console.ui.wizards.restore import RestoreWizard

        window = self.window
        profile = (chosen_set.manifest.profile if chosen_set is not None and chosen_set.manifest
                   else window.selected_profile())
        self._show_wizard("Restore wizard", lambda: RestoreWizard(
            window.console, runner=window.runner, backup=chosen_set or window.selected_backup(),
            profile=profile, parent=window))

    def open_extract(self) -> None:
        from recovery_console.ui.wizards.extract import ExtractWizard

        window = self.window
        self._show_wizard("Extraction wizard", lambda: ExtractWizard(window.console, runner=window.runner,
                                                                      parent=window))

    def open_setup(self) -> None:
        from recovery_console.ui.wizards.setup import SetupWizard

        window = self.window
        wizard = self._show_wizard("Setup wizard", lambda: SetupWizard(window.console, runner=window.runner,
                                                                       parent=window))
        if wizard is not None:
            wizard.finished.connect(lambda _result: self._setup_finished(getattr(wizard, "saved_profile", None)))

    def _setup_finished(self, profile: Profile | None) -> None:
        """Show what the wizard made: its profile selected, and its target's badge from a real round trip."""
        window = self.window
        window.reload_lists()
        if profile is not None:
            window.select_profile(profile.name)
            if profile.target:
                self.backups.check_target(profile.target)
        self.refresh()
