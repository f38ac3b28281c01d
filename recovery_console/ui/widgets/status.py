"""PASS / WARN / FAIL in the same colours everywhere: as rich text, and in check lists.

The colours follow the application's palette (light or dark, see `theme.STATUS_COLORS`), so
they keep a WCAG AA contrast whichever style is in use.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
)

from recovery_console.ui import theme

# What callers pass to `colored`: the status, turned into its colour for the palette in use.
PASS_COLOR = "pass"
WARN_COLOR = "warn"
FAIL_COLOR = "fail"


def status_color(status: str, palette: QPalette | None = None) -> str:
    """The colour of "pass", "warn" or anything else (a failure) on `palette` (default: the application's)."""
    colors = theme.status_colors(palette if palette is not None else QGuiApplication.palette())
    return colors.get(status, colors["fail"])


def colored(text: str, color: str, bold: bool = False) -> str:
    """`text`, escaped, as rich text in `color`: a status ("pass", "warn", "fail") or any CSS colour."""
    if color in (PASS_COLOR, WARN_COLOR, FAIL_COLOR):
        color = status_color(color)
    weight = "font-weight:600;" if bold else ""
    return f'<span style="color:{color};{weight}">{html.escape(text)}</span>'


class _WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their last column's text wrapped to its width (QTreeView alone sizes them to one line)."""

    def __init__(self, tree: QTreeWidget) -> None:
        super().__init__(tree)
        self._tree = tree

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        if index.column() != self._tree.columnCount() - 1:  # the other columns are sized to their content
            return hint
        item = QStyleOptionViewItem(option)
        self.initStyleOption(item, index)
        width = self._tree.header().sectionSize(index.column()) - 8
        if width <= 0 or not item.text:
            return hint
        text = item.fontMetrics.boundingRect(QRect(0, 0, width, 1_000_000), Qt.TextFlag.TextWordWrap, item.text)
        return QSize(hint.width(), max(hint.height(), text.height() + 4))


def check_tree(columns: list[str], name: str) -> QTreeWidget:
    """A read-only list of checks, one row each: its columns sized to their content, the last one wrapping."""
    tree = QTreeWidget()
    tree.setColumnCount(len(columns))
    tree.setHeaderLabels(columns)
    tree.setRootIsDecorated(False)
    tree.setAlternatingRowColors(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    tree.setAccessibleName(name)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    tree.header().setSectionResizeMode(len(columns) - 1, QHeaderView.ResizeMode.Stretch)
    tree.setWordWrap(True)
    tree.setUniformRowHeights(False)
    tree.setTextElideMode(Qt.TextElideMode.ElideNone)
    tree.setItemDelegate(_WrappingDelegate(tree))
    tree.header().sectionResized.connect(lambda *_: tree.doItemsLayout())
    return tree


def set_status_item(item: QTreeWidgetItem, column: int, status: str) -> None:
    """Show `status` in `column` of a check list's row as a bold, coloured word."""
    item.setText(column, status.upper())
    item.setForeground(column, QBrush(QColor(status_color(status))))
    font = QFont(item.font(column))
    font.setBold(True)
    item.setFont(column, font)
