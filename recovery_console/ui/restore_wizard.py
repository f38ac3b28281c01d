"""Guided restore: backup and profile → destination → pre-flight checks → typed RESTORE → progress → result.

Every step is an engine call in a job: `Console.list_backups`, `Profiles.instance_secret`,
`Console.locate` + `Restorer.preflight` (which verifies the backup fully unless a full verify of
the unchanged file is on record), `Restorer.run` (which proves every chunk again) and
`Restorer.rollback`. The destination (safe in-place or a new database) is chosen before the
pre-flight checks, because the checks depend on it (a new database's name must be free, an
existing one must exist, its sessions are counted, its size sets the space needed).

While a restore or rollback runs, the parent window (if it has `set_blocking(active, text)`) is
blocked, and closing the wizard asks first: cancel the restore cleanly, or keep waiting.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from recovery_console.engine.progress import Phase, Progress, Reporter
from recovery_console.errors import RecoveryError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.progress_panel import ProgressPanel, format_bytes
from recovery_console.ui.setup_wizard import (
    FAIL_COLOR,
    KEYRING_JOBS,
    PASS_COLOR,
    WARN_COLOR,
    WizardBase,
    buddy_label,
    check_tree,
    colored,
    set_status_item,
    wrap_label,
)

CONFIRM_WORD = "RESTORE"


def _item(text: str, data: Any = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


def _number(value: int | None) -> QTableWidgetItem:
    item = _item("—" if value is None else f"{value:,}")
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def describe_backup(selected: Any) -> str:
    """A backup in words for labels: id, creation time, database and where it is."""
    if isinstance(selected, BackupRecord):
        database = selected.metadata.database if selected.metadata and selected.metadata.database else None
        parts = [f"backup {selected.short_id}"]
        if selected.created:
            parts.append(f"created {selected.created}")
        if database:
            parts.append(f"of database {database}")
        parts.append(f"on target {selected.target}")
        return " ".join(parts)
    return f"the backup file {getattr(selected, 'location', selected)}"


def _record_matches(record: BackupRecord, wanted: Any) -> bool:
    from recovery_console.engine.console import BackupRef

    if wanted is None:
        return False
    if isinstance(wanted, BackupRef):
        wanted = wanted.record
        if wanted is None:
            return False
    if isinstance(wanted, BackupRecord):
        return (record.target, record.key) == (wanted.target, wanted.key)
    needle = str(wanted).strip().lower().replace("-", "")
    return len(needle) >= 4 and (record.short_id.lower().startswith(needle)
                                 or record.backup_id.lower().replace("-", "").startswith(needle)
                                 or record.file_name == str(wanted))


# --------------------------------------------------------------------------------------------
# Page 1: backup and profile
# --------------------------------------------------------------------------------------------


class BackupPage(QWizardPage):
    COLUMNS = ["Created", "Backup", "Database", "Size", "Type", "Target", "Last verify"]

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Choose the backup")
        self.setSubTitle("Pick the backup to restore and the profile whose database it goes into.")
        self.records: list[BackupRecord] = []
        self.profiles: dict[str, Profile] = {}
        self.secret: str | None = None
        self.secret_profile: str | None = None
        self.secret_dialog: QInputDialog | None = None
        self._loading: Job | None = None
        self._secret_job: Job | None = None
        self._loaded_once = False

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(False)
        self.table.setTabKeyNavigation(False)
        self.table.itemSelectionChanged.connect(self.completeChanged)
        table_label = buddy_label("Bac&kups:", self.table, "Backups in the catalog")
        self.refresh_button = QPushButton("Refresh from &storage")
        self.refresh_button.setAccessibleName("Refresh the list from storage")
        self.refresh_button.clicked.connect(lambda: self.load(sync=True))
        self.list_status = wrap_label("", "Backup list status")

        self.profile_combo = QComboBox()
        self.profile_combo.currentIndexChanged.connect(self._profile_changed)
        self.profile_status = wrap_label("", "Profile status", rich=True)
        self.secret_status = wrap_label("", "Instance secret status", rich=True)
        self.secret_button = QPushButton("Enter the instance s&ecret…")
        self.secret_button.setAccessibleName("Enter the instance secret")
        self.secret_button.clicked.connect(self.ask_secret)

        head = QHBoxLayout()
        head.addWidget(table_label)
        head.addStretch(1)
        head.addWidget(self.refresh_button)
        form = QFormLayout()
        form.addRow(buddy_label("&Profile:", self.profile_combo, "Profile to restore into"), self.profile_combo)
        secret_row = QHBoxLayout()
        secret_row.addWidget(self.secret_status, 1)
        secret_row.addWidget(self.secret_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.list_status)
        layout.addLayout(form)
        layout.addWidget(self.profile_status)
        layout.addLayout(secret_row)

    # -- data ------------------------------------------------------------------------------------

    def initializePage(self) -> None:
        self.load_profiles()
        if not self._loaded_once:
            self._loaded_once = True
            self.load(sync=False)

    def load(self, sync: bool) -> None:
        console = self.wiz.console
        self.refresh_button.setEnabled(False)
        self.list_status.setText("Refreshing from storage…" if sync else "Reading the catalog…")
        self._loading = self.wiz.run_job("Listing backups", lambda r: console.list_backups(sync=sync)[0],
                                         self.show_records, on_done=self._loaded, error_title="Listing backups")

    def _loaded(self) -> None:
        self._loading = None
        self.refresh_button.setEnabled(True)
        if not self.records:
            self.list_status.setText("No backups in the catalog. Refresh from storage, or make a backup first.")
        self.completeChanged.emit()

    def show_records(self, records: list[BackupRecord]) -> None:
        previous = self.selected_record()
        wanted = previous if previous is not None else self.wiz.backup_ref
        self.records = list(records)
        self.table.setRowCount(0)
        file_ref = self.wiz.file_ref
        rows: list[Any] = ([file_ref] if file_ref is not None else []) + self.records
        self.table.setRowCount(len(rows))
        select = -1
        for row, entry in enumerate(rows):
            if isinstance(entry, BackupRecord):
                md = entry.metadata
                verify = f"{entry.verify_result or 'never'}" + (f" {entry.verified_at}" if entry.verified_at else "")
                values = [entry.created or "?", entry.short_id, md.database if md and md.database else "—",
                          format_bytes(entry.size), entry.mode or "?", entry.target, verify]
                if select < 0 and _record_matches(entry, wanted):
                    select = row
            else:
                values = ["?", "file", "—", format_bytes(entry.size), "?", entry.location, "—"]
                select = row if select < 0 else select
            for column, value in enumerate(values):
                self.table.setItem(row, column, _item(value, entry if column == 0 else None))
        self.list_status.setText(f"{len(rows)} backup(s).")
        if select >= 0:
            self.table.selectRow(select)
        elif rows:
            self.table.selectRow(0)

    def selected(self) -> Any:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def selected_record(self) -> BackupRecord | None:
        entry = self.selected()
        return entry if isinstance(entry, BackupRecord) else None

    def load_profiles(self) -> None:
        current = self.profile_combo.currentData() or self.wiz.profile_name
        try:
            profiles = self.wiz.console.profiles.store.load()
        except RecoveryError as exc:
            profiles = {}
            self.wiz.show_error("Profiles", exc)
        self.profiles = profiles
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for name, profile in profiles.items():
            self.profile_combo.addItem(name + ("" if profile.declared else " (connection mode not declared)"), name)
        index = self.profile_combo.findData(current)
        self.profile_combo.setCurrentIndex(index if index >= 0 else 0)
        self.profile_combo.blockSignals(False)
        if not profiles:
            self.profile_status.setText(colored("No profile is configured: set one up first.", FAIL_COLOR))
        self._profile_changed()

    def profile(self) -> Profile | None:
        name = self.profile_combo.currentData()
        return self.profiles.get(name) if name else None

    def _profile_changed(self) -> None:
        profile = self.profile()
        self.secret = None
        self.secret_profile = None
        if profile is None:
            self.completeChanged.emit()
            return
        if profile.declared:
            from recovery_console.engine.pg import postgres

            url = profile.dump_url()
            self.profile_status.setText(html.escape(f"Restores go through {postgres.describe(url)} "
                                                    f"({profile.mode.value} mode)."))
        else:
            self.profile_status.setText(colored(
                f"Profile '{profile.name}' has no declared connection mode, so restore is disabled. Declare it "
                "first (direct, or pool with a direct URL).", FAIL_COLOR))
        self.lookup_secret(profile.name)
        self.completeChanged.emit()

    def lookup_secret(self, name: str) -> None:
        """The profile's instance secret from the keyring, off the GUI thread."""
        profiles = self.wiz.console.profiles
        self.secret_status.setText(html.escape("Looking up the instance secret in the keyring…"))
        self.secret_button.setEnabled(False)

        def found(secret: str) -> None:
            if self.profile_combo.currentData() == name:
                self.secret, self.secret_profile = secret, name
                self.secret_status.setText(colored("✔ ", PASS_COLOR, True) + html.escape(
                    f"The instance secret of '{name}' comes from the OS keyring."))

        def missing(exc: RecoveryError) -> None:
            if self.profile_combo.currentData() == name:
                self.secret_status.setText(
                    colored("The keyring holds no instance secret for this profile: ", WARN_COLOR)
                    + html.escape("you will be asked for it. (" + exc.message + ")"))

        def done() -> None:
            self._secret_job = None
            self.secret_button.setEnabled(True)
            self.completeChanged.emit()

        self._secret_job = self.wiz.run_job("Reading the instance secret", lambda r: profiles.instance_secret(name),
                                            found, on_failure=missing, on_done=done, key=KEYRING_JOBS)

    def ask_secret(self, then_next: bool = False) -> None:
        name = self.profile_combo.currentData()
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Instance secret")
        dialog.setLabelText(f"The instance secret of profile '{name}' (it decrypts the backup):")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.setAccessibleName("Instance secret")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.secret_dialog = dialog

        def typed(value: str) -> None:
            self.secret_dialog = None
            if value:
                self.secret, self.secret_profile = value, name
                self.secret_status.setText(html.escape("The instance secret you typed will be used."))
                self.completeChanged.emit()
                if then_next and self.wiz.currentPage() is self:
                    self.wiz.next()

        dialog.textValueSelected.connect(typed)
        dialog.rejected.connect(lambda: setattr(self, "secret_dialog", None))
        dialog.open()
        for edit in dialog.findChildren(QLineEdit):
            edit.setAccessibleName("Instance secret")

    def isComplete(self) -> bool:
        profile = self.profile()
        return (self.selected() is not None and profile is not None and profile.declared
                and self._secret_job is None and self._loading is None)

    def validatePage(self) -> bool:
        if self.secret is None or self.secret_profile != self.profile_combo.currentData():
            self.ask_secret(then_next=True)
            return False
        return True


