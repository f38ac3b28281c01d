"""The audit view: the console's own log of actions, and a check of its hash chain.

Filter by text, action and day range (the count follows), read one entry whole and copy it, copy
the chain head hash, and export what is shown as CSV or JSON lines (`audit_export`).

Reading (`AuditLog.entries`) and checking (`AuditLog.verify`) run in jobs: the log grows forever.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.state.audit_entry import GENESIS_HASH, AuditEntry
from recovery_console.engine.state.audit_export import entry_hash, export_entries
from recovery_console.engine.state.audit_verify import AuditVerification
from recovery_console.errors import RecoveryError
from recovery_console.ui.backup_table import format_time
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.theme import icon
from recovery_console.ui.widgets.form_labels import buddy_label
from recovery_console.ui.widgets.status import status_color

_Index = QModelIndex | QPersistentModelIndex
AUDIT_COLUMNS = ("Time", "Who", "Action", "Object", "Result")
ANY_DATE = QDate(2000, 1, 1)  # a date edit at its minimum means "any day"
RESULT_STATUS = {"ok": "pass", "failed": "fail", "cancelled": "warn"}  # coloured as PASS / FAIL / WARN


def result_color(result: str) -> QColor:
    """An audit result's text colour on the palette in use: the status colours, WCAG AA on light and dark."""
    return QColor(status_color(RESULT_STATUS.get(result, "fail")))


class AuditModel(QAbstractTableModel):
    """The audit entries, one row each; sorting by time sorts by sequence number."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[AuditEntry] = []

    def set_entries(self, entries: list[AuditEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(AUDIT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return AUDIT_COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(self.entries[section].seq)
        return None

    @staticmethod
    def text(entry: AuditEntry, column: int) -> str:
        if column == 0:
            return format_time(entry.time)
        if column == 1:
            return f"{entry.user}@{entry.host}"
        if column == 2:
            return entry.action
        if column == 3:
            return entry.object
        return entry.result

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.text(entry, index.column())
        if role == Qt.ItemDataRole.UserRole + 1:
            return entry
        if role == Qt.ItemDataRole.UserRole:
            return entry.seq if index.column() == 0 else self.text(entry, index.column()).lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            extra = "\n".join(f"{k}: {v}" for k, v in entry.detail.items())
            return f"#{entry.seq} {entry.time}\n{entry.action} {entry.object}: {entry.result}" + (
                f"\n{extra}" if extra else "")
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 4 and entry.result in RESULT_STATUS:
            return QBrush(result_color(entry.result))
        return None


def local_date(entry: AuditEntry) -> date:
    """The entry's day in this computer's time zone (what the date filter compares)."""
    return datetime.fromisoformat(entry.time.replace("Z", "+00:00")).astimezone().date()


class AuditFilter(QSortFilterProxyModel):
    """The shown entries: the text filter, one action (or all), and a day range (either end open)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.action: str | None = None
        self.first: date | None = None
        self.last: date | None = None

    def set_range(self, action: str | None, first: date | None, last: date | None) -> None:
        self.beginFilterChange()
        self.action, self.first, self.last = action, first, last
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, AuditModel)
        entry = model.entries[source_row]
        if self.action is not None and entry.action != self.action:
            return False
        if self.first is not None or self.last is not None:
            day = local_date(entry)
            if (self.first is not None and day < self.first) or (self.last is not None and day > self.last):
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def shown(self) -> list[AuditEntry]:
        """The entries that pass the filter, oldest first (as the log holds them)."""
        model = self.sourceModel()
        assert isinstance(model, AuditModel)
        rows = (self.mapToSource(self.index(row, 0)).row() for row in range(self.rowCount()))
        return sorted((model.entries[row] for row in rows), key=lambda entry: entry.seq)


def date_edit(name: str) -> QDateEdit:
    """A day, or "any" (its minimum) for an open end of the range."""
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(ANY_DATE)
    edit.setSpecialValueText("any")
    edit.setDate(ANY_DATE)
    edit.setAccessibleName(name)
    return edit


