"""Read-only table cells: text (carrying an optional value) and right-aligned numbers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem


def table_item(text: str, data: Any = None) -> QTableWidgetItem:
    """A read-only cell showing `text`; `data` (if given) is kept in its UserRole."""
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


def number_item(value: int | None) -> QTableWidgetItem:
    """A read-only, right-aligned count with thousands separators ("—" when unknown)."""
    item = table_item("—" if value is None else f"{value:,}")
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
