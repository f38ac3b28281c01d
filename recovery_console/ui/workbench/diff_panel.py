"""The workbench's comparison: pick a second backup, see per table what differs, and drill into a table's rows.

The engine's workbench compares the two (each read once, forward; a backup decrypted in memory) and
keeps the first differing rows of each kind per table, decoded, with the columns that changed; this
panel only takes the second backup's name and shows what the engine found.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.formatting import counted
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored
from recovery_console.ui.workbench.rows_model import NULL_COLOR, NULL_TEXT, SHOWN_CHARS

if TYPE_CHECKING:
    from recovery_console.engine.forensics.diff import DiffReport, TableDiff
    from recovery_console.engine.forensics.diff_output import DiffRow, SampledTable

SHOWN_ROWS = 500  # of each kind (only in this backup, only in the other, changed) per table
TABLE_HEADERS = ("Table", "Only in this backup", "Only in the other", "Changed", "Schema")
SIDES = {"only_a": ("Only in this backup",), "only_b": ("Only in the other",),
         "changed": ("Changed: this backup", "Changed: the other")}
CHANGED_COLOR = QColor("#ffe08a")
ABSENT_COLOR = QColor("#9a9a9a")
FILE_FILTER = "Backups and dumps (*.enc *.dump *.backup);;All files (*)"

Index = QModelIndex | QPersistentModelIndex


def schema_notes(table: TableDiff, redefined: bool) -> str:
    """What differs in the table's definition, in words ("" when nothing does)."""
    if not table.in_b:
        return "table only in this backup"
    if not table.in_a:
        return "table only in the other"
    notes = []
    if table.columns_only_a:
        notes.append(f"columns only here: {', '.join(table.columns_only_a)}")
    if table.columns_only_b:
        notes.append(f"columns only in the other: {', '.join(table.columns_only_b)}")
    notes += [f"{name} is {type_a} here, {type_b} there" for name, type_a, type_b in table.retyped]
    if redefined and not notes:
        notes.append("definition changed")
    return "; ".join(notes)


class DiffRowsModel(QAbstractTableModel):
    """One table's differing rows: a changed row is two lines (this backup's, then the other's), changed cells
    highlighted; a column one side lacks is greyed on that side."""

    def __init__(self) -> None:
        super().__init__()
        self.sample: SampledTable | None = None
        self._lines: list[tuple[str, DiffRow, dict[str, str | None] | None]] = []  # label, row, that side's values
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    def show_sample(self, sample: SampledTable | None) -> None:
        self.beginResetModel()
        self.sample = sample
        self._lines = []
        for row in sample.rows if sample is not None else []:
            sides = (row.a, row.b) if row.change == "changed" else (row.a if row.change == "only_a" else row.b,)
            self._lines += [(label, row, values) for label, values in zip(SIDES[row.change], sides, strict=True)]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._lines)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() or self.sample is None else 1 + len(self.sample.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role != Qt.ItemDataRole.DisplayRole or self.sample is None:
            return None
        if orientation == Qt.Orientation.Vertical:
            return f"{section + 1:,}"
        if section == 0:
            return "Change"
        name = self.sample.columns[section - 1]
        return f"{name} (key)" if self.sample.key and name in self.sample.key else name

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or self.sample is None:
            return None
        label, row, values = self._lines[index.row()]
        if index.column() == 0:
            return label if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole) else None
        name = self.sample.columns[index.column() - 1]
        present = values is not None and name in values
        value = values.get(name) if values is not None else None
        if role == Qt.ItemDataRole.DisplayRole:
            if not present:
                return "—"
            return NULL_TEXT if value is None else value[:SHOWN_CHARS].replace("\n", "⏎").replace("\t", "⇥")
        if role == Qt.ItemDataRole.ToolTipRole:
            if not present:
                return f"{'This' if values is row.a else 'The other'} backup's table has no column {name}."
            if name in row.changed:
                return f"{name} differs between the two backups."
            return None
        if role == Qt.ItemDataRole.BackgroundRole and present and name in row.changed:
            return QBrush(CHANGED_COLOR)
        if role == Qt.ItemDataRole.ForegroundRole and (not present or value is None):
            return QBrush(ABSENT_COLOR if not present else NULL_COLOR)
        if role == Qt.ItemDataRole.FontRole:
            if present and name in row.changed:
                return self._bold
            if present and value is None:
                return self._italic
        return None

    def changed_cells(self, line: int) -> list[str]:
        """The columns highlighted on view row `line` (for tests and accessibility)."""
        _, row, _ = self._lines[line]
        return list(row.changed)


