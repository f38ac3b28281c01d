"""The main window: profiles and targets (with last-test badges), the backup browser, the details pane, actions.

Every operation is a call into `Console` (or `backup_database` / `round_trip`) run in a `Job`
on the window's `JobRunner`; jobs touching one target share its name as their key, so they run
one after another. Views never format progress themselves: each job gets a `ProgressPanel`.
Wizards (setup, restore, extraction) live in their own modules and are imported only when
their action is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from recovery_console import __version__
from recovery_console.engine.console import Console
from recovery_console.engine.state.target_health import badge_for
from recovery_console.errors import RecoveryError, StorageError, UsageError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.models.target import TargetConfig
from recovery_console.ui import theme
from recovery_console.ui.backup_table import COL_CREATED, BackupFilterProxy, BackupTableModel
from recovery_console.ui.details_pane import DetailsPane, SecretCallback, locate_record
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.progress_panel import ProgressPanel, format_bytes

SETTINGS_FILE = "gui.ini"
BADGE_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole
BADGE_WORDS = {"green": "passed recently", "amber": "passed today", "red": "failed or out of date",
               "unknown": "never tested"}


def settings_path(console: Console) -> Path:
    return console.paths.config_dir / SETTINGS_FILE


def _ago(when: datetime, now: datetime) -> str:
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


# ---------------------------------------------------------------------------------------- secrets


class SecretBroker(QObject):
    """The instance secret for a target: its profile's keyring entry (read in a job), else a password prompt.

    Answers are kept in memory for this session only, per profile (or one typed secret for
    backups no profile points at). `reject` forgets a secret that turned out wrong.
    """

    TYPED = "\0typed"

    def __init__(self, console: Console, runner: JobRunner, parent: QWidget,
                 profile_for_target: Callable[[str | None], str | None]) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.widget = parent
        self.profile_for_target = profile_for_target
        self._cache: dict[str, str] = {}
        self._waiting: dict[str, list[SecretCallback]] = {}
        self.prompt: QInputDialog | None = None

    def _key(self, target: str | None, profile: str | None) -> str:
        profile = profile or self.profile_for_target(target)
        return profile or self.TYPED

    def remember(self, secret: str, target: str | None = None, profile: str | None = None) -> None:
        """Keep a secret obtained elsewhere (e.g. a wizard) for this session."""
        self._cache[self._key(target, profile)] = secret

    def has_secret(self, target: str | None, profile: str | None = None) -> bool:
        return self._key(target, profile) in self._cache

    def forget_all(self) -> None:
        self._cache.clear()

    def reject(self, target: str | None, profile: str | None = None) -> None:
        self._cache.pop(self._key(target, profile), None)

    def request(self, target: str | None, callback: SecretCallback, why: str = "", profile: str | None = None) -> None:
        key = self._key(target, profile)
        if key in self._cache:
            callback(self._cache[key])
            return
        if key in self._waiting:
            self._waiting[key].append(callback)
            return
        self._waiting[key] = [callback]
        if key == self.TYPED:
            self._ask(key, why, "")
            return
        profiles = self.console.profiles
        job = Job("Reading the instance secret from the keyring", lambda reporter: profiles.instance_secret(key),
                  key="keyring")
        job.succeeded.connect(lambda secret: self._answer(key, secret))
        job.failed.connect(lambda error: self._ask(key, why, error.message))
        self.runner.submit(job)

    def _ask(self, key: str, why: str, problem: str) -> None:
        dialog = QInputDialog(self.widget)
        dialog.setWindowTitle("Instance secret")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        whose = f"profile '{key}'" if key != self.TYPED else "these backups"
        text = f"Type the instance secret of {whose}"
        text += f" to {why}." if why else "."
        if problem:
            text = f"{problem}\n\n{text}"
        dialog.setLabelText(text)
        dialog.setOkButtonText("&Use secret")
        dialog.setAccessibleName("Instance secret prompt")
        dialog.setAccessibleDescription(text)
        line = dialog.findChild(QLineEdit)
        if line is not None:
            line.setAccessibleName("Instance secret")
        def finished(result: int) -> None:
            # Qt emits finished before textValueSelected: read the answer here, once.
            accepted = result == QInputDialog.DialogCode.Accepted
            if self.prompt is dialog:
                self.prompt = None
            dialog.deleteLater()
            self._answer(key, dialog.textValue() if accepted else None)

        dialog.finished.connect(finished)
        self.prompt = dialog
        dialog.open()

    def _answer(self, key: str, secret: str | None) -> None:
        if secret:
            self._cache[key] = secret
        for callback in self._waiting.pop(key, []):
            callback(secret or None)


# ---------------------------------------------------------------------------------------- widgets


class JobsArea(QFrame):
    """One progress panel per running job, under the browser; hidden when nothing runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobsArea")
        self.setAccessibleName("Running jobs")
        self.panels: dict[Job, QWidget] = {}
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(6, 4, 6, 4)
        self.hide()

    def track(self, job: Job, title: str) -> ProgressPanel:
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        label = QLabel(f"<b>{title}</b>")
        label.setAccessibleName("Job")
        panel = ProgressPanel()
        panel.setAccessibleName(f"Progress of {title}")
        panel.cancel_button.setAccessibleName(f"Cancel {title}")
        panel.attach(job)
        panel.phase.setText("Starting…")
        panel.bar.setRange(0, 0)
        box.addWidget(label)
        box.addWidget(panel)
        self.box.addWidget(holder)
        self.panels[job] = holder
        job.done.connect(lambda: self._remove(job))
        self.show()
        return panel

    def _remove(self, job: Job) -> None:
        holder = self.panels.pop(job, None)
        if holder is not None:
            holder.hide()
            holder.deleteLater()
        if not self.panels:
            self.hide()


