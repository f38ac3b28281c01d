"""First-run / profile setup wizard: profile → connection mode → storage target → summary.

Nothing is saved until Finish; Finish saves through `Console.add_target`, `Profiles.create` and
`Profiles.set_mode` in one job. Every check (keyring probe, connection test, storage round trip,
SFTP host-key fetch) is an engine call run off the GUI thread through `jobs.Job`.

This module also holds the few helpers the three wizards share (`WizardBase`, `buddy_label`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from recovery_console.engine.progress import Reporter
from recovery_console.errors import RecoveryError, SecretUnavailableError, UsageError
from recovery_console.models.profile import ConnectionMode, Profile
from recovery_console.models.target import TargetConfig
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.progress_panel import ProgressPanel, format_bytes

# --------------------------------------------------------------------------------------------
# Shared by the wizards
# --------------------------------------------------------------------------------------------

KEYRING_JOBS = "keyring"
"""The job key of every job that calls the keyring: a SecretStore is used from one thread at a time."""
PASS_COLOR = "#1b7f3b"
WARN_COLOR = "#a15c00"
FAIL_COLOR = "#b3261e"


def buddy_label(text: str, buddy: QWidget, accessible: str | None = None) -> QLabel:
    """A form label with a mnemonic that focuses `buddy`; the buddy gets the label as accessible name."""
    label = QLabel(text)
    label.setBuddy(buddy)
    if not buddy.accessibleName():
        buddy.setAccessibleName(accessible or text.replace("&", "").rstrip(":"))
    return label


def colored(text: str, color: str, bold: bool = False) -> str:
    weight = "font-weight:600;" if bold else ""
    return f'<span style="color:{color};{weight}">{html.escape(text)}</span>'


def status_html(status: str) -> str:
    """PASS / WARN / FAIL as a coloured word."""
    color = {"pass": PASS_COLOR, "warn": WARN_COLOR}.get(status, FAIL_COLOR)
    return colored(status.upper(), color, bold=True)


class WizardBase(QWizard):
    """A wizard that runs engine jobs off the GUI thread and shows errors in the one error style."""

    def __init__(self, console: Any, parent: QWidget | None, title: str, runner: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.console = console
        # A runner shared with the main window (if given) keeps keyed jobs (keyring, a target) one at a time.
        self.runner = runner if runner is not None else JobRunner()
        self.jobs: list[Job] = []  # this wizard's own running jobs (the runner may be shared)
        self.error_boxes: list[QMessageBox] = []
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.setMinimumSize(760, 600)
        names = {
            QWizard.WizardButton.BackButton: "Back: the previous page",
            QWizard.WizardButton.NextButton: "Next: the next page",
            QWizard.WizardButton.CommitButton: "Commit: start, then there is no going back",
            QWizard.WizardButton.FinishButton: "Finish",
            QWizard.WizardButton.CancelButton: "Cancel and close the wizard",
        }
        for which, name in names.items():
            self.button(which).setAccessibleName(name)

    # -- jobs ------------------------------------------------------------------------------------

    def run_job(self, name: str, function: Callable[[Reporter], Any], on_success: Callable[[Any], None], *,
                on_failure: Callable[[RecoveryError], None] | None = None,
                on_cancel: Callable[[], None] | None = None, on_done: Callable[[], None] | None = None,
                panel: ProgressPanel | None = None, key: str = "", error_title: str | None = None) -> Job:
        """Run `function(reporter)` on a worker; the callbacks run on the GUI thread (queued signals)."""
        job = Job(name, function, key)
        job.succeeded.connect(on_success)
        if on_failure is not None:
            job.failed.connect(on_failure)
        else:
            job.failed.connect(lambda exc: self.show_error(error_title or name, exc))
        if on_cancel is not None:
            job.cancelled.connect(on_cancel)
        if on_done is not None:
            job.done.connect(on_done)
        job.done.connect(lambda: self.jobs.remove(job) if job in self.jobs else None)
        if panel is not None:
            panel.attach(job)
        self.jobs.append(job)
        self.runner.submit(job)
        return job

    @property
    def busy(self) -> bool:
        """Whether one of this wizard's jobs is queued or running."""
        return bool(self.jobs)

    def cancel_jobs(self) -> None:
        """Ask this wizard's jobs to stop (never the main window's, when the runner is shared)."""
        for job in list(self.jobs):
            job.cancel()

    def _pages_for_docs(self) -> list[tuple[str, QWidget]]:
        """(title, page) for every page, laid out at a documentation-friendly size."""
        size = self.size().expandedTo(QSize(820, 760))
        self.resize(size)
        return [(self.page(page_id).title(), self.page(page_id)) for page_id in self.pageIds()]

    # -- errors ----------------------------------------------------------------------------------

    def show_error(self, title: str, error: RecoveryError) -> QMessageBox:
        """The one error style (what happened, what to do, details folded), shown without blocking."""
        box = error_box(self, title, error)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_boxes.append(box)
        box.open()
        return box

    @property
    def last_error(self) -> QMessageBox | None:
        return self.error_boxes[-1] if self.error_boxes else None

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        self.cancel_jobs()
        super().done(result)


