"""A target's quota as a number and a unit, shared by the setup wizard and the target dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout

from recovery_console.ui.widgets.form_labels import buddy_label

QUOTA_UNITS = (("GiB", 1 << 30), ("TiB", 1 << 40), ("MiB", 1 << 20))


class QuotaField:
    """A spin box (0 = no quota) and its unit, laid out as one labelled form row."""

    def __init__(self) -> None:
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0, 1_000_000)
        self.spin.setDecimals(1)
        self.spin.setSpecialValueText("No quota")
        self.unit = QComboBox()
        for unit, _ in QUOTA_UNITS:
            self.unit.addItem(unit)
        self.unit.setAccessibleName("Quota unit")
        row = QHBoxLayout()
        row.addWidget(self.spin, 1)
        row.addWidget(self.unit)
        self.form = QFormLayout()
        self.form.addRow(buddy_label("&Quota:", self.spin, "Quota: refuse backups beyond this size"), row)

    def value(self) -> int | None:
        """The quota in bytes; None for no quota."""
        value = self.spin.value()
        return int(value * dict(QUOTA_UNITS)[self.unit.currentText()]) if value > 0 else None

    def set_value(self, quota: int | None) -> None:
        """Show `quota` bytes in the largest unit that divides it evenly."""
        if not quota:
            self.spin.setValue(0)
            return
        unit, size = next(((u, s) for u, s in sorted(QUOTA_UNITS, key=lambda u: -u[1]) if quota % s == 0),
                          ("MiB", 1 << 20))
        self.unit.setCurrentText(unit)
        self.spin.setValue(quota / size)