class BlockingOverlay(QWidget):
    """A translucent cover over the central area that swallows input while a restore runs."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("blockingOverlay")
        self.setAccessibleName("Window blocked")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.label = QLabel("", self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setFixedWidth(480)
        self.label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Minimum)
        self.label.setAccessibleName("Why the window is blocked")
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.label, 0, Qt.AlignmentFlag.AlignCenter)
        box.addStretch(1)
        parent.installEventFilter(self)
        self.hide()

    def set_text(self, text: str) -> None:
        self.label.setText(text or "A restore is running…")
        self.setAccessibleDescription(self.label.text())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parentWidget().rect())
        return False

    def showEvent(self, event) -> None:
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        super().showEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(90, 100, 115, 120))
        painter.end()

    # Everything aimed at the covered widgets stops here.
    def mousePressEvent(self, event) -> None:
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        event.accept()

    def wheelEvent(self, event) -> None:
        event.accept()

    def keyPressEvent(self, event) -> None:
        event.accept()


def _title(text: str, buddy: QWidget | None = None) -> QLabel:
    label = QLabel(text)
    label.setObjectName("paneTitle")
    if buddy is not None:
        label.setBuddy(buddy)
    return label


def construct(cls: type, console: Console, **available: Any) -> Any:
    """Build a wizard whatever its exact signature: pass `console` and those keywords it names."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    named = {name for name, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    kwargs = {name: value for name, value in available.items() if name in named}
    if "console" in named:
        return cls(console=console, **kwargs)
    return cls(console, **kwargs)


# ---------------------------------------------------------------------------------------- window