def check_tree(columns: list[str], name: str) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setColumnCount(len(columns))
    tree.setHeaderLabels(columns)
    tree.setRootIsDecorated(False)
    tree.setAlternatingRowColors(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    tree.setAccessibleName(name)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    tree.header().setStretchLastSection(True)
    tree.setWordWrap(True)
    return tree


def set_status_item(item: QTreeWidgetItem, column: int, status: str) -> None:
    item.setText(column, status.upper())
    color = {"pass": PASS_COLOR, "warn": WARN_COLOR}.get(status, FAIL_COLOR)
    from PySide6.QtGui import QBrush, QColor, QFont

    item.setForeground(column, QBrush(QColor(color)))
    font = QFont(item.font(column))
    font.setBold(True)
    item.setFont(column, font)


def wrap_label(text: str = "", name: str | None = None, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setAccessibleName(name)
    return label


# --------------------------------------------------------------------------------------------
# What the wizard will save
# --------------------------------------------------------------------------------------------

KIND_LABELS = {"local": "Local or mounted folder", "s3": "Amazon S3 or S3-compatible bucket",
               "smb": "SMB share (Windows, Samba, NAS)", "sftp": "SFTP server (SSH)"}
QUOTA_UNITS = (("GiB", 1 << 30), ("TiB", 1 << 40), ("MiB", 1 << 20))


@dataclass
class SetupPlan:
    """Everything Finish will save; secrets stay in memory until they go to the keyring."""

    name: str
    database_url: str
    instance_secret: str
    mode: ConnectionMode
    acknowledge_direct: bool = False
    direct_url: str | None = None
    target_name: str = ""
    new_target: TargetConfig | None = None
    target_secrets: dict[str, str] = field(default_factory=dict)


def save_setup(console: Any, plan: SetupPlan) -> Profile:
    """Finish: the target (if new), then the profile and its declared mode; undone if a later step fails."""
    with console.audited("profile.create", plan.name, {"target": plan.target_name, "mode": plan.mode.value}):
        console.profiles.store.check_new(plan.name)
        added = False
        if plan.new_target is not None:
            console.add_target(plan.new_target, plan.target_secrets)
            added = True
        try:
            console.profiles.create(plan.name, plan.database_url, target=plan.target_name,
                                    instance_secret=plan.instance_secret)
            try:
                return console.profiles.set_mode(plan.name, plan.mode, acknowledge_direct=plan.acknowledge_direct,
                                                 direct_url=plan.direct_url)
            except BaseException:
                console.profiles.remove(plan.name)
                raise
        except BaseException:
            if added:
                console.remove_target(plan.target_name)
            raise


# --------------------------------------------------------------------------------------------
# Page 1: profile
# --------------------------------------------------------------------------------------------


class ProfilePage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Profile")
        self.setSubTitle("Name this deployment, say where its database is, and give the instance secret that "
                         "encrypts its backups.")
        self.keyring_status: Any = None
        self._probe_job: Job | None = None

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. prod")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("postgresql://user:password@host:5432/dbname")
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow(buddy_label("Profile na&me:", self.name_edit, "Profile name"), self.name_edit)
        form.addRow(buddy_label("&Database URL:", self.url_edit, "Database URL"), self.url_edit)
        form.addRow(buddy_label("Instance &secret:", self.secret_edit, "Instance secret"), self.secret_edit)
        form.addRow(buddy_label("&Repeat the secret:", self.repeat_edit, "Repeat the instance secret"),
                    self.repeat_edit)
        self.mismatch = wrap_label("", "Secret check")
        self.secret_note = wrap_label(
            "The instance secret encrypts every backup of this profile. Without it no backup can be restored: "
            "keep a copy somewhere safe besides this computer (a password manager, a sealed envelope).",
            "About the instance secret")
        self.keyring_label = wrap_label("Checking the OS keyring…", "Where the secret will be kept", rich=True)
        self.recheck_button = QPushButton("Check the keyring &again")
        self.recheck_button.setAccessibleName("Check the keyring again")
        self.recheck_button.clicked.connect(lambda: self.probe(refresh=True))
        keyring_row = QHBoxLayout()
        keyring_row.addWidget(self.keyring_label, 1)
        keyring_row.addWidget(self.recheck_button, 0, Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.mismatch)
        layout.addWidget(self.secret_note)
        layout.addLayout(keyring_row)
        layout.addStretch(1)
        for edit in (self.name_edit, self.url_edit, self.secret_edit, self.repeat_edit):
            edit.textChanged.connect(self._changed)

    def initializePage(self) -> None:
        if self.keyring_status is None and self._probe_job is None:
            self.probe()

    def probe(self, refresh: bool = False) -> None:
        """SecretStore.probe in a job: which keyring backend will hold the secrets, and does it work."""
        secrets = self.wiz.console.secrets
        self.keyring_label.setText("Checking the OS keyring…")
        self.recheck_button.setEnabled(False)
        self._probe_job = self.wiz.run_job("Checking the OS keyring", lambda r: secrets.probe(refresh=True),
                                           self.show_keyring_status, on_done=self._probe_done,
                                           error_title="The OS keyring", key=KEYRING_JOBS)

    def _probe_done(self) -> None:
        self._probe_job = None
        self.recheck_button.setEnabled(True)
        self.completeChanged.emit()

    def show_keyring_status(self, status: Any) -> None:
        self.keyring_status = status
        if status.usable and status.secure:
            text = colored("✔ ", PASS_COLOR, True) + html.escape(
                f"The instance secret and any passwords will be kept in the OS keyring ({status.backend}).")
        elif status.usable:
            text = colored("⚠ " + status.message, WARN_COLOR, True)
            if status.hint:
                text += "<br>" + html.escape(f"What to do: {status.hint}")
        else:
            text = colored("✘ Secrets cannot be stored, so the profile cannot be saved. ", FAIL_COLOR, True)
            text += html.escape(status.message)
            if status.hint:
                text += "<br><b>How to fix it:</b> " + html.escape(status.hint)
            text += "<br>" + html.escape("Then click 'Check the keyring again'.")
        self.keyring_label.setText(text)
        self.completeChanged.emit()

    def _changed(self) -> None:
        secret, repeat = self.secret_edit.text(), self.repeat_edit.text()
        self.mismatch.setText("The two secrets differ." if repeat and secret != repeat else "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        status = self.keyring_status
        return bool(self.name_edit.text().strip() and self.url_edit.text().strip() and self.secret_edit.text()
                    and self.secret_edit.text() == self.repeat_edit.text() and status is not None and status.usable)

    def validatePage(self) -> bool:
        from recovery_console.engine.pg import postgres

        try:
            self.wiz.console.profiles.store.check_new(self.name_edit.text().strip())
            postgres.parse(self.url_edit.text().strip())
        except RecoveryError as exc:
            self.wiz.show_error("The profile", exc)
            return False
        return True


# --------------------------------------------------------------------------------------------
# Page 2: connection mode
# --------------------------------------------------------------------------------------------

DIRECT_REASON = (
    "Why this is asked: pg_dump and pg_restore need one PostgreSQL session for the whole job. A connection "
    "pooler in transaction mode (PgBouncer, RDS Proxy, …) hands their statements to different server sessions, "
    "which breaks a backup or, worse, restores it silently wrong. Only confirm if this URL reaches PostgreSQL "
    "itself."
)
POOL_REASON = (
    "Your application may keep using the pooler. Backups and restores will use the direct URL below, which "
    "must reach the PostgreSQL server behind the pooler."
)


class ConnectionPage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Connection mode")
        self.setSubTitle("Declare how the database URL reaches PostgreSQL. Backup and restore stay disabled "
                         "until this is declared.")
        self.report: Any = None
        self._test_job: Job | None = None

        self.direct_radio = QRadioButton("&Direct: the URL reaches the PostgreSQL server itself")
        self.direct_radio.setAccessibleName("Direct connection")
        self.pool_radio = QRadioButton("&Pool: the URL goes through a connection pooler")
        self.pool_radio.setAccessibleName("Connection through a pooler")
        self.group = QButtonGroup(self)
        self.group.addButton(self.direct_radio)
        self.group.addButton(self.pool_radio)

        self.direct_box = QGroupBox("Direct connection")
        self.direct_box.setAccessibleName("Direct connection")
        self.ack_check = QCheckBox("&I confirm this URL connects straight to PostgreSQL, not through a pooler")
        self.ack_check.setAccessibleName("Confirm the URL is not a pooler")
        self.ack_check.setAccessibleDescription(DIRECT_REASON)
        direct_layout = QVBoxLayout(self.direct_box)
        direct_layout.addWidget(wrap_label(DIRECT_REASON, "Why the confirmation is needed"))
        direct_layout.addWidget(self.ack_check)

        self.pool_box = QGroupBox("Through a pooler")
        self.pool_box.setAccessibleName("Through a pooler")
        self.direct_url_edit = QLineEdit()
        self.direct_url_edit.setPlaceholderText("postgresql://user:password@db-server:5432/dbname")
        pool_form = QFormLayout()
        pool_form.addRow(buddy_label("Direct &URL:", self.direct_url_edit, "Direct URL for pg_dump and pg_restore"),
                         self.direct_url_edit)
        pool_layout = QVBoxLayout(self.pool_box)
        pool_layout.addWidget(wrap_label(POOL_REASON, "What the direct URL is for"))
        pool_layout.addLayout(pool_form)

        self.tells_label = wrap_label("", "Pooler warnings", rich=True)
        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test the database connection")
        self.test_button.clicked.connect(self.test_connection)
        self.result_view = QTextBrowser()
        self.result_view.setAccessibleName("Connection test result")
        self.result_view.setPlaceholderText("Test connection shows the server version and which pg_dump and "
                                            "pg_restore will be used.")

        layout = QVBoxLayout(self)
        layout.addWidget(self.direct_radio)
        layout.addWidget(self.pool_radio)
        layout.addWidget(self.direct_box)
        layout.addWidget(self.pool_box)
        layout.addWidget(self.tells_label)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.result_view, 1)

        for signal in (self.direct_radio.toggled, self.pool_radio.toggled, self.ack_check.toggled):
            signal.connect(self._changed)
        self.direct_url_edit.textChanged.connect(self._changed)
        self._changed()

    @property
    def mode(self) -> ConnectionMode:
        if self.direct_radio.isChecked():
            return ConnectionMode.DIRECT
        if self.pool_radio.isChecked():
            return ConnectionMode.POOL
        return ConnectionMode.UNDECLARED

    def initializePage(self) -> None:
        from recovery_console.engine.pg.connection_report import pooler_warnings

        tells = pooler_warnings(self.wiz.profile_page.url_edit.text().strip())
        if tells:
            self.tells_label.setText("<br>".join(colored("⚠ " + t, WARN_COLOR) for t in tells)
                                     + "<br>" + html.escape("If it is a pooler, choose Pool."))
        else:
            self.tells_label.setText("")

    def _changed(self) -> None:
        self.direct_box.setEnabled(self.direct_radio.isChecked())
        self.pool_box.setEnabled(self.pool_radio.isChecked())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.mode is ConnectionMode.DIRECT:
            return self.ack_check.isChecked()
        if self.mode is ConnectionMode.POOL:
            return bool(self.direct_url_edit.text().strip())
        return False

    def validatePage(self) -> bool:
        try:
            self.wiz.declared_profile()
        except RecoveryError as exc:
            self.wiz.show_error("The connection mode", exc)
            return False
        return True

    def test_connection(self) -> None:
        from recovery_console.engine.pg.connection_report import check_connection

        name = self.wiz.profile_page.name_edit.text().strip() or "new profile"
        url = self.wiz.profile_page.url_edit.text().strip()
        mode = self.mode
        direct = self.direct_url_edit.text().strip() or None
        self.test_button.setEnabled(False)
        self.result_view.setHtml(html.escape("Connecting…"))
        self._test_job = self.wiz.run_job(
            "Testing the connection", lambda r: check_connection(name, url, mode, direct_url=direct),
            self.show_report, on_failure=self._test_failed, on_done=self._test_done,
            error_title="Test connection")

    def _test_done(self) -> None:
        self._test_job = None
        self.test_button.setEnabled(True)

    def _test_failed(self, exc: RecoveryError) -> None:
        self.result_view.setHtml(colored("✘ " + exc.message, FAIL_COLOR, True))
        self.wiz.show_error("Test connection", exc)

    def show_report(self, report: Any) -> None:
        self.report = report
        parts = []
        if report.ok:
            parts.append(colored(f"✔ Connected to {report.url}", PASS_COLOR, True))
            parts.append(html.escape(f"Server: PostgreSQL {report.server_version} · database {report.database} · "
                                     f"role {report.user}" + ("" if report.can_create_db else " (no CREATEDB)")))
            parts.append(html.escape(f"pg_dump: {report.pg_dump or 'none that fits'}"))
            parts.append(html.escape(f"pg_restore: {report.pg_restore or 'none that fits'}"))
        else:
            parts.append(colored(f"✘ Could not connect to {report.url}", FAIL_COLOR, True))
            parts.append(html.escape(report.error or ""))
        for warning in report.warnings:
            parts.append(colored("⚠ " + warning, WARN_COLOR))
        self.result_view.setHtml("<br>".join(parts))


# --------------------------------------------------------------------------------------------
# Page 3: storage target
# --------------------------------------------------------------------------------------------


def _line(placeholder: str = "", password: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def _port(default: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, 65535)
    spin.setValue(default)
    return spin


class TargetPage(QWizardPage):
    NEW = "__new__"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Storage target")
        self.setSubTitle("Where this profile's backups are kept. Remote targets must pass Test connection "
                         "before you can go on.")
        self.report: Any = None
        self.host_key: tuple[str, int, Any] | None = None
        self.host_key_box: QMessageBox | None = None
        self._passed: tuple | None = None
        self._tested: tuple[TargetConfig, dict[str, str]] | None = None
        self._job: Job | None = None

        self.existing_combo = QComboBox()
        self.name_edit = _line("e.g. vault")
        self.kind_combo = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind_combo.addItem(label, kind)
        top = QFormLayout()
        top.addRow(buddy_label("T&arget:", self.existing_combo, "New or existing target"), self.existing_combo)
        top.addRow(buddy_label("Target na&me:", self.name_edit, "New target name"), self.name_edit)
        top.addRow(buddy_label("&Kind:", self.kind_combo, "Target kind"), self.kind_combo)

        self.stack = QStackedWidget()
        self.stack.setAccessibleName("Target settings")
        self.stack.addWidget(self._local_fields())
        self.stack.addWidget(self._s3_fields())
        self.stack.addWidget(self._smb_fields())
        self.stack.addWidget(self._sftp_fields())

        self.quota_spin = QDoubleSpinBox()
        self.quota_spin.setRange(0, 1_000_000)
        self.quota_spin.setDecimals(1)
        self.quota_spin.setSpecialValueText("No quota")
        self.quota_unit = QComboBox()
        for unit, _ in QUOTA_UNITS:
            self.quota_unit.addItem(unit)
        self.quota_unit.setAccessibleName("Quota unit")
        quota_row = QHBoxLayout()
        quota_row.addWidget(self.quota_spin, 1)
        quota_row.addWidget(self.quota_unit)
        quota_form = QFormLayout()
        quota_form.addRow(buddy_label("&Quota:", self.quota_spin, "Quota: refuse backups beyond this size"),
                          quota_row)

        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test the storage target")
        self.test_button.clicked.connect(self.test_target)
        self.steps = check_tree(["Step", "Result", "Details"], "Storage test steps")
        self.test_label = wrap_label("", "Storage test result", rich=True)

        self.new_box = QWidget()
        new_layout = QVBoxLayout(self.new_box)
        new_layout.setContentsMargins(0, 0, 0, 0)
        new_layout.addWidget(self.stack)
        new_layout.addLayout(quota_form)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.new_box)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_label, 1)
        layout.addLayout(row)
        layout.addWidget(self.steps, 1)

        self.existing_combo.currentIndexChanged.connect(self._changed)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._changed)
        for spin in self.findChildren(QSpinBox):
            spin.valueChanged.connect(self._changed)
        for check in self.findChildren(QCheckBox):
            check.toggled.connect(self._changed)
        for radio in self.findChildren(QRadioButton):
            radio.toggled.connect(self._changed)
        self.addressing_combo.currentIndexChanged.connect(self._changed)
        self.quota_spin.valueChanged.connect(self._changed)
        self.quota_unit.currentIndexChanged.connect(self._changed)
        self._kind_changed()

    # -- fields per kind -------------------------------------------------------------------------

    def _local_fields(self) -> QWidget:
        box = QGroupBox("Local folder")
        self.local_path = _line("/mnt/backups")
        self.local_browse = QPushButton("Bro&wse…")
        self.local_browse.setAccessibleName("Browse for the folder")
        self.local_browse.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        row.addWidget(self.local_path, 1)
        row.addWidget(self.local_browse)
        form = QFormLayout(box)
        form.addRow(buddy_label("&Folder:", self.local_path, "Folder"), row)
        form.addRow(wrap_label("An existing folder on a local or mounted disk. Backups go to its backups/ "
                               "subfolder.", "About local folders"))
        return box

    def _s3_fields(self) -> QWidget:
        box = QGroupBox("S3 bucket")
        self.s3_bucket = _line("my-backups")
        self.s3_endpoint = _line("empty for AWS; https://minio.example:9000")
        self.s3_region = _line("eu-central-1")
        self.s3_key_id = _line("empty: IAM role / instance profile / environment")
        self.s3_secret = _line("", password=True)
        self.s3_prefix = _line("prod/db1")
        self.s3_kms = _line("empty: the bucket's own setting")
        self.addressing_combo = QComboBox()
        for text, value in (("Default", ""), ("Auto", "auto"), ("Path", "path"), ("Virtual host", "virtual")):
            self.addressing_combo.addItem(text, value)
        self.s3_tls = QCheckBox("Use TL&S (HTTPS)")
        self.s3_tls.setChecked(True)
        self.s3_tls.setAccessibleName("Use TLS")
        self.s3_verify = QCheckBox("&Verify the TLS certificate")
        self.s3_verify.setChecked(True)
        self.s3_verify.setAccessibleName("Verify the TLS certificate")
        form = QFormLayout(box)
        form.addRow(buddy_label("B&ucket:", self.s3_bucket, "Bucket"), self.s3_bucket)
        form.addRow(buddy_label("&Endpoint URL:", self.s3_endpoint, "Endpoint URL"), self.s3_endpoint)
        form.addRow(buddy_label("Re&gion:", self.s3_region, "Region"), self.s3_region)
        form.addRow(buddy_label("Access key &ID:", self.s3_key_id, "Access key ID"), self.s3_key_id)
        form.addRow(buddy_label("Secret access ke&y:", self.s3_secret, "Secret access key"), self.s3_secret)
        form.addRow(buddy_label("&Prefix:", self.s3_prefix, "Prefix (folder in the bucket)"), self.s3_prefix)
        form.addRow(buddy_label("KMS key (SSE-KMS):", self.s3_kms, "KMS key id"), self.s3_kms)
        form.addRow(buddy_label("Addressing sty&le:", self.addressing_combo, "Addressing style"), self.addressing_combo)
        form.addRow(self.s3_tls)
        form.addRow(self.s3_verify)
        return box

    def _smb_fields(self) -> QWidget:
        box = QGroupBox("SMB share (SMB3, encrypted sessions only)")
        self.smb_host = _line("nas.example.lan")
        self.smb_port = _port(445)
        self.smb_share = _line("backups")
        self.smb_user = _line(r"user or DOMAIN\user")
        self.smb_domain = _line("WORKGROUP")
        self.smb_dir = _line("an existing folder in the share; empty: its root")
        self.smb_password = _line("", password=True)
        form = QFormLayout(box)
        form.addRow(buddy_label("&Host:", self.smb_host, "SMB host"), self.smb_host)
        form.addRow(buddy_label("P&ort:", self.smb_port, "SMB port"), self.smb_port)
        form.addRow(buddy_label("&Share:", self.smb_share, "Share"), self.smb_share)
        form.addRow(buddy_label("&User name:", self.smb_user, "SMB user name"), self.smb_user)
        form.addRow(buddy_label("Doma&in:", self.smb_domain, "Domain or workgroup"), self.smb_domain)
        form.addRow(buddy_label("Fo&lder:", self.smb_dir, "Folder in the share"), self.smb_dir)
        form.addRow(buddy_label("Pass&word:", self.smb_password, "SMB password"), self.smb_password)
        return box

    def _sftp_fields(self) -> QWidget:
        box = QGroupBox("SFTP server")
        self.sftp_host = _line("backup.example.com")
        self.sftp_port = _port(22)
        self.sftp_user = _line("backup")
        self.sftp_dir = _line("/srv/backups (must exist)")
        self.sftp_pw_radio = QRadioButton("Log in with a pass&word")
        self.sftp_pw_radio.setAccessibleName("Log in with a password")
        self.sftp_pw_radio.setChecked(True)
        self.sftp_key_radio = QRadioButton("Log in with a pri&vate key")
        self.sftp_key_radio.setAccessibleName("Log in with a private key")
        auth_group = QButtonGroup(box)
        auth_group.addButton(self.sftp_pw_radio)
        auth_group.addButton(self.sftp_key_radio)
        self.sftp_password = _line("", password=True)
        self.sftp_key_file = _line("~/.ssh/id_ed25519 (OpenSSH format)")
        self.sftp_key_browse = QPushButton("Choose fi&le…")
        self.sftp_key_browse.setAccessibleName("Browse for the private key file")
        self.sftp_key_browse.clicked.connect(self._browse_key)
        self.sftp_passphrase = _line("only if the key has one", password=True)
        key_row = QHBoxLayout()
        key_row.addWidget(self.sftp_key_file, 1)
        key_row.addWidget(self.sftp_key_browse)
        self.host_key_label = wrap_label("Host key: not confirmed yet (Test connection fetches it and asks you).",
                                         "SSH host key")
        form = QFormLayout(box)
        form.addRow(buddy_label("&Host:", self.sftp_host, "SFTP host"), self.sftp_host)
        form.addRow(buddy_label("P&ort:", self.sftp_port, "SSH port"), self.sftp_port)
        form.addRow(buddy_label("&User name:", self.sftp_user, "SFTP user name"), self.sftp_user)
        form.addRow(buddy_label("&Directory:", self.sftp_dir, "Directory on the server"), self.sftp_dir)
        form.addRow(self.sftp_pw_radio)
        form.addRow(buddy_label("Password:", self.sftp_password, "SFTP password"), self.sftp_password)
        form.addRow(self.sftp_key_radio)
        form.addRow(buddy_label("Private key file:", self.sftp_key_file, "Private key file"), key_row)
        form.addRow(buddy_label("Pass&phrase:", self.sftp_passphrase, "Private key passphrase"), self.sftp_passphrase)
        form.addRow(self.host_key_label)
        return box

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the backup folder", self.local_path.text())
        if folder:
            self.local_path.setText(folder)

    def _browse_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the private key", str(Path.home() / ".ssh"))
        if path:
            self.sftp_key_file.setText(path)

    # -- state -----------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    @property
    def use_existing(self) -> str | None:
        data = self.existing_combo.currentData()
        return None if data in (None, self.NEW) else data

    def initializePage(self) -> None:
        current = self.existing_combo.currentData()
        self.existing_combo.blockSignals(True)
        self.existing_combo.clear()
        self.existing_combo.addItem("A new target", self.NEW)
        try:
            names = list(self.wiz.console.targets.load())
        except RecoveryError as exc:
            names = []
            self.wiz.show_error("Configured targets", exc)
        for name in names:
            self.existing_combo.addItem(f"Existing: {name}", name)
        index = self.existing_combo.findData(current)
        self.existing_combo.setCurrentIndex(max(0, index))
        self.existing_combo.blockSignals(False)
        if not self.name_edit.text():
            profile = self.wiz.profile_page.name_edit.text().strip()
            self.name_edit.setText(f"{profile}-backups" if profile else "")
        self._changed()

    def _kind_changed(self) -> None:
        index = list(KIND_LABELS).index(self.kind)
        self.stack.setCurrentIndex(index)
        for i in range(self.stack.count()):  # the stack is as tall as the shown kind's fields, not the tallest
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.stack.widget(i).setSizePolicy(policy, policy)
        self.stack.adjustSize()
        self._changed()

    def _changed(self) -> None:
        existing = self.use_existing is not None
        self.name_edit.setEnabled(not existing)
        self.kind_combo.setEnabled(not existing)
        self.new_box.setEnabled(not existing)
        self.sftp_password.setEnabled(self.sftp_pw_radio.isChecked())
        for widget in (self.sftp_key_file, self.sftp_key_browse, self.sftp_passphrase):
            widget.setEnabled(self.sftp_key_radio.isChecked())
        if self.host_key is not None and self.host_key[:2] != (self.sftp_host.text().strip(), self.sftp_port.value()):
            self.host_key = None
            self.host_key_label.setText("Host key: not confirmed yet (Test connection fetches it and asks you).")
        if self._passed is not None and self._passed != self._state():
            self._passed = None
            self._tested = None
            self.test_label.setText(colored("Settings changed: test again.", WARN_COLOR))
        self.completeChanged.emit()

    def _state(self) -> tuple:
        """Everything the test depends on; a passed test counts only while this is unchanged."""
        values: list[Any] = [self.use_existing, self.name_edit.text().strip(), self.kind]
        for widget in self.stack.currentWidget().findChildren(QWidget):
            if isinstance(widget, QLineEdit):
                values.append(widget.text())
            elif isinstance(widget, QSpinBox):
                values.append(widget.value())
            elif isinstance(widget, (QCheckBox, QRadioButton)):
                values.append(widget.isChecked())
            elif isinstance(widget, QComboBox):
                values.append(widget.currentData())
        values += [self.quota(), self.host_key[2].fingerprint_sha256 if self.host_key else None]
        return tuple(values)

    def quota(self) -> int | None:
        value = self.quota_spin.value()
        if value <= 0:
            return None
        return int(value * dict(QUOTA_UNITS)[self.quota_unit.currentText()])

    def build(self) -> tuple[TargetConfig, dict[str, str]]:
        """The new target's settings and its secrets, from the form (file reads happen in the test job)."""
        name = self.name_edit.text().strip()
        kind = self.kind
        quota = self.quota()
        if kind == "local":
            folder = self.local_path.text().strip()
            if not folder:
                raise UsageError("No folder was given for the local target.", hint="Type or browse for a folder.")
            path = Path(folder).expanduser().absolute()
            return TargetConfig(name=name, kind="local", options={"path": str(path)}, quota=quota), {}
        if kind == "s3":
            from recovery_console.engine.storage.s3 import SECRET_NAME, normalize_endpoint, normalize_prefix

            bucket = self.s3_bucket.text().strip()
            if not bucket or "/" in bucket or bucket.startswith("s3:"):
                raise UsageError(f"'{bucket}' is not a bucket name.",
                                 hint="Give the bare bucket name, without s3:// or '/'.")
            use_tls = self.s3_tls.isChecked()
            options: dict[str, Any] = {
                "endpoint_url": normalize_endpoint(self.s3_endpoint.text().strip(), use_tls) or "",
                "region": self.s3_region.text().strip(), "bucket": bucket,
                "prefix": normalize_prefix(self.s3_prefix.text().strip()).rstrip("/"),
                "use_tls": use_tls, "verify_tls": self.s3_verify.isChecked(),
            }
            secrets: dict[str, str] = {}
            key_id = self.s3_key_id.text().strip()
            if key_id:
                options["access_key_id"] = key_id
                if not self.s3_secret.text():
                    raise UsageError(f"No secret access key was given for access key id {key_id}.",
                                     hint="Type it, or clear the access key id to use the IAM role / environment.")
                secrets[SECRET_NAME] = self.s3_secret.text()
            elif self.s3_secret.text():
                raise UsageError("A secret access key was given without an access key id.",
                                 hint="Fill in the access key id, or clear the secret.")
            if self.s3_kms.text().strip():
                options["kms_key_id"] = self.s3_kms.text().strip()
            if self.addressing_combo.currentData():
                options["addressing_style"] = self.addressing_combo.currentData()
            return TargetConfig(name=name, kind="s3", options=options, quota=quota), secrets
        if kind == "smb":
            from recovery_console.engine.storage import smb as smb_storage

            domain, username = smb_storage.split_account(self.smb_user.text().strip(),
                                                         self.smb_domain.text().strip() or None)
            if not self.smb_host.text().strip() or not self.smb_share.text().strip() or not username:
                raise UsageError("An SMB target needs a host, a share and a user name.")
            if not self.smb_password.text():
                raise UsageError("No password was given for the SMB target.")
            options = {"host": self.smb_host.text().strip(), "port": self.smb_port.value(),
                       "share": self.smb_share.text().strip().strip("\\/"), "username": username, "domain": domain,
                       "directory": self.smb_dir.text().strip().replace("\\", "/")}
            config = TargetConfig(name=name, kind="smb", options=options, quota=quota)
            return config, {"password": self.smb_password.text()}
        host = self.sftp_host.text().strip()
        if not host or not self.sftp_user.text().strip() or not self.sftp_dir.text().strip():
            raise UsageError("An SFTP target needs a host, a user name and a directory.")
        auth = "key" if self.sftp_key_radio.isChecked() else "password"
        if auth == "password" and not self.sftp_password.text():
            raise UsageError("No password was given for the SFTP target.",
                             hint="Type it, or choose to log in with a private key.")
        if auth == "key" and not self.sftp_key_file.text().strip():
            raise UsageError("No private key file was given.", hint="Choose the OpenSSH private key file.")
        options = {"host": host, "port": self.sftp_port.value(), "username": self.sftp_user.text().strip(),
                   "auth": auth, "directory": self.sftp_dir.text().strip()}
        if self.host_key is not None:
            options["host_key_fingerprint"] = self.host_key[2].fingerprint_sha256
            options["host_key_type"] = self.host_key[2].key_type
        secrets = {"password": self.sftp_password.text()} if auth == "password" else {}
        if auth == "key" and self.sftp_passphrase.text():
            secrets["passphrase"] = self.sftp_passphrase.text()
        return TargetConfig(name=name, kind="sftp", options=options, quota=quota), secrets

    def tested(self) -> tuple[TargetConfig, dict[str, str]] | None:
        return self._tested if self._passed == self._state() else None

    # -- test connection -------------------------------------------------------------------------

    def test_target(self) -> None:
        if self.use_existing is not None:
            self._run_existing_test(self.use_existing)
            return
        try:
            self.build()
        except RecoveryError as exc:
            self.wiz.show_error("Test connection", exc)
            return
        except ImportError as exc:
            self.wiz.show_error("Test connection", UsageError(f"This kind of target is not available: {exc}."))
            return
        if self.kind == "sftp" and self.host_key is None:
            self._fetch_host_key()
            return
        self._run_round_trip()

    def _busy(self, text: str) -> None:
        self.test_button.setEnabled(False)
        self.steps.clear()
        self.test_label.setText(html.escape(text))

    def _idle(self) -> None:
        self._job = None
        self.test_button.setEnabled(True)
        self.completeChanged.emit()

    def _fetch_host_key(self) -> None:
        """SFTP: read the server's host key (no login) and ask the user to confirm its fingerprint first."""
        from recovery_console.engine.storage.sftp_hostkeys import fetch_host_key

        host, port = self.sftp_host.text().strip(), self.sftp_port.value()
        self._busy(f"Fetching the host key of {host}:{port}…")
        self._job = self.wiz.run_job("Fetching the SSH host key", lambda r: fetch_host_key(host, port),
                                     lambda info: self._confirm_host_key(host, port, info),
                                     on_failure=self._test_failed, on_done=self._idle, error_title="Test connection")

    def _confirm_host_key(self, host: str, port: int, info: Any) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Confirm the SSH host key")
        box.setText(f"The server {host}:{port} presents this host key:\n\n{info.key_type}\n{info.fingerprint_sha256}")
        box.setInformativeText(
            "Compare it with the fingerprint the server's administrator gives you (on the server: "
            "ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Trust it only if they match; nothing has been sent "
            "to the server yet.")
        box.setAccessibleName("Confirm the SSH host key")
        box.setAccessibleDescription(f"{info.key_type} {info.fingerprint_sha256}")
        trust = box.addButton("&Trust this host key", QMessageBox.ButtonRole.AcceptRole)
        trust.setAccessibleName("Trust this host key")
        refuse = box.addButton("&Do not trust", QMessageBox.ButtonRole.RejectRole)
        refuse.setAccessibleName("Do not trust this host key")
        box.setDefaultButton(refuse)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.host_key_box = box
        self.test_label.setText(html.escape("Waiting for you to confirm the host key…"))

        def answered(_: int) -> None:
            self.host_key_box = None
            if box.clickedButton() is trust:
                self.host_key = (host, port, info)
                self.host_key_label.setText(f"Host key: {info.key_type} {info.fingerprint_sha256} (confirmed by you)")
                self._changed()
                self._run_round_trip()
            else:
                self.test_label.setText(colored("The host key was not confirmed; nothing was sent to the server.",
                                                FAIL_COLOR, True))

        box.finished.connect(answered)
        box.open()

    def _run_round_trip(self) -> None:
        from recovery_console.engine.state.targets import open_storage
        from recovery_console.engine.storage.round_trip import round_trip

        config, secrets = self.build()
        by_key = config.kind == "sftp" and config.options["auth"] == "key"
        key_file = self.sftp_key_file.text().strip() if by_key else ""
        state = self._state()

        def job(reporter: Reporter) -> tuple[TargetConfig, dict[str, str], Any]:
            values = dict(secrets)
            if key_file:
                values["private_key"] = _read_private_key(Path(key_file).expanduser(), values.get("passphrase"))
            storage = open_storage(config, values.get)
            try:
                return config, values, round_trip(storage)
            finally:
                close = getattr(storage, "close", None)
                if close is not None:
                    close()

        self._busy(f"Testing {config.name}: list, write, read back, delete…")
        self._job = self.wiz.run_job("Testing the storage target", job,
                                     lambda result: self._show_result(state, *result),
                                     on_failure=self._test_failed, on_done=self._idle, error_title="Test connection")

    def _run_existing_test(self, name: str) -> None:
        from recovery_console.engine.storage.round_trip import round_trip

        console = self.wiz.console
        state = self._state()

        def job(reporter: Reporter) -> tuple[TargetConfig, dict[str, str], Any]:
            return console.targets.get(name), {}, round_trip(console.storage(name))

        self._busy(f"Testing {name}: list, write, read back, delete…")
        self._job = self.wiz.run_job("Testing the storage target", job,
                                     lambda result: self._show_result(state, *result),
                                     on_failure=self._test_failed, on_done=self._idle, error_title="Test connection",
                                     key=KEYRING_JOBS)

    def _test_failed(self, exc: RecoveryError) -> None:
        self.test_label.setText(colored("✘ " + exc.message, FAIL_COLOR, True))
        self.wiz.show_error("Test connection", exc)

    def _show_result(self, state: tuple, config: TargetConfig, secrets: dict[str, str], report: Any) -> None:
        self.show_report(report)
        if report.ok and state == self._state():
            self._passed = state
            self._tested = (config, secrets)
        self.completeChanged.emit()

    def show_report(self, report: Any) -> None:
        self.report = report
        self.steps.clear()
        for step in report.steps:
            why = step.message + (f" What to do: {step.hint}" if step.hint else "")
            item = QTreeWidgetItem([step.step, "", why or "ok"])
            set_status_item(item, 1, "pass" if step.ok else "fail")
            item.setToolTip(2, why)
            self.steps.addTopLevelItem(item)
        if report.ok:
            self.test_label.setText(colored(f"✔ Target '{report.target}' works.", PASS_COLOR, True))
        else:
            failed = next((s for s in report.steps if not s.ok), None)
            cause = f" The {failed.step} step failed: {failed.message}" if failed else ""
            self.test_label.setText(colored(f"✘ Target '{report.target}' does NOT work.{cause}", FAIL_COLOR, True))

    def isComplete(self) -> bool:
        if self._job is not None:
            return False
        if self.use_existing is not None:
            return True
        if not self.name_edit.text().strip():
            return False
        if self.kind == "local":
            return bool(self.local_path.text().strip())
        return self.tested() is not None

    def validatePage(self) -> bool:
        if self.use_existing is not None:
            return True
        try:
            self.wiz.console.targets.check_new(self.name_edit.text().strip())
            config, _ = self.build()
            if config.kind == "local" and not Path(config.options["path"]).is_dir():
                raise UsageError(f"{config.options['path']} is not an existing folder.",
                                 hint="Create it first, or check the path.")
        except RecoveryError as exc:
            self.wiz.show_error("The storage target", exc)
            return False
        return True


