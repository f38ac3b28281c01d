"""The one error style: what happened, what to do next, technical details folded away."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from recovery_console.errors import RecoveryError


def error_box(parent: QWidget | None, title: str, error: RecoveryError) -> QMessageBox:
    """Build (not show) the dialog, so tests can inspect it and callers can exec() it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(error.message)
    box.setInformativeText(f"What to do next: {error.hint}" if error.hint else "")
    if error.detail:
        box.setDetailedText(error.detail)
    box.setAccessibleName(f"{title}: error")
    box.setAccessibleDescription(error.message)
    return box


def show_error(parent: QWidget | None, title: str, error: RecoveryError) -> None:
    error_box(parent, title, error).exec()
