"""The backup browser's table: a model over catalog `BackupRecord`s, a sorting/filtering proxy, and how a record reads.

Plain view code: the records come from `Console.list_backups` run in a job by the main window;
this module only formats them (and names the engine's handle on one, `locate_record`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import BackupRecord
from recovery_console.ui.widgets.status import status_color
from recovery_console.ui.widgets.times import local_time, utc_hover

# What a restorer looks for first: when, how big, whether it was proven good, and of which database.
COLUMNS = ("Created", "Size", "Last verify", "Database", "Type", "App version", "Target", "ID", "Description")
(COL_CREATED, COL_SIZE, COL_VERIFY, COL_DATABASE, COL_TYPE, COL_VERSION, COL_TARGET, COL_ID,
 COL_DESCRIPTION) = range(len(COLUMNS))

SORT_ROLE = Qt.ItemDataRole.UserRole
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


def format_time(text: str | None) -> str:
    """An ISO UTC time shown in local time with its zone, to the second; "" when unknown."""
    return local_time(text)


CHANGED_SINCE = "changed since its last verify"


def verify_text(record: BackupRecord, *, reason: bool = False) -> str:
    """The last verdict and when (why it failed too, if `reason`).

    A file changed since says so: the verdict was on the older file.
    """
    if not record.verify_result:
        return "never"
    when = format_time(record.verified_at)
    if record.verify_result == "ok":
        mode = f" ({record.verify_detail})" if record.verify_detail and record.verify_detail != "full" else ""
        text = f"passed{mode} {when}".strip()
    else:
        text = f"FAILED {when}".strip() + (f": {record.verify_detail}" if reason and record.verify_detail else "")
    return f"{text.rstrip('.')} — {CHANGED_SINCE}" if record.verify_changed else text


def description(record: BackupRecord) -> str:
    return record.metadata.description if record.metadata else ""


def locate_record(console: Console, record: BackupRecord) -> BackupRef:
    """The BackupRef of a catalog record (run it in a job: opening a remote target may connect)."""
    return console.locate(record.backup_id if record.metadata else record.short_id, record.target)


class BackupTableModel(QAbstractTableModel):
    """One row per catalog record."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[BackupRecord] = []
        self.removed_targets: frozenset[str] = frozenset()  # backups still in the catalog, their target removed

    # -- data
    def set_records(self, records: Sequence[BackupRecord]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def records(self) -> list[BackupRecord]:
        return list(self._records)

    def record(self, row: int) -> BackupRecord | None:
        return self._records[row] if 0 <= row < len(self._records) else None

    def removed_reason(self, record: BackupRecord | None) -> str | None:
        """Why nothing can be done with a backup now: its target was removed (None: it can be used)."""
        if record is None or record.target not in self.removed_targets:
            return None
        return f"Target {record.target} was removed; add it again to use these backups."

    def row_of(self, target: str, key: str) -> int:
        for row, record in enumerate(self._records):
            if record.target == target and record.key == key:
                return row
        return -1

    # -- Qt
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role in (Qt.ItemDataRole.DisplayRole,
                                                                  Qt.ItemDataRole.AccessibleTextRole):
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self._records[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            removed = column == COL_TARGET and record.target in self.removed_targets
            return f"{record.target} (target removed)" if removed else self._display(record, column)
        if role == SORT_ROLE:
            return self._sort_key(record, column)
        if role == RECORD_ROLE:
            return record
        if role == SEARCH_ROLE:
            return " ".join([*(self._display(record, c) for c in range(len(COLUMNS))), record.key,
                             record.backup_id]).lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_VERIFY and record.verify_changed:
                return "The file on the target changed after this verdict was given: verify it again."
            if column == COL_VERIFY and record.verify_result and record.verify_result != "ok":
                return record.verify_detail or "The last verify failed."
            if column == COL_CREATED:
                return utc_hover(record.created)
            if column == COL_ID:
                return record.backup_id
            return record.file_name
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_VERIFY and record.verify_result:
            if record.verify_changed and record.verify_result == "ok":
                return None  # a pass on an older file is no pass now
            return QBrush(QColor(status_color("pass" if record.verify_result == "ok" else "fail")))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(record: BackupRecord, column: int) -> str:
        if column == COL_CREATED:
            return format_time(record.created) or "unknown"
        if column == COL_SIZE:
            return format_bytes(record.size)
        if column == COL_TYPE:
            return record.mode or "unknown"
        if column == COL_VERSION:
            return record.app_version or ""
        if column == COL_VERIFY:
            return verify_text(record)
        if column == COL_TARGET:
            return record.target
        if column == COL_DATABASE:
            return (record.metadata.database or "") if record.metadata else ""
        if column == COL_ID:
            return record.short_id
        if column == COL_DESCRIPTION:
            return description(record)
        return ""

    @staticmethod
    def _sort_key(record: BackupRecord, column: int) -> Any:
        if column == COL_CREATED:
            return record.created or ""
        if column == COL_SIZE:
            return record.size
        if column == COL_VERIFY:
            return f"{record.verified_at or ''}|{record.verify_result or ''}|{record.verify_changed:d}"
        return BackupTableModel._display(record, column).lower()


class BackupFilterProxy(QSortFilterProxyModel):
    """Sorts by raw values; filters on free text over every column and, optionally, one target."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._target: str | None = None
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    @property
    def text(self) -> str:
        return self._text

    @property
    def target(self) -> str | None:
        return self._target

    def set_text(self, text: str) -> None:
        self._change_filter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_target(self, target: str | None) -> None:
        self._change_filter(lambda: setattr(self, "_target", target or None))

    def _change_filter(self, change: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        record: BackupRecord = model.data(index, RECORD_ROLE)
        if record is None:
            return False
        if self._target is not None and record.target != self._target:
            return False
        if not self._text:
            return True
        haystack = model.data(index, SEARCH_ROLE) or ""
        return all(word in haystack for word in self._text.split())

    def record(self, proxy_index: QModelIndex) -> BackupRecord | None:
        if not proxy_index.isValid():
            return None
        record = self.sourceModel().data(self.mapToSource(proxy_index), RECORD_ROLE)
        return record if isinstance(record, BackupRecord) else None