# --------------------------------------------------------------------------------------------
# Page 2: destination
# --------------------------------------------------------------------------------------------


class DestinationPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Where to restore")
        self.setSubTitle("Safe in-place never touches the current database until the restored copy is complete "
                         "and checked; the current one is kept so you can roll back.")
        self.in_place = QRadioButton("&Safe in-place: restore into a scratch copy, check it, then swap it in")
        self.in_place.setAccessibleName("Safe in-place restore")
        self.in_place.setChecked(True)
        self.new_db = QRadioButton("Into a ne&w database:")
        self.new_db.setAccessibleName("Restore into a new database")
        group = QButtonGroup(self)
        group.addButton(self.in_place)
        group.addButton(self.new_db)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. shop_restored")
        self.name_edit.setAccessibleName("New database name")
        self.explain = wrap_label("", "What will happen")
        self.verify_first = QCheckBox("&Verify the whole backup before restoring, even if a full verify of it is on "
                                      "record")
        self.verify_first.setAccessibleName("Verify the whole backup first")
        self.verify_first.setToolTip("Without this, a full verify the catalog recorded for this unchanged file is "
                                     "trusted for the pre-flight; the restore still proves every chunk and the "
                                     "archive hash before anything is swapped.")
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_db)
        new_row.addWidget(self.name_edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.in_place)
        layout.addLayout(new_row)
        layout.addWidget(self.explain)
        layout.addWidget(self.verify_first)
        layout.addStretch(1)
        for signal in (self.in_place.toggled, self.new_db.toggled):
            signal.connect(self._changed)
        self.name_edit.textChanged.connect(self._changed)
        self._changed()

    def database(self) -> str:
        from recovery_console.engine.pg import postgres

        profile = self.wiz.backup_page.profile()
        if profile is None or not profile.declared:
            return ""
        return postgres.parse(profile.dump_url()).get("dbname") or ""

    def new_database(self) -> str | None:
        return self.name_edit.text().strip() if self.new_db.isChecked() else None

    def initializePage(self) -> None:
        self._changed()

    def _changed(self) -> None:
        self.name_edit.setEnabled(self.new_db.isChecked())
        self.explain.setText(self.explanation(self.database()))
        self.completeChanged.emit()

    def explanation(self, db: str) -> str:
        """What the chosen destination will do to `db`, in words."""
        if self.new_db.isChecked():
            name = self.name_edit.text().strip() or "…"
            return (f"A new database {name} is created from the backup on the profile's server; {db} is not "
                    "touched. The name must not exist yet.")
        return (f"{db} is restored into a scratch copy, every table's row count is checked against the backup, "
                f"then the copy is swapped in. The current {db} is kept, renamed {db}__pre_restore_<time>, "
                "until you drop it; Roll back swaps it back. Sessions connected to it are disconnected at the "
                "swap.")

    def isComplete(self) -> bool:
        return self.in_place.isChecked() or bool(self.name_edit.text().strip())


