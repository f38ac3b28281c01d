"""The details pane: what the catalog knows of the selected backup, its decrypted metadata, and its TOC on demand.

Decrypting needs the instance secret, which comes from a `SecretSource` (the main window's
`SecretBroker`: the profile's keyring entry read off the GUI thread, else a password prompt). The
engine work (`Console.inspect`, `Console.contents`) runs in jobs; this widget only shows results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.folder_backup import FolderListing
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.errors import FolderBackupError, RecoveryError, WrongKeyError
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import BackupMetadata, BackupRecord
from recovery_console.ui.backup_table import format_time, locate_record, verify_text
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.keep_actions import target_text
from recovery_console.ui.secrets import SecretSource
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.labels import pane_title, value_label
from recovery_console.ui.widgets.wrapping_label import WrappingLabel, breakable

T = TypeVar("T")

_Index = QModelIndex | QPersistentModelIndex
HISTORY_SHOWN = 5
"""Verify attempts listed in the details; older ones are counted."""
FILES_SHOWN = 1000
"""A folder backup's members listed in the pane (one label); the rest are counted, and Extract… writes them all."""
TOC_COLUMNS = ("ID", "Name", "Type", "Schema", "Owner")


class TocModel(QAbstractTableModel):
    """The archive's table of contents, one row per entry, like `pg_restore --list`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[pgarchive.TocEntry] = []

    def set_archive(self, archive: pgarchive.Archive | None) -> None:
        self.beginResetModel()
        self.entries = list(archive.toc) if archive else []
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(TOC_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return TOC_COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        entry = self.entries[index.row()]
        return (str(entry.dump_id), entry.tag, entry.desc, entry.namespace, entry.owner)[index.column()]


class BreakingDelegate(QStyledItemDelegate):
    """Draws a cell's text breakable anywhere, so a narrow column wraps it instead of cutting it off."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: _Index) -> None:  # Qt override
        super().initStyleOption(option, index)
        option.text = breakable(option.text, every=4, longer_than=4)


