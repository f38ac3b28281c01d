"""The backup browser's recovery sets (#18): one row per set with its members and state; a damaged set is shown as
damaged (what is wrong with it) and is never offered for restore."""

from __future__ import annotations

from collections.abc import Sequence, Set

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QVBoxLayout, QWidget

from recovery_console.engine.sets.set_catalog import DAMAGED, SetRecord
from recovery_console.formatting import format_bytes
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.labels import pane_title
from recovery_console.ui.widgets.status import FAIL_COLOR, colored, status_color
from recovery_console.ui.widgets.table_items import table_item
from recovery_console.ui.widgets.times import local_time

COLUMNS = ("Created", "Set", "Profile", "Members", "Size", "State", "Target")


def state_text(record: SetRecord, pinned: bool = False) -> str:
    held = " · PINNED" if pinned else ""
    if record.state == DAMAGED:
        return f"DAMAGED: {'; '.join(record.problems)}{held}"
    verdict = {"ok": "verified", None: ""}.get(record.verify_result, f"verify {record.verify_result}")
    return f"{record.state}" + (f", {verdict} {local_time(record.verified_at)}" if verdict else "") + held


def set_text(record: SetRecord) -> str:
    """The set's short id, and its name when the set has one (names repeat: each night's set of one name)."""
    name = record.manifest.description if record.manifest else ""
    return f"{record.short_id} · {name}" if name else record.short_id


def members_text(record: SetRecord) -> str:
    if record.manifest is None:
        count = len(record.member_files or ())
        return f"{count} member{'' if count == 1 else 's'}"
    return ", ".join(f"{m.name} ({m.kind})" for m in record.manifest.members)


class SetList(QWidget):
    """The sets the targets hold, newest first; `restore_requested` on a double click of a complete set."""

    selection_changed = Signal()
    restore_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[SetRecord] = []
        self._target: str | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Recovery sets")
        self.table.setAccessibleDescription("Recovery sets: several databases and folders backed up together.")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Members"), QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COLUMNS.index("Members"), 260)  # never squeezed to nothing; whole in its tooltip
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected)
        self.table.doubleClicked.connect(lambda _index: self._activated())
        self.status = wrap_label("", "Recovery set status", rich=True)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 4, 0, 0)
        box.addWidget(pane_title("Recovery &sets", self.table))
        box.addWidget(self.table)
        box.addWidget(self.status)
        self.shown = 0  # the sets listed on the target shown (all: every target)
        self.setVisible(False)

    def show_sets(self, records: Sequence[SetRecord], pinned: Set[tuple[str, str]] = frozenset()) -> None:
        """Replace the rows, keeping the selected set selected; hidden while there is no set. `pinned`: the
        (target, folder) of each set on legal hold."""
        current = self.selected_set()
        self.records = list(records)
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self.records))
        for row, record in enumerate(self.records):
            values = (local_time(record.created) or "?", set_text(record),
                      record.manifest.profile if record.manifest else "", members_text(record),
                      format_bytes(record.size), state_text(record, (record.target, record.folder) in pinned),
                      record.target)
            for column, value in enumerate(values):
                item = table_item(value, record if column == 0 else None)
                if COLUMNS[column] in ("Members", "State"):
                    item.setToolTip(value)
                if record.state == DAMAGED:
                    item.setForeground(QBrush(QColor(status_color(FAIL_COLOR))))
                    item.setToolTip(f"Set {record.short_id} is damaged: it is never restored.")
                self.table.setItem(row, column, item)
            if current is not None and (record.target, record.folder) == (current.target, current.folder):
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.table.resizeRowsToContents()
        self._filter()
        self._selected()

    def set_target(self, target: str | None) -> None:
        """Show only the sets on `target` (None: every target)."""
        self._target = target
        self._filter()

    def _filter(self) -> None:
        shown = 0
        for row, record in enumerate(self.records):
            hide = self._target is not None and record.target != self._target
            self.table.setRowHidden(row, hide)
            shown += not hide
        self.shown = shown
        self.table.setFixedHeight(min(6, max(shown, 1)) * (self.table.verticalHeader().defaultSectionSize())
                                  + self.table.horizontalHeader().height()
                                  + self.table.horizontalScrollBar().sizeHint().height() + 4)
        self.setVisible(shown > 0)

    def selected_set(self) -> SetRecord | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return data if isinstance(data, SetRecord) else None

    def clear_selection(self) -> None:
        self.table.clearSelection()

    def _selected(self) -> None:
        chosen = self.selected_set()
        if chosen is not None and chosen.state == DAMAGED:
            self.status.setText(colored(f"✘ Set {chosen.short_id} is damaged ({'; '.join(chosen.problems)}): it is "
                                        "never restored. Restore from another set; a right click verifies or deletes "
                                        "it.", FAIL_COLOR, True))
        elif chosen is not None:
            self.status.setText("Restore… (or a double click) restores the members you choose; a right click "
                                "offers verify, pin, copy, download and delete.")
        else:
            self.status.setText("")
        self.status.setVisible(bool(self.status.text()))
        self.selection_changed.emit()

    def _activated(self) -> None:
        chosen = self.selected_set()
        if chosen is not None and chosen.state != DAMAGED:
            self.restore_requested.emit(chosen)
