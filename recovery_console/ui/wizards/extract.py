"""Forensic extraction, offline: a backup file → its secret → its metadata → optionally a plain .dump (a folder
backup, a vault's tar: its files into a new folder); or a downloaded recovery set's folder → its secret → its
members → one member out (extract_set_pages.py).

No profile, no server and no network are needed. The file can be checked without the key
against its .sha256 sidecar (`Console.verify_without_key`); the secret (typed, from a file, or
from the OS keyring by name) is proven by reading the metadata (`Console.inspect`, one key
derivation); decrypting (`Console.decrypt`) writes the .dump only once the whole backup has been
proven, then shows its SHA-256 and lists its contents (`Console.contents` on the output).
"""

from __future__ import annotations

import asyncio
import html
import os
from dataclasses import fields
from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.archive.table_columns import Column
from recovery_console.engine.archive.table_data import ArchiveTable
from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.forensics.workbench import TablesReport, TableStats
from recovery_console.engine.results import FileResult
from recovery_console.engine.sets.local_set import LocalMember, LocalSet, confirm_member
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.errors import Cancelled, RecoveryError, UsageError, WrongKeyError
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import KIND_FOLDER, BackupMetadata
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored
from recovery_console.ui.widgets.times import local_time, utc_hover
from recovery_console.ui.wizards.base import WizardBase
from recovery_console.ui.wizards.extract_pages import (
    WRONG_SECRET_HINT,
    FilePage,
    SecretPage,
    extracted_counts,
    refused_count,
    save_as,
)
from recovery_console.ui.wizards.extract_set_pages import MemberRunPage, MembersPage
from recovery_console.ui.wizards.extract_tables_page import TablesPage
from recovery_console.ui.wizards.restore_set_docs import example_set

# Page 3: metadata, and whether to decrypt
# --------------------------------------------------------------------------------------------

METADATA_LABELS = {
    "backup_id": "Backup id", "created_at": "Created", "created_by": "Created by", "app_version": "App version",
    "mode": "Type", "description": "Description", "database": "Database", "server_version": "Server version",
    "pg_dump_version": "pg_dump version", "compression": "Compression", "chunk_size": "Chunk size",
    "source": "Source", "source_name": "Source name",
}


DECRYPT_ABOUT = ("Decrypting writes to a private temporary file and renames it only after the whole backup has been "
                 "proven; a damaged backup leaves nothing behind.")
EXTRACT_ABOUT = ("This backup holds a folder (a file vault's tar). Its files are written under a hidden temporary name "
                 "beside the new folder, which gets its name only after the whole backup has been proven; an entry "
                 "that would land outside the folder (an absolute name, a .., a link pointing out) is refused by name.")


