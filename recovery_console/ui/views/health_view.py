"""The Health view: per profile the last success, the last failure and why, the next run, and the newest
fully verified backup against the recovery-point objective; "Run now" runs the selected profile's policy,
"Run on schedule" installs its schedule in the computer's own scheduler.

Health is read (engine/health.py) and a run made (engine/run_due.run_now) in jobs, off the GUI thread.
`failed_since_last_open` is what the window points out when it opens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.due import RunOutcome
from recovery_console.engine.health import ProfileHealth, failures_since, health
from recovery_console.engine.os_schedule.installer import Installed, OsScheduler
from recovery_console.engine.progress import Reporter
from recovery_console.engine.run_due import run_now
from recovery_console.engine.state.run_history import RunRecord
from recovery_console.errors import RecoveryError
from recovery_console.formatting import counted
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.theme import icon
from recovery_console.ui.widgets.times import local_time

COLUMNS = ("Profile", "Health", "Policy", "Last success", "Last failure", "Next run", "Verified backup")
STATUS = {"green": ("OK: within the RPO", QColor("#1e7b45")), "amber": ("Late: past the RPO", QColor("#9a5b00")),
          "red": ("Overdue: past twice the RPO", QColor("#c22f2f"))}
NONE_VERIFIED = "No verified backup"
LAST_OPENED = "health/lastOpened"


def _short(moment: datetime | str) -> str:
    """A time in local time to the minute, with its zone: the table has seven columns to fit."""
    value = datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) else moment
    return value.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def _when(record: RunRecord | None) -> str:
    return _short(record.started) if record else "never"


def _failure(record: RunRecord | None) -> str:
    return f"{_short(record.started)} — {record.result}: {record.reason}" if record else "none"


def _verified(item: ProfileHealth, now: datetime) -> str:
    age = item.age_at(now)
    if age is None:
        return f"none (RPO {item.rpo_hours} h)"
    return f"{age:.1f} h old (RPO {item.rpo_hours} h)"


class HealthView(QDialog):
    """`loaded(count)` after each reading; `ran(outcome)` after Run now (the window then lists the backups)."""

    loaded = Signal(int)
    ran = Signal(object)

    def __init__(self, console: Console, runner: JobRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner or JobRunner()
        self.items: list[ProfileHealth] = []
        self._jobs: list[Job] = []
        self.setWindowTitle("Health")
        self.setWindowIcon(icon("verify"))
        self.setAccessibleName("Health of each profile")
        self.resize(1000, 380)
        intro = QLabel("For each profile: its last successful and failed runs, its next scheduled run, and how old "
                       "its newest fully verified backup is against the recovery-point objective (RPO).")
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Profiles and their health")
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for column, width in ((2, 190), (4, 200)):  # the long ones wrap
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.status = QLabel("Loading…")
        self.status.setAccessibleName("Health status")
        self.status.setWordWrap(True)
        self.run_button = QPushButton(icon("backup"), "&Run now")
        self.run_button.setToolTip("Run the selected profile's policy now: its free-space check, then its backup")
        self.run_button.clicked.connect(self.run_selected)
        self.install_button = QPushButton(icon("profile"), "Run on &schedule")
        self.install_button.setToolTip("Install the selected profile's schedule in this computer's own scheduler, "
                                       "so its backups run while the console is closed")
        self.install_button.clicked.connect(self.install_selected)
        self.refresh_button = QPushButton(icon("refresh"), "Re&fresh")
        self.refresh_button.clicked.connect(self.reload)
        self.close_button = QPushButton("&Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.install_button)
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._selection_changed()
        self.reload()

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def _submit(self, job: Job) -> None:
        self._jobs.append(job)
        job.done.connect(lambda: self._jobs.remove(job) if job in self._jobs else None)
        job.done.connect(self._selection_changed)
        self.runner.submit(job)
        self._selection_changed()

    def selected_profile(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.items[rows[0].row()].profile if rows else None

    def _selection_changed(self) -> None:
        self.run_button.setEnabled(self.selected_profile() is not None and not self.busy)
        self.install_button.setEnabled(self.selected_profile() is not None and not self.busy)
        self.refresh_button.setEnabled(not self.busy)

    def reload(self) -> None:
        console = self.console
        job = Job("Reading the health of each profile", lambda reporter: health(console), key="health")
        job.succeeded.connect(self._loaded)
        job.failed.connect(lambda error: self.status.setText(f"Could not read the health: {error.message}"))
        self._submit(job)

    def _loaded(self, items: list[ProfileHealth]) -> None:
        selected = self.selected_profile()
        self.items = items
        now = datetime.now(UTC)
        self.table.setRowCount(len(items))
        for row, item in enumerate(items):
            label, color = STATUS[item.status]
            if item.verified_at is None:
                label = NONE_VERIFIED
            next_run = _short(item.next_run) if item.next_run else "not scheduled"
            cells = (item.profile, label, item.policy or "No policy: backups only by hand",
                     _when(item.last_success), _failure(item.last_failure), next_run, _verified(item, now))
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                if column == 1:
                    cell.setForeground(QBrush(color))
                    cell.setData(Qt.ItemDataRole.AccessibleTextRole, f"{item.status}: {label}")
                self.table.setItem(row, column, cell)
            if item.profile == selected:
                self.table.selectRow(row)
        self.table.resizeRowsToContents()
        if selected is None and items:
            self.table.selectRow(0)
        counts = {status: sum(1 for i in items if i.status == status) for status in STATUS}
        self.status.setText(f"{counted(len(items), 'profile')}: {counts['green']} within the RPO, "
                            f"{counts['amber']} past it, "
                            f"{counts['red']} past twice it or with no verified backup." if items
                            else "No profiles yet.")
        self.loaded.emit(len(items))

    def run_selected(self) -> None:
        name = self.selected_profile()
        if name is None or self.busy:
            return
        console = self.console

        def run(reporter: Reporter) -> RunOutcome:
            return run_now(console, name, reporter=reporter)

        job = Job(f"Running the policy of {name}", run, key=f"run-now:{name}")
        job.succeeded.connect(self._ran)
        job.failed.connect(self._run_failed)
        self.status.setText(f"Running the policy of {name}…")
        self._submit(job)

    def install_selected(self) -> None:
        name = self.selected_profile()
        if name is None or self.busy:
            return
        scheduler = OsScheduler(self.console)
        job = Job(f"Scheduling {name}", lambda reporter: scheduler.install(name), key=f"schedule:{name}")
        job.succeeded.connect(self._installed)
        job.failed.connect(lambda error: self.status.setText(f"Not scheduled: {error.message} {error.hint}".strip()))
        self._submit(job)

    def _installed(self, done: Installed) -> None:
        if done.scheduler == "cron":
            self.status.setText(f"{done.profile}: this computer has no scheduler the console can install into "
                                "(systemd, launchd or Task Scheduler); ask your administrator to run its backups "
                                "on a schedule.")
        elif done.activated:
            self.status.setText(f"{done.profile}: its backups now run on schedule, also while the console is closed.")
        else:
            folder = Path(done.files[0]).parent if done.files else ""
            self.status.setText(f"{done.profile}: the schedule is written (in {folder}), but no scheduler runs for "
                                "your user here to start it.")

    def _ran(self, outcome: RunOutcome) -> None:
        self.status.setText(outcome.line())
        self.ran.emit(outcome)
        self.reload()

    def _run_failed(self, error: RecoveryError) -> None:
        self.status.setText(f"The run could not start: {error.message} {error.hint}".strip())
        self.reload()


def failed_since_last_open(console: Console, settings: QSettings) -> list[RunRecord]:
    """Runs that ended badly since the window was last opened; remembers this opening for next time."""
    last = str(settings.value(LAST_OPENED, "", type=str) or "")
    now = datetime.now(UTC)
    settings.setValue(LAST_OPENED, now.isoformat())
    try:
        since = datetime.fromisoformat(last) if last else None
    except ValueError:
        since = None
    if since is None:
        return []
    try:
        return failures_since(console, since)
    except RecoveryError:
        return []


def failures_text(failures: list[RunRecord]) -> str:
    lines = [f"• {r.profile}: {r.result} at {local_time(r.started)}" + (f" — {r.reason}" if r.reason else "")
             for r in failures[-10:]]
    more = len(failures) - 10
    return ("These runs did not succeed since the console was last open:\n\n" + "\n".join(lines)
            + (f"\n… and {more} more." if more > 0 else "") + "\n\nThe Health view (View menu) shows each "
            "profile's state.")
