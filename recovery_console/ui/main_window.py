"""The main window: profiles and targets, the backups, the selected backup's details, and the actions on them.

The window composes its views (`views/`), places the controller's actions in the menus and
toolbar, and owns what is window-wide: the job runner and its progress area, the one error
dialog, blocking while a restore runs, saving its layout and closing cleanly. What the actions
do is in `controller` and `backup_actions`. Every operation is a call into `Console` run in a
`Job`; views never format progress themselves: each job gets a `ProgressPanel`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.errors import RecoveryError, UsageError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.models.target import TargetConfig
from recovery_console.ui import theme
from recovery_console.ui.config_actions import ConfigActions
from recovery_console.ui.controller import MainController
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.keep_actions import KeepActions
from recovery_console.ui.secrets import SecretBroker
from recovery_console.ui.set_actions import SetActions
from recovery_console.ui.views.backup_browser import BackupBrowser
from recovery_console.ui.views.details_pane import DetailsPane
from recovery_console.ui.views.sidebar import Sidebar
from recovery_console.ui.widgets.blocking_overlay import BlockingOverlay
from recovery_console.ui.widgets.focus_chain import toolbar_first
from recovery_console.ui.widgets.jobs_area import JobsArea
from recovery_console.ui.widgets.theme_menu import theme_menu
from recovery_console.ui.window_state import open_settings, restore_layout, save_layout

TOOLBAR_ACTIONS = ("refresh", None, "create", "verify", "download", "upload", "restore", "delete", None,
                   "extract", "new_profile", "audit")


class MainWindow(QMainWindow):
    """Profiles and targets on the left, the backups in the middle, the selected backup's details on the right.

    `blocking_changed` follows `set_blocking`; `cancel_requested` fires when the user chose to cancel the
    running jobs and close, so that open dialogs and wizards stop theirs.
    """

    blocking_changed = Signal(bool)
    cancel_requested = Signal()

    def __init__(self, console: Console, *, profile: str | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.console = console
        self.runner = JobRunner()
        self.health = console.health
        self.settings = settings or open_settings(console)
        self.sidebar = Sidebar()
        self.secrets = SecretBroker(console, self.runner, self, self.sidebar.profile_for_target)
        self.profiles: dict[str, Profile] = {}
        self.targets: dict[str, TargetConfig] = {}
        self.dialogs: list[QDialog] = []
        self.error_dialog: QMessageBox | None = None
        self.info_box: QMessageBox | None = None
        self.close_box: QMessageBox | None = None
        self._blocking = False
        self._blocking_text = ""
        self._close_confirmed = False

        self.setWindowTitle("Recovery Console")
        self.setWindowIcon(theme.icon("app"))
        self.setAccessibleName("Recovery Console main window")
        self.browser = BackupBrowser()
        self.details = DetailsPane(console, self.runner, self.secrets)
        self.jobs_area = JobsArea()
        self.controller = MainController(self)
        self.keep_actions = KeepActions(self)
        self.set_actions = SetActions(self)
        self.config_actions = ConfigActions(self)
        self._build_layout()
        self._build_menus()
        self.setAcceptDrops(True)  # a backup file dropped on the window is opened
        self._build_toolbar()
        toolbar_first(self.toolbar, self.sidebar.profiles_list)
        self._connect_views()
        self.reload_lists()
        if profile is not None:
            self.select_profile(profile)
        else:
            last = self.settings.value("lastProfile", "", type=str)
            if last in self.profiles:
                self.select_profile(last)
        restore_layout(self.settings, self, self.splitter, self.browser.table)
        self.controller.update_actions()
        self.runner.busy_changed.connect(self._busy_changed)
        self._badge_timer = QTimer(self)
        self._badge_timer.setInterval(30_000)
        self._badge_timer.timeout.connect(self.refresh_badges)
        self._badge_timer.start()
        if profile is not None and profile not in self.profiles:
            QTimer.singleShot(0, lambda: self.show_error("Opening a profile", UsageError(
                f"There is no profile named '{profile}'.",
                hint="Choose one on the left, or create it with New profile.")))
        QTimer.singleShot(0, self.controller.refresh)
        QTimer.singleShot(0, self.controller.point_out_failed_runs)

    # ------------------------------------------------------------------ building

    def _build_layout(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.browser)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([210, 680, 390])
        self.splitter.setChildrenCollapsible(False)
        central = QWidget()
        central.setObjectName("central")
        box = QVBoxLayout(central)
        box.setContentsMargins(4, 4, 4, 4)
        box.addWidget(self.splitter, 1)
        box.addWidget(self.jobs_area)
        self.setCentralWidget(central)
        self.overlay = BlockingOverlay(central)
        self.addAction(self.browser.focus_filter_action)
        self.statusBar().addPermanentWidget(self.browser.count_label)
        sidebar, browser, details = self.sidebar, self.browser, self.details
        for first, second in ((sidebar.profiles_list, sidebar.new_profile_button),
                              (sidebar.new_profile_button, sidebar.targets_list),
                              (sidebar.targets_list, sidebar.test_button), (sidebar.test_button, browser.filter_edit),
                              (browser.filter_edit, browser.table), (browser.table, details.metadata_button),
                              (details.metadata_button, details.contents_button),
                              (details.contents_button, details.toc_view)):
            QWidget.setTabOrder(first, second)

    def _build_menus(self) -> None:
        actions = self.controller.actions
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for key in ("open_file", "new_profile", "create", "upload", "extract"):
            file_menu.addAction(actions[key])
        file_menu.addSeparator()
        file_menu.addActions(self.config_actions.actions)
        file_menu.addSeparator()
        file_menu.addAction(self.controller.quit_action)
        backup_menu = bar.addMenu("&Backup")
        for key in ("verify", "download", "restore", "delete"):
            backup_menu.addAction(actions[key])
        backup_menu.addAction(actions["restore_history"])
        backup_menu.addSeparator()
        backup_menu.addActions(self.keep_actions.actions)
        backup_menu.addSeparator()
        backup_menu.addMenu(self.set_actions.menu)
        backup_menu.addSeparator()
        backup_menu.addAction(self.details.metadata_action)
        backup_menu.addAction(self.details.contents_action)
        backup_menu.addSeparator()
        backup_menu.addAction(actions["refresh"])
        profile_menu = bar.addMenu("&Profile")
        for key in ("new_profile", "edit_profile", "remove_profile", "restore_history"):
            profile_menu.addAction(actions[key])
        target_menu = bar.addMenu("&Target")
        for key in ("add_target", "edit_target", "test_target", "remove_target"):
            target_menu.addAction(actions[key])
        self.sidebar.set_context_actions([actions[k] for k in ("new_profile", "edit_profile", "remove_profile",
                                                              "restore_history")],
                                         [actions[k] for k in ("add_target", "edit_target", "test_target",
                                                               "remove_target")])
        view_menu = bar.addMenu("&View")
        view_menu.addAction(actions["audit"])
        view_menu.addAction(actions["health"])
        view_menu.addAction(self.browser.focus_filter_action)
        view_menu.addMenu(theme_menu(self, self.settings))
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.controller.about_action)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Actions")
        toolbar.setObjectName("mainToolbar")
        toolbar.setAccessibleName("Actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        toolbar.setMovable(False)
        for key in TOOLBAR_ACTIONS:
            if key is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self.controller.actions[key])
        for action in toolbar.actions():
            button = toolbar.widgetForAction(action)
            if button is not None and not action.isSeparator():
                button.setAccessibleName(action.text().replace("&", "").rstrip("…"))
                button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.toolbar = toolbar

    def _connect_views(self) -> None:
        controller = self.controller
        self.sidebar.profile_changed.connect(controller.update_actions)
        self.sidebar.target_changed.connect(lambda: self.browser.set_target(self.selected_target()))
        self.sidebar.new_profile_button.clicked.connect(controller.open_setup)
        self.sidebar.test_button.clicked.connect(controller.backups.test_target)
        self.browser.filter_changed.connect(self._rows_changed)
        self.browser.selection_changed.connect(self._backup_selected)
        self.browser.activated.connect(controller.verify_selected)
        self.browser.sets.restore_requested.connect(controller.restore_set)
        self.details.metadata_loaded.connect(lambda _m: controller.refresh(sync=False))

    # ------------------------------------------------------------------ profiles, targets, selection

    def reload_lists(self) -> None:
        """Read profiles.json and targets.json again (small local files) and rebuild both lists."""
        try:
            self.profiles = dict(self.console.profiles.store.load())
            self.targets = dict(self.console.targets.load())
        except RecoveryError as exc:
            self.show_error("Reading the settings", exc)
        self.sidebar.show_lists(self.profiles, self.targets)
        self.refresh_badges()
        self.controller.update_actions()

    def refresh_badges(self, now: datetime | None = None) -> None:
        self.sidebar.show_badges(self.health.all(), now or datetime.now(UTC))

    def selected_profile(self) -> str | None:
        return self.sidebar.selected_profile()

    def selected_target(self) -> str | None:
        return self.sidebar.selected_target()

    def selected_backup(self) -> BackupRecord | None:
        return self.browser.selected_backup()

    def select_profile(self, name: str | None) -> bool:
        return self.sidebar.select_profile(name)

    def select_target(self, name: str | None) -> None:
        self.sidebar.select_target(name)

    def _rows_changed(self) -> None:
        self.browser.update_counts(has_targets=bool(self.targets))
        self.controller.update_actions()

    def _backup_selected(self) -> None:
        record = self.selected_backup()
        self.details.show_record(record)
        if record is not None and record.metadata is None and self.secrets.has_secret(record.target):
            self.details.load_metadata()
        self.controller.update_actions()

    # ------------------------------------------------------------------ jobs, errors, dialogs

    def submit(self, job: Job, title: str, on_success: Callable[[Any], None] | None = None, *,
               progress: bool = True, error_title: str | None = None,
               on_failure: Callable[[RecoveryError], None] | None = None) -> Job:
        """Run a job with a progress panel; failures go to the one error dialog, cancels to the status bar."""
        if on_success is not None:
            job.succeeded.connect(on_success)

        def failed(error: RecoveryError) -> None:
            if on_failure is not None:
                on_failure(error)
            self.show_error(error_title or f"{title} failed", error)

        job.failed.connect(failed)
        job.failed.connect(lambda _error: self.statusBar().showMessage(f"{title}: failed.", 15000))
        job.cancelled.connect(lambda: self.statusBar().showMessage(f"{title}: cancelled.", 8000))
        job.done.connect(lambda: self._job_ended(f"{title}…"))
        if progress:
            self.jobs_area.track(job, title)
        self.statusBar().showMessage(f"{title}…")
        return self.runner.submit(job)

    def _job_ended(self, running_text: str) -> None:
        """A job's "…" message never outlives it: cleared if nothing said how it ended."""
        if self.statusBar().currentMessage() == running_text:
            self.statusBar().clearMessage()

    def _busy_changed(self, busy: bool) -> None:
        if not busy and self._close_confirmed and not self._blocking:
            QTimer.singleShot(0, self.close)

    def show_error(self, title: str, error: RecoveryError) -> None:
        """The one error style, shown without blocking the event loop."""
        box = error_box(self, title, error)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_dialog = box
        box.open()

    def show_info(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.info_box = box
        box.open()
        return box

    def keep(self, dialog: QDialog) -> None:
        """Track a dialog opened over the window until it finishes: closing the window closes it too."""
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _r: self.dialogs.remove(dialog) if dialog in self.dialogs else None)

    # ------------------------------------------------------------------ blocking (restore)

    @property
    def blocking(self) -> bool:
        return self._blocking

    def set_blocking(self, active: bool, text: str = "") -> None:
        """Cover the window with a translucent overlay and disable every action (while a restore runs)."""
        self._blocking = bool(active)
        self._blocking_text = text
        if active:
            self.overlay.set_text(text)
            self.splitter.setEnabled(False)
            self.overlay.show()
            self.overlay.raise_()
            self.overlay.setFocus()
        else:
            self.overlay.hide()
            self.splitter.setEnabled(True)
        self.controller.update_actions()
        self.blocking_changed.emit(self._blocking)
        if not active and self._close_confirmed and not self.runner.running:
            QTimer.singleShot(0, self.close)

    # ------------------------------------------------------------------ state and closing

    def save_state(self) -> None:
        save_layout(self.settings, self, self.splitter, self.browser.table)
        self.settings.setValue("lastProfile", self.selected_profile() or "")
        self.settings.sync()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """A file dragged onto the window is accepted: dropping it opens it as File › Open backup file does."""
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.controller.manage.open_backup_file(Path(url.toLocalFile()))
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        busy = self.runner.running
        if self._close_confirmed and (busy or self._blocking):
            event.ignore()  # still waiting for the cancelled jobs to stop
            return
        if busy or self._blocking:
            event.ignore()
            self._ask_close(busy)
            return
        self.save_state()
        for dialog in list(self.dialogs):
            dialog.close()
        event.accept()

    def _ask_close(self, busy: list[Job]) -> None:
        if self.close_box is not None and self.close_box.isVisible():
            return
        names = [job.name for job in busy]
        if self._blocking and not names:
            names = [self._blocking_text or "A restore"]
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Jobs are still running")
        box.setText("Still running: " + "; ".join(names) + ".")
        box.setInformativeText("Cancel them and close once they have stopped cleanly (nothing half-written is "
                               "kept), or keep the window open and let them finish?")
        stop = box.addButton("&Cancel jobs and close", QMessageBox.ButtonRole.DestructiveRole)
        stop.setAccessibleName("Cancel the running jobs and close")
        keep = box.addButton("&Keep the window open", QMessageBox.ButtonRole.RejectRole)
        keep.setAccessibleName("Keep the window open")
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setAccessibleName("Jobs are still running")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: QAbstractButton) -> None:
            self.close_box = None
            if button is stop:
                self._cancel_and_close()

        box.buttonClicked.connect(answered)
        self.close_box = box
        box.open()

    def _cancel_and_close(self) -> None:
        self._close_confirmed = True
        self.statusBar().showMessage("Cancelling the running jobs; the window closes when they have stopped.")
        self.runner.cancel_all()
        self.cancel_requested.emit()
        for dialog in list(self.dialogs):
            if hasattr(dialog, "cancel"):
                dialog.cancel()
        if not self.runner.running and not self._blocking:
            QTimer.singleShot(0, self.close)