class MetadataPage(QWizardPage):
    """Page 3: what the backup says about itself, and whether (and where) to decrypt it."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Metadata")
        self.setSubTitle("What the backup says about itself (decrypted from its first chunk only).")
        self.values: dict[str, QLabel] = {}
        self.folder = False  # a folder backup (a vault's tar): extracted into a new folder, no tables
        form = QFormLayout()
        for key, label in METADATA_LABELS.items():
            value = wrap_label("", label)
            self.values[key] = value
            form.addRow(QLabel(f"{label}:"), value)
        self.extra = wrap_label("", "Other metadata fields")
        form.addRow(QLabel("Other fields:"), self.extra)

        self.tables_check = QCheckBox("Browse the &tables and export one (no server needed)")
        self.tables_check.setAccessibleName("Browse the tables and export one")
        self.decrypt_check = QCheckBox("&Decrypt to a .dump file (pg_dump custom format)")
        self.decrypt_check.setAccessibleName("Decrypt to a .dump file")
        output = save_as("the .dump")
        self.out_edit, self.out_browse, self.overwrite_check, out_form = (output.edit, output.browse,
                                                                          output.overwrite, output.form)
        self.out_browse.clicked.connect(self._browse)
        out_item = out_form.itemAt(0, QFormLayout.ItemRole.LabelRole)
        out_label = out_item.widget() if out_item is not None else None
        assert isinstance(out_label, QLabel)
        self.out_label: QLabel = out_label
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.tables_check)
        layout.addWidget(self.decrypt_check)
        layout.addLayout(out_form)
        self.about: QLabel = wrap_label(DECRYPT_ABOUT, "About decrypting")
        layout.addWidget(self.about)
        layout.addStretch(1)
        self.decrypt_check.toggled.connect(self._changed)
        self.tables_check.toggled.connect(self._changed)
        self.out_edit.textChanged.connect(self._changed)
        self._changed()

    def initializePage(self) -> None:
        self.show_metadata(self.wiz.secret_page.metadata)
        source = self.wiz.file_page.path()
        stem = source.with_suffix("") if source.suffix == ".enc" else source.with_name(source.name + ".out")
        defaults = (str(stem.with_name(stem.name + ".dump")), str(stem))
        if self.out_edit.text() in ("", *defaults):
            self.out_edit.setText(defaults[self.folder])

    def show_metadata(self, metadata: BackupMetadata | None) -> None:
        if metadata is None:
            return
        for f in fields(metadata):
            if f.name in self.values:
                value = getattr(metadata, f.name)
                if f.name == "chunk_size" and value:
                    value = format_bytes(value)
                if f.name == "created_at" and value:
                    self.values[f.name].setToolTip(utc_hover(value))
                    value = local_time(value)
                self.values[f.name].setText("—" if value in (None, "") else str(value))
        self.extra.setText(", ".join(f"{k}={v}" for k, v in metadata.extra.items()) or "—")
        self._set_kind(metadata.kind == KIND_FOLDER)

    def _set_kind(self, folder: bool) -> None:
        """A folder backup is extracted into a new folder, by the vault's rules; it has no tables to browse."""
        self.folder = folder
        self.decrypt_check.setText("&Extract its files into a new folder" if folder
                                   else "&Decrypt to a .dump file (pg_dump custom format)")
        self.decrypt_check.setAccessibleName("Extract its files into a new folder" if folder
                                             else "Decrypt to a .dump file")
        self.out_edit.setAccessibleName("The new folder to extract into" if folder else "Save the .dump as")
        self.out_label.setText("New &folder:" if folder else "&Save as:")
        self.overwrite_check.setVisible(not folder)
        if folder:
            self.tables_check.setChecked(False)
        self.tables_check.setEnabled(not folder)
        self.tables_check.setToolTip("A folder backup holds a vault's files, not tables." if folder else "")
        self.about.setText(EXTRACT_ABOUT if folder else DECRYPT_ABOUT)
        self._changed()

    def _browse(self) -> None:
        if self.folder:
            path, _ = QFileDialog.getSaveFileName(self, "Name the new folder to extract into", self.out_edit.text(),
                                                  "Folders (*)")
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Save the .dump as", self.out_edit.text(),
                                                  "pg_dump archives (*.dump);;All files (*)")
        if path:
            self.out_edit.setText(path)

    def _changed(self) -> None:
        on = self.decrypt_check.isChecked()
        for widget in (self.out_edit, self.out_browse):
            widget.setEnabled(on)
        self.overwrite_check.setEnabled(on and not self.folder)  # a folder is only ever extracted into a new one
        # Finish here, or Next to the tables or to decrypt (this also re-lays out the wizard's buttons)
        self.setFinalPage(not on and not self.tables_check.isChecked())
        self.completeChanged.emit()

    def output(self) -> Path:
        return Path(self.out_edit.text().strip()).expanduser()

    def isComplete(self) -> bool:
        return not self.decrypt_check.isChecked() or bool(self.out_edit.text().strip())

    def nextId(self) -> int:
        if self.tables_check.isChecked():
            return self.wiz.TABLES
        return self.wiz.DECRYPT if self.decrypt_check.isChecked() else -1

    def validatePage(self) -> bool:
        if not self.decrypt_check.isChecked():
            return True
        out = self.output()
        try:
            if out.resolve() == self.wiz.file_page.path().resolve():
                raise UsageError("The output would overwrite the backup itself.", hint="Choose another file name.")
            if self.folder and os.path.lexists(out):
                raise UsageError(f"{out} already exists.",
                                 hint="Name a new folder: the files are extracted into one that does not exist yet.")
            if out.exists() and not self.overwrite_check.isChecked():
                raise UsageError(f"{out} already exists.",
                                 hint="Choose another name, or tick 'Overwrite an existing file'.")
            if not out.parent.is_dir():
                raise UsageError(f"The folder {out.parent} does not exist.", hint="Choose an existing folder.")
        except RecoveryError as exc:
            self.wiz.show_error("Decrypt", exc)
            return False
        return True