class DiffPanel(QWidget):
    """Second backup, per-table counts, rows; `diff_requested` asks the window to compare with the named backup."""

    diff_requested = Signal(str)

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.report: DiffReport | None = None
        self.other_edit = QLineEdit()
        self.other_edit.setPlaceholderText("a backup file (.enc), a backup id, or a pg_dump archive")
        self.other_edit.returnPressed.connect(self._compare_clicked)
        self.browse_button = QPushButton("&Browse…")
        self.browse_button.setAccessibleName("Choose the other backup's file")
        self.browse_button.clicked.connect(self._browse_clicked)
        self.compare_button = QPushButton("Co&mpare")
        self.compare_button.setAccessibleName("Compare with the other backup")
        self.compare_button.clicked.connect(self._compare_clicked)
        self.panel = ProgressPanel()
        self.panel.hide()
        self.status = wrap_label("Compares this backup with another, table by table and row by row, read straight "
                                 "from both.", "Comparison status", rich=True)
        self.tables = QTableWidget(0, len(TABLE_HEADERS))
        self.tables.setHorizontalHeaderLabels(TABLE_HEADERS)
        self.tables.setAccessibleName("Differences per table")
        self.tables.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tables.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tables.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tables.verticalHeader().setVisible(False)
        self.tables.verticalHeader().setDefaultSectionSize(self.tables.fontMetrics().height() + 8)
        self.tables.setTabKeyNavigation(False)
        self.tables.itemSelectionChanged.connect(self._table_chosen)
        self.rows_status = wrap_label("", "Differing rows status", rich=True)
        self.model = DiffRowsModel()
        self.rows = QTableView()
        self.rows.setModel(self.model)
        self.rows.setAccessibleName("Differing rows of the table")
        self.rows.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.rows.setWordWrap(False)
        self.rows.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.rows.verticalHeader().setDefaultSectionSize(self.rows.fontMetrics().height() + 6)
        self.rows.horizontalHeader().setStretchLastSection(True)
        self.rows.setTabKeyNavigation(False)
        rows_box = QWidget()
        rows_layout = QVBoxLayout(rows_box)
        rows_layout.setContentsMargins(0, 0, 0, 0)
        rows_layout.addWidget(self.rows_status)
        rows_layout.addWidget(self.rows, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tables)
        split.addWidget(rows_box)
        split.setStretchFactor(1, 2)
        pick = QHBoxLayout()
        pick.addWidget(buddy_label("Compare w&ith:", self.other_edit, "The other backup"))
        pick.addWidget(self.other_edit, 1)
        pick.addWidget(self.browse_button)
        pick.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.addLayout(pick)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)

    def _browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Compare with", str(self.folder), FILE_FILTER)
        if path:
            self.other_edit.setText(path)
            self._compare_clicked()

    def _compare_clicked(self) -> None:
        other = self.other_edit.text().strip()
        if other and self.compare_button.isEnabled():
            self.diff_requested.emit(other)

    def begin(self, other: str) -> None:
        """A comparison starts: clear the last one."""
        self.report = None
        self.tables.setRowCount(0)
        self.model.show_sample(None)
        self.rows_status.setText("")
        self.compare_button.setEnabled(False)
        self.browse_button.setEnabled(False)
        self.panel.show()
        self.status.setText(html.escape(f"Comparing with {other}…"))

    def end(self, text: str = "", color: str = WARN_COLOR) -> None:
        """The comparison has ended; `text`, if given, says how."""
        self.panel.hide()
        self.compare_button.setEnabled(True)
        self.browse_button.setEnabled(True)
        if text:
            self.status.setText(colored(text, color, True))

    def failed(self, message: str) -> None:
        self.end(f"✘ The backups could not be compared: {message}", FAIL_COLOR)

    def show_report(self, report: DiffReport, other: str) -> None:
        self.end()
        self.report = report
        redefined = {f"{c.schema}.{c.name}" if c.schema else c.name for c in report.schema
                     if c.kind == "TABLE" and c.change == "changed"}
        differing = [table for table in report.tables if table.differs]
        self.tables.setRowCount(len(differing))
        for index, table in enumerate(differing):
            notes = schema_notes(table, table.table in redefined)
            cells = (table.table, f"{table.only_a:,}", f"{table.only_b:,}", f"{table.changed:,}", notes)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if column in (0, 4) else f"{table.table}: {text} "
                                + TABLE_HEADERS[column].lower())
                item.setData(Qt.ItemDataRole.UserRole, table.table)
                if column in (1, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.tables.setItem(index, column, item)
        self.tables.resizeColumnsToContents()
        self.tables.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        schema = counted(len(report.schema), "schema difference")
        if report.schema:
            named = [f"{c.change} {c.kind.lower()} {c.schema + '.' if c.schema else ''}{c.name}"
                     for c in report.schema[:4]]
            schema += f" ({'; '.join(named)}{'; …' if len(report.schema) > 4 else ''})"
        text = f"Compared with {other}: {schema}; {len(differing)} of {counted(len(report.tables), 'table')} differ."
        if differing:
            text += " Choose a table to see its rows."
        self.status.setText(colored(text, PASS_COLOR if not differing and not report.schema else WARN_COLOR, True))
        if differing:
            self.tables.selectRow(0)

    def _table_chosen(self) -> None:
        rows = self.tables.selectionModel().selectedRows()
        item = self.tables.item(rows[0].row(), 0) if rows else None
        if item is not None:
            self.show_table(item.data(Qt.ItemDataRole.UserRole))

    def show_table(self, name: str) -> None:
        """Show the differing rows of table `name` (as many as the comparison kept)."""
        if self.report is None:
            return
        sample = self.report.samples.get(name)
        self.model.show_sample(sample)
        self.rows.resizeColumnsToContents()
        if sample is None:
            self.rows_status.setText(html.escape(f"{name}: no rows differ; its definition does."))
            return
        how = f"matched by key ({', '.join(sample.key)})" if sample.key else "no primary key: rows compared as a whole"
        shown = (f"all {counted(sample.total, 'differing row')}" if sample.complete else
                 f"the first {SHOWN_ROWS:,} of each kind, {len(sample.rows):,} of {sample.total:,} differing rows")
        self.rows_status.setText(html.escape(f"{name} ({how}): {shown}; changed values are highlighted."))
