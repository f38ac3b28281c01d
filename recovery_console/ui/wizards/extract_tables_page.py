"""The extraction wizard's Tables page: every table of the backup with its rows, and export of the chosen one.

Listing reads the whole backup once (decrypted in memory, proven whole at its end); exporting reads
it up to the chosen table's data and writes the file whole or not at all. Both run off the GUI
thread with progress and cancel; the engine's workbench does the work and writes the audit entries.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from recovery_console.engine.forensics.row_formats import SUFFIXES
from recovery_console.engine.forensics.workbench import ExportedTable, TablesReport, TableStats, Workbench
from recovery_console.errors import Cancelled, RecoveryError, WrongKeyError
from recovery_console.formatting import format_bytes
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored
from recovery_console.ui.wizards.extract_compare import ComparePanel
from recovery_console.ui.wizards.extract_pages import WRONG_SECRET_HINT
from recovery_console.ui.workbench.window import WorkbenchWindow

if TYPE_CHECKING:
    from recovery_console.ui.wizards.extract import ExtractWizard

FORMAT_CHOICES = (("CSV with a header row", "csv"), ("JSON lines (one object per row)", "jsonl"),
                  ("COPY text (as pg_restore sends it)", "copy"))
HEADERS = ("Table", "Rows", "Data", "Columns")


class TablesPage(QWizardPage):
    """Every table of the backup (rows, size, columns), read without a server; export the selected one."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Tables")
        self.setSubTitle("Every table in the backup, read straight from it: no PostgreSQL server is needed.")
        self.task: asyncio.Task[None] | None = None
        self.running = False
        self.report: TablesReport | None = None
        self.exported: ExportedTable | None = None
        self.panel = ProgressPanel()
        self.status = wrap_label("", "Tables status", rich=True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setAccessibleName("Tables in the backup")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setTabKeyNavigation(False)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Export format")
        for label, name in FORMAT_CHOICES:
            self.format_combo.addItem(label, name)
        self.export_button = QPushButton("&Export the selected table…")
        self.export_button.setAccessibleName("Export the selected table")
        self.export_button.clicked.connect(self._export_clicked)
        self.sha_edit = QLineEdit()
        self.sha_edit.setReadOnly(True)
        self.sha_edit.setAccessibleName("SHA-256 of the exported file")
        self.exported_label = wrap_label("", "Export result", rich=True)
        self.workbench_button = QPushButton("Open in the &workbench…")
        self.workbench_button.setAccessibleName("Open the backup in the workbench to read rows and search")
        self.workbench_button.clicked.connect(self.open_workbench)
        self.workbench: WorkbenchWindow | None = None
        row = QHBoxLayout()
        row.addWidget(buddy_label("&Format:", self.format_combo, "Export format"))
        row.addWidget(self.format_combo, 1)
        row.addWidget(self.export_button)
        row.addWidget(self.workbench_button)
        sha_row = QHBoxLayout()
        sha_row.addWidget(buddy_label("SHA-2&56:", self.sha_edit, "SHA-256 of the exported file"))
        sha_row.addWidget(self.sha_edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.exported_label)
        layout.addLayout(sha_row)
        self.compare = ComparePanel(self)
        layout.addWidget(self.compare, 1)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    # -- listing ---------------------------------------------------------------------------------

    def initializePage(self) -> None:
        previous = self.task
        self.task = self.wiz.start(self._list(previous))

    def cleanupPage(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _list(self, previous: asyncio.Task[None] | None) -> None:
        """Read the backup once and show its tables."""
        bench = Workbench(self.wiz.console)
        path = str(self.wiz.source_path())
        secret = self.wiz.secret_page.secret or ""
        self._begin("Reading the backup's tables…")
        self.report = None
        self.table.setRowCount(0)
        try:
            if previous is not None:
                await asyncio.wait([previous])
            report = await self.wiz.run("Reading the tables",
                                        lambda r: bench.tables(bench.locate(path), lambda: secret, r),
                                        panel=self.panel)
            self.wiz.confirm_source(report.metadata)
            self.show_report(report)
        except Cancelled:
            self.status.setText(colored("Cancelled.", WARN_COLOR, True))
        except RecoveryError as exc:
            self._failed("Tables", "The tables could not be read: ", exc)
        finally:
            self._end()

    def show_report(self, report: TablesReport) -> None:
        self.report = report
        self.table.setRowCount(len(report.tables))
        for index, stats in enumerate(report.tables):
            self._fill_row(index, stats)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        with_data = sum(1 for s in report.tables if s.has_data)
        self.status.setText(html.escape(f"{len(report.tables)} tables, {with_data} with data in this backup. "
                                        "Select one to export it."))
        if report.tables:
            self.table.selectRow(0)

    def _fill_row(self, index: int, stats: TableStats) -> None:
        columns = ", ".join(f"{c.name} {c.type}".strip() for c in stats.table.columns)
        cells = (stats.table.qualified, f"{stats.rows:,}" if stats.has_data else "no data",
                 format_bytes(stats.text_bytes) if stats.has_data else "—", columns)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if column in (1, 2):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(index, column, item)

    # -- export ----------------------------------------------------------------------------------

    def selected(self) -> TableStats | None:
        rows = self.table.selectionModel().selectedRows()
        if self.report is None or not rows:
            return None
        return self.report.tables[rows[0].row()]

    def _export_clicked(self) -> None:
        stats = self.selected()
        if stats is None:
            return
        fmt = str(self.format_combo.currentData())
        folder = self.wiz.source_path().parent
        default = folder / (stats.table.qualified.replace("/", "_") + SUFFIXES[fmt])
        path, _ = QFileDialog.getSaveFileName(self, "Export the table as", str(default), "All files (*)")
        if path:
            self.export_to(stats, Path(path), fmt)

    def export_to(self, stats: TableStats, out: Path, fmt: str) -> None:
        """Export one table to `out` (replacing a file the user agreed to replace in the save dialog)."""
        previous = self.task
        self.task = self.wiz.start(self._export(previous, stats, out, fmt))

    async def _export(self, previous: asyncio.Task[None] | None, stats: TableStats, out: Path, fmt: str) -> None:
        bench = Workbench(self.wiz.console)
        path = str(self.wiz.source_path())
        secret = self.wiz.secret_page.secret or ""
        self._begin(f"Exporting {stats.table.qualified}…")
        self.exported = None
        self.sha_edit.clear()
        self.exported_label.setText("")
        try:
            if previous is not None:
                await asyncio.wait([previous])
            result = await self.wiz.run(
                "Exporting the table",
                lambda r: bench.export(bench.locate(path), lambda: secret, stats.table.qualified, fmt, out=out,
                                       overwrite=True, reporter=r), panel=self.panel)
            self.exported = result
            self.sha_edit.setText(result.sha256)
            self.exported_label.setText(colored(
                f"✔ {result.rows:,} rows of {result.table} written to {out} ({format_bytes(result.size)}).",
                PASS_COLOR, True))
            self.status.setText(html.escape("The file is readable only by you; its SHA-256 is in the audit log."))
        except Cancelled:
            self.exported_label.setText(colored("Cancelled; nothing was written.", WARN_COLOR, True))
        except RecoveryError as exc:
            self._failed("Export", "Nothing was written: ", exc)
        finally:
            self._end()

    # -- workbench -------------------------------------------------------------------------------

    def open_workbench(self) -> None:
        """The backup's rows and search in a window of their own, which stays open after the wizard closes."""
        if self.report is None:
            return
        if self.workbench is not None and self.workbench.isVisible():
            self.workbench.raise_()
            self.workbench.activateWindow()
            return
        self.workbench = WorkbenchWindow(self.wiz.console, str(self.wiz.source_path()),
                                         self.wiz.secret_page.secret or "", self.report)
        self.workbench.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.workbench.destroyed.connect(self._workbench_closed)
        selected = self.selected()
        self.workbench.show()
        if selected is not None:
            self.workbench.tables.selectRow(self.report.tables.index(selected))

    def _workbench_closed(self) -> None:
        self.workbench = None

    # -- state -----------------------------------------------------------------------------------

    def _begin(self, text: str) -> None:
        self.running = True
        self.panel.setVisible(True)
        self.status.setText(html.escape(text))
        self._update_buttons()
        self.completeChanged.emit()

    def _end(self) -> None:
        self.running = False
        self.panel.setVisible(False)
        self._update_buttons()
        self.completeChanged.emit()

    def _failed(self, title: str, prefix: str, exc: RecoveryError) -> None:
        if isinstance(exc, WrongKeyError):
            exc = WrongKeyError(exc.message, hint=WRONG_SECRET_HINT, detail=exc.detail)
        self.status.setText(colored("✘ " + prefix + exc.message, FAIL_COLOR, True))
        self.wiz.show_error(title, exc)

    def _update_buttons(self) -> None:
        stats = self.selected()
        self.export_button.setEnabled(not self.running and stats is not None and stats.has_data)
        self.workbench_button.setEnabled(not self.running and self.report is not None)
        self.format_combo.setEnabled(not self.running)
        self.compare.set_enabled(not self.running and self.report is not None)

    def isComplete(self) -> bool:
        return not self.running

    def nextId(self) -> int:
        if self.wiz.file_page.is_set():
            return -1
        return self.wiz.DECRYPT if self.wiz.metadata_page.decrypt_check.isChecked() else -1
