"""The workbench's search across tables: every value holding a text or pattern, with its table, row and column."""

from __future__ import annotations

import html
import threading

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.forensics.table_search import SearchHit
from recovery_console.formatting import counted
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label

SHOWN_HITS = 10_000
HEADERS = ("Table", "Row", "Column", "Value")


class HitInbox:
    """Hits handed over from the searching thread; the GUI takes them in batches on a timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[SearchHit] = []
        self.total = 0

    def put(self, hit: SearchHit) -> None:
        with self._lock:
            self.total += 1
            if self.total <= SHOWN_HITS:
                self._hits.append(hit)

    def take(self) -> list[SearchHit]:
        with self._lock:
            hits, self._hits = self._hits, []
            return hits


class SearchPanel(QWidget):
    """Pattern, options, results; `search_requested` asks the window to run the search, `hit_opened` to show a row."""

    search_requested = Signal(str, bool, bool)
    hit_opened = Signal(str, int)

    def __init__(self) -> None:
        super().__init__()
        self.inbox: HitInbox | None = None
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setAccessibleName("Text to search for")
        self.pattern_edit.setPlaceholderText("an IP address, a user name, an e-mail…")
        self.pattern_edit.returnPressed.connect(self._search_clicked)
        self.regex_box = QCheckBox("Regular e&xpression")
        self.regex_box.setAccessibleName("Treat the text as a regular expression")
        self.case_box = QCheckBox("I&gnore case")
        self.case_box.setAccessibleName("Ignore upper and lower case")
        self.search_button = QPushButton("&Search all tables")
        self.search_button.setAccessibleName("Search all tables")
        self.search_button.clicked.connect(self._search_clicked)
        self.panel = ProgressPanel()
        self.panel.hide()
        self.status = wrap_label("Searches every value of every table in the backup, read straight from it.",
                                 "Search status", rich=True)
        self.results = QTableWidget(0, len(HEADERS))
        self.results.setHorizontalHeaderLabels(HEADERS)
        self.results.setAccessibleName("Search results")
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.verticalHeader().setVisible(False)
        self.results.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.results.setTabKeyNavigation(False)
        self.results.activated.connect(lambda index: self._open(index.row()))
        self.results.doubleClicked.connect(lambda index: self._open(index.row()))
        self.timer = QTimer(self)
        self.timer.setInterval(150)
        self.timer.timeout.connect(self.drain)
        pattern_row = QHBoxLayout()
        pattern_row.addWidget(buddy_label("Fi&nd:", self.pattern_edit, "Text to search for"))
        pattern_row.addWidget(self.pattern_edit, 1)
        pattern_row.addWidget(self.search_button)
        options = QHBoxLayout()
        options.addWidget(self.regex_box)
        options.addWidget(self.case_box)
        options.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(pattern_row)
        layout.addLayout(options)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addWidget(self.results, 1)

    def _search_clicked(self) -> None:
        if self.pattern_edit.text() and self.search_button.isEnabled():
            self.search_requested.emit(self.pattern_edit.text(), self.regex_box.isChecked(), self.case_box.isChecked())

    def begin(self) -> HitInbox:
        """A search starts: clear the results; the inbox the search job fills."""
        self.inbox = HitInbox()
        self.results.setRowCount(0)
        self.search_button.setEnabled(False)
        self.panel.show()
        self.status.setText(html.escape("Searching…"))
        self.timer.start()
        return self.inbox

    def drain(self) -> None:
        """Show the hits that arrived since the last look."""
        if self.inbox is None:
            return
        hits = self.inbox.take()
        if not hits:
            return
        first = self.results.rowCount()
        self.results.setRowCount(first + len(hits))
        for offset, hit in enumerate(hits):
            self._fill(first + offset, hit)

    def _fill(self, row: int, hit: SearchHit) -> None:
        before = "…" if hit.excerpt_offset else ""
        after = "…" if hit.excerpt_offset + len(hit.excerpt) < hit.value_length else ""
        value = (before + hit.excerpt + after).replace("\n", "⏎").replace("\t", "⇥")
        cells = (hit.table, f"{hit.row:,}", hit.column, value)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(f"{hit.table}, row {hit.row:,}, column {hit.column}")
            item.setData(Qt.ItemDataRole.UserRole, (hit.table, hit.row))
            if column == 1:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.results.setItem(row, column, item)

    def end(self, text: str) -> None:
        """The search has ended (`text` says how)."""
        self.timer.stop()
        self.drain()
        self.panel.hide()
        self.search_button.setEnabled(True)
        total = self.inbox.total if self.inbox is not None else 0
        shown = "" if total <= SHOWN_HITS else f" The first {SHOWN_HITS:,} are listed."
        shown += " Double-click a hit to see its row." if total else ""
        self.status.setText(html.escape(f"{text} {counted(total, 'hit')}.{shown}" if text else ""))
        self.results.resizeColumnsToContents()
        self.results.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

    def _open(self, row: int) -> None:
        item = self.results.item(row, 0)
        if item is not None:
            table, number = item.data(Qt.ItemDataRole.UserRole)
            self.hit_opened.emit(table, number)
