"""The Tables page's comparison: pick a second backup or dump and see, per table, what differs from this one.

The engine's workbench compares the two (each read once, forward; a backup decrypted in memory and
proven whole) and writes the audit entry; this panel only picks the file and shows the counts.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.errors import Cancelled, RecoveryError
from recovery_console.formatting import counted
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import PASS_COLOR, WARN_COLOR, colored

if TYPE_CHECKING:
    from recovery_console.engine.forensics.diff import DiffReport, TableDiff
    from recovery_console.ui.wizards.extract_tables_page import TablesPage

HEADERS = ("Table", "Only in this backup", "Only in the other", "Changed", "Notes")


def _notes(table: TableDiff) -> str:
    if not table.in_b:
        return "only in this backup"
    if not table.in_a:
        return "only in the other"
    notes = [f"matched by key ({', '.join(table.key)})" if table.key else "no primary key: rows compared as a whole"]
    if table.columns_only_a:
        notes.append(f"columns only here: {', '.join(table.columns_only_a)}")
    if table.columns_only_b:
        notes.append(f"columns only in the other: {', '.join(table.columns_only_b)}")
    notes += [f"{name} is {type_a} here, {type_b} there" for name, type_a, type_b in table.retyped]
    return "; ".join(notes)


class ComparePanel(QWidget):
    """A button to compare this backup with another, and the per-table counts of the last comparison."""

    def __init__(self, page: TablesPage) -> None:
        super().__init__()
        self.page = page
        self.report: DiffReport | None = None
        self.button = QPushButton("Co&mpare with another backup…")
        self.button.setAccessibleName("Compare with another backup")
        self.button.clicked.connect(self._clicked)
        self.summary = wrap_label("", "Comparison result", rich=True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setAccessibleName("Differences per table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)
        self.table.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)

    def _clicked(self) -> None:
        folder = self.page.wiz.source_path().parent
        path, _ = QFileDialog.getOpenFileName(self, "Compare with", str(folder),
                                              "Backups and dumps (*.enc *.dump *.backup);;All files (*)")
        if path:
            self.compare_with(Path(path))

    def compare_with(self, other: Path) -> None:
        """Compare the wizard's backup (A) with `other` (B), after whatever the page is doing now."""
        previous = self.page.task
        self.page.task = self.page.wiz.start(self._compare(previous, other))

    async def _compare(self, previous: asyncio.Task[None] | None, other: Path) -> None:
        bench = Workbench(self.page.wiz.console)
        path = str(self.page.wiz.source_path())
        secret = self.page.wiz.secret_page.secret or ""
        self.page._begin(f"Comparing with {other.name}…")
        self.report = None
        self.table.setRowCount(0)
        self.summary.setText("")
        try:
            if previous is not None:
                await asyncio.wait([previous])
            report = await self.page.wiz.run(
                "Comparing the backups",
                lambda r: bench.diff(bench.locate(path), bench.locate(str(other)), lambda: secret, reporter=r),
                panel=self.page.panel)
            self.show_report(report, other.name)
            self.page.status.setText(html.escape("Both files were read to their end; the comparison is in the "
                                                 "audit log."))
        except Cancelled:
            self.summary.setText(colored("Comparison cancelled.", WARN_COLOR, True))
        except RecoveryError as exc:
            self.page._failed("Compare", "The backups could not be compared: ", exc)
        finally:
            self.page._end()

    def show_report(self, report: DiffReport, other: str) -> None:
        self.report = report
        differing = [table for table in report.tables if table.differs]
        self.table.setRowCount(len(differing))
        for index, table in enumerate(differing):
            cells = (table.table, f"{table.only_a:,}", f"{table.only_b:,}", f"{table.changed:,}", _notes(table))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column in (1, 2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(index, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setVisible(bool(differing))
        text = (f"Compared with {other}: {counted(len(report.schema), 'schema difference')}, "
                f"{len(differing)} of {counted(len(report.tables), 'table')} differ.")
        color = PASS_COLOR if not differing and not report.schema else WARN_COLOR
        self.summary.setText(colored(text, color, True))

    def set_enabled(self, enabled: bool) -> None:
        self.button.setEnabled(enabled)