def _read_private_key(path: Path, passphrase: str | None) -> str:
    """The key file's text, checked (with its passphrase) before anything connects."""
    from recovery_console.engine.storage.sftp_keys import load_private_key

    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SecretUnavailableError(f"The private key file {path} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise SecretUnavailableError(f"{path} is not a text private key file.") from None
    load_private_key(text, passphrase)
    return text


# --------------------------------------------------------------------------------------------
# Page 4: summary
# --------------------------------------------------------------------------------------------


class SummaryPage(QWizardPage):
    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Summary")
        self.setSubTitle("Nothing has been saved yet. Finish saves all of this; secrets go to the OS keyring.")
        self.view = QTextBrowser()
        self.view.setAccessibleName("What will be saved")
        self.panel = ProgressPanel()
        self.panel.cancel_button.hide()
        self.panel.setVisible(False)
        self.status = wrap_label("", "Save status", rich=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.panel)
        self.setFinalPage(True)

    def initializePage(self) -> None:
        self.status.setText("")
        try:
            plan = self.wiz.plan()
        except RecoveryError as exc:
            self.view.setPlainText(exc.message)
            return
        self.view.setHtml(summary_html(plan, self.wiz.profile_page.keyring_status))

    def isComplete(self) -> bool:
        return not self.wiz.saving


def summary_html(plan: SetupPlan, keyring_status: Any) -> str:
    from recovery_console.engine.pg import postgres

    url, password = postgres.split_password(plan.database_url)
    where = keyring_status.backend if keyring_status is not None else "the OS keyring"
    in_keyring = "  (its password goes to the keyring)"
    rows = [("Profile", plan.name), ("Database URL", url + (in_keyring if password else "")),
            ("Instance secret", f"set ({len(plan.instance_secret)} characters), kept in {where}")]
    if plan.mode is ConnectionMode.DIRECT:
        rows.append(("Connection mode", "Direct — you confirmed the URL is not a pooler"))
    else:
        direct, direct_pw = postgres.split_password(plan.direct_url or "")
        rows.append(("Connection mode", "Pool — backups and restores use the direct URL"))
        rows.append(("Direct URL", direct + ("  (its password goes to the keyring)" if direct_pw else "")))
    if plan.new_target is None:
        rows.append(("Storage target", f"{plan.target_name} (already configured)"))
    else:
        config = plan.new_target
        rows.append(("Storage target", f"{config.name}: {KIND_LABELS[config.kind]} (new)"))
        for key, value in config.options.items():
            rows.append((f"  {key}", str(value)))
        rows.append(("  quota", format_bytes(config.quota) if config.quota else "none"))
        if plan.target_secrets:
            rows.append(("  secrets to the keyring", ", ".join(sorted(plan.target_secrets))))
    body = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table cellspacing='4'>{body}</table><p>Nothing has been saved yet. Finish saves it.</p>"


# --------------------------------------------------------------------------------------------
# The wizard
# --------------------------------------------------------------------------------------------


class SetupWizard(WizardBase):
    """Create a profile with its connection mode and storage target; nothing is saved until Finish."""

    saved = Signal(object)  # the saved Profile

    PROFILE, CONNECTION, TARGET, SUMMARY = range(4)

    def __init__(self, console: Any, parent: QWidget | None = None, *, runner: JobRunner | None = None) -> None:
        super().__init__(console, parent, "Set up a profile", runner)
        self.saving = False
        self.saved_profile: Profile | None = None
        self.profile_page = ProfilePage(self)
        self.connection_page = ConnectionPage(self)
        self.target_page = TargetPage(self)
        self.summary_page = SummaryPage(self)
        self.setPage(self.PROFILE, self.profile_page)
        self.setPage(self.CONNECTION, self.connection_page)
        self.setPage(self.TARGET, self.target_page)
        self.setPage(self.SUMMARY, self.summary_page)

    def declared_profile(self) -> Profile:
        """An unsaved Profile under the declared mode: the model's rules (acknowledgement, direct URL) apply."""
        from recovery_console.engine.pg import postgres

        url, _ = postgres.split_password(self.profile_page.url_edit.text().strip())
        direct = self.connection_page.direct_url_edit.text().strip() or None
        direct_url = postgres.split_password(direct)[0] if direct else None
        profile = Profile(name=self.profile_page.name_edit.text().strip(), database_url=url)
        return profile.with_mode(self.connection_page.mode,
                                 acknowledge_direct=self.connection_page.ack_check.isChecked(), direct_url=direct_url)

    def plan(self) -> SetupPlan:
        mode = self.connection_page.mode
        plan = SetupPlan(name=self.profile_page.name_edit.text().strip(),
                         database_url=self.profile_page.url_edit.text().strip(),
                         instance_secret=self.profile_page.secret_edit.text(), mode=mode,
                         acknowledge_direct=(mode is ConnectionMode.DIRECT
                                             and self.connection_page.ack_check.isChecked()),
                         direct_url=(self.connection_page.direct_url_edit.text().strip() or None)
                         if mode is ConnectionMode.POOL else None)
        existing = self.target_page.use_existing
        if existing is not None:
            plan.target_name = existing
            return plan
        tested = self.target_page.tested()
        config, secrets = tested if tested is not None else self.target_page.build()
        plan.target_name, plan.new_target, plan.target_secrets = config.name, config, secrets
        return plan

    def accept(self) -> None:
        """Finish: save in a job; the wizard closes only once everything is saved."""
        if self.saved_profile is not None:
            super().accept()
            return
        if self.saving:
            return
        try:
            plan = self.plan()
        except RecoveryError as exc:
            self.show_error("Saving the profile", exc)
            return
        self.saving = True
        self.summary_page.completeChanged.emit()
        self.button(QWizard.WizardButton.BackButton).setEnabled(False)
        self.summary_page.panel.setVisible(True)
        self.summary_page.panel.phase.setText("Saving the target, the profile and the secrets…")
        self.summary_page.panel.bar.setRange(0, 0)
        console = self.console
        self.run_job("Saving the profile", lambda r: save_setup(console, plan), self._saved,
                     on_failure=self._save_failed, on_done=self._save_done, error_title="Saving the profile",
                     key=KEYRING_JOBS)

    def _saved(self, profile: Profile) -> None:
        self.saved_profile = profile
        self.summary_page.status.setText(colored(f"✔ Profile '{profile.name}' saved.", PASS_COLOR, True))
        self.saved.emit(profile)

    def _save_failed(self, exc: RecoveryError) -> None:
        self.summary_page.status.setText(colored("✘ Nothing was saved: " + exc.message, FAIL_COLOR, True))
        self.show_error("Saving the profile", exc)

    def _save_done(self) -> None:
        self.saving = False
        self.summary_page.panel.setVisible(False)
        self.button(QWizard.WizardButton.BackButton).setEnabled(True)
        self.summary_page.completeChanged.emit()
        if self.saved_profile is not None:
            super().accept()

    def reject(self) -> None:
        if self.saving:
            return  # a save in progress finishes (it is quick and undoes itself on failure)
        super().reject()

    # -- docs ------------------------------------------------------------------------------------

    def screenshot_pages(self) -> list[tuple[str, QWidget]]:
        """Each page of this wizard, filled with example values and results (nothing runs), for docs."""
        from recovery_console.engine.pg.connection_report import ConnectionReport
        from recovery_console.engine.state.keyring_store import KeyringStatus
        from recovery_console.engine.storage.round_trip import CheckReport, StepResult

        p, c, t = self.profile_page, self.connection_page, self.target_page
        if not p.name_edit.text():
            p.name_edit.setText("prod")
            p.url_edit.setText("postgresql://backup@db.example.com:5432/shop")
            p.secret_edit.setText("example instance secret")
            p.repeat_edit.setText("example instance secret")
        if p.keyring_status is None:
            p.show_keyring_status(KeyringStatus(backend="keyring.backends.SecretService.Keyring", secure=True,
                                                usable=True, message="Secrets are kept in the OS keyring."))
        c.direct_radio.setChecked(True)
        c.ack_check.setChecked(True)
        if c.report is None:
            c.show_report(ConnectionReport("prod", "backup@db.example.com:5432/shop", True, server_version="15.8",
                                           server_major=15, database="shop", user="backup", can_create_db=True,
                                           pg_dump="/usr/lib/postgresql/15/bin/pg_dump (15.8)",
                                           pg_restore="/usr/lib/postgresql/15/bin/pg_restore (15.8)"))
        t.initializePage()
        if not t.name_edit.text():
            t.name_edit.setText("prod-backups")
        if not t.local_path.text():
            t.local_path.setText("/srv/backups")
        if t.report is None:
            steps = [StepResult(step, True) for step in ("list", "write", "read", "delete")]
            t.show_report(CheckReport("prod-backups", steps))
        try:
            self.summary_page.view.setHtml(summary_html(self.plan(), p.keyring_status))
        except RecoveryError:
            pass
        return self._pages_for_docs()
