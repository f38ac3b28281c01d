"""The restore wizard's first page: which backup (from the catalog, or a file) goes into which profile's database,
and the instance secret that opens it (from the keyring, or typed)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWizardPage,
)

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.engine.sets.set_listing import list_sets
from recovery_console.engine.state import grouped_secret
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored, status_color
from recovery_console.ui.widgets.table_items import table_item
from recovery_console.ui.widgets.times import local_time
from recovery_console.ui.wizards.base import KEYRING_JOBS

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard

BackupChoice = BackupRecord | BackupRef | SetRecord | str
"""A backup to preselect: a catalog record, a located backup (a record or a file), a recovery set, or an id."""
Entry = BackupRecord | BackupRef | SetRecord


def describe_backup(selected: Entry | None) -> str:
    """A backup in words for labels: id, creation time, database and where it is."""
    if isinstance(selected, SetRecord):
        when = f" created {local_time(selected.created)}" if selected.created else ""
        return f"recovery set {selected.short_id}{when} on target {selected.target}"
    if isinstance(selected, BackupRecord):
        database = selected.metadata.database if selected.metadata and selected.metadata.database else None
        parts = [f"backup {selected.short_id}"]
        if selected.created:
            parts.append(f"created {local_time(selected.created)}")
        if database:
            parts.append(f"of database {database}")
        parts.append(f"on target {selected.target}")
        return " ".join(parts)
    return f"the backup file {getattr(selected, 'location', selected)}"


def _newest_first(entry: BackupRecord | SetRecord) -> str:
    """A backup's and a set's creation times compare alike ("2026-12-07 02:00:00" and "2026-12-07T02:00:00Z")."""
    return (entry.created or "").replace("T", " ").rstrip("Z")


def damaged_text(record: SetRecord) -> str:
    """Why a damaged set is not offered, in one line."""
    return f"Set {record.short_id} is damaged ({'; '.join(record.problems)}): it is never restored."


def _record_matches(record: BackupRecord | SetRecord, wanted: BackupChoice | None) -> bool:
    if wanted is None:
        return False
    if isinstance(record, SetRecord) or isinstance(wanted, SetRecord):
        if isinstance(wanted, SetRecord):
            return isinstance(record, SetRecord) and (record.target, record.folder) == (wanted.target, wanted.folder)
        needle = str(wanted).strip().lower().replace("-", "")
        return isinstance(record, SetRecord) and len(needle) >= 4 and (
            record.short_id.startswith(needle) or record.set_id.replace("-", "").startswith(needle))
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




class BackupPage(QWizardPage):
    """Page 1: the backup, the profile to restore into, and its instance secret."""

    COLUMNS = ["Created", "Backup", "Database", "Size", "Type", "Target", "Last verify"]

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Choose the backup")
        self.setSubTitle("Pick the backup to restore and the profile whose database it goes into.")
        self.records: list[BackupRecord] = []
        self.sets: list[SetRecord] = []
        self.profiles: dict[str, Profile] = {}
        self.secret: str | None = None
        self.secret_profile: str | None = None
        self.secret_dialog: QInputDialog | None = None
        self._next_requested = False  # Next was pressed without a secret: go on once it is typed
        self.loading = False
        self._lookups = 0  # keyring look-ups still running (the profile may change during one)
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
        self.table.itemSelectionChanged.connect(self._selection_changed)
        table_label = buddy_label("Bac&kups:", self.table, "Backups in the catalog")
        self.refresh_button = QPushButton("Refresh from &storage")
        self.refresh_button.setAccessibleName("Refresh the list from storage")
        self.refresh_button.clicked.connect(lambda: self.wiz.start(self.load(sync=True)))
        self.list_status = wrap_label("", "Backup list status", rich=True)

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
            self.wiz.start(self.load(sync=False))

    @property
    def looking_up(self) -> bool:
        return self._lookups > 0

    async def load(self, sync: bool) -> None:
        """The catalog's backups (after listing the targets again if `sync`)."""
        console = self.wiz.console
        self.loading = True
        self.refresh_button.setEnabled(False)
        self.list_status.setText("Refreshing from storage…" if sync else "Reading the catalog…")
        try:
            records, sets = await self.wiz.run("Listing backups", lambda r: (console.list_backups(sync=sync)[0],
                                                                              list_sets(console, sync=sync)[0]))
            self.show_records(records, sets)
        except RecoveryError as exc:
            self.wiz.show_error("Listing backups", exc)
        finally:
            self.loading = False
            self.refresh_button.setEnabled(True)
            if not self.records and not self.sets:
                self.list_status.setText("No backups in the catalog. Refresh from storage, or make a backup first.")
            self.completeChanged.emit()

    def show_records(self, records: list[BackupRecord], sets: list[SetRecord] | None = None) -> None:
        """Backups and recovery sets, newest first (a file given to the wizard on top); a damaged set is shown as
        damaged and cannot be chosen."""
        previous = self.selected()
        wanted = previous if isinstance(previous, BackupRecord | SetRecord) else self.wiz.backup_ref
        self.records = list(records)
        self.sets = list(sets or [])
        self.table.setRowCount(0)
        file_ref = self.wiz.file_ref
        listed: list[BackupRecord | SetRecord] = sorted([*self.records, *self.sets], key=_newest_first, reverse=True)
        rows: list[Entry] = ([file_ref] if file_ref is not None else []) + listed
        self.table.setRowCount(len(rows))
        select = -1
        for row, entry in enumerate(rows):
            if isinstance(entry, SetRecord):
                verify = (f"DAMAGED: {'; '.join(entry.problems)}" if entry.state == DAMAGED else
                          f"{entry.verify_result or 'never'}" + (f" {local_time(entry.verified_at)}"
                                                                  if entry.verified_at else ""))
                count = len(entry.manifest.members) if entry.manifest else len(entry.member_files or ())
                values = [local_time(entry.created) or "?", f"set {entry.short_id}",
                          f"recovery set, {count} member{'' if count == 1 else 's'}", format_bytes(entry.size),
                          entry.mode or "?", entry.target, verify]
                if select < 0 and _record_matches(entry, wanted):
                    select = row
            elif isinstance(entry, BackupRecord):
                md = entry.metadata
                verify = f"{entry.verify_result or 'never'}" + (f" {local_time(entry.verified_at)}"
                                                                 if entry.verified_at else "")
                values = [local_time(entry.created) or "?", entry.short_id, md.database if md and md.database else "—",
                          format_bytes(entry.size), entry.mode or "?", entry.target, verify]
                if select < 0 and _record_matches(entry, wanted):
                    select = row
            else:
                values = ["?", "file", "—", format_bytes(entry.size), "?", entry.location, "—"]
                select = row if select < 0 else select
            for column, value in enumerate(values):
                item = table_item(value, entry if column == 0 else None)
                if isinstance(entry, SetRecord) and entry.state == DAMAGED:
                    item.setForeground(QBrush(QColor(status_color(FAIL_COLOR))))
                    item.setToolTip(damaged_text(entry))
                self.table.setItem(row, column, item)
        self.list_status.setText(html.escape(f"{len(rows)} backup{'' if len(rows) == 1 else 's'}."))
        if select >= 0:
            self.table.selectRow(select)
        elif rows:
            self.table.selectRow(0)

    def selected(self) -> Entry | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def selected_record(self) -> BackupRecord | None:
        entry = self.selected()
        return entry if isinstance(entry, BackupRecord) else None

    def selected_set(self) -> SetRecord | None:
        entry = self.selected()
        return entry if isinstance(entry, SetRecord) else None

    def _selection_changed(self) -> None:
        """A set's own profile is chosen with it; a damaged set says why it cannot be restored."""
        chosen = self.selected_set()
        if chosen is not None and chosen.state == DAMAGED:
            self.list_status.setText(colored("✘ " + damaged_text(chosen), FAIL_COLOR, True))
        elif chosen is not None:
            self.list_status.setText(html.escape(f"Recovery set {chosen.short_id}: its members are listed on the "
                                                 "next page."))
            index = self.profile_combo.findData(chosen.manifest.profile) if chosen.manifest else -1
            if index >= 0 and index != self.profile_combo.currentIndex():
                self.profile_combo.setCurrentIndex(index)
        self.completeChanged.emit()

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
        self._lookups += 1
        self.secret_button.setEnabled(False)
        self.wiz.start(self.lookup_secret(profile.name))
        self.completeChanged.emit()

    async def lookup_secret(self, name: str) -> None:
        """The profile's instance secret from the keyring, off the GUI thread; kept only if still chosen."""
        profiles = self.wiz.console.profiles
        self.secret_status.setText(html.escape("Looking up the instance secret in the keyring…"))
        try:
            secret = await self.wiz.run("Reading the instance secret", lambda r: profiles.instance_secret(name),
                                        key=KEYRING_JOBS)
        except RecoveryError as exc:
            if self.profile_combo.currentData() == name:
                self.secret_status.setText(
                    colored("The keyring holds no instance secret for this profile: ", WARN_COLOR)
                    + html.escape("you will be asked for it. (" + exc.message + ")"))
        else:
            if self.profile_combo.currentData() == name:
                self.secret, self.secret_profile = secret, name
                self.secret_status.setText(colored("✔ ", PASS_COLOR, True) + html.escape(
                    f"The instance secret of '{name}' comes from the OS keyring."))
        finally:
            self._lookups -= 1
            self.secret_button.setEnabled(not self.looking_up)
            self.completeChanged.emit()

    def ask_secret(self) -> None:
        """Ask for the instance secret in a password dialog (one at a time)."""
        if self.secret_dialog is not None:
            return
        name = str(self.profile_combo.currentData())
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Instance secret")
        dialog.setLabelText(f"The instance secret of profile '{name}' (it decrypts the backup):")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.setAccessibleName("Instance secret")
        for edit in dialog.findChildren(QLineEdit):
            edit.setAccessibleName("Instance secret")
        self.secret_dialog = dialog
        self.wiz.start(self._typed_secret(dialog, name))

    async def _typed_secret(self, dialog: QInputDialog, name: str) -> None:
        """Use the typed secret; go on to the next page if Next is what asked for it."""
        try:
            answered = await self.wiz.answer(dialog)
        finally:
            self.secret_dialog = None
        go_on, self._next_requested = self._next_requested, False
        value = dialog.textValue()
        if answered != QDialog.DialogCode.Accepted or not value:
            return
        try:  # a grouped secret with a mistyped group is named, never tried
            value = grouped_secret.canonical(value)
        except RecoveryError as exc:
            self.secret_status.setText(html.escape(exc.message))
            return
        self.secret, self.secret_profile = value, name
        self.secret_status.setText(html.escape("The instance secret you typed will be used."))
        self.completeChanged.emit()
        if go_on and self.wiz.currentPage() is self:
            self.wiz.next()

    def isComplete(self) -> bool:
        profile = self.profile()
        chosen = self.selected()
        damaged = isinstance(chosen, SetRecord) and chosen.state == DAMAGED
        return (chosen is not None and not damaged and profile is not None and profile.declared
                and not self.looking_up and not self.loading)

    def nextId(self) -> int:
        return self.wiz.SET_MEMBERS if self.selected_set() is not None else self.wiz.DESTINATION

    def validatePage(self) -> bool:
        if self.secret is not None and self.secret_profile == self.profile_combo.currentData():
            return True
        self._next_requested = True
        self.ask_secret()
        return False