# --------------------------------------------------------------------------------------------
# Page 4: decrypt, SHA-256, contents
# --------------------------------------------------------------------------------------------


class DecryptPage(QWizardPage):
    """Page 4: the decrypted .dump, its SHA-256 and its table of contents."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Decrypt")
        self.setSubTitle("Every chunk is decrypted and checked; the .dump appears only when all of it is proven.")
        self.task: asyncio.Task[None] | None = None
        self.running = False
        self.file_result: FileResult | None = None
        self.archive: pgarchive.Archive | None = None
        self.outcome: str | None = None  # "ok", "failed", "cancelled"
        self.panel = ProgressPanel()
        self.written = wrap_label("", "Decrypted file")
        self.sha_edit = QLineEdit()
        self.sha_edit.setReadOnly(True)
        self.sha_edit.setAccessibleName("SHA-256 of the decrypted .dump")
        self.summary = wrap_label("", "Archive summary", rich=True)
        self.listing = QPlainTextEdit()
        self.listing.setReadOnly(True)
        self.listing.setAccessibleName("Archive contents")
        self.listing.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.listing.setTabChangesFocus(True)
        form = QFormLayout()
        form.addRow(buddy_label("SHA-2&56:", self.sha_edit, "SHA-256 of the decrypted .dump"), self.sha_edit)
        self.sha_form = form
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.written)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        self.listing_label = buddy_label("Con&tents:", self.listing, "Archive contents")
        layout.addWidget(self.listing_label)
        layout.addWidget(self.listing, 1)
        layout.addStretch(0)  # holds the lines at the top while the listing is hidden (a folder with no refusal)
        self.setFinalPage(True)

    def nextId(self) -> int:
        """The last page: the tables come before it when asked for, so Return here finishes."""
        return -1

    def initializePage(self) -> None:
        folder = self.wiz.metadata_page.folder
        self.setTitle("Extract" if folder else "Decrypt")
        self.setSubTitle("Every chunk is decrypted and checked; the folder gets its name only when all of it is "
                         "proven." if folder else
                         "Every chunk is decrypted and checked; the .dump appears only when all of it is proven.")
        self.sha_form.setRowVisible(self.sha_edit, not folder)
        self.listing.setAccessibleName("Entries refused" if folder else "Archive contents")
        self.listing_label.setText("&Refused:" if folder else "Con&tents:")
        for widget in (self.listing_label, self.listing):
            widget.setVisible(not folder)  # for a folder, shown once an entry is refused
        previous = self.task
        self.running = True
        self.outcome = None
        self.completeChanged.emit()
        self.task = self.wiz.start(self._decrypt(previous))

    def cleanupPage(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _decrypt(self, previous: asyncio.Task[None] | None) -> None:
        """Decrypt to the chosen file (written only once all of it is proven), then list the archive's contents."""
        console = self.wiz.console
        path = str(self.wiz.file_page.path())
        out = self.wiz.metadata_page.output()
        overwrite = self.wiz.metadata_page.overwrite_check.isChecked()
        secret = self.wiz.secret_page.secret or ""
        self.file_result = self.archive = None
        self.written.setText(f"Decrypting to {out}…")
        self.sha_edit.clear()
        self.summary.setText("")
        self.listing.clear()
        self.panel.setVisible(True)
        try:
            if previous is not None:  # the user went Back and Next again: the earlier run stops first
                await asyncio.wait([previous])
            try:
                if self.wiz.metadata_page.folder:
                    self.written.setText(f"Extracting into {out}…")
                    self.show_extracted(await self.wiz.run(
                        "Extracting", lambda r: console.extract_folder(console.locate(path), out, secret, reporter=r),
                        panel=self.panel))
                    self.outcome = "ok"
                    return
                result = await self.wiz.run(
                    "Decrypting", lambda r: console.decrypt(console.locate(path), out, secret, overwrite=overwrite,
                                                            reporter=r), panel=self.panel)
            except Cancelled:
                self.outcome = "cancelled"
                self.written.setText("")
                self.summary.setText(colored("Cancelled; nothing was written.", WARN_COLOR, True))
                return
            except RecoveryError as exc:
                self.outcome = "failed"
                self.written.setText("")
                if isinstance(exc, WrongKeyError):
                    exc = WrongKeyError(exc.message, hint=WRONG_SECRET_HINT, detail=exc.detail)
                self.summary.setText(colored("✘ Nothing was written: " + exc.message, FAIL_COLOR, True))
                self.wiz.show_error("Decrypt", exc)
                return
            self.file_result = result
            self.written.setText(f"Written: {result.path} ({format_bytes(result.size)}, {result.size:,} bytes).")
            self.sha_edit.setText(result.sha256)

            ref = BackupRef(location=str(result.path), path=Path(result.path))
            self.summary.setText(html.escape("Listing the archive's contents…"))
            try:
                self.show_archive(await self.wiz.run("Listing the contents",
                                                     lambda r: console.contents(ref, lambda: secret)[1]))
            except RecoveryError as exc:
                self.summary.setText(colored("The .dump was written, but its contents could not be listed: "
                                             + exc.message, WARN_COLOR))
                self.wiz.show_error("Archive contents", exc)
            self.outcome = "ok"
        finally:
            self.running = False
            self.panel.setVisible(False)
            self.completeChanged.emit()

    def show_extracted(self, done: Extracted) -> None:
        """A folder backup's extraction: what was written, and every refused entry by name."""
        self.written.setText(f"Extracted into {done.folder}: {extracted_counts(done)}.")
        if done.refused:
            refused, them = refused_count(done)
            self.summary.setText(colored(f"⚠ {refused} refused by the vault's rules; nothing was written for {them} "
                                         "(listed below).", WARN_COLOR, True))
            self.listing.setPlainText("\n".join(done.refused))
        else:
            self.summary.setText(colored("✔ The whole backup was proven and every entry extracted.", PASS_COLOR, True))
            self.listing.clear()
        for widget in (self.listing_label, self.listing):
            widget.setVisible(bool(done.refused))

    def show_archive(self, archive: pgarchive.Archive) -> None:
        self.archive = archive
        header = archive.header
        counts = archive.object_counts()
        top = ", ".join(f"{n} {desc}" for desc, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
        self.summary.setText(html.escape(
            f"pg_dump archive {header.version_str} of database {header.dbname}, dumped from PostgreSQL "
            f"{header.server_version} by pg_dump {header.dump_version}; {len(archive.toc)} entries: {top}."))
        self.listing.setPlainText("\n".join(pgarchive.listing_lines(archive)))

    def isComplete(self) -> bool:
        return not self.running and self.outcome is not None


class ExtractWizard(WizardBase):
    """Offline forensic extraction of one backup file: keyless check, metadata, decrypt, contents."""

    FILE, SECRET, METADATA, DECRYPT, TABLES, MEMBERS, MEMBER_RUN = range(7)

    def __init__(self, console: Console, *, runner: JobRunner | None = None, parent: QWidget | None = None) -> None:
        """`runner`: the main window's, so keyring jobs run one at a time (None: a runner of its own)."""
        super().__init__(console, parent, "Extract a backup (offline)", runner)
        self.file_page = FilePage(self)
        self.secret_page = SecretPage(self)
        self.metadata_page = MetadataPage(self)
        self.decrypt_page = DecryptPage(self)
        self.tables_page = TablesPage(self)
        self.members_page = MembersPage(self)
        self.member_run_page = MemberRunPage(self)
        for page_id, page in ((self.FILE, self.file_page), (self.SECRET, self.secret_page),
                              (self.METADATA, self.metadata_page), (self.DECRYPT, self.decrypt_page),
                              (self.TABLES, self.tables_page), (self.MEMBERS, self.members_page),
                              (self.MEMBER_RUN, self.member_run_page)):
            self.setPage(page_id, page)

    def source_path(self) -> Path:
        """The backup file the tables are read from: the chosen file, or a set's member file once proven."""
        if self.file_page.is_set():
            member = self.member_run_page.source()
            if member is not None:
                return member
        return self.file_page.path()

    def confirm_source(self, metadata: BackupMetadata | None) -> None:
        """For a set's member: what the tables were read from names that member (IntegrityError if not)."""
        found = self.members_page.selected()
        if self.file_page.is_set() and self.members_page.opened is not None and found is not None:
            confirm_member(self.members_page.opened, found.member.name, metadata)

    def screenshot_pages(self) -> list[tuple[str, QWidget]]:
        """Each page filled with example data (nothing runs, nothing is read), for docs."""
        from recovery_console.engine.results import VerifyResult

        name = "/media/usb/rc_backup_20261122-04-53-23-0.1.0-manual-971f67e4.enc"
        if not self.file_page.path_edit.text():
            self.file_page.path_edit.blockSignals(True)
            self.file_page.path_edit.setText(name)
            self.file_page.path_edit.blockSignals(False)
            self.file_page.info.setText("46.0 MiB; a .sha256 sidecar is beside it.")
            self.file_page._checked(VerifyResult(mode="keyless", location=name, encrypted_size=48_213_504,
                                                 ciphertext_sha256="5d41402abc4b2a76b9719d911017c592" * 2,
                                                 sidecar_sha256="5d41402abc4b2a76b9719d911017c592" * 2))
        if not self.secret_page.typed_edit.text():
            self.secret_page.typed_edit.setText("example secret")
            self.secret_page.status.setText(colored("✔ The secret opens this backup.", PASS_COLOR, True))
        metadata = self.secret_page.metadata or BackupMetadata(
            backup_id="971f67e4-2b0c-4d1e-9a51-0c8b6f3e2a10", created_at="2026-11-22T04:53:23Z", app_version="0.1.0",
            description="nightly", database="shop", server_version="15.8", pg_dump_version="15.8",
            chunk_size=1 << 20, compression="zstd", source="pg_dump", source_name="pg_dump of shop",
            created_by="backup@db1")
        self.metadata_page.show_metadata(metadata)
        self.metadata_page.decrypt_check.setChecked(True)
        if not self.metadata_page.out_edit.text():
            self.metadata_page.out_edit.setText(name[:-4] + ".dump")
        if self.decrypt_page.outcome is None:
            self.decrypt_page.panel.setVisible(False)
            self.decrypt_page.written.setText(f"Written: {name[:-4]}.dump (131.2 MiB, 137,573,171 bytes).")
            self.decrypt_page.sha_edit.setText("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
            self.decrypt_page.summary.setText(html.escape(
                "pg_dump archive 1.15 of database shop, dumped from PostgreSQL 15.8 by pg_dump 15.8; 41 entries: "
                "7 TABLE, 7 TABLE DATA, 6 INDEX, …"))
            self.decrypt_page.listing.setPlainText("\n".join([
                "215; 1259 16390 TABLE app customers postgres", "216; 1259 16405 TABLE app invoices postgres",
                "3390; 0 16390 TABLE DATA app customers postgres", "3391; 0 16405 TABLE DATA app invoices postgres"]))
        if self.tables_page.report is None:
            self.tables_page.panel.setVisible(False)
            self.tables_page.show_report(example_tables())
        if self.members_page.opened is None:
            manifest = example_set().manifest
            assert manifest is not None
            folder = Path("/media/usb/rc_set_20261207-02-00-00-0.1.0-scheduled-5d0c2a91")
            self.members_page.show_set(LocalSet(folder, manifest,
                                                tuple(LocalMember(m, folder / m.key) for m in manifest.members)))
            self.members_page.table.selectRow(2)
            self.members_page.out_edit.setText("/media/usb/vault")
        if self.member_run_page.outcome is None:
            self.member_run_page.panel.setVisible(False)
            self.member_run_page.show_sha(False)
            self.member_run_page.show_extracted("vault", Extracted(
                Path("/media/usb/vault"), 4_812, 133, 2, 1_932_001_118,
                ["link to etc: 'link to etc' is a link to an absolute path"]))
        return self._pages_for_docs()


def example_tables() -> TablesReport:
    """A made-up listing for the docs' screenshot of the Tables page."""
    def table(schema: str, name: str, rows: int, size: int, columns: tuple[tuple[str, str], ...]) -> TableStats:
        return TableStats(ArchiveTable(schema, name, tuple(Column(n, t) for n, t in columns), 1, True),
                          has_data=True, rows=rows, text_bytes=size, stored_bytes=size // 4)

    return TablesReport("example.enc", None, "gzip", [
        table("app", "customers", 48_210, 5_321_004, (("id", "integer"), ("name", "text"), ("email", "text"),
                                                       ("joined", "timestamp with time zone"))),
        table("app", "invoices", 1_204_377, 98_112_530, (("id", "bigint"), ("customer_id", "integer"),
                                                         ("total", "numeric(12,2)"), ("lines", "jsonb"))),
        table("audit", "logins", 2_000_000, 151_004_377, (("at", "timestamp with time zone"), ("host", "inet"),
                                                          ("user_name", "text"))),
    ])