class MainWindow(QMainWindow):
    """Profiles and targets on the left, the backups in the middle, the selected backup's details on the right."""

    blocking_changed = Signal(bool)
    backups_refreshed = Signal(int)
    cancel_requested = Signal()

    def __init__(self, console: Console, *, profile: str | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.console = console
        self.runner = JobRunner()
        self.health = console.health
        self.settings = settings or QSettings(str(settings_path(console)), QSettings.Format.IniFormat)
        self.secrets = SecretBroker(console, self.runner, self, self.profile_for_target)
        self.profiles: dict[str, Profile] = {}
        self.targets: dict[str, TargetConfig] = {}
        self.dialogs: list[QWidget] = []
        self.last_error: RecoveryError | None = None
        self.error_dialog: QMessageBox | None = None
        self.confirm_box: QMessageBox | None = None
        self.close_box: QMessageBox | None = None
        self.description_dialog: QInputDialog | None = None
        self.verify_dialog = None
        self.audit_view = None
        self.wizard = None
        self._blocking = False
        self._blocking_text = ""
        self._close_confirmed = False
        self._refresh_job: Job | None = None
        self._refresh_again: bool | None = None
        self._refresh_result: int | None = None
        self._select_after_refresh: tuple[str, str] | None = None

        self.setWindowTitle("Recovery Console")
        self.setWindowIcon(theme.icon("app"))
        self.setAccessibleName("Recovery Console main window")
        self._build_actions()
        self._build_ui()
        self._build_menus()
        self._build_toolbar()
        self.reload_lists()
        if profile is not None:
            self.select_profile(profile)
        else:
            last = self.settings.value("lastProfile", "", type=str)
            if last in self.profiles:
                self.select_profile(last)
        self._restore_state()
        self._update_actions()
        self.runner.busy_changed.connect(self._busy_changed)
        self._badge_timer = QTimer(self)
        self._badge_timer.setInterval(30_000)
        self._badge_timer.timeout.connect(self.refresh_badges)
        self._badge_timer.start()
        if profile is not None and profile not in self.profiles:
            QTimer.singleShot(0, lambda: self._error("Opening a profile", UsageError(
                f"There is no profile named '{profile}'.",
                hint="Choose one on the left, or create it with New profile.")))
        QTimer.singleShot(0, self.refresh)

    # ------------------------------------------------------------------ building

    def _action(self, key: str, text: str, icon_name: str, shortcut: QKeySequence | str | None,
                tip: str, slot: Callable[[], None]) -> QAction:
        action = QAction(theme.icon(icon_name), text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip + (f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                                 if shortcut else ""))
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.actions[key] = action
        return action

    def _build_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        self._action("refresh", "&Refresh", "refresh", QKeySequence.StandardKey.Refresh,
                     "List the backups on every target again", self.refresh)
        self._action("create", "&Create backup now…", "backup", "Ctrl+B",
                     "Back up the selected profile's database now, or a pg_dump file", self.create_backup)
        self._action("verify", "&Verify…", "verify", "Ctrl+Shift+V",
                     "Prove the selected backup is whole and restorable", self.verify_selected)
        self._action("download", "&Download…", "download", "Ctrl+D",
                     "Copy the selected backup and its checksum to this computer", self.download_selected)
        self._action("upload", "&Upload…", "upload", "Ctrl+U",
                     "Store a backup file on a target after verifying it", self.upload_file)
        self._action("restore", "Re&store…", "restore", "Ctrl+R",
                     "Restore a backup into a database, step by step", self.open_restore)
        self._action("delete", "De&lete…", "delete", QKeySequence.StandardKey.Delete,
                     "Delete the selected backup from its target", self.delete_selected)
        self._action("extract", "E&xtract…", "extract", "Ctrl+E",
                     "Open a backup file offline: metadata, decrypt, contents", self.open_extract)
        self._action("new_profile", "&New profile…", "profile", "Ctrl+Shift+N",
                     "Set up a database, its secret and its backup target", self.open_setup)
        self._action("test_target", "&Test target", "target", "Ctrl+T",
                     "Write, read back and delete a small object on the selected target", self.test_target)
        self._action("audit", "&Audit log", "audit", "Ctrl+L",
                     "Everything this console did, and a check of the log's chain", self.open_audit)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        self.about_action = QAction("&About Recovery Console", self)
        self.about_action.triggered.connect(self._about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for key in ("new_profile", "create", "upload", "extract"):
            file_menu.addAction(self.actions[key])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        backup_menu = bar.addMenu("&Backup")
        for key in ("verify", "download", "restore", "delete"):
            backup_menu.addAction(self.actions[key])
        backup_menu.addSeparator()
        backup_menu.addAction(self.details.metadata_action)
        backup_menu.addAction(self.details.contents_action)
        backup_menu.addSeparator()
        backup_menu.addAction(self.actions["refresh"])
        target_menu = bar.addMenu("&Target")
        target_menu.addAction(self.actions["test_target"])
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.actions["audit"])
        view_menu.addAction(self.focus_filter_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Actions")
        toolbar.setObjectName("mainToolbar")
        toolbar.setAccessibleName("Actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        toolbar.setMovable(False)
        for key in ("refresh", None, "create", "verify", "download", "upload", "restore", "delete", None,
                    "extract", "new_profile", "audit"):
            if key is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self.actions[key])
        for action in toolbar.actions():
            button = toolbar.widgetForAction(action)
            if button is not None and not action.isSeparator():
                button.setAccessibleName(action.text().replace("&", "").rstrip("…"))
                button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.toolbar = toolbar

    def _build_ui(self) -> None:
        # left: profiles and targets
        self.profiles_list = QListWidget()
        self.profiles_list.setAccessibleName("Profiles")
        self.profiles_list.setAccessibleDescription("The deployments this console backs up; the selection is "
                                                    "what Create backup now uses.")
        self.profiles_list.itemSelectionChanged.connect(self._profile_changed)
        self.profiles_hint = QLabel("No profile yet. New profile sets up a database, its instance secret and "
                                    "its backup target.")
        self.profiles_hint.setObjectName("hint")
        self.profiles_hint.setWordWrap(True)
        self.profiles_hint.hide()
        self.new_profile_button = QPushButton(theme.icon("profile"), "&New profile…")
        self.new_profile_button.setAccessibleName("New profile")
        self.new_profile_button.clicked.connect(self.open_setup)
        self.targets_list = QListWidget()
        self.targets_list.setAccessibleName("Storage targets")
        self.targets_list.setAccessibleDescription("Where backups are kept; the dot shows the last test: green "
                                                   "passed in the last 5 minutes, amber today, red failed or older.")
        self.targets_list.itemSelectionChanged.connect(self._target_changed)
        self.test_button = QPushButton(theme.icon("target"), "Te&st target")
        self.test_button.setAccessibleName("Test the selected target")
        self.test_button.clicked.connect(self.test_target)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(4, 0, 4, 0)
        left_box.addWidget(_title("&Profiles", self.profiles_list))
        left_box.addWidget(self.profiles_list, 2)
        left_box.addWidget(self.profiles_hint)
        left_box.addWidget(self.new_profile_button)
        left_box.addWidget(_title("Tar&gets", self.targets_list))
        left_box.addWidget(self.targets_list, 3)
        left_box.addWidget(self.test_button)

        # centre: the backup browser
        self.model = BackupTableModel(self)
        self.proxy = BackupFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by date, id, type, version, target or description")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter backups")
        self.filter_edit.textChanged.connect(self._filter_changed)
        filter_label = QLabel("Fi&lter:")
        filter_label.setBuddy(self.filter_edit)
        self.focus_filter_action = QAction("&Find backups", self)
        self.focus_filter_action.setShortcut(QKeySequence.StandardKey.Find)
        self.focus_filter_action.triggered.connect(lambda: (self.filter_edit.setFocus(), self.filter_edit.selectAll()))
        self.addAction(self.focus_filter_action)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Backups")
        self.table.setAccessibleDescription("Every backup on the targets; sort by a column header, filter above.")
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_CREATED, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((140, 70, 72, 96, 160, 72, 76, 160)):
            header.resizeSection(column, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.verify_selected())
        self.empty_label = QLabel("")
        self.empty_label.setObjectName("hint")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAccessibleName("Backup list status")
        centre = QWidget()
        centre_box = QVBoxLayout(centre)
        centre_box.setContentsMargins(4, 0, 4, 0)
        row = QHBoxLayout()
        row.addWidget(_title("Bac&kups", self.table))
        row.addStretch(1)
        row.addWidget(filter_label)
        row.addWidget(self.filter_edit, 2)
        centre_box.addLayout(row)
        centre_box.addWidget(self.table, 1)
        centre_box.addWidget(self.empty_label)

        # right: details
        self.details = DetailsPane(self.console, self.runner, self.secrets)
        self.details.metadata_loaded.connect(lambda _m: self.refresh(sync=False))
        self.actions["metadata"] = self.details.metadata_action
        self.actions["contents"] = self.details.contents_action

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([210, 680, 390])
        self.splitter.setChildrenCollapsible(False)

        self.jobs_area = JobsArea()
        central = QWidget()
        central.setObjectName("central")
        box = QVBoxLayout(central)
        box.setContentsMargins(4, 4, 4, 4)
        box.addWidget(self.splitter, 1)
        box.addWidget(self.jobs_area)
        self.setCentralWidget(central)
        self.overlay = BlockingOverlay(central)

        self.count_label = QLabel("")
        self.count_label.setAccessibleName("Backup count")
        self.statusBar().addPermanentWidget(self.count_label)

        for first, second in ((self.profiles_list, self.new_profile_button), (self.new_profile_button, self.targets_list),
                              (self.targets_list, self.test_button), (self.test_button, self.filter_edit),
                              (self.filter_edit, self.table), (self.table, self.details.metadata_button),
                              (self.details.metadata_button, self.details.contents_button),
                              (self.details.contents_button, self.details.toc_view)):
            QWidget.setTabOrder(first, second)

    # ------------------------------------------------------------------ lists

    def reload_lists(self) -> None:
        """Read profiles.json and targets.json again (small local files) and rebuild both lists."""
        try:
            self.profiles = dict(self.console.profiles.store.load())
            self.targets = dict(self.console.targets.load())
        except RecoveryError as exc:
            self._error("Reading the settings", exc)
        keep_profile = self.selected_profile()
        keep_target = self.selected_target()
        self.profiles_list.blockSignals(True)
        self.profiles_list.clear()
        for name, profile in sorted(self.profiles.items()):
            item = QListWidgetItem(theme.icon("profile"), name)
            item.setData(NAME_ROLE, name)
            mode = profile.mode.value
            target = profile.target or "no target"
            item.setToolTip(f"{profile.database_url}\nconnection: {mode} · backups to {target}")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"Profile {name}, backups to {target}")
            self.profiles_list.addItem(item)
            if name == keep_profile:
                item.setSelected(True)
        self.profiles_list.blockSignals(False)
        self.profiles_hint.setVisible(not self.profiles)
        self.targets_list.blockSignals(True)
        self.targets_list.clear()
        all_item = QListWidgetItem(theme.icon("target"), "All targets")
        all_item.setData(NAME_ROLE, None)
        all_item.setData(Qt.ItemDataRole.AccessibleTextRole, "All targets")
        self.targets_list.addItem(all_item)
        for name in sorted(self.targets):
            item = QListWidgetItem(name)
            item.setData(NAME_ROLE, name)
            self.targets_list.addItem(item)
        selected = self._target_item(keep_target) or all_item
        selected.setSelected(True)
        self.targets_list.setCurrentItem(selected)
        self.targets_list.blockSignals(False)
        self.refresh_badges()
        self._update_actions()

    def _target_item(self, name: str | None) -> QListWidgetItem | None:
        for row in range(self.targets_list.count()):
            item = self.targets_list.item(row)
            if item.data(NAME_ROLE) == name:
                return item
        return None

    def refresh_badges(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        entries = self.health.all()
        for row in range(self.targets_list.count()):
            item = self.targets_list.item(row)
            name = item.data(NAME_ROLE)
            if name is None:
                continue
            entry = entries.get(name)
            badge = badge_for(entry, now)
            item.setIcon(theme.badge_icon(badge))
            item.setData(BADGE_ROLE, badge)
            config = self.targets.get(name)
            kind = config.kind if config else "?"
            if entry is None:
                tip = f"{name} ({kind}): never tested here. Use Test target."
            else:
                verdict = "passed" if entry.ok else "FAILED"
                tip = f"{name} ({kind}): last check {verdict} {_ago(entry.when, now)}"
                if entry.message:
                    tip += f"\n{entry.message}"
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"Target {name}, {BADGE_WORDS[badge]}")

    def badge(self, target: str) -> str | None:
        item = self._target_item(target)
        return item.data(BADGE_ROLE) if item is not None else None

    def selected_profile(self) -> str | None:
        items = self.profiles_list.selectedItems() if hasattr(self, "profiles_list") else []
        return items[0].data(NAME_ROLE) if items else None

    def selected_target(self) -> str | None:
        items = self.targets_list.selectedItems() if hasattr(self, "targets_list") else []
        return items[0].data(NAME_ROLE) if items else None

    def select_profile(self, name: str | None) -> bool:
        for row in range(self.profiles_list.count()):
            item = self.profiles_list.item(row)
            if item.data(NAME_ROLE) == name:
                self.profiles_list.setCurrentItem(item)
                item.setSelected(True)
                return True
        self.profiles_list.clearSelection()
        return False

    def select_target(self, name: str | None) -> None:
        item = self._target_item(name)
        if item is not None:
            self.targets_list.setCurrentItem(item)
            item.setSelected(True)

    def profile_for_target(self, target: str | None) -> str | None:
        """Whose instance secret opens backups on `target`: the selected profile if it uses it, else the first that does."""
        selected = self.selected_profile()
        if target is None:
            return selected
        if selected and self.profiles.get(selected) and self.profiles[selected].target == target:
            return selected
        for name, profile in sorted(self.profiles.items()):
            if profile.target == target:
                return name
        return selected

    def _profile_changed(self) -> None:
        name = self.selected_profile()
        profile = self.profiles.get(name) if name else None
        if profile is not None and profile.target in self.targets:
            self.select_target(profile.target)
        self._update_actions()

    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_counts()
        self._update_actions()

    def _target_changed(self) -> None:
        self.proxy.set_target(self.selected_target())
        self._update_counts()
        self._update_actions()

    # ------------------------------------------------------------------ browser

    def selected_backup(self) -> BackupRecord | None:
        rows = self.table.selectionModel().selectedRows() if hasattr(self, "table") else []
        return self.proxy.record(rows[0]) if rows else None

    def select_backup(self, target: str, key: str) -> bool:
        row = self.model.row_of(target, key)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def _selection_changed(self, *_args) -> None:
        record = self.selected_backup()
        self.details.show_record(record)
        if record is not None and record.metadata is None and self.secrets.has_secret(record.target):
            self.details.load_metadata()
        self._update_actions()

    def refresh(self, sync: bool = True) -> Job | None:
        """List the backups of every configured target (synced from storage unless sync is False) in a job."""
        if self._refresh_job is not None:
            self._refresh_again = bool(self._refresh_again) or sync
            return None
        if sync:
            self.reload_lists()
        console = self.console
        names = sorted(self.targets)

        def work(reporter) -> tuple[list[BackupRecord], dict[str, RecoveryError]]:
            problems: dict[str, RecoveryError] = {}
            if sync:
                for name in names:
                    reporter.check()
                    try:
                        console.list_backups([name], sync=True)
                    except RecoveryError as exc:
                        problems[name] = exc
            records, _ = console.list_backups(names, sync=False)
            return records, problems

        job = Job("Listing the targets" if sync else "Reading the catalog", work, key="refresh")
        self._refresh_job = job
        self._refresh_result = None
        job.succeeded.connect(self._refreshed)
        job.failed.connect(lambda error: self._error("Listing the backups failed", error))
        job.done.connect(self._refresh_done)
        if sync:
            self.statusBar().showMessage("Listing the backups on every target…")
            self.jobs_area.track(job, "Listing the targets")
        self.runner.submit(job)
        return job

    def _refresh_done(self) -> None:
        self._refresh_job = None
        self._update_actions()
        count, self._refresh_result = self._refresh_result, None
        if count is not None:
            self.backups_refreshed.emit(count)  # after the job has fully ended
        again, self._refresh_again = self._refresh_again, None
        if again is not None:
            self.refresh(sync=again)

    def _refreshed(self, result) -> None:
        records, problems = result
        current = self.selected_backup()
        keep = self._select_after_refresh or ((current.target, current.key) if current else None)
        self._select_after_refresh = None
        self.model.set_records(records)
        if keep is None or not self.select_backup(*keep):
            self.details.show_record(self.selected_backup())
        self._update_counts()
        if problems:
            names = ", ".join(sorted(problems))
            self.statusBar().showMessage(f"Could not list {names}; showing what the catalog last saw.", 15000)
            name, error = sorted(problems.items())[0]
            self._error(f"Listing target '{name}' failed", error)
        else:
            self.statusBar().showMessage(f"{len(records)} backups listed.", 5000)
        self._update_actions()
        self._refresh_result = len(records)

    def _update_counts(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{shown} of {total} backups" if shown != total else f"{total} backups")
        if not self.targets:
            self.empty_label.setText("No storage target is configured yet. Use New profile to set one up, or "
                                     "`recovery-console target add`.")
        elif total == 0:
            self.empty_label.setText("No backups yet. Create backup now makes the first one.")
        elif shown == 0:
            self.empty_label.setText("No backup matches the filter.")
        else:
            self.empty_label.setText("")
        self.empty_label.setVisible(bool(self.empty_label.text()))

    # ------------------------------------------------------------------ jobs

    def submit(self, job: Job, title: str, on_success: Callable[[Any], None] | None = None, *,
               progress: bool = True, error_title: str | None = None,
               on_failure: Callable[[RecoveryError], None] | None = None) -> Job:
        """Run a job with a progress panel; failures go to the one error dialog, cancels to the status bar."""
        if on_success is not None:
            job.succeeded.connect(on_success)
        job.failed.connect(lambda error: (on_failure(error) if on_failure else None,
                                          self._error(error_title or f"{title} failed", error)))
        job.cancelled.connect(lambda: self.statusBar().showMessage(f"{title}: cancelled.", 8000))
        if progress:
            self.jobs_area.track(job, title)
        self.statusBar().showMessage(f"{title}…")
        return self.runner.submit(job)

    def _busy_changed(self, busy: bool) -> None:
        if not busy and self._close_confirmed and not self._blocking:
            QTimer.singleShot(0, self.close)

    def _error(self, title: str, error: RecoveryError) -> None:
        """The one error style, shown without blocking the event loop."""
        self.last_error = error
        box = error_box(self, title, error)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.error_dialog = box
        box.open()

    def _info(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.info_box = box
        box.open()
        return box

    # ------------------------------------------------------------------ actions

    def _update_actions(self) -> None:
        if not hasattr(self, "table"):
            return
        if self._blocking:
            for action in self.actions.values():
                action.setEnabled(False)
            self.new_profile_button.setEnabled(False)
            self.test_button.setEnabled(False)
            return
        has_backup = self.selected_backup() is not None
        has_targets = bool(self.targets)
        enabled = {
            "refresh": True,  # while a listing runs, another one is queued
            "create": has_targets or self.selected_profile() is not None,
            "verify": has_backup, "download": has_backup, "delete": has_backup,
            "upload": has_targets, "restore": True, "extract": True, "new_profile": True,
            "test_target": has_targets, "audit": True, "metadata": has_backup, "contents": has_backup,
        }
        for key, action in self.actions.items():
            action.setEnabled(enabled.get(key, True))
        self.new_profile_button.setEnabled(True)
        self.test_button.setEnabled(has_targets)

    def _ask_description(self, title: str, callback: Callable[[str], None]) -> QInputDialog:
        dialog = QInputDialog(self)
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
            if result == QInputDialog.DialogCode.Accepted:
                callback(dialog.textValue())

        dialog.finished.connect(finished)
        self.description_dialog = dialog
        dialog.open()
        return dialog

    def _choose_target(self, question: str) -> str | None:
        selected = self.selected_target()
        if selected:
            return selected
        names = sorted(self.targets)
        if len(names) == 1:
            return names[0]
        if not names:
            self._error("No target", UsageError("No storage target is configured.",
                                                hint="Create a profile with its target first (New profile)."))
            return None
        name, ok = QInputDialog.getItem(self, "Choose a target", question, names, 0, False)
        return name if ok and name else None

    def create_backup(self) -> None:
        """From the selected profile (pg_dump through backup_database), else from a pg_dump file."""
        profile_name = self.selected_profile()
        if profile_name:
            profile = self.profiles.get(profile_name)
            if profile is None or not profile.target:
                self._error("Create backup", UsageError(f"Profile '{profile_name}' has no backup target.",
                                                        hint="Give it one in its settings, then try again."))
                return
            self._ask_description(f"Back up {profile_name} now",
                                  lambda text: self._backup_profile(profile_name, profile.target, text))
            return
        path, _ = QFileDialog.getOpenFileName(self, "Choose a pg_dump archive to back up", "",
                                              "pg_dump archives (*.dump *.backup *.pgdump);;All files (*)")
        if not path:
            return
        target = self._choose_target("Store the backup on which target?")
        if target:
            self._ask_description(f"Back up {Path(path).name} now",
                                  lambda text: self._backup_file(Path(path), target, text))

    def _backup_profile(self, profile: str, target: str, description: str) -> None:
        from recovery_console.engine.live_backup import backup_database

        def got(secret: str | None) -> None:
            if secret is None:
                self.statusBar().showMessage("Backup not started: no instance secret.", 8000)
                return
            console = self.console
            job = Job(f"Backing up {profile}", lambda reporter: backup_database(
                console, profile, description=description, secret=secret, reporter=reporter), key=target)
            self.submit(job, f"Backing up {profile}", self._backup_done, error_title=f"Backing up {profile} failed")

        self.secrets.request(target, got, why=f"encrypt a backup of {profile}", profile=profile)

    def _backup_file(self, path: Path, target: str, description: str) -> None:
        def got(secret: str | None) -> None:
            if secret is None:
                self.statusBar().showMessage("Backup not started: no instance secret.", 8000)
                return
            console = self.console

            def work(reporter):
                try:
                    size = path.stat().st_size
                    stream = open(path, "rb")
                except OSError as exc:
                    raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
                with stream:
                    return console.create_backup(stream, target, secret, description=description,
                                                 source_name=path.name, source_size=size, reporter=reporter)

            self.submit(Job(f"Backing up {path.name}", work, key=target), f"Backing up {path.name}",
                        self._backup_done)

        self.secrets.request(target, got, why=f"encrypt a backup of {path.name}")

    def _backup_done(self, record: BackupRecord) -> None:
        self.statusBar().showMessage(f"Backup {record.short_id} stored on {record.target} "
                                     f"({format_bytes(record.size)}).", 15000)
        self._select_after_refresh = (record.target, record.key)
        self.refresh(sync=False)

    def verify_selected(self) -> None:
        record = self.selected_backup()
        if record is None or self._blocking:
            return
        from recovery_console.ui.verify_dialog import VerifyDialog

        dialog = VerifyDialog(self.console, record, secrets=self.secrets, runner=self.runner, parent=self)
        dialog.verified.connect(lambda _r: self.refresh(sync=False))
        dialog.verify_failed.connect(lambda _e: self.refresh(sync=False))
        self._keep(dialog)
        self.verify_dialog = dialog
        dialog.show()
        dialog.start_button.setFocus()

    def download_selected(self) -> None:
        record = self.selected_backup()
        if record is None:
            return
        folder = QFileDialog.getExistingDirectory(self, f"Download {record.file_name} to which folder?")
        if not folder:
            return
        console = self.console
        job = Job(f"Downloading {record.short_id}",
                  lambda reporter: console.download(locate_record(console, record), Path(folder), reporter=reporter),
                  key=record.target)

        def done(result) -> None:
            self.refresh_badges()
            self.statusBar().showMessage(f"Downloaded to {result.path} (SHA-256 {result.sha256[:16]}…, matches "
                                         "the sidecar).", 15000)

        self.submit(job, f"Downloading {record.file_name}", done, on_failure=lambda e: self._target_failed(
            record.target, e, "download"))

    def upload_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a backup file to upload", "",
                                              "Backups (*.enc);;All files (*)")
        if not path:
            return
        target = self._choose_target(f"Upload {Path(path).name} to which target?")
        if not target:
            return
        self.upload(Path(path), target)

    def upload(self, path: Path, target: str) -> None:
        def got(secret: str | None) -> None:
            if secret is None:
                self.statusBar().showMessage("Upload not started: no instance secret.", 8000)
                return
            console = self.console
            job = Job(f"Uploading {path.name}",
                      lambda reporter: console.upload(path, target, secret, reporter=reporter), key=target)

            def done(record: BackupRecord) -> None:
                self.refresh_badges()
                self._backup_done(record)

            self.submit(job, f"Uploading {path.name}", done,
                        on_failure=lambda e: self._target_failed(target, e, "upload"))

        self.secrets.request(target, got, why=f"verify {path.name} before uploading it")

    def _target_failed(self, target: str, error: RecoveryError, what: str) -> None:
        """The engine recorded the failure against the target; show its new badge."""
        self.refresh_badges()

    def delete_selected(self) -> None:
        record = self.selected_backup()
        if record is None:
            return
        from recovery_console.ui.backup_table import format_time

        box = QMessageBox(self)
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

        def answered(button) -> None:
            if button is delete:
                self._delete(record)

        box.buttonClicked.connect(answered)
        self.confirm_box = box
        box.open()

    def _delete(self, record: BackupRecord) -> None:
        console = self.console
        job = Job(f"Deleting {record.short_id}", lambda reporter: console.delete(locate_record(console, record)),
                  key=record.target)

        def done(_result) -> None:
            self.statusBar().showMessage(f"Backup {record.short_id} deleted from {record.target}.", 15000)
            self.refresh(sync=False)

        self.submit(job, f"Deleting {record.file_name}", done, progress=False)

    def test_target(self) -> None:
        name = self._choose_target("Test which target?")
        if not name:
            return
        console = self.console
        job = Job(f"Testing {name}", lambda reporter: console.test_target(name), key=name)

        def done(report) -> None:
            steps = ", ".join(f"{s.step} {'ok' if s.ok else 'FAILED'}" for s in report.steps)
            self.refresh_badges()
            if report.ok:
                self.statusBar().showMessage(f"Target '{name}' passed: {steps}.", 15000)
                return
            bad = next(s for s in report.steps if not s.ok)
            self._error(f"Testing target '{name}'", StorageError(
                f"Target '{name}' failed at the {bad.step} step: {bad.message}",
                hint=bad.hint or "Check the target's settings and that it is reachable, then test again.",
                detail="\n".join(f"{s.step}: {'ok' if s.ok else 'failed: ' + s.message}" for s in report.steps)))

        def failed(error: RecoveryError) -> None:
            self.refresh_badges()

        self.submit(job, f"Testing {name}", done, progress=False, on_failure=failed)

    def open_audit(self) -> None:
        from recovery_console.ui.audit_view import AuditView

        view = AuditView(self.console, runner=self.runner, parent=self)
        self._keep(view)
        self.audit_view = view
        view.show()

    def _keep(self, widget: QWidget) -> None:
        self.dialogs.append(widget)
        widget.finished.connect(lambda _r: self.dialogs.remove(widget) if widget in self.dialogs else None)

    def _open_wizard(self, module: str, class_name: str, what: str, **available: Any) -> Any:
        """Import a wizard only when it is used; a missing one is explained, not a traceback."""
        import importlib

        try:
            cls = getattr(importlib.import_module(f"{__package__}.{module}"), class_name)
        except (ImportError, AttributeError):
            self._info(what, f"The {what.lower()} is not available in this build yet.")
            return None
        try:
            wizard = construct(cls, self.console, parent=self, runner=self.runner, main_window=self,
                               secrets=self.secrets, **available)
        except RecoveryError as exc:
            self._error(what, exc)
            return None
        if hasattr(wizard, "finished"):
            self._keep(wizard)
        self.wizard = wizard
        wizard.show()
        return wizard

    def open_restore(self) -> None:
        record = self.selected_backup()
        self._open_wizard("restore_wizard", "RestoreWizard", "Restore wizard", record=record, backup=record,
                          profile=self.selected_profile())

    def open_extract(self) -> None:
        self._open_wizard("extract_wizard", "ExtractWizard", "Extraction wizard")

    def open_setup(self) -> None:
        wizard = self._open_wizard("setup_wizard", "SetupWizard", "Setup wizard")
        if wizard is not None and hasattr(wizard, "finished"):
            wizard.finished.connect(lambda _r: (self.reload_lists(), self.refresh()))

    def _about(self) -> None:
        self._info("About Recovery Console",
                   f"Recovery Console {__version__}\nEncrypted PostgreSQL backups you can trust on your worst day.\n\n"
                   f"Settings: {self.console.paths.config_dir}\nData: {self.console.paths.data_dir}")

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
        self._update_actions()
        self.blocking_changed.emit(self._blocking)
        if not active and self._close_confirmed and not self.runner.running:
            QTimer.singleShot(0, self.close)

    # ------------------------------------------------------------------ state and closing

    def _restore_state(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            screen = self.screen().availableGeometry() if self.screen() else None
            width, height = 1280, 760
            if screen is not None:
                width, height = min(width, int(screen.width() * 0.92)), min(height, int(screen.height() * 0.9))
            self.resize(width, height)
        for key, restore in (("windowState", self.restoreState), ("splitter", self.splitter.restoreState),
                             ("tableHeader", self.table.horizontalHeader().restoreState)):
            value = self.settings.value(key)
            if isinstance(value, QByteArray) and not value.isEmpty():
                restore(value)
        header = self.table.horizontalHeader()
        if header.sortIndicatorSection() >= 0:
            self.table.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())

    def save_state(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("tableHeader", self.table.horizontalHeader().saveState())
        self.settings.setValue("lastProfile", self.selected_profile() or "")
        self.settings.sync()

    def running_jobs(self) -> list[Job]:
        return self.runner.running

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

        def answered(button) -> None:
            self.close_box = None
            if button is stop:
                self._close_confirmed = True
                self.statusBar().showMessage("Cancelling the running jobs; the window closes when they have stopped.")
                self.runner.cancel_all()
                self.cancel_requested.emit()
                for dialog in list(self.dialogs):
                    if hasattr(dialog, "cancel"):
                        dialog.cancel()
                if not self.runner.running and not self._blocking:
                    QTimer.singleShot(0, self.close)

        box.buttonClicked.connect(answered)
        self.close_box = box
        box.open()