class DetailsPane(QWidget):
    """Shows one backup; `metadata_loaded` / `contents_loaded` fire when a job brought them."""

    metadata_loaded = Signal(object)
    contents_loaded = Signal(object)
    failed = Signal(object)

    FILE_FIELDS = (("file", "File"), ("id", "ID"), ("target", "Target"), ("created", "Created"),
                   ("size", "Size"), ("mode", "Type"), ("version", "App version"), ("sha256", "File SHA-256"),
                   ("verify", "Last verify"), ("history", "Verify history"), ("opens_with", "Opens with"))
    META_FIELDS = (("backup_id", "Backup id"), ("created_at", "Created at"), ("created_by", "Created by"),
                   ("description", "Description"), ("database", "Database"), ("server_version", "Server"),
                   ("pg_dump_version", "pg_dump"), ("compression", "Compression"), ("chunk_size", "Chunk size"),
                   ("source", "Source"))
    UNSPACED = ("file", "id", "sha256", "backup_id")  # long runs without spaces: wrapped at any character

    def __init__(self, console: Console, runner: JobRunner, secrets: SecretSource,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.secrets = secrets
        self.record: BackupRecord | None = None
        self.metadata: BackupMetadata | None = None
        self.archive: pgarchive.Archive | None = None
        self.error_dialog: QMessageBox | None = None
        self._jobs: list[Job] = []
        self.setAccessibleName("Backup details")

        self.unusable = QLabel("")  # why nothing can be done with this backup now (its target was removed)
        self.unusable.setObjectName("hint")
        self.unusable.setWordWrap(True)
        self.unusable.setAccessibleName("Why this backup cannot be used")
        self.unusable.hide()
        self._unusable_reason: str | None = None

        self.placeholder = QLabel("Select a backup to see its details.")
        self.placeholder.setObjectName("hint")
        self.placeholder.setWordWrap(True)

        self.file_labels: dict[str, QLabel] = {}
        file_form = QFormLayout()
        for key, text in self.FILE_FIELDS:
            self.file_labels[key] = (WrappingLabel(text, monospace=key == "sha256") if key in self.UNSPACED
                                     else value_label(text))
            file_form.addRow(f"{text}:", self.file_labels[key])

        self.meta_labels: dict[str, QLabel] = {}
        meta_form = QFormLayout()
        for key, text in self.META_FIELDS:
            self.meta_labels[key] = WrappingLabel(text) if key in self.UNSPACED else value_label(text)
            meta_form.addRow(f"{text}:", self.meta_labels[key])
        self.meta_status = QLabel("")
        self.meta_status.setObjectName("hint")
        self.meta_status.setWordWrap(True)
        self.meta_status.setAccessibleName("Metadata status")
        self.metadata_button = QPushButton("Decrypt &metadata")
        self.metadata_button.setAccessibleName("Decrypt the backup's metadata")
        self.metadata_button.setToolTip("Open the backup with the instance secret and show what it records.")
        self.metadata_button.clicked.connect(self.load_metadata)

        self.contents_button = QPushButton("Show &contents")
        self.contents_button.setAccessibleName("Show the archive contents")
        self.contents_button.setToolTip("List the archive's table of contents: every table, index and other object.")
        self.contents_button.clicked.connect(self.load_contents)
        self.contents_status = QLabel("")
        self.contents_status.setObjectName("hint")
        self.contents_status.setWordWrap(True)
        self.contents_status.setAccessibleName("Contents summary")
        self.files_view = wrap_label("", "The folder backup's files")  # as tar -tv lists them; wraps, never scrolls
        self.files_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.files_view.hide()
        self.toc_model = TocModel(self)
        self.toc_view = QTableView()
        self.toc_view.setModel(self.toc_model)
        self.toc_view.setAccessibleName("Archive contents")
        self.toc_view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.toc_view.setAlternatingRowColors(True)
        self.toc_view.verticalHeader().hide()
        toc_header = self.toc_view.horizontalHeader()
        toc_header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # every column within the pane's width,
        toc_header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.toc_view.setItemDelegate(BreakingDelegate(self.toc_view))
        self.toc_view.setWordWrap(True)  # its text wrapped (at any character if it must), never cut off
        self.toc_view.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.toc_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.toc_view.verticalHeader().sectionResized.connect(lambda *_: self._fit_toc())
        self.toc_view.setVerticalScrollMode(QTableView.ScrollMode.ScrollPerPixel)  # its range then counts pixels
        self.toc_view.verticalScrollBar().rangeChanged.connect(lambda *_: self._fit_toc())
        self.toc_view.horizontalHeader().geometriesChanged.connect(self._fit_toc)
        self.toc_view.setTabKeyNavigation(False)
        self.toc_view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # the pane's width, no wider
        for policy in (self.toc_view.setVerticalScrollBarPolicy, self.toc_view.setHorizontalScrollBarPolicy):
            policy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the pane's one scroll area scrolls it: no nested scrolling
        self.toc_view.hide()
        self.metadata_action = QAction("Decrypt &metadata", self)
        self.metadata_action.setShortcut("Ctrl+M")
        self.metadata_action.setStatusTip("Decrypt the selected backup's metadata")
        self.metadata_action.triggered.connect(lambda _checked=False: self.load_metadata())
        self.contents_action = QAction("Show &contents", self)
        self.contents_action.setShortcut("Ctrl+Shift+C")
        self.contents_action.setStatusTip("List the selected backup's archive contents")
        self.contents_action.triggered.connect(lambda _checked=False: self.load_contents())

        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.unusable)
        file_card = QFrame()
        file_card.setObjectName("detailsCard")
        file_card.setLayout(file_form)
        body.addWidget(file_card)
        body.addWidget(pane_title("Decrypted metadata"))
        meta_card = QFrame()
        meta_card.setObjectName("detailsCard")
        meta_box = QVBoxLayout(meta_card)
        meta_box.addLayout(meta_form)
        meta_row = QHBoxLayout()
        meta_row.addWidget(self.meta_status, 1)
        meta_row.addWidget(self.metadata_button)
        meta_box.addLayout(meta_row)
        body.addWidget(meta_card)
        contents_row = QHBoxLayout()
        contents_row.addWidget(pane_title("Contents"), 1)
        contents_row.addWidget(self.contents_button)
        body.addLayout(contents_row)
        body.addWidget(self.contents_status)
        body.addWidget(self.toc_view)
        body.addWidget(self.files_view)
        self._filler = QWidget()
        body.addWidget(self._filler, 1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(self.body)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll_area.setAccessibleName("Backup details")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(pane_title("Details"))
        layout.addWidget(self.placeholder)
        layout.addWidget(self.scroll_area, 1)
        self.scroll_area.hide()
        self.setTabOrder(self.metadata_button, self.contents_button)
        self.setTabOrder(self.contents_button, self.toc_view)

    # ------------------------------------------------------------------ showing

    def _fit_toc(self) -> None:
        """As tall as all its rows: the contents scroll with the rest of the pane, not in a box of their own."""
        view = self.toc_view
        rows = view.verticalHeader().length() if self.toc_model.rowCount() else 0
        header = max(view.horizontalHeader().height(), view.horizontalHeader().sizeHint().height())
        chrome = header + 2 * view.frameWidth()
        if view.isVisible():  # measured, not guessed: header, frame and any margin around the rows' viewport
            chrome = max(chrome, view.height() - view.viewport().height())
        view.setFixedHeight(rows + chrome)

    def show_unusable(self, reason: str | None) -> None:
        """Say why the shown backup cannot be used (its target was removed) and turn its buttons off; None: usable."""
        was, self._unusable_reason = self._unusable_reason, reason
        self.unusable.setText(reason or "")
        self.unusable.setVisible(bool(reason))
        if reason:
            for button in (self.metadata_button, self.contents_button):
                button.setEnabled(False)
        elif was:
            for button in (self.metadata_button, self.contents_button):
                button.setEnabled(True)

    def show_record(self, record: BackupRecord | None) -> None:
        """Show a (new) selection; decrypt its metadata at once only if no prompt is needed."""
        same = record is not None and self.record is not None and (record.target, record.key) == (
            self.record.target, self.record.key)
        self.record = record
        if record is None:
            self.metadata = None
            self.archive = None
            self.scroll_area.hide()
            self.placeholder.show()
            return
        self.placeholder.hide()
        self.scroll_area.show()
        values = {
            "file": record.file_name, "id": record.backup_id, "target": target_text(self.console, record),
            "created": format_time(record.created) or "unknown", "size": f"{format_bytes(record.size)} "
            f"({record.size:,} bytes)", "mode": record.mode or "unknown", "version": record.app_version or "",
            "sha256": record.sha256 or "not recorded yet (verify computes it)",
            "verify": verify_text(record, reason=True),
        }
        values["history"] = self._history_text(record)
        values["opens_with"] = self._opens_with_text(record)
        for key, label in self.file_labels.items():
            label.setText(values[key])
        if not same:
            self.archive = None
            self.toc_model.set_archive(None)
            self.toc_view.hide()
            self.files_view.setText("")
            self.files_view.hide()
            self._filler.show()
            self.contents_status.setText("")
            self.contents_button.setEnabled(True)
            self.metadata = None
        if record.metadata is not None:
            self._show_metadata(record.metadata, "Decrypted earlier and kept in the catalog.")
        elif not same:
            self._show_metadata(None, "Not decrypted yet.")

    def _opens_with_text(self, record: BackupRecord) -> str:
        """The profile's instance secret on record as opening this backup (its label, never the secret)."""
        try:
            opened = self.console.catalog.opened_with([record.target]).get((record.target, record.key))
        except RecoveryError as exc:
            return f"unavailable: {exc.message}"
        if opened is None:
            return "not known yet (found when the backup is next opened)"
        return f"{opened.label} (profile {opened.profile})"

    def _history_text(self, record: BackupRecord) -> str:
        """The last few verify attempts, newest first, one a line ("unreachable" is no verdict on the backup)."""
        try:
            events = self.console.catalog.verify_history(record)
        except RecoveryError as exc:
            return f"unavailable: {exc.message}"
        names = {"ok": "passed", "failed": "FAILED", "unreachable": "not checked"}
        lines = [f"{format_time(e.time)} {names.get(e.outcome, e.outcome)}"
                 + (f" ({e.detail})" if e.detail and e.outcome != "ok" else "") for e in events[:HISTORY_SHOWN]]
        if len(events) > HISTORY_SHOWN:
            lines.append(f"… and {len(events) - HISTORY_SHOWN} earlier")
        return "\n".join(lines) or "no verify recorded"

    def _show_metadata(self, metadata: BackupMetadata | None, status: str) -> None:
        self.metadata = metadata
        for key, label in self.meta_labels.items():
            value = getattr(metadata, key, None) if metadata else None
            if key == "chunk_size" and value:
                value = format_bytes(value)
            if key == "created_at" and value:
                value = f"{format_time(value)} ({value})"
            label.setText("—" if metadata and value in (None, "") else "" if value in (None, "") else str(value))
        self.meta_status.setText(status)
        self.metadata_button.setText("Decrypt &metadata again" if metadata else "Decrypt &metadata")
        self.metadata_button.setEnabled(True)

    # ------------------------------------------------------------------ jobs

    def _submit(self, job: Job) -> Job:
        self._jobs.append(job)
        job.done.connect(lambda: self._jobs.remove(job) if job in self._jobs else None)
        return self.runner.submit(job)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def load_metadata(self) -> None:
        """Console.inspect in a job, after the secret source answered."""
        record = self.record
        if record is None:
            return
        self.metadata_button.setEnabled(False)
        self.meta_status.setText("Waiting for the instance secret…")
        self.secrets.request(record.target, lambda secret: self._inspect(record, secret),
                             why=f"decrypt the metadata of {record.file_name}")

    def _inspect(self, record: BackupRecord, secret: str | None) -> None:
        if secret is None:
            if self._is_current(record):
                self.meta_status.setText("No instance secret given; the metadata stays encrypted.")
                self.metadata_button.setEnabled(True)
            return
        console = self.console
        self.meta_status.setText("Decrypting the metadata…")
        job = Job("Decrypting metadata", lambda reporter: _opened(console, record, secret, console.inspect),
                  key=record.target)
        job.succeeded.connect(lambda metadata: self._inspected(record, metadata))
        job.failed.connect(lambda error: self._failed(record, error, "Decrypting the metadata failed",
                                                      self.meta_status, self.metadata_button))
        self._submit(job)

    def _inspected(self, record: BackupRecord, metadata: BackupMetadata) -> None:
        if self._is_current(record):
            self._show_metadata(metadata, "Decrypted just now with the instance secret.")
        self.metadata_loaded.emit(metadata)

    def load_contents(self) -> None:
        """Console.contents in a job: decrypts only as many chunks as the TOC needs."""
        record = self.record
        if record is None:
            return
        self.contents_button.setEnabled(False)
        self.contents_status.setText("Waiting for the instance secret…")
        self.secrets.request(record.target, lambda secret: self._contents(record, secret),
                             why=f"list the contents of {record.file_name}")

    def _contents(self, record: BackupRecord, secret: str | None) -> None:
        if secret is None:
            if self._is_current(record):
                self.contents_status.setText("No instance secret given; the contents stay encrypted.")
                self.contents_button.setEnabled(True)
            return
        console = self.console
        self.contents_status.setText("Reading the archive's table of contents…")
        def contents(ref: BackupRef, key: str) -> tuple[BackupMetadata | None, pgarchive.Archive | FolderListing]:
            try:
                return console.contents(ref, lambda: key)
            except FolderBackupError:  # a vault's tar: its members instead (the whole backup is read for them)
                return None, console.folder_contents(ref, key)

        job = Job("Listing contents", lambda reporter: _opened(console, record, secret, contents), key=record.target)
        job.succeeded.connect(lambda result: self._contents_done(record, result))
        job.failed.connect(lambda error: self._failed(record, error, "Listing the contents failed",
                                                      self.contents_status, self.contents_button))
        self._submit(job)

    def _contents_done(self, record: BackupRecord,
                       result: tuple[BackupMetadata | None, pgarchive.Archive | FolderListing]) -> None:
        metadata, archive = result
        if not self._is_current(record):
            return
        if isinstance(archive, FolderListing):
            self._show_files(archive)
            return
        self.archive = archive
        if metadata is not None and self.metadata is None:
            self._show_metadata(metadata, "Decrypted just now with the instance secret.")
        self.toc_model.set_archive(archive)
        self.toc_view.show()
        self._fit_toc()
        self._filler.hide()
        counts = archive.object_counts()
        summary = ", ".join(f"{n} {desc}" for desc, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        header = archive.header
        self.contents_status.setText(
            f"{len(archive.toc)} entries ({counts.get('TABLE', 0)} tables) · archive {header.version_str} · "
            f"database {header.dbname} · PostgreSQL {header.server_version.split(' ')[0]}")
        self.contents_status.setToolTip(f"Dumped from {header.server_version} by pg_dump {header.dump_version}.\n"
                                        f"{summary}")
        self.contents_status.setAccessibleDescription(self.contents_status.toolTip())
        self.contents_button.setEnabled(True)
        self.contents_loaded.emit(archive)

    def _show_files(self, listing: FolderListing) -> None:
        """A folder backup's contents: its tar's members, as `contents` prints them."""
        lines = listing.lines()
        shown = lines[:FILES_SHOWN]
        if len(lines) > FILES_SHOWN:
            shown.append(f"… and {listing.total - FILES_SHOWN:,} more: Extract… (Ctrl+E) writes them all.")
        self.files_view.setText("\n".join(shown))
        self.files_view.show()
        self._filler.hide()
        self.contents_status.setText(f"Folder backup (a vault's tar): {listing.total:,} members; the whole backup was "
                                     "read and proven for them. Extract… (Ctrl+E) writes its files into a new folder.")
        self.contents_status.setToolTip("")
        self.contents_button.setEnabled(True)

    def _failed(self, record: BackupRecord, error: RecoveryError, title: str, status: QLabel,
                button: QPushButton) -> None:
        if isinstance(error, WrongKeyError):
            self.secrets.reject(record.target)
        if self._is_current(record):
            status.setText(f"{title}: {error.message}")
            button.setEnabled(True)
        box = error_box(self.window(), title, error)
        self.error_dialog = box
        box.open()
        self.failed.emit(error)

    def _is_current(self, record: BackupRecord) -> bool:
        return self.record is not None and (self.record.target, self.record.key) == (record.target, record.key)


def _opened(console: Console, record: BackupRecord, secret: str, read: Callable[[BackupRef, str], T]) -> T:
    """`read` the backup with the secret that opens it: the one given, or an older one of its profile's."""
    ref = locate_record(console, record)
    return read(ref, SecretRotation(console).secret_opening(ref, secret))