# --------------------------------------------------------------------------------------------
# Page 3: pre-flight checklist
# --------------------------------------------------------------------------------------------


class PreflightPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Pre-flight checks")
        self.setSubTitle("The backup is verified in full (or its recorded full verify is confirmed) and the server "
                         "checked. Nothing is changed yet.")
        self.plan: Any = None
        self.job: Job | None = None
        self._restart = False
        self.panel = ProgressPanel()
        self.checks = check_tree(["Result", "Check", "Why"], "Pre-flight checks")
        self.verdict = wrap_label("", "Pre-flight verdict", rich=True)
        self.again_button = QPushButton("Run the checks &again")
        self.again_button.setAccessibleName("Run the pre-flight checks again")
        self.again_button.clicked.connect(self.start)
        row = QHBoxLayout()
        row.addWidget(self.verdict, 1)
        row.addWidget(self.again_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.checks, 1)
        layout.addLayout(row)

    def initializePage(self) -> None:
        self.start()

    def cleanupPage(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def start(self) -> None:
        if self.job is not None:  # still stopping an earlier run (the user went Back and Next again)
            self.job.cancel()
            self._restart = True
            return
        from recovery_console.engine.restore import Restorer

        console = self.wiz.console
        profile = self.wiz.backup_page.profile_combo.currentData()
        selected = self.wiz.backup_page.selected()
        secret = self.wiz.backup_page.secret
        new_database = self.wiz.destination_page.new_database()
        verify_first = self.wiz.destination_page.verify_first.isChecked()

        def job(reporter: Reporter) -> Any:
            ref = selected if not isinstance(selected, BackupRecord) else console.locate(selected.short_id,
                                                                                            target=selected.target)
            return Restorer(console).preflight(profile, ref, secret, new_database=new_database,
                                               verify_first=verify_first, reporter=reporter)

        self.plan = None
        self.checks.clear()
        self.verdict.setText(html.escape("Checking… (the whole backup is decrypted and verified unless a full verify "
                                         "of it is on record)"))
        self.again_button.setEnabled(False)
        self.panel.setVisible(True)
        self.job = self.wiz.run_job("Pre-flight checks", job, self.show_plan, on_failure=self._failed,
                                    on_cancel=self._cancelled, on_done=self._done, panel=self.panel,
                                    error_title="Pre-flight checks")
        self.completeChanged.emit()

    def _done(self) -> None:
        self.job = None
        self.panel.setVisible(False)
        self.again_button.setEnabled(True)
        self.completeChanged.emit()
        if self._restart:
            self._restart = False
            if self.wiz.currentPage() is self:
                self.start()

    def _failed(self, exc: RecoveryError) -> None:
        self.verdict.setText(colored("✘ The checks could not run: " + exc.message, FAIL_COLOR, True))
        self.wiz.show_error("Pre-flight checks", exc)

    def _cancelled(self) -> None:
        self.verdict.setText(colored("The checks were cancelled.", WARN_COLOR, True))

    def show_plan(self, plan: Any) -> None:
        self.plan = plan
        self.checks.clear()
        for check in plan.checks:
            item = QTreeWidgetItem(["", check.name, check.detail])
            set_status_item(item, 0, check.status)
            item.setToolTip(2, check.detail)
            self.checks.addTopLevelItem(item)
        if plan.ready:
            warns = sum(1 for c in plan.checks if c.status == "warn")
            text = "✔ Every check passed" + (f" ({warns} warning(s): read them before going on)." if warns else ".")
            self.verdict.setText(colored(text, PASS_COLOR, True))
        else:
            self.verdict.setText(colored("✘ The restore cannot go ahead: fix the failed checks, then run the checks "
                                         "again.", FAIL_COLOR, True))

    def isComplete(self) -> bool:
        return self.job is None and self.plan is not None and self.plan.ready


# --------------------------------------------------------------------------------------------
# Page 4: typed confirmation
# --------------------------------------------------------------------------------------------


class ConfirmPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Confirm the restore")
        self.setSubTitle(f"Type {CONFIRM_WORD} to start. After this there is no going back in this wizard.")
        self.setCommitPage(True)
        self.what = wrap_label("", "What the restore will do", rich=True)
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setPlaceholderText(CONFIRM_WORD)
        self.confirm_edit.textChanged.connect(self.completeChanged)
        form = QFormLayout()
        form.addRow(buddy_label(f"&Type {CONFIRM_WORD} to confirm:", self.confirm_edit,
                                f"Type {CONFIRM_WORD} to confirm"), self.confirm_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.what)
        layout.addLayout(form)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.confirm_edit.clear()
        plan = self.wiz.preflight_page.plan
        self.what.setText(confirm_html(plan, self.wiz.backup_page.selected()))
        self.confirm_edit.setAccessibleDescription(self.what.text())
        self.confirm_edit.setFocus()

    def isComplete(self) -> bool:
        return self.confirm_edit.text().strip() == CONFIRM_WORD


def confirm_html(plan: Any, selected: Any) -> str:
    from recovery_console.engine.pg import postgres

    if plan is None:
        return ""
    server = postgres.describe(plan.profile.dump_url()).rsplit("/", 1)[0]
    backup = html.escape(describe_backup(selected))
    db = f"<b>{html.escape(plan.database)}</b>"
    if plan.new_database:
        text = f"This creates the new database {db} on {html.escape(server)} from {backup}."
    else:
        text = (f"This replaces the database {db} on {html.escape(server)} with {backup}.<br>"
                f"The current {db} is kept as <b>{html.escape(plan.pre_restore_name)}</b>; Roll back swaps it back. "
                "Sessions connected to it are disconnected at the swap.")
    warnings = [c for c in plan.checks if c.status == "warn"]
    if warnings:
        text += "<br>" + "<br>".join(colored(f"⚠ {c.name}: {c.detail}", WARN_COLOR) for c in warnings)
    return text


# --------------------------------------------------------------------------------------------
# Page 5: progress
# --------------------------------------------------------------------------------------------


class ProgressPage(QWizardPage):
    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Restoring")
        self.setSubTitle("Cancel is possible until the restored copy is swapped in; the original database stays "
                         "as it was until then.")
        self.job: Job | None = None
        self.result: Any = None
        self.outcome: str | None = None  # "ok", "failed", "cancelled"
        self.panel = ProgressPanel()
        self.panel.cancel_button.setText("&Cancel the restore")
        self.panel.cancel_button.setAccessibleName("Cancel the restore")
        self.status = wrap_label("", "Restore status", rich=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def initializePage(self) -> None:
        if self.job is not None or self.outcome is not None:
            return
        from recovery_console.engine.restore import Restorer

        plan = self.wiz.preflight_page.plan
        secret = self.wiz.backup_page.secret
        console = self.wiz.console
        self.status.setText(html.escape(f"Restoring {plan.database}…"))
        self.wiz.set_parent_blocking(True, f"Restoring {plan.database} …")
        self.job = self.wiz.run_job("Restoring", lambda r: Restorer(console).run(plan, secret, reporter=r),
                                    self._succeeded, on_failure=self._failed, on_cancel=self._cancelled,
                                    on_done=self._done, panel=self.panel, error_title="The restore")
        self.job.progress.connect(self._progress)

    def _progress(self, progress: Progress) -> None:
        if progress.fraction is not None and progress.fraction >= 1.0 and self.outcome is None:
            self.status.setText(html.escape("pg_restore is finishing; then every table's row count is checked and "
                                            "the restored copy is swapped in."))

    def _succeeded(self, result: Any) -> None:
        self.result = result
        self.outcome = "ok"
        self.status.setText(colored(f"✔ {result.database} was restored.", PASS_COLOR, True))

    def _failed(self, exc: RecoveryError) -> None:
        self.outcome = "failed"
        self.status.setText(colored("✘ The restore failed: " + exc.message, FAIL_COLOR, True)
                            + ("<br>" + html.escape(exc.hint) if exc.hint else ""))
        self.wiz.show_error("The restore", exc)

    def _cancelled(self) -> None:
        self.outcome = "cancelled"
        self.status.setText(colored("The restore was cancelled. The original database was not touched; the "
                                    "scratch copy was dropped.", WARN_COLOR, True))

    def _done(self) -> None:
        self.job = None
        self.panel.cancel_button.setEnabled(False)
        self.wiz.set_parent_blocking(False)
        self.setFinalPage(self.outcome != "ok")  # also makes the wizard lay its buttons out again (Next or Finish)
        self.completeChanged.emit()
        self.wiz.restore_finished()

    def isComplete(self) -> bool:
        return self.job is None and self.outcome is not None

    def nextId(self) -> int:
        return -1 if self.outcome in ("failed", "cancelled") else RestoreWizard.RESULT


# --------------------------------------------------------------------------------------------
# Page 6: result
# --------------------------------------------------------------------------------------------


class ResultPage(QWizardPage):
    COLUMNS = ["Table", "Rows in the backup", "Rows restored", "Result"]

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Restore complete")
        self.setSubTitle("Every table's row count in the restored database, compared with the backup.")
        self.rollback_job: Job | None = None
        self.rolled_back: tuple[str, str] | None = None
        self.rollback_box: QMessageBox | None = None
        self.summary = wrap_label("", "Restore summary", rich=True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setAccessibleName("Row counts per table")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setTabKeyNavigation(False)
        self.rollback_button = QPushButton("R&oll back")
        self.rollback_button.setAccessibleName("Roll back to the database as it was before the restore")
        self.rollback_button.clicked.connect(self.ask_rollback)
        self.rollback_status = wrap_label("", "Roll back status", rich=True)
        row = QHBoxLayout()
        row.addWidget(self.rollback_button)
        row.addWidget(self.rollback_status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)

    def initializePage(self) -> None:
        self.show_result(self.wiz.progress_page.result)

    def show_result(self, result: Any) -> None:
        if result is None:
            return
        lines = [colored(f"✔ {result.database} now holds the backup's data.", PASS_COLOR, True)]
        if result.previous:
            lines.append(html.escape(f"The previous database is kept as {result.previous} until you drop it."))
        lines.append(html.escape(f"Restored with {result.tool}."))
        lines += [colored("⚠ " + w, WARN_COLOR) for w in result.warnings]
        self.summary.setText("<br>".join(lines))
        self.table.setRowCount(len(result.tables))
        for row, check in enumerate(result.tables):
            self.table.setItem(row, 0, _item(f"{check.schema}.{check.table}"))
            self.table.setItem(row, 1, _number(check.expected_rows))
            self.table.setItem(row, 2, _number(check.restored_rows))
            self.table.setItem(row, 3, _item("match" if check.ok else "MISMATCH"))
        self.rollback_button.setVisible(bool(result.previous))
        self.rollback_button.setEnabled(bool(result.previous) and self.rolled_back is None)
        if not result.previous:
            self.rollback_status.setText(html.escape("A new database was created; nothing to roll back (drop it if "
                                                     "you do not want it)."))

    def ask_rollback(self) -> None:
        result = self.wiz.progress_page.result
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Roll back the restore")
        box.setText(f"Swap {result.previous} back in as {result.database}?")
        box.setInformativeText("The restored database is kept under another name. Sessions connected to "
                               f"{result.database} are disconnected.")
        box.setAccessibleName("Roll back the restore")
        yes = box.addButton("&Roll back", QMessageBox.ButtonRole.AcceptRole)
        yes.setAccessibleName("Roll back")
        no = box.addButton("&Keep the restored database", QMessageBox.ButtonRole.RejectRole)
        no.setAccessibleName("Keep the restored database")
        box.setDefaultButton(no)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.rollback_box = box

        def answered(_: int) -> None:
            self.rollback_box = None
            if box.clickedButton() is yes:
                self.rollback()

        box.finished.connect(answered)
        box.open()

    def rollback(self) -> None:
        from recovery_console.engine.restore import Restorer

        result = self.wiz.progress_page.result
        profile = self.wiz.preflight_page.plan.profile.name
        console = self.wiz.console
        self.rollback_button.setEnabled(False)
        self.rollback_status.setText(html.escape("Rolling back…"))
        self.wiz.set_parent_blocking(True, f"Rolling back {result.database} …")
        self.rollback_job = self.wiz.run_job(
            "Rolling back", lambda r: Restorer(console).rollback(profile, result.previous), self._rolled_back,
            on_failure=self._rollback_failed, on_done=self._rollback_done, error_title="Roll back")
        self.completeChanged.emit()

    def _rolled_back(self, names: tuple[str, str]) -> None:
        self.rolled_back = names
        previous, undone = names
        database = self.wiz.progress_page.result.database
        self.rollback_status.setText(colored(f"✔ Rolled back: {database} is the database from before the restore "
                                             f"again; the restored copy is kept as {undone}.", PASS_COLOR, True))

    def _rollback_failed(self, exc: RecoveryError) -> None:
        self.rollback_status.setText(colored("✘ Roll back failed: " + exc.message, FAIL_COLOR, True))
        self.rollback_button.setEnabled(True)
        self.wiz.show_error("Roll back", exc)

    def _rollback_done(self) -> None:
        self.rollback_job = None
        self.wiz.set_parent_blocking(False)
        self.completeChanged.emit()
        self.wiz.restore_finished()

    def isComplete(self) -> bool:
        return self.rollback_job is None


# --------------------------------------------------------------------------------------------
# The wizard
# --------------------------------------------------------------------------------------------


class RestoreWizard(WizardBase):
    """Guided, undoable restore of one backup into a profile's database."""

    BACKUP, DESTINATION, PREFLIGHT, CONFIRM, PROGRESS, RESULT = range(6)

    def __init__(self, console: Any, parent: QWidget | None = None, backup_ref: Any = None,
                 profile: str | None = None, *, record: Any = None, runner: JobRunner | None = None) -> None:
        """`backup_ref`: the backup to preselect, as a BackupRecord, a BackupRef (a catalog record or a file) or
        an id; `record` is accepted as another name for it. `profile`: the profile to preselect."""
        super().__init__(console, parent, "Restore a backup", runner)
        from recovery_console.engine.console import BackupRef

        backup_ref = backup_ref if backup_ref is not None else record
        self.backup_ref = backup_ref
        self.file_ref = backup_ref if isinstance(backup_ref, BackupRef) and backup_ref.record is None else None
        self.profile_name = profile
        self.close_box: QMessageBox | None = None
        self._close_requested = False
        self.blocking_calls: list[tuple[bool, str]] = []
        self.backup_page = BackupPage(self)
        self.destination_page = DestinationPage(self)
        self.preflight_page = PreflightPage(self)
        self.confirm_page = ConfirmPage(self)
        self.progress_page = ProgressPage(self)
        self.result_page = ResultPage(self)
        for page_id, page in ((self.BACKUP, self.backup_page), (self.DESTINATION, self.destination_page),
                              (self.PREFLIGHT, self.preflight_page), (self.CONFIRM, self.confirm_page),
                              (self.PROGRESS, self.progress_page), (self.RESULT, self.result_page)):
            self.setPage(page_id, page)
        self.setOption(QWizard.WizardOption.DisabledBackButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Restore")
        self.button(QWizard.WizardButton.CommitButton).setAccessibleName("Start the restore")

    # -- the parent window -----------------------------------------------------------------------

    def set_parent_blocking(self, active: bool, text: str = "") -> None:
        """Block (or unblock) the main window while a restore or rollback runs, if it can be."""
        self.blocking_calls.append((active, text))
        parent = self.parentWidget()
        setter = getattr(parent, "set_blocking", None)
        if callable(setter):
            setter(active, text)

    @property
    def restoring(self) -> bool:
        return self.progress_page.job is not None or self.result_page.rollback_job is not None

    # -- closing ---------------------------------------------------------------------------------

    def reject(self) -> None:
        if not self.restoring:
            super().reject()
            return
        if self.close_box is not None:
            self.close_box.raise_()
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setAccessibleName("A restore is running")
        box.setWindowModality(Qt.WindowModality.WindowModal)
        wait = None
        stop = None
        if self.progress_page.job is not None:
            box.setWindowTitle("A restore is running")
            box.setText("A restore is running. Stop it before closing?")
            box.setInformativeText("Cancelling stops it cleanly: the scratch copy is dropped and the original database "
                                   "stays as it was. If the restored copy is already being swapped in, the restore "
                                   "completes first. Or keep waiting for it to finish.")
            stop = box.addButton("&Cancel the restore", QMessageBox.ButtonRole.DestructiveRole)
            stop.setAccessibleName("Cancel the restore and close")
        else:
            box.setWindowTitle("A roll back is running")
            box.setText("A roll back is running; it takes a moment and cannot be interrupted safely.")
        wait = box.addButton("&Keep waiting", QMessageBox.ButtonRole.RejectRole)
        wait.setAccessibleName("Keep waiting")
        box.setDefaultButton(wait)
        self.close_box = box

        def answered(_: int) -> None:
            self.close_box = None
            if stop is not None and box.clickedButton() is stop and self.progress_page.job is not None:
                self._close_requested = True
                self.progress_page.panel.cancel()
                self.progress_page.status.setText(html.escape("Cancelling the restore; the wizard closes when it "
                                                              "has stopped…"))

        box.finished.connect(answered)
        box.open()

    def restore_finished(self) -> None:
        if self._close_requested and not self.restoring:
            self._close_requested = False
            super().reject()

    # -- docs ------------------------------------------------------------------------------------

    def screenshot_pages(self) -> list[tuple[str, QWidget]]:
        """Each page filled with example data (nothing runs, nothing is read), for docs."""
        from recovery_console.engine.console import BackupRef
        from recovery_console.engine.restore import RestoreResult, TableCheck
        from recovery_console.engine.restore_preflight import Check, RestorePlan
        from recovery_console.models.backup import BackupMetadata
        from recovery_console.models.profile import ConnectionMode

        md = BackupMetadata(backup_id="971f67e4-2b0c-4d1e-9a51-0c8b6f3e2a10", created_at="2026-11-22T04:53:23Z",
                            app_version="0.1.0", database="shop", server_version="15.8", pg_dump_version="15.8")
        record = BackupRecord(short_id="971f67e4", target="vault", key="backups/rc_backup_20261122-04-53-23-0.1.0-"
                              "manual-971f67e4.enc", size=48_213_504, mtime=0, created="2026-11-22 04:53:23",
                              app_version="0.1.0", mode="manual", metadata=md, verified_at="2026-11-22T05:00:00Z",
                              verify_result="ok")
        if not self.backup_page.records:
            self.backup_page.show_records([record])
        if self.profile_name is None and self.backup_page.profile_combo.count() == 0:
            self.backup_page.profile_combo.addItem("prod", "prod")
        profile = Profile(name="prod", database_url="postgresql://backup@db.example.com:5432/shop",
                          mode=ConnectionMode.DIRECT, direct_acknowledged=True)
        checks = [Check("connection mode declared", "pass",
                        "direct; pg_restore will use backup@db.example.com:5432/shop"),
                  Check("server reachable", "pass", "PostgreSQL 15.8"),
                  Check("role may create databases", "pass", "role backup has CREATEDB"),
                  Check("database exists", "pass", "shop"),
                  Check("connected sessions", "warn", "2 session(s) (app@web) will be disconnected at the swap"),
                  Check("free space on the server", "pass", "81,604,378,624 bytes free, about 412,000,000 needed"),
                  Check("backup fully verified", "pass", "full verify on record from 2026-11-22T05:00:00Z, file "
                        "unchanged since; checked again as it is restored"),
                  Check("pg_restore compatible", "pass",
                        "/usr/lib/postgresql/15/bin/pg_restore 15.8 reads archive 1.15")]
        self.destination_page.explain.setText(self.destination_page.explanation("shop"))
        plan = RestorePlan(profile, BackupRef(location="vault:" + record.key, record=record), "shop", False, 1, checks,
                           stamp="20261122060000")
        if self.preflight_page.plan is None:
            self.preflight_page.panel.setVisible(False)
            self.preflight_page.show_plan(plan)
        shown_plan = self.preflight_page.plan
        self.confirm_page.what.setText(confirm_html(shown_plan, record))
        self.confirm_page.confirm_edit.setText(CONFIRM_WORD)
        self.progress_page.panel.show_progress(Progress(Phase.RESTORE, done=31_000_000, total=48_213_504,
                                                        elapsed=6.2))
        result = self.progress_page.result or RestoreResult(
            "shop", "shop__pre_restore_20261122060000",
            [TableCheck("app", "customers", 2000, 2000), TableCheck("app", "invoices", 5000, 5000),
             TableCheck("public", "pgbench_accounts", 100000, 100000)], "/usr/lib/postgresql/15/bin/pg_restore 15.8",
            ["2 session(s) (app@web) will be disconnected at the swap"])
        self.result_page.show_result(result)
        return self._pages_for_docs()
