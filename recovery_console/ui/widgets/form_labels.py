"""Labels for forms: a mnemonic label that names its field for screen readers, and a wrapping text label."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


def buddy_label(text: str, buddy: QWidget, accessible: str | None = None) -> QLabel:
    """A form label with a mnemonic that focuses `buddy`; the buddy gets the label as accessible name."""
    label = QLabel(text)
    label.setBuddy(buddy)
    if not buddy.accessibleName():
        buddy.setAccessibleName(accessible or text.replace("&", "").rstrip(":"))
    return label


def wrap_label(text: str = "", name: str | None = None, rich: bool = False) -> QLabel:
    """A selectable, word-wrapping label (plain text unless `rich`), with `name` as accessible name."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setAccessibleName(name)
    return label
