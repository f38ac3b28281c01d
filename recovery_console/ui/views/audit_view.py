"""The audit view: the console's own log of actions, and a check of its hash chain.

Reading (`AuditLog.entries`) and checking (`AuditLog.verify`) run in jobs: the log grows forever.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.state.audit_entry import AuditEntry
from recovery_console.engine.state.audit_verify import AuditVerification
from recovery_console.errors import RecoveryError
from recovery_console.ui.backup_table import format_time
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.theme import icon

_Index = QModelIndex | QPersistentModelIndex
AUDIT_COLUMNS = ("Time", "Who", "Action", "Object", "Result")
RESULT_COLORS = {"ok": QColor("#2a9d5c"), "failed": QColor("#d03b3b"), "cancelled": QColor("#c77700")}


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
        if role == Qt.ItemDataRole.UserRole:
            return entry.seq if index.column() == 0 else self.text(entry, index.column()).lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            extra = "\n".join(f"{k}: {v}" for k, v in entry.detail.items())
            return f"#{entry.seq} {entry.time}\n{entry.action} {entry.object}: {entry.result}" + (
                f"\n{extra}" if extra else "")
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 4 and entry.result in RESULT_COLORS:
            return QBrush(RESULT_COLORS[entry.result])
        return None


class AuditView(QDialog):
    """The audit log as a table (newest first), with a filter and Verify chain."""

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
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
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

        self.status = QLabel("Loading…")
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
        buttons = QHBoxLayout()
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.chain_label, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
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
        failed = sum(1 for e in entries if e.result != "ok")
        self.status.setText(f"{len(entries)} entries" + (f", {failed} not ok" if failed else "") + ".")
        self.loaded.emit(len(entries))

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
