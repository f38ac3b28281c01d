"""The Policy page of the profile editor: schedule, time zone, retention, free-space minimum, copies, RPO.

The widgets only gather values; the policy model (models/policy.py) validates them, and its one-line
summary is shown live under the fields (or what is wrong, in its own words).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import replace

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QTimeEdit,
    QWidget,
)

from recovery_console.errors import RecoveryError
from recovery_console.models.policy import WEEKDAYS, Frequency, Policy, Schedule
from recovery_console.models.retention import RetentionRules
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label

FREQUENCY_LABELS = {Frequency.NEVER: "Never (only by hand)", Frequency.HOURLY: "Every hour",
                    Frequency.DAILY: "Every day", Frequency.WEEKLY: "Every week", Frequency.MONTHLY: "Every month"}
RULE_LABELS = (("keep_last", "Keep the &last", "backups"), ("keep_within_days", "Keep all &within", "days"),
               ("keep_daily", "Keep &daily", "days"), ("keep_weekly", "Keep w&eekly", "weeks"),
               ("keep_monthly", "Keep &monthly", "months"))


def _spin(low: int, high: int, value: int, suffix: str = "", off: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    if suffix:
        spin.setSuffix(f" {suffix}")
    if off:
        spin.setSpecialValueText(off)
    return spin


class PolicyForm(QWidget):
    """Edits one policy; `changed` on every edit. `policy()` raises the model's error for invalid values."""

    changed = Signal()

    def __init__(self, policy: Policy | None, targets: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.saved = policy
        start = policy or Policy()
        schedule = start.schedule
        self.enabled_check = QCheckBox("&Run backups on this schedule")
        self.enabled_check.setChecked(start.enabled)
        self.frequency_combo = QComboBox()
        for frequency, label in FREQUENCY_LABELS.items():
            self.frequency_combo.addItem(label, frequency)
        self.frequency_combo.setCurrentIndex(self.frequency_combo.findData(schedule.frequency))
        self.time_edit = QTimeEdit(QTime(schedule.hour, schedule.minute))
        self.time_edit.setDisplayFormat("HH:mm")
        self.minute_spin = _spin(0, 59, schedule.minute, "minutes past the hour")
        self.weekday_combo = QComboBox()
        self.weekday_combo.addItems([day.capitalize() for day in WEEKDAYS])
        self.weekday_combo.setCurrentIndex(schedule.weekday)
        self.day_spin = _spin(1, 31, schedule.day)
        self.zone_combo = QComboBox()
        self.zone_combo.setEditable(True)
        self.zone_combo.addItems(sorted(zoneinfo.available_timezones() | {"UTC"}))
        self.zone_combo.setCurrentText(schedule.timezone)
        self.rule_spins = {name: _spin(0, 100_000, getattr(start.retention, name) or 0, unit, "off")
                           for name, _label, unit in RULE_LABELS}
        self.min_free_spin = _spin(0, 100_000_000, start.min_free_mb, "MB")
        self.rpo_spin = _spin(1, 100_000, start.rpo_hours, "hours")
        self.copies_list = QListWidget()
        self.copies_list.setAccessibleName("Secondary targets to copy each backup to")
        for name in sorted({*targets, *start.secondary_targets}):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in start.secondary_targets else Qt.CheckState.Unchecked)
            self.copies_list.addItem(item)
        self.copies_list.setMaximumHeight(90)
        self.summary_label = wrap_label("", "Policy summary")
        self.summary_label.setObjectName("policySummary")

        form = QFormLayout(self)
        form.addRow(self.enabled_check)
        form.addRow(buddy_label("&Schedule:", self.frequency_combo, "How often backups run"), self.frequency_combo)
        self.time_label = buddy_label("&At:", self.time_edit, "Time of day")
        form.addRow(self.time_label, self.time_edit)
        self.minute_label = buddy_label("&At:", self.minute_spin, "Minute of the hour")
        form.addRow(self.minute_label, self.minute_spin)
        self.weekday_label = buddy_label("On &weekday:", self.weekday_combo, "Weekday")
        form.addRow(self.weekday_label, self.weekday_combo)
        self.day_label = buddy_label("On d&ay:", self.day_spin, "Day of the month")
        form.addRow(self.day_label, self.day_spin)
        form.addRow(buddy_label("Time &zone:", self.zone_combo, "Time zone of the schedule"), self.zone_combo)
        rules = QGridLayout()
        for row, (name, label, _unit) in enumerate(RULE_LABELS):
            rules.addWidget(buddy_label(label + ":", self.rule_spins[name], label.replace("&", "")), row // 2,
                            (row % 2) * 2)
            rules.addWidget(self.rule_spins[name], row // 2, (row % 2) * 2 + 1)
        form.addRow(QLabel("Retention (all off: keep everything):"))
        form.addRow(rules)
        form.addRow(buddy_label("Minimum &free space:", self.min_free_spin, "Minimum free space on the target"),
                    self.min_free_spin)
        form.addRow(buddy_label("&Copy to:", self.copies_list, "Secondary targets"), self.copies_list)
        form.addRow(buddy_label("Recovery-point &objective:", self.rpo_spin, "Recovery-point objective"),
                    self.rpo_spin)
        form.addRow(self.summary_label)

        for signal in (self.enabled_check.toggled, self.frequency_combo.currentIndexChanged,
                       self.time_edit.timeChanged, self.minute_spin.valueChanged,
                       self.weekday_combo.currentIndexChanged, self.day_spin.valueChanged,
                       self.zone_combo.currentTextChanged, self.min_free_spin.valueChanged,
                       self.rpo_spin.valueChanged, self.copies_list.itemChanged,
                       *(spin.valueChanged for spin in self.rule_spins.values())):
            signal.connect(self._edited)
        self._edited()

    @property
    def frequency(self) -> Frequency:
        return Frequency(self.frequency_combo.currentData())

    def policy(self) -> Policy:
        """The policy the fields describe (the model's RecoveryError when they do not make one)."""
        frequency = self.frequency
        time = self.time_edit.time()
        hourly = frequency is Frequency.HOURLY
        schedule = Schedule(frequency, hour=0 if hourly else time.hour(),
                            minute=self.minute_spin.value() if hourly else time.minute(),
                            weekday=self.weekday_combo.currentIndex(), day=self.day_spin.value(),
                            timezone=self.zone_combo.currentText().strip())
        rules = RetentionRules(**{name: spin.value() or None for name, spin in self.rule_spins.items()})
        copies = tuple(self.copies_list.item(i).text() for i in range(self.copies_list.count())
                       if self.copies_list.item(i).checkState() == Qt.CheckState.Checked)
        return Policy(enabled=self.enabled_check.isChecked(), schedule=schedule, retention=rules,
                      min_free_mb=self.min_free_spin.value(), secondary_targets=copies,
                      rpo_hours=self.rpo_spin.value())

    def error(self) -> str | None:
        try:
            self.policy()
        except RecoveryError as exc:
            return exc.message
        return None

    def is_changed(self) -> bool:
        """Whether Save has a policy to store: it differs from the saved one (no policy reads as the default)."""
        try:
            policy = self.policy()
        except RecoveryError:
            return True
        return policy != replace(self.saved or Policy(), since=None)

    def _edited(self) -> None:
        frequency = self.frequency
        for widget, shown in ((self.time_label, frequency in (Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY)),
                              (self.minute_label, frequency is Frequency.HOURLY),
                              (self.weekday_label, frequency is Frequency.WEEKLY),
                              (self.day_label, frequency is Frequency.MONTHLY)):
            widget.setVisible(shown)
            buddy = widget.buddy()
            if buddy is not None:
                buddy.setVisible(shown)
        try:
            self.summary_label.setText(self.policy().summary())
        except RecoveryError as exc:
            self.summary_label.setText(exc.message)
        self.changed.emit()
