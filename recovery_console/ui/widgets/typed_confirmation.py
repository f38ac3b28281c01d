"""The question before something is destroyed for good: the thing's name typed out, OK off until it matches."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox, QInputDialog, QWidget


def typed_confirmation(parent: QWidget, title: str, name: str, why: str, ok_text: str) -> QInputDialog:
    """A dialog asking for `name` typed, `why` under it; its OK button (`ok_text`) is enabled only by the exact name."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setLabelText(f"Type the {why}")
    dialog.setOkButtonText(ok_text)
    dialog.setAccessibleName(f"{title}: type its name to confirm")
    buttons = dialog.findChild(QDialogButtonBox)
    if buttons is not None:
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(False)
        dialog.textValueChanged.connect(lambda text: ok.setEnabled(text == name))
    return dialog
