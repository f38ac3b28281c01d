"""The translucent cover the main window shows while a restore runs."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QShowEvent, QWheelEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


class BlockingOverlay(QWidget):
    """A translucent cover over `covered` that swallows input while a restore runs."""

    def __init__(self, covered: QWidget) -> None:
        super().__init__(covered)
        self.covered = covered
        self.setObjectName("blockingOverlay")
        self.setAccessibleName("Window blocked")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.label = QLabel("", self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setFixedWidth(480)
        self.label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Minimum)
        self.label.setAccessibleName("Why the window is blocked")
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.label, 0, Qt.AlignmentFlag.AlignCenter)
        box.addStretch(1)
        covered.installEventFilter(self)
        self.hide()

    def set_text(self, text: str) -> None:
        self.label.setText(text or "A restore is running…")
        self.setAccessibleDescription(self.label.text())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.covered and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.covered.rect())
        return False

    def showEvent(self, event: QShowEvent) -> None:
        self.setGeometry(self.covered.rect())
        self.raise_()
        super().showEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(90, 100, 115, 120))
        painter.end()

    # Everything aimed at the covered widgets stops here.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        event.accept()
