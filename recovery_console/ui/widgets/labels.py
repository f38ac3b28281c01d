"""Labels the panes share: a pane title, a selectable value, and a one-line value elided to fit."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QGuiApplication, QKeySequence, QResizeEvent
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


class ElidedLabel(QLabel):
    """One line, elided in the middle to fit; the whole value is in the tooltip and copied by Ctrl+C / the menu."""

    def __init__(self, name: str, monospace: bool = False) -> None:
        super().__init__("")
        self._full = ""
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

    def setText(self, text: str) -> None:  # Qt override: keep the whole value, show what fits
        self._full = text
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self._elide()

    def text(self) -> str:  # the whole value, not what fits on screen
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width(), 40)
        QLabel.setText(self, self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, width))