class AuditView(QDialog):
    """The audit log as a table (newest first), with filters, the selected entry in full, and Verify chain."""

    loaded = Signal(int)
    chain_checked = Signal(object)

    def __init__(self, console: Console, runner: JobRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner or JobRunner()
        self.verification: AuditVerification | None = None
        self.error_dialog: QMessageBox | None = None
        self._jobs: list[Job] = []
        self.setWindowTitle("Audit log")
        self.setWindowIcon(icon("audit"))
        self.setAccessibleName("Audit log")
        self.resize(900, 520)

        intro = QLabel(f"Everything this console did, from {console.audit.path}. Each entry is chained to the "
                       "one before it by its SHA-256, so an edited or removed line breaks the chain.")
        intro.setObjectName("hint")
        intro.setWordWrap(True)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by action, object, user or result")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter the audit log")
        filter_label = QLabel("&Filter:")
        filter_label.setBuddy(self.filter_edit)

        self.model = AuditModel(self)
        self.proxy = AuditFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.action_combo = QComboBox()
        self.action_combo.setAccessibleName("Show only this action")
        self.action_combo.addItem("All actions", None)
        self.from_edit = date_edit("From this day")
        self.to_edit = date_edit("To this day")
        for signal in (self.action_combo.currentIndexChanged, self.from_edit.dateChanged, self.to_edit.dateChanged):
            signal.connect(self._range_changed)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Audit entries")
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 150), (1, 150), (2, 120), (4, 80)):
            header.resizeSection(column, width)

        self.table.selectionModel().currentRowChanged.connect(self._show_details)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(mono)
        self.details.setAccessibleName("The selected entry, in full")
        self.details.setPlaceholderText("Select an entry to see all of it here.")
        self.details.setMaximumHeight(150)
        self.copy_details_button = QPushButton("Copy &entry")
        self.copy_details_button.setAccessibleName("Copy the selected entry")
        self.copy_details_button.clicked.connect(lambda: QApplication.clipboard().setText(self.details.toPlainText()))
        self.head_edit = QLineEdit()
        self.head_edit.setReadOnly(True)
        self.head_edit.setFont(mono)
        self.head_edit.setAccessibleName("Chain head: the hash of the last entry")
        self.copy_head_button = QPushButton("Cop&y hash")
        self.copy_head_button.setAccessibleName("Copy the chain head hash")
        self.copy_head_button.clicked.connect(lambda: QApplication.clipboard().setText(self.head_edit.text()))
        self.export_csv_button = QPushButton("Export C&SV…")
        self.export_csv_button.setAccessibleName("Export the shown entries as CSV")
        self.export_csv_button.clicked.connect(lambda: self.export(as_csv=True))
        self.export_jsonl_button = QPushButton("Export &JSON lines…")
        self.export_jsonl_button.setAccessibleName("Export the shown entries as JSON lines")
        self.export_jsonl_button.clicked.connect(lambda: self.export(as_csv=False))

        self.status = QLabel("Loading…")
        self.proxy.rowsInserted.connect(self._count)
        self.proxy.rowsRemoved.connect(self._count)
        self.proxy.modelReset.connect(self._count)
        self.proxy.layoutChanged.connect(self._count)
        self.status.setAccessibleName("Audit log status")
        self.chain_label = QLabel("")
        self.chain_label.setWordWrap(True)
        self.chain_label.setAccessibleName("Chain verification result")
        self.chain_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.verify_button = QPushButton(icon("verify"), "Verify &chain")
        self.verify_button.setAccessibleName("Verify the audit log's hash chain")
        self.verify_button.clicked.connect(self.verify_chain)
        self.refresh_button = QPushButton(icon("refresh"), "&Reload")
        self.refresh_button.setAccessibleName("Reload the audit log")
        self.refresh_button.clicked.connect(self.reload)
        self.close_button = QPushButton("C&lose")
        self.close_button.setAccessibleName("Close the audit log")
        self.close_button.clicked.connect(self.reject)

        top = QHBoxLayout()
        top.addWidget(filter_label)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.action_combo)
        top.addWidget(buddy_label("Fro&m:", self.from_edit, "From this day"))
        top.addWidget(self.from_edit)
        top.addWidget(buddy_label("&To:", self.to_edit, "To this day"))
        top.addWidget(self.to_edit)
        details_row = QHBoxLayout()
        details_row.addWidget(self.details, 1)
        details_row.addWidget(self.copy_details_button, 0, Qt.AlignmentFlag.AlignTop)
        head_row = QHBoxLayout()
        head_row.addWidget(QLabel("Chain head:"))
        head_row.addWidget(self.head_edit, 1)
        head_row.addWidget(self.copy_head_button)
        head_row.addWidget(self.export_csv_button)
        head_row.addWidget(self.export_jsonl_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.chain_label, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(details_row)
        layout.addWidget(self.status)
        layout.addLayout(head_row)
        layout.addLayout(buttons)
        self.setTabOrder(self.filter_edit, self.table)
        self.setTabOrder(self.table, self.verify_button)
        self.setTabOrder(self.verify_button, self.refresh_button)
        self.setTabOrder(self.refresh_button, self.close_button)
        self.reload()

    def _submit(self, job: Job) -> None:
        self._jobs.append(job)
        job.done.connect(lambda: self._jobs.remove(job) if job in self._jobs else None)
        self.runner.submit(job)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def reload(self) -> None:
        audit = self.console.audit
        self.refresh_button.setEnabled(False)
        self.status.setText("Loading…")
        job = Job("Reading the audit log", lambda reporter: list(audit.entries()), key="audit")
        job.succeeded.connect(self._loaded)
        job.failed.connect(self._load_failed)
        job.done.connect(lambda: self.refresh_button.setEnabled(True))
        self._submit(job)

    def _loaded(self, entries: list[AuditEntry]) -> None:
        self.model.set_entries(entries)
        self.table.sortByColumn(self.proxy.sortColumn() if self.proxy.sortColumn() >= 0 else 0,
                                self.proxy.sortOrder())
        chosen = self.action_combo.currentData()
        self.action_combo.blockSignals(True)
        self.action_combo.clear()
        self.action_combo.addItem("All actions", None)
        for action in sorted({entry.action for entry in entries}):
            self.action_combo.addItem(action, action)
        self.action_combo.setCurrentIndex(max(0, self.action_combo.findData(chosen)))
        self.action_combo.blockSignals(False)
        self._range_changed()
        last = max(entries, key=lambda entry: entry.seq, default=None)
        self.head_edit.setText(entry_hash(last) if last else GENESIS_HASH)
        self.loaded.emit(len(entries))

    def _range_changed(self) -> None:
        def day(edit: QDateEdit) -> date | None:
            chosen = edit.date()
            return None if chosen == ANY_DATE else date(chosen.year(), chosen.month(), chosen.day())

        action = self.action_combo.currentData()
        self.proxy.set_range(str(action) if action else None, day(self.from_edit), day(self.to_edit))
        self._count()

    def _count(self) -> None:
        """'N entries', or 'n of N entries' under a filter; and how many of those were not ok."""
        shown, total = self.proxy.shown(), len(self.model.entries)
        failed = sum(1 for entry in shown if entry.result != "ok")
        counted = f"{total} entries" if len(shown) == total else f"{len(shown)} of {total} entries"
        self.status.setText(counted + (f", {failed} not ok" if failed else "") + ".")

    def _show_details(self, current: QModelIndex) -> None:
        entry = self.proxy.data(current, Qt.ItemDataRole.UserRole + 1) if current.isValid() else None
        if not isinstance(entry, AuditEntry):
            self.details.clear()
            return
        self.details.setPlainText(json.dumps(entry.to_dict(), indent=2, ensure_ascii=False)
                                  + f"\nhash of this entry: {entry_hash(entry)}")

    def export(self, *, as_csv: bool) -> None:
        """The shown entries (the filter applies) to a CSV or JSON lines file the user chooses."""
        kind, suffix = ("CSV", "csv") if as_csv else ("JSON lines", "jsonl")
        out, _ = QFileDialog.getSaveFileName(self, f"Export the audit log as {kind}",
                                             str(Path.home() / f"audit-log.{suffix}"), f"{kind} (*.{suffix})")
        if not out:
            return
        entries, path = self.proxy.shown(), Path(out)
        job = Job("Exporting the audit log",
                  lambda reporter: export_entries(entries, path, as_csv=as_csv, overwrite=True), key="audit")
        job.succeeded.connect(lambda count: self.status.setText(f"{count} entries exported to {path}."))
        job.failed.connect(lambda error: self._show_error("Exporting the audit log failed", error))
        self._submit(job)

    def _load_failed(self, error: RecoveryError) -> None:
        self.status.setText(f"The audit log could not be read: {error.message}")
        self._show_error("Reading the audit log failed", error)

    def verify_chain(self) -> None:
        audit = self.console.audit
        self.verify_button.setEnabled(False)
        self.chain_label.setObjectName("")
        self.chain_label.setText("Checking every link…")
        job = Job("Verifying the audit chain", lambda reporter: audit.verify(), key="audit")
        job.succeeded.connect(self._checked)
        job.failed.connect(lambda error: self._show_error("Verifying the audit log failed", error))
        job.done.connect(lambda: self.verify_button.setEnabled(True))
        self._submit(job)

    def _checked(self, result: AuditVerification) -> None:
        self.verification = result
        if result.ok:
            self.chain_label.setObjectName("chainIntact")
            self.chain_label.setText(f"Chain intact: {result.entries} entries, every link checks. "
                                     f"Last hash {result.last_hash[:16]}… (record it elsewhere to prove "
                                     "nothing is later removed).")
            self.chain_label.setToolTip(result.last_hash)
            self.head_edit.setText(result.last_hash)
        else:
            where = f"line {result.first_broken_line}" if result.first_broken_line else "the end"
            seq = f" (entry {result.first_broken_seq})" if result.first_broken_seq else ""
            self.chain_label.setObjectName("chainBroken")
            self.chain_label.setText(f"Chain BROKEN at {where}{seq}: {result.reason}. "
                                     f"{result.entries} entries before it are intact.")
            self.chain_label.setToolTip("")
        self.chain_label.style().unpolish(self.chain_label)
        self.chain_label.style().polish(self.chain_label)
        self.chain_checked.emit(result)

    def _show_error(self, title: str, error: RecoveryError) -> None:
        box = error_box(self, title, error)
        self.error_dialog = box
        box.open()
