"""A value that wraps at any character (hashes, ids, file names) instead of being cut, and copies whole."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QSizePolicy

BREAK = "\u200b"  # zero-width space: a place a line may break, invisible when it does not


def breakable(text: str, every: int = 8, longer_than: int = 16) -> str:
    """`text` with a break opportunity every `every` characters inside runs too long to wrap at spaces."""
    return re.sub(rf"\S{{{longer_than + 1},}}",
                  lambda m: BREAK.join(m.group(0)[i:i + every] for i in range(0, len(m.group(0)), every)), text)


class WrappingLabel(QLabel):
    """Wraps onto as many lines as it needs; Ctrl+C and the context menu copy the value without break marks."""

    def __init__(self, name: str, monospace: bool = False) -> None:
        super().__init__("")
        self._full = ""
        self.setWordWrap(True)
        self.setAccessibleName(name)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        if monospace:
            font = QFont("monospace")
            font.setStyleHint(QFont.StyleHint.Monospace)
            self.setFont(font)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        copy = QAction("&Copy", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(lambda _checked=False: QGuiApplication.clipboard().setText(self._full))
        self.addAction(copy)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    def setText(self, text: str) -> None:  # Qt override: keep the value, show it breakable
        self._full = text
        self.setAccessibleDescription(text)
        QLabel.setText(self, breakable(text))

    def text(self) -> str:  # the value itself, without break marks
        return self._full
