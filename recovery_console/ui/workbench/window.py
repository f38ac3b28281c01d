"""The forensic workbench window: a backup's tables, any table's rows paged lazily, and a search across all of them.

Everything is read straight from the backup (decrypted as a stream, in memory) by engine jobs off the
GUI thread, each with progress and cancel; nothing here changes the backup, and every read is in
the audit log. A table of millions of rows shows its first rows as soon as its data is reached.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.forensics.custody_report import make_report
from recovery_console.engine.forensics.row_formats import SUFFIXES
from recovery_console.engine.forensics.row_pages import RowPages
from recovery_console.engine.forensics.sandbox import SandboxSession
from recovery_console.engine.forensics.workbench import TablesReport, TableStats, Workbench
from recovery_console.engine.progress import Reporter
from recovery_console.errors import Cancelled, RecoveryError
from recovery_console.formatting import counted, format_bytes
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.html_pdf import html_pdf
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, WARN_COLOR, colored
from recovery_console.ui.workbench.diff_panel import SHOWN_ROWS as SHOWN_DIFF_ROWS
from recovery_console.ui.workbench.diff_panel import DiffPanel
from recovery_console.ui.workbench.rows_model import RowsModel
from recovery_console.ui.workbench.sandbox_panel import SHOWN_ROWS, SandboxPanel
from recovery_console.ui.workbench.search_panel import SearchPanel

T = TypeVar("T")
TABLE_HEADERS = ("Table", "Rows")


class WorkbenchWindow(QMainWindow):
    """One backup (or plain archive) opened for reading: its tables, their rows, and search."""

    def __init__(self, console: Console, source: str, secret: str, report: TablesReport,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bench = Workbench(console)
        self.source = source
        self._secret = secret
        self.report = report
        # Its own threads: a sandbox holds one for as long as it runs, and must not take the console's.
        self.runner = JobRunner(QThreadPool(self))
        self.runner.pool.setMaxThreadCount(4)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.error_boxes: list[QMessageBox] = []
        self.browse_task: asyncio.Task[None] | None = None
        self.browsing: TableStats | None = None
        self.pages: RowPages | None = None
        self.pending_row: int | None = None
        self.closing = False
        self.setWindowTitle(f"Workbench — {Path(source).name}")
        self.setAccessibleName("Forensic workbench")
        self.tables = QTableWidget(0, len(TABLE_HEADERS))
        self.tables.setHorizontalHeaderLabels(TABLE_HEADERS)
        self.tables.setAccessibleName("Tables in the backup")
        self.tables.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tables.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tables.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tables.verticalHeader().setVisible(False)
        self.tables.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tables.setTabKeyNavigation(False)
        self.tables.itemSelectionChanged.connect(self._table_chosen)
        self.model = RowsModel()
        self.rows = QTableView()
        self.rows.setModel(self.model)
        self.rows.setAccessibleName("Rows of the table")
        self.rows.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.rows.setWordWrap(False)
        self.rows.verticalHeader().setDefaultSectionSize(self.rows.fontMetrics().height() + 6)
        self.rows.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.rows.horizontalHeader().setDefaultSectionSize(160)
        self.rows.horizontalHeader().setStretchLastSection(True)
        self.rows.setTabKeyNavigation(False)
        self.rows_status = wrap_label("Choose a table on the left to see its rows.", "Rows status", rich=True)
        self.rows_panel = ProgressPanel()
        self.rows_panel.hide()
        rows_tab = QWidget()
        rows_layout = QVBoxLayout(rows_tab)
        rows_layout.addWidget(self.rows_status)
        rows_layout.addWidget(self.rows_panel)
        rows_layout.addWidget(self.rows, 1)
        self.search = SearchPanel()
        self.search.search_requested.connect(self.run_search)
        self.search.hit_opened.connect(self.show_row)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Workbench views")
        self.tabs.addTab(rows_tab, "&Rows")
        self.tabs.addTab(self.search, "&Search")
        self.sandbox = SandboxPanel()
        self.sandbox.start_requested.connect(self.start_sandbox)
        self.sandbox.stop_requested.connect(self.stop_sandbox)
        self.sandbox.query_requested.connect(self.run_query)
        self.tabs.addTab(self.sandbox, "S&QL sandbox")
        self.diff = DiffPanel(Path(source).parent)
        self.diff.diff_requested.connect(self.run_diff)
        self.tabs.addTab(self.diff, "C&ompare")
        self.sandbox_job: Job | None = None
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tables)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([260, 760])
        self.setCentralWidget(splitter)
        self.export_action = QAction("&Export this table…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self._export_clicked)
        self.blobs_action = QAction("Export &large objects…", self)
        self.blobs_action.triggered.connect(self._blobs_clicked)
        self.blobs_action.setEnabled(report.large_objects != 0)  # None: there, but not counted by the TOC
        self.report_action = QAction("Chain-of-custody &report…", self)
        self.report_action.setShortcut(QKeySequence("Ctrl+R"))
        self.report_action.triggered.connect(self._report_clicked)
        self.close_action = QAction("&Close", self)
        self.close_action.setShortcut(QKeySequence.StandardKey.Close)
        self.close_action.triggered.connect(self.close)
        menu = self.menuBar().addMenu("&Workbench")
        menu.addAction(self.export_action)
        menu.addAction(self.blobs_action)
        menu.addAction(self.report_action)
        menu.addSeparator()
        menu.addAction(self.close_action)
        self.grow_timer = QTimer(self)
        self.grow_timer.setInterval(100)
        self.grow_timer.timeout.connect(self._grow)
        where = "a plain pg_dump archive" if report.metadata is None else "a backup, decrypted in memory"
        self.statusBar().showMessage(f"{source} — {where}; read only, every read is in the audit log.")
        self._fill_tables()
        self.resize(1100, 700)

    # -- tables ------------------------------------------------------------------------------------

    def _fill_tables(self) -> None:
        self.tables.setRowCount(len(self.report.tables))
        for index, stats in enumerate(self.report.tables):
            cells = (stats.table.qualified, f"{stats.rows:,}" if stats.has_data else "no data")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                tip = f"{format_bytes(stats.text_bytes)} of data" if stats.has_data else "No rows in this backup."
                item.setToolTip(f"{stats.table.qualified}: {tip}")
                if column == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.tables.setItem(index, column, item)
        self.tables.resizeColumnToContents(1)
        self._update_actions()

    def selected(self) -> TableStats | None:
        rows = self.tables.selectionModel().selectedRows()
        return self.report.tables[rows[0].row()] if rows else None

    def _table_chosen(self) -> None:
        stats = self.selected()
        self._update_actions()
        if stats is not None and stats is not self.browsing:
            self.open_table(stats)

    def open_table(self, stats: TableStats) -> None:
        """Show `stats`'s rows, reading them in the background (the table shown before stops loading)."""
        if self.browse_task is not None:
            self.browse_task.cancel()
        self.browsing = stats
        self.pages = None
        self.model.show_pages(None)
        self.tabs.setCurrentIndex(0)
        if not stats.has_data:
            self.rows_status.setText(html.escape(f"{stats.table.qualified} has no rows in this backup."))
            return
        self.rows_status.setText(html.escape(f"Reading {stats.table.qualified}…"))
        self.browse_task = self._start(self._browse(self.browse_task, stats))

    async def _browse(self, previous: asyncio.Task[None] | None, stats: TableStats) -> None:
        if previous is not None:
            await asyncio.wait([previous])

        def opened(pages: RowPages) -> None:
            self.pages = pages  # read by the GUI thread's timer; the model only shows whole pages

        name = stats.table.qualified
        self.rows_panel.show()
        self.grow_timer.start()
        try:
            await self._run(f"Reading {name}", lambda r: self.bench.browse(
                self.bench.locate(self.source), lambda: self._secret, name, on_rows=opened, reporter=r),
                panel=self.rows_panel)
            self._grow()
            self.rows_status.setText(html.escape(f"{name}: {self.model.rowCount():,} rows."))
        except Cancelled:
            self._grow()
            if self.browsing is stats:
                self.rows_status.setText(colored(f"Stopped after {self.model.rowCount():,} rows of {name}.",
                                                 WARN_COLOR, True))
        except RecoveryError as exc:
            self._grow()
            self.rows_status.setText(colored(f"✘ {name} could not be read completely: {exc.message}", FAIL_COLOR,
                                             True))
            self.show_error("Reading the table", exc)
        finally:
            self.grow_timer.stop()
            self.rows_panel.hide()

    def _grow(self) -> None:
        if self.pages is not None and self.model.pages is not self.pages:
            self.model.show_pages(self.pages)
            self.rows.resizeColumnsToContents()
        self.model.grow()
        if self.browsing is not None and self.grow_timer.isActive():
            expected = f" of {self.browsing.rows:,}" if self.browsing.has_data else ""
            self.rows_status.setText(html.escape(
                f"Reading {self.browsing.table.qualified}: {self.model.rowCount():,}{expected} rows so far…"))
        self._go_to_pending_row()

    def show_row(self, table: str, row: int) -> None:
        """Open `table` and select its 1-based `row` (as soon as it has been read)."""
        for index, stats in enumerate(self.report.tables):
            if stats.table.qualified == table:
                self.pending_row = row - 1
                self.tables.selectRow(index)
                self.tabs.setCurrentIndex(0)
                self._go_to_pending_row()
                return

    def _go_to_pending_row(self) -> None:
        if self.pending_row is not None and self.pending_row < self.model.rowCount():
            index = self.model.index(self.pending_row, 0)
            self.rows.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
            self.rows.selectRow(self.pending_row)
            self.pending_row = None

    # -- search ------------------------------------------------------------------------------------

    def run_search(self, pattern: str, regex: bool, ignore_case: bool) -> None:
        self._start(self._search(pattern, regex, ignore_case))

    async def _search(self, pattern: str, regex: bool, ignore_case: bool) -> None:
        inbox = self.search.begin()
        try:
            await self._run("Searching", lambda r: self.bench.search(
                self.bench.locate(self.source), lambda: self._secret, pattern, regex=regex, ignore_case=ignore_case,
                on_hit=inbox.put, reporter=r), panel=self.search.panel)
            self.search.end("Searched every table:")
        except Cancelled:
            self.search.end("Stopped:")
        except RecoveryError as exc:
            self.search.end("")
            self.search.status.setText(colored(f"✘ The search stopped: {exc.message}", FAIL_COLOR, True))
            self.show_error("Search", exc)

    # -- compare -----------------------------------------------------------------------------------

    def run_diff(self, other: str) -> None:
        """Compare this backup with `other` (a file or a backup id; the same secret is used for both)."""
        self.diff.begin(other)
        self._start(self._diff(other))

    async def _diff(self, other: str) -> None:
        try:
            report = await self._run("Comparing the backups", lambda r: self.bench.diff(
                self.bench.locate(self.source), self.bench.locate(other), lambda: self._secret, reporter=r,
                keep_rows=SHOWN_DIFF_ROWS), panel=self.diff.panel)
            self.diff.show_report(report, other)
        except Cancelled:
            self.diff.end("Comparison cancelled.")
        except RecoveryError as exc:
            self.diff.failed(exc.message)
            self.show_error("Compare", exc)

    # -- export ------------------------------------------------------------------------------------

    def _export_clicked(self) -> None:
        stats = self.selected()
        if stats is None or not stats.has_data:
            return
        default = Path(self.source).parent / (stats.table.qualified.replace("/", "_") + SUFFIXES["csv"])
        path, _ = QFileDialog.getSaveFileName(self, "Export the table as CSV", str(default), "CSV files (*.csv)")
        if path:
            self._start(self._export(stats, Path(path)))

    async def _export(self, stats: TableStats, out: Path) -> None:
        name = stats.table.qualified
        try:
            result = await self._run(f"Exporting {name}", lambda r: self.bench.export(
                self.bench.locate(self.source), lambda: self._secret, name, "csv", out=out, overwrite=True,
                reporter=r), panel=self.rows_panel)
            self.statusBar().showMessage(f"{result.rows:,} rows of {name} written to {out} (SHA-256 "
                                         f"{result.sha256}, in the audit log).")
        except Cancelled:
            self.statusBar().showMessage("Export cancelled; nothing was written.")
        except RecoveryError as exc:
            self.show_error("Export", exc)

    def _blobs_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the large objects into a folder (one file per OID)",
                                                  str(Path(self.source).parent))
        if folder:
            self._start(self._export_blobs(Path(folder)))

    async def _export_blobs(self, out_dir: Path) -> None:
        try:
            items = await self._run("Exporting large objects", lambda r: self.bench.export_large_objects(
                self.bench.locate(self.source), lambda: self._secret, out_dir, reporter=r), panel=self.rows_panel)
            self.statusBar().showMessage(f"{counted(len(items), 'large object')} written to {out_dir}, one file per "
                                         "OID (the SHA-256 of each is in the audit log).")
        except Cancelled:
            self.statusBar().showMessage("Export of the large objects cancelled; no partial file was left.")
        except RecoveryError as exc:
            self.show_error("Export of large objects", exc)

    # -- sandbox -----------------------------------------------------------------------------------

    def start_sandbox(self) -> None:
        """Restore the backup into a private server and hold it until Stop or the window closes."""
        if self.sandbox_job is None:
            self.sandbox.starting()
            self._start(self._sandbox())

    def stop_sandbox(self) -> None:
        if self.sandbox_job is not None:
            self.sandbox_job.cancel()

    async def _sandbox(self) -> None:
        box = self.bench.sandbox()
        slot = self.sandbox.slot

        def hold(reporter: Reporter) -> None:
            with box.open(self.bench.locate(self.source), lambda: self._secret, reporter=reporter) as session:
                slot.put(session)
                try:
                    session.wait(reporter)
                finally:
                    slot.put(None)

        job = Job("SQL sandbox", hold)
        self.sandbox_job = job
        self.sandbox.panel.attach(job)
        gone = "Stopped: the sandbox server and its files were removed."
        try:
            await run_job(self.runner, job)
            self.sandbox.stopped(html.escape(gone))
        except Cancelled:
            self.sandbox.stopped(html.escape(gone))
        except asyncio.CancelledError:
            self.sandbox.stopped(html.escape(gone))
            raise
        except RecoveryError as exc:
            self.sandbox.stopped(colored(f"✘ The sandbox stopped: {exc.message}", FAIL_COLOR, True))
            self.show_error("SQL sandbox", exc)
        finally:
            self.sandbox_job = None

    def run_query(self, sql: str, read_only: bool) -> None:
        session = self.sandbox.session
        if session is not None:
            self._start(self._query(session, sql, read_only))

    async def _query(self, session: SandboxSession, sql: str, read_only: bool) -> None:
        self.sandbox.query_started()
        try:
            result = await run_job(self.runner, Job("Query", lambda r: session.query(
                sql, read_only=read_only, max_rows=SHOWN_ROWS)))
            self.sandbox.show_result(result)
        except RecoveryError as exc:
            self.sandbox.query_failed(exc.message)

    # -- report ------------------------------------------------------------------------------------

    def _report_clicked(self) -> None:
        default = Path(self.source).parent / (Path(self.source).name + ".custody.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Write the chain-of-custody report", str(default),
                                              "PDF (*.pdf);;Web page (*.html)")
        if path:
            out = Path(path)
            self._start(self._report(out if out.suffix.lower() in (".pdf", ".html") else out.with_suffix(".pdf")))

    async def _report(self, out: Path) -> None:
        pdf = html_pdf if out.suffix.lower() == ".pdf" else None
        try:
            _, written = await self._run("Writing the report", lambda r: make_report(
                self.bench, self.bench.locate(self.source), lambda: self._secret, out, pdf=pdf, overwrite=True,
                reporter=r), panel=self.rows_panel)
            self.statusBar().showMessage(f"Report written to {out}: the file was verified again, its tables read "
                                         f"(SHA-256 of the report {written.sha256}, in the audit log).")
        except Cancelled:
            self.statusBar().showMessage("Report cancelled; nothing was written.")
        except RecoveryError as exc:
            self.show_error("Report", exc)

    # -- plumbing ----------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        stats = self.selected()
        self.export_action.setEnabled(stats is not None and stats.has_data)

    def _start(self, flow: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = start_task(flow)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if self.closing and not self.tasks and shiboken6.isValid(self):
            self.close()

    async def _run(self, name: str, function: Callable[[Reporter], T], *, panel: ProgressPanel) -> T:
        job = Job(name, function)
        panel.show()
        panel.attach(job)
        result: T = await run_job(self.runner, job)
        return result

    def show_error(self, title: str, error: RecoveryError) -> QMessageBox:
        box = error_box(self, title, error)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_boxes.append(box)
        box.open()
        return box

    @property
    def busy(self) -> bool:
        return bool(self.tasks)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing stops every read this window started; the window goes once they have stopped, not before."""
        if self.tasks:
            self.closing = True
            for task in list(self.tasks):
                task.cancel()
            self.hide()
            event.ignore()
            return
        super().closeEvent(event)
