"""The workbench's sandbox: the backup restored into a throwaway PostgreSQL of the console's own, for full SQL.

Starting runs one long job that restores the backup and then holds the server until Stop (or the
window closes), which stops it and removes its folder. Queries run as jobs of their own beside it,
in a read-only transaction unless the user unticks that; each is in the audit log.
"""

from __future__ import annotations

import html
import threading

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.forensics.sandbox import SandboxSession
from recovery_console.engine.pg.text_query import QueryResult
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, colored

SHOWN_ROWS = 10_000


class SessionSlot:
    """The running sandbox, handed from the job's thread to the GUI's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: SandboxSession | None = None

    def put(self, session: SandboxSession | None) -> None:
        with self._lock:
            self._session = session

    def get(self) -> SandboxSession | None:
        with self._lock:
            return self._session


class SandboxPanel(QWidget):
    """Start/Stop, the connection details, a query box and its result grid."""

    start_requested = Signal()
    stop_requested = Signal()
    query_requested = Signal(str, bool)

    def __init__(self) -> None:
        super().__init__()
        self.slot = SessionSlot()
        self.start_button = QPushButton("&Start the sandbox")
        self.start_button.setAccessibleName("Restore the backup into a private server and start it")
        self.start_button.clicked.connect(self.start_requested)
        self.stop_button = QPushButton("S&top and remove it")
        self.stop_button.setAccessibleName("Stop the sandbox server and remove its files")
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.setEnabled(False)
        self.panel = ProgressPanel()
        self.panel.hide()
        self.status = wrap_label("Restores the backup into a PostgreSQL server of the console's own, reachable only "
                                 "from this machine, for any SQL query. Stopping it removes everything.",
                                 "Sandbox status", rich=True)
        self.connection = QLineEdit()
        self.connection.setReadOnly(True)
        self.connection.setAccessibleName("Connection string of the sandbox")
        self.query_edit = QPlainTextEdit()
        self.query_edit.setAccessibleName("SQL query")
        self.query_edit.setPlaceholderText("SELECT … (Ctrl+Enter runs it)")
        self.query_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.query_edit.setMaximumHeight(110)
        self.query_edit.setTabChangesFocus(True)
        self.read_only_box = QCheckBox("&Read-only transaction")
        self.read_only_box.setAccessibleName("Run the query in a read-only transaction")
        self.read_only_box.setChecked(True)
        self.run_button = QPushButton("R&un query")
        self.run_button.setAccessibleName("Run the query")
        self.run_button.setShortcut("Ctrl+Return")
        self.run_button.clicked.connect(self._run_clicked)
        self.result_status = wrap_label("", "Query result status", rich=True)
        self.results = QTableWidget(0, 0)
        self.results.setAccessibleName("Query result")
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.setTabKeyNavigation(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        connection_row = QHBoxLayout()
        connection_row.addWidget(buddy_label("Co&nnection:", self.connection, "Connection string of the sandbox"))
        connection_row.addWidget(self.connection, 1)
        run_row = QHBoxLayout()
        run_row.addWidget(self.read_only_box)
        run_row.addStretch(1)
        run_row.addWidget(self.run_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addLayout(connection_row)
        layout.addWidget(buddy_label("&Query:", self.query_edit, "SQL query"))
        layout.addWidget(self.query_edit)
        layout.addLayout(run_row)
        layout.addWidget(self.result_status)
        layout.addWidget(self.results, 1)
        self.poll = QTimer(self)
        self.poll.setInterval(100)
        self.poll.timeout.connect(self._check_ready)
        self.querying = False
        self._update()

    @property
    def session(self) -> SandboxSession | None:
        return self.slot.get()

    def starting(self) -> None:
        self.start_button.setEnabled(False)
        self.panel.show()
        self.status.setText(html.escape("Restoring the backup into a private server…"))
        self.poll.start()

    def _check_ready(self) -> None:
        session = self.session
        if session is None:
            return
        self.poll.stop()
        self.panel.hide()
        info = session.info
        self.connection.setText(info.url)
        warned = f" {len(info.warnings)} restore warnings (see the audit log)." if info.warnings else ""
        self.status.setText(colored(f"✔ Running: database {info.database} on {info.server}, reachable only from "
                                    f"this machine.{warned}", PASS_COLOR, True))
        self._update()
        self.query_edit.setFocus()

    def stopped(self, text: str) -> None:
        """The sandbox job has ended (`text` says how); its server and files are gone."""
        self.poll.stop()
        self.slot.put(None)
        self.panel.hide()
        self.connection.clear()
        self.status.setText(text)
        self._update()

    def _run_clicked(self) -> None:
        sql = self.query_edit.toPlainText().strip()
        if sql and self.session is not None and not self.querying:
            self.query_requested.emit(sql, self.read_only_box.isChecked())

    def query_started(self) -> None:
        self.querying = True
        self.result_status.setText(html.escape("Running…"))
        self._update()

    def show_result(self, result: QueryResult) -> None:
        self.querying = False
        rows = result.rows[:SHOWN_ROWS]
        self.results.clear()
        self.results.setColumnCount(len(result.columns))
        self.results.setHorizontalHeaderLabels(result.columns)
        self.results.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem("NULL" if value is None else value.replace("\n", "⏎"))
                if value is None:
                    item.setForeground(Qt.GlobalColor.gray)
                item.setToolTip("NULL (no value)" if value is None else value[:2000])
                self.results.setItem(r, c, item)
        self.results.resizeColumnsToContents()
        more = " Only the first rows are shown." if result.truncated or len(result.rows) > SHOWN_ROWS else ""
        self.result_status.setText(html.escape(f"{result.status}: {len(rows):,} rows shown.{more}"))
        self._update()

    def query_failed(self, message: str) -> None:
        self.querying = False
        self.result_status.setText(colored(f"✘ {message}", FAIL_COLOR, True))
        self._update()

    def _update(self) -> None:
        running = self.session is not None
        self.stop_button.setEnabled(running or self.poll.isActive())
        self.run_button.setEnabled(running and not self.querying)
        self.query_edit.setEnabled(running)
        self.read_only_box.setEnabled(running)
        if not running and not self.poll.isActive():
            self.start_button.setEnabled(True)
