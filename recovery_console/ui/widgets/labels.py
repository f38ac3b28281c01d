"""Labels the panes share: a pane title and a selectable value (ui/widgets/wrapping_label.py wraps long ones)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def pane_title(text: str, buddy: QWidget | None = None) -> QLabel:
    """A pane's heading; with a buddy, its mnemonic (&X) moves the focus there."""
    label = QLabel(text)
    label.setObjectName("paneTitle")
    if buddy is not None:
        label.setBuddy(buddy)
    return label


def value_label(name: str) -> QLabel:
    """A wrapped value the user can select and copy; `name` is its accessible name."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    label.setAccessibleName(name)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label
