"""The middle of the main window: every backup on the targets in a sortable, filterable table, and the recovery
sets below it (a selection in one clears the other)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.formatting import counted
from recovery_console.models.backup import BackupRecord
from recovery_console.ui.backup_table import COL_CREATED, BackupFilterProxy, BackupTableModel
from recovery_console.ui.views.set_list import SetList
from recovery_console.ui.widgets.labels import pane_title

COLUMN_WIDTHS = (170, 72, 215, 110, 72, 80, 72, 76, 160)  # in the order of backup_table.COLUMNS


class BackupBrowser(QWidget):
    """The backup table with its filter line and a hint when it is empty; newest first by default.

    `selection_changed` fires when another backup (or none) is selected, `filter_changed` when the
    rows shown change; `activated` on a double click.
    """

    selection_changed = Signal()
    filter_changed = Signal()
    activated = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = BackupTableModel(self)
        self.proxy = BackupFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by date, id, type, version, target or description")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter backups")
        self.filter_edit.textChanged.connect(self._filter_text_changed)
        filter_label = QLabel("Fi&lter:")
        filter_label.setBuddy(self.filter_edit)
        self.focus_filter_action = QAction("&Find backups", self)
        self.focus_filter_action.setShortcut(QKeySequence.StandardKey.Find)
        self.focus_filter_action.triggered.connect(self.focus_filter)
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
        for column, width in enumerate(COLUMN_WIDTHS):
            header.resizeSection(column, width)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.table.doubleClicked.connect(lambda _index: self.activated.emit())
        self.empty_label = QLabel("")
        self.empty_label.setObjectName("hint")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAccessibleName("Backup list status")
        self.sets = SetList()
        self.sets.selection_changed.connect(self._set_selected)
        self.count_label = QLabel("")
        self.count_label.setAccessibleName("Backup count")
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 0, 4, 0)
        row = QHBoxLayout()
        row.addWidget(pane_title("Bac&kups", self.table))
        row.addStretch(1)
        row.addWidget(filter_label)
        row.addWidget(self.filter_edit, 2)
        box.addLayout(row)
        box.addWidget(self.table, 1)
        box.addWidget(self.empty_label)
        box.addWidget(self.sets)

    def focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def selected_backup(self) -> BackupRecord | None:
        rows = self.table.selectionModel().selectedRows()
        return self.proxy.record(rows[0]) if rows else None

    def selected_set(self) -> SetRecord | None:
        return self.sets.selected_set()

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

    def show_records(self, records: Sequence[BackupRecord], select: tuple[str, str] | None) -> bool:
        """Replace the rows; select (target, key) if given, else keep the current selection.

        Returns True if a row is selected again (its `selection_changed` has then fired).
        """
        current = self.selected_backup()
        keep = select or ((current.target, current.key) if current else None)
        self.model.set_records(records)
        return keep is not None and self.select_backup(*keep)

    def set_target(self, target: str | None) -> None:
        """Show only the backups on `target` (None: on every target)."""
        self.proxy.set_target(target)
        self.sets.set_target(target)
        self.filter_changed.emit()

    def update_counts(self, has_targets: bool) -> None:
        """The count in the status bar, and the hint under the table when nothing is shown."""
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        noun = "backup" if total == 1 else "backups"
        sets = f", {counted(self.sets.shown, 'recovery set')}" if self.sets.shown else ""
        self.count_label.setText((f"{shown} of {total} {noun}" if shown != total else f"{total} {noun}") + sets)
        if not has_targets:
            self.empty_label.setText("No storage target is configured yet. Use New profile (File menu) to set one up.")
        elif total == 0 and self.sets.shown:
            self.empty_label.setText("No single backups here; the recovery sets are listed below.")
        elif total == 0:
            self.empty_label.setText("No backups yet. Back up now (Ctrl+B) makes the first one.")
        elif shown == 0:
            self.empty_label.setText("No backup matches the filter.")
        else:
            self.empty_label.setText("")
        self.empty_label.setVisible(bool(self.empty_label.text()))

    def _filter_text_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self.filter_changed.emit()

    def _selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self.selected_backup() is not None:
            self.sets.clear_selection()
        self.selection_changed.emit()

    def _set_selected(self) -> None:
        if self.sets.selected_set() is not None:
            self.table.clearSelection()
        self.selection_changed.emit()
