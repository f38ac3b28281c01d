"""PASS / WARN / FAIL in the same colours everywhere: as rich text, and in check lists."""

from __future__ import annotations

import html

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

PASS_COLOR = "#1b7f3b"
WARN_COLOR = "#a15c00"
FAIL_COLOR = "#b3261e"


def status_color(status: str) -> str:
    """The colour of "pass", "warn" or anything else (a failure)."""
    return {"pass": PASS_COLOR, "warn": WARN_COLOR}.get(status, FAIL_COLOR)


def colored(text: str, color: str, bold: bool = False) -> str:
    """`text`, escaped, as rich text in `color`."""
    weight = "font-weight:600;" if bold else ""
    return f'<span style="color:{color};{weight}">{html.escape(text)}</span>'


def check_tree(columns: list[str], name: str) -> QTreeWidget:
    """A read-only list of checks, one row each, its columns sized to their content."""
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
    """Show `status` in `column` of a check list's row as a bold, coloured word."""
    item.setText(column, status.upper())
    item.setForeground(column, QBrush(QColor(status_color(status))))
    font = QFont(item.font(column))
    font.setBold(True)
    item.setFont(column, font)
