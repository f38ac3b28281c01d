"""A newly generated instance secret, shown once: its numbered groups, its QR code, and its escrow sheet."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.escrow_sheet import EscrowSheet, qr_png, write_sheet_html
from recovery_console.errors import RecoveryError
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.widgets.form_labels import wrap_label

GROUPS_PER_ROW = 5


class EscrowSheetDialog(QDialog):
    """The secret as 13 numbered groups and a QR code; 'Save escrow sheet…' writes it as HTML or PDF to print."""

    def __init__(self, sheet: EscrowSheet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sheet = sheet
        self.saved_to: Path | None = None
        self.error: QMessageBox | None = None
        self.setWindowTitle("New instance secret")
        self.setAccessibleName("New instance secret")
        intro = wrap_label(
            "Write this secret down, or save the escrow sheet and print it, and keep it locked away. Every backup "
            "of this profile needs it; it is shown only now. The last character of each group is a check, so a "
            "mistyped group is caught when the secret is typed back.", "About the new secret")
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(mono.pointSizeF() * 1.5)
        mono.setBold(True)
        self.group_labels: list[QLabel] = []
        for index, group in enumerate(sheet.groups):
            number = QLabel(str(index + 1))
            number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label = QLabel(group)
            label.setFont(mono)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName(f"Group {index + 1}")
            row, column = divmod(index, GROUPS_PER_ROW)
            grid.addWidget(number, row, 2 * column)
            grid.addWidget(label, row, 2 * column + 1)
            self.group_labels.append(label)
        self.qr_label = QLabel()
        self.qr_label.setPixmap(QPixmap.fromImage(QImage.fromData(qr_png(sheet.secret, scale=4))))
        self.qr_label.setAccessibleName("The secret as a QR code")
        body = QHBoxLayout()
        body.addLayout(grid, 1)
        body.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignTop)
        self.opens_label = wrap_label(f"Opens: {sheet.opens}", "What the secret opens")
        self.status_label = wrap_label("", "Escrow sheet status")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.save_button = self.buttons.addButton("&Save escrow sheet…", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button.setAccessibleName("Save the escrow sheet")
        self.save_button.clicked.connect(self.choose_file)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(body)
        layout.addWidget(self.opens_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

    def choose_file(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save escrow sheet", f"escrow-{self.sheet.keyring_name}.pdf",
                                              "PDF (*.pdf);;Web page (*.html)")
        if name:
            self.save_to(Path(name), overwrite=True)

    def save_to(self, path: Path, *, overwrite: bool = False) -> bool:
        """Write the sheet as PDF (by the .pdf suffix) or HTML; a small file, written on the GUI thread."""
        try:
            if path.suffix.lower() == ".pdf":
                from recovery_console.ui.escrow_pdf import write_sheet_pdf

                write_sheet_pdf(self.sheet, path, overwrite=overwrite)
            else:
                write_sheet_html(self.sheet, path, overwrite=overwrite)
        except RecoveryError as exc:
            self.error = error_box(self, "Saving the escrow sheet", exc)
            self.error.open()
            return False
        self.saved_to = path
        self.status_label.setText(f"Saved to {path}. Print it, lock it away, then delete the file.")
        return True
