"""The restore history's recovery-set part (#18): each restore of a set through the profile, what each member kept,
and whether it was rolled back; the dialog's "Roll back whole set…" acts on the selected one. Hidden while the
profile has no set restore."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.sets.set_restores import DATABASE, ROLLED_BACK, KeptMember, SetRestore
from recovery_console.engine.sets.set_rollback import SetRollback
from recovery_console.ui.theme import icon
from recovery_console.ui.widgets.labels import pane_title
from recovery_console.ui.widgets.table_items import table_item
from recovery_console.ui.widgets.times import local_time, utc_hover

COLUMNS = ["Time", "Set", "State", "Members and what each kept"]


def short_set(set_id: str) -> str:
    """A set as the set list names it: the first 8 hex digits of its id."""
    return set_id.replace("-", "")[:8]


def member_text(member: KeptMember) -> str:
    kept = f"database {member.database} kept as {member.kept}" if member.kind == DATABASE else (
        f"folder {member.folder} kept as {member.kept}")
    return f"{member.name}: {kept}" + (" (rolled back)" if member.state == ROLLED_BACK else "")


def rollback_text(done: SetRollback, restore: SetRestore) -> str:
    """What a whole-set rollback did, and what is left to do: the restored states it set aside are kept."""
    kinds = {m.name: m.kind for m in restore.members}
    aside = {DATABASE: "the restored database kept as"}
    parts = [f"{name} ({aside.get(kinds.get(name, ''), 'the restored folder set aside as')} {done.set_aside[name]})"
             for name in done.rolled_back]
    lines = [f"✔ Set {short_set(done.set_id)} is back as it was before its restore."]
    if parts:
        lines.append("Rolled back now: " + "; ".join(parts) + ".")
    if done.already:
        lines.append("Rolled back already (left as they were): " + ", ".join(done.already) + ".")
    if done.rolled_back:
        lines.append("The restored states are kept, not deleted: drop a set-aside database from this list, and "
                     "remove a set-aside folder yourself, once you no longer need them.")
    return "\n".join(lines)


class SetRestoresPanel(QWidget):
    """The profile's set restores, newest first, and the "Roll back whole set…" button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.restores: list[SetRestore] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Recovery set restores")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(170)
        self.rollback_button = QPushButton(icon("restore"), "Roll back whole &set…")
        self.rollback_button.setAccessibleName("Roll back every member of the selected set restore")
        self.rollback_button.setToolTip("Every member this set restore replaced gets its previous state back, in one "
                                        "step; the restored states are kept beside them.")
        row = QHBoxLayout()
        row.addWidget(pane_title("Recovery set restores", self.table))
        row.addStretch(1)
        row.addWidget(self.rollback_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.table)
        self.setVisible(False)

    def show_restores(self, restores: list[SetRestore], select: str | None = None) -> None:
        self.restores = restores
        self.table.setRowCount(len(restores))
        for index, found in enumerate(restores):
            when = table_item(local_time(found.time), found.id)
            when.setToolTip(utc_hover(found.time))
            set_item = table_item(short_set(found.set_id))
            set_item.setToolTip(found.set_id)
            members = table_item("\n".join(member_text(m) for m in found.members))
            for column, item in enumerate((when, set_item, table_item(found.state), members)):
                self.table.setItem(index, column, item)
            if select == found.id:
                self.table.selectRow(index)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        if restores and not self.table.selectionModel().selectedRows():
            self.table.selectRow(0)
        self.setVisible(bool(restores))

    def selected(self) -> SetRestore | None:
        rows = self.table.selectionModel().selectedRows()
        return self.restores[rows[0].row()] if rows and rows[0].row() < len(self.restores) else None
