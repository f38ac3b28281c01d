"""A table view's model over the engine's compressed row pages: rows appear as pages arrive, decoded only when shown."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from recovery_console.engine.forensics.row_pages import RowPages

SHOWN_CHARS = 300
DECODED_ROWS = 1024
NULL_TEXT = "NULL"
NULL_COLOR = QColor("#6b6b6b")

Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    """The rows of one table; `grow()` shows the rows the reading job has made readable so far."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: RowPages | None = None
        self._rows = 0
        self._decoded: OrderedDict[int, list[str | None]] = OrderedDict()
        self._null_font = QFont()
        self._null_font.setItalic(True)

    def show_pages(self, pages: RowPages | None) -> None:
        """Start over on another table's pages (None: empty)."""
        self.beginResetModel()
        self.pages = pages
        self._rows = 0
        self._decoded.clear()
        self.endResetModel()
        self.grow()

    def grow(self) -> None:
        """Add the rows that became readable since the last call."""
        if self.pages is None:
            return
        count = self.pages.count
        if count > self._rows:
            self.beginInsertRows(QModelIndex(), self._rows, count - 1)
            self._rows = count
            self.endInsertRows()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() or self.pages is None else len(self.pages.columns)

    def row(self, index: int) -> list[str | None]:
        """Row `index`'s values, decoded once while it stays among the recently shown rows."""
        values = self._decoded.get(index)
        if values is None:
            assert self.pages is not None
            values = self.pages.row(index)
            self._decoded[index] = values
            if len(self._decoded) > DECODED_ROWS:
                self._decoded.popitem(last=False)
        return values

    def value(self, row: int, column: int) -> str | None:
        values = self.row(row)
        return values[column] if column < len(values) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or self.pages is None:
            return None
        value = self.value(index.row(), index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if value is None:
                return NULL_TEXT
            line = value.replace("\n", "⏎").replace("\t", "⇥")
            return line if len(line) <= SHOWN_CHARS else line[:SHOWN_CHARS] + "…"
        if role == Qt.ItemDataRole.ToolTipRole:
            if value is None:
                return "NULL (no value)"
            long = 4 * SHOWN_CHARS
            return value if len(value) <= long else value[:long] + f"… ({len(value):,} characters)"
        if value is None and role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(NULL_COLOR)
        if value is None and role == Qt.ItemDataRole.FontRole:
            return self._null_font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role != Qt.ItemDataRole.DisplayRole or self.pages is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.pages.columns[section] if section < len(self.pages.columns) else None
        return f"{section + 1:,}"
