"""Forensic extraction, offline: a backup file → its secret → its metadata → optionally a plain .dump.

No profile, no server and no network are needed. The file can be checked without the key
against its .sha256 sidecar (`Console.verify_without_key`); the secret (typed, from a file, or
from the OS keyring by name) is proven by reading the metadata (`Console.inspect`, one key
derivation); decrypting (`Console.decrypt`) writes the .dump only once the whole backup has been
proven, then shows its SHA-256 and lists its contents (`Console.contents` on the output).
"""

from __future__ import annotations

import html
from dataclasses import fields
from pathlib import Path
from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from recovery_console.engine.progress import Reporter
from recovery_console.errors import RecoveryError, UsageError, WrongKeyError
from recovery_console.models.backup import BackupMetadata
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.progress_panel import ProgressPanel, format_bytes
from recovery_console.ui.setup_wizard import (
    FAIL_COLOR,
    KEYRING_JOBS,
    PASS_COLOR,
    WARN_COLOR,
    WizardBase,
    buddy_label,
    colored,
    wrap_label,
)

WRONG_SECRET_HINT = (
    "Check that this is the deployment's instance secret, typed exactly (it is case-sensitive; a secret file may "
    "end in one newline, nothing else), or that the keyring name is the right one. If you are sure it is right, "
    "the file's header may have been altered: go Back and run 'Check against the sidecar'."
)
SIDECAR_SUFFIX = ".sha256"


def _browse_button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name)
    return button


# --------------------------------------------------------------------------------------------
# Page 1: the file, and the keyless check
# --------------------------------------------------------------------------------------------


class FilePage(QWizardPage):
    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Backup file")
        self.setSubTitle("Pick the encrypted backup (.enc). Works offline: no profile, server or network needed.")
        self.keyless_result: Any = None
        self.keyless_error: RecoveryError | None = None
        self.job: Job | None = None

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("/media/usb/rc_backup_….enc")
        self.browse = _browse_button("Bro&wse…", "Browse for the backup file")
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow(buddy_label("Backup &file:", self.path_edit, "Backup file"), row)
        self.info = wrap_label("", "About the file")
        self.check_button = QPushButton("Check against the &sidecar (no key needed)")
        self.check_button.setAccessibleName("Check the file against its sidecar, without the key")
        self.check_button.clicked.connect(self.check_keyless)
        self.panel = ProgressPanel()
        self.panel.setVisible(False)
        self.result = wrap_label("", "Sidecar check result", rich=True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.info)
        layout.addWidget(wrap_label(
            "The sidecar (<file>.sha256) holds the file's SHA-256. Checking it needs no secret: it shows whether "
            "this is the exact file the sidecar was written for. Only the secret proves that it decrypts.",
            "About the sidecar check"))
        check_row = QHBoxLayout()
        check_row.addWidget(self.check_button)
        check_row.addStretch(1)
        layout.addLayout(check_row)
        layout.addWidget(self.panel)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self.path_edit.textChanged.connect(self._changed)
        self._changed()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a backup file", self.path_edit.text(),
                                              "Backups (*.enc);;All files (*)")
        if path:
            self.path_edit.setText(path)

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def _changed(self) -> None:
        text = self.path_edit.text().strip()
        self.keyless_result = None
        self.keyless_error = None
        self.result.setText("")
        path = self.path()
        if not text:
            self.info.setText("")
        elif path.is_file():
            sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
            self.info.setText(f"{format_bytes(path.stat().st_size)}; "
                              + ("a .sha256 sidecar is beside it." if sidecar.is_file() else
                                 "no .sha256 sidecar beside it (the keyless check needs one)."))
        else:
            self.info.setText("No such file.")
        self.check_button.setEnabled(bool(text) and path.is_file() and self.job is None)
        self.completeChanged.emit()

    def check_keyless(self) -> None:
        console = self.wiz.console
        path = str(self.path())

        def job(reporter: Reporter) -> Any:
            return console.verify_without_key(console.locate(path), reporter=reporter)

        self.result.setText(html.escape("Reading the whole file…"))
        self.check_button.setEnabled(False)
        self.panel.setVisible(True)
        self.job = self.wiz.run_job("Checking against the sidecar", job, self._checked, on_failure=self._failed,
                                    on_cancel=lambda: self.result.setText("Cancelled."), on_done=self._done,
                                    panel=self.panel)
        self.completeChanged.emit()

    def _checked(self, result: Any) -> None:
        self.keyless_result = result
        self.result.setText(colored("✔ PASSED: ", PASS_COLOR, True) + html.escape(
            f"the file's SHA-256 {result.ciphertext_sha256} matches its sidecar ({format_bytes(result.encrypted_size)} "
            "read; the header is well-formed)."))

    def _failed(self, exc: RecoveryError) -> None:
        self.keyless_error = exc
        self.result.setText(colored("✘ FAILED: ", FAIL_COLOR, True) + html.escape(exc.message))
        self.wiz.show_error("Check against the sidecar", exc)

    def _done(self) -> None:
        self.job = None
        self.panel.setVisible(False)
        self.check_button.setEnabled(self.path().is_file())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.path_edit.text().strip()) and self.path().is_file() and self.job is None


# --------------------------------------------------------------------------------------------
# Page 2: the secret
# --------------------------------------------------------------------------------------------


class SecretPage(QWizardPage):
    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Instance secret")
        self.setSubTitle("Give the secret the backup was made with. It is checked by reading the backup's "
                         "metadata (nothing is written).")
        self.secret: str | None = None
        self.metadata: BackupMetadata | None = None
        self._proven_for: tuple | None = None
        self.job: Job | None = None

        self.typed_radio = QRadioButton("T&yped:")
        self.typed_radio.setAccessibleName("Type the secret")
        self.typed_radio.setChecked(True)
        self.file_radio = QRadioButton("From a &file:")
        self.file_radio.setAccessibleName("Read the secret from a file")
        self.keyring_radio = QRadioButton("From the OS &keyring, name:")
        self.keyring_radio.setAccessibleName("Read the secret from the OS keyring")
        group = QButtonGroup(self)
        for radio in (self.typed_radio, self.file_radio, self.keyring_radio):
            group.addButton(radio)
        self.typed_edit = QLineEdit()
        self.typed_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.typed_edit.setAccessibleName("Instance secret")
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("a file holding only the secret")
        self.file_edit.setAccessibleName("Secret file")
        self.file_browse = _browse_button("Bro&wse…", "Browse for the secret file")
        self.file_browse.clicked.connect(self._browse)
        self.keyring_combo = QComboBox()
        self.keyring_combo.setEditable(True)
        self.keyring_combo.setAccessibleName("Keyring name (profile name)")
        self.keyring_combo.lineEdit().setAccessibleName("Keyring name (profile name)")
        self.keyring_combo.lineEdit().setPlaceholderText("the profile's name")
        grid = QGridLayout()
        grid.addWidget(self.typed_radio, 0, 0)
        grid.addWidget(self.typed_edit, 0, 1, 1, 2)
        grid.addWidget(self.file_radio, 1, 0)
        grid.addWidget(self.file_edit, 1, 1)
        grid.addWidget(self.file_browse, 1, 2)
        grid.addWidget(self.keyring_radio, 2, 0)
        grid.addWidget(self.keyring_combo, 2, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        self.status = wrap_label("", "Secret check status", rich=True)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        layout.addStretch(1)
        for radio in (self.typed_radio, self.file_radio, self.keyring_radio):
            radio.toggled.connect(self._changed)
        for edit in (self.typed_edit, self.file_edit):
            edit.textChanged.connect(self._changed)
        self.keyring_combo.editTextChanged.connect(self._changed)
        self._changed()

    def initializePage(self) -> None:
        if self.keyring_combo.count() == 0:
            try:  # profile names, as suggestions only: a bare keyring name works too
                names = list(self.wiz.console.profiles.store.load())
            except RecoveryError:
                names = []
            self.keyring_combo.addItems(names)
            self.keyring_combo.setCurrentIndex(-1)
            self.keyring_combo.setEditText("")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the secret file", self.file_edit.text())
        if path:
            self.file_edit.setText(path)

    def _changed(self) -> None:
        self.typed_edit.setEnabled(self.typed_radio.isChecked())
        self.file_edit.setEnabled(self.file_radio.isChecked())
        self.file_browse.setEnabled(self.file_radio.isChecked())
        self.keyring_combo.setEnabled(self.keyring_radio.isChecked())
        self.completeChanged.emit()

    def source(self) -> tuple[str, str]:
        if self.typed_radio.isChecked():
            return "typed", self.typed_edit.text()
        if self.file_radio.isChecked():
            return "file", self.file_edit.text().strip()
        return "keyring", self.keyring_combo.currentText().strip()

    def isComplete(self) -> bool:
        return bool(self.source()[1]) and self.job is None

    def validatePage(self) -> bool:
        """The secret must open the backup (one key derivation) before going on; checked in a job."""
        state = (str(self.wiz.file_page.path()), *self.source())
        if self._proven_for == state and self.metadata is not None:
            return True
        if self.job is None:
            self.prove(state)
        return False

    def prove(self, state: tuple) -> None:
        from recovery_console.engine.state.secret_sources import SecretRequest, obtain_secret, read_secret_file

        console = self.wiz.console
        path, kind, value = state

        def job(reporter: Reporter) -> tuple[str, BackupMetadata]:
            if kind == "typed":
                secret = value
            elif kind == "file":
                secret = read_secret_file(Path(value).expanduser())
            else:
                secret = obtain_secret(SecretRequest(keyring_name=value, allow_prompt=False), store=console.secrets)
            return secret, console.inspect(console.locate(path), secret)

        self.secret = self.metadata = None
        self.status.setText(html.escape("Checking the secret (deriving the key and reading the metadata)…"))
        self.job = self.wiz.run_job("Checking the secret", job, lambda result: self._proven(state, *result),
                                    on_failure=self._failed, on_done=self._done, key=KEYRING_JOBS)
        self.completeChanged.emit()

    def _proven(self, state: tuple, secret: str, metadata: BackupMetadata) -> None:
        self.secret, self.metadata, self._proven_for = secret, metadata, state
        self.status.setText(colored("✔ The secret opens this backup.", PASS_COLOR, True))

    def _failed(self, exc: RecoveryError) -> None:
        if isinstance(exc, WrongKeyError):
            exc = WrongKeyError(exc.message, hint=WRONG_SECRET_HINT, detail=exc.detail)
        self.status.setText(colored("✘ " + exc.message, FAIL_COLOR, True))
        self.wiz.show_error("The secret", exc)

    def _done(self) -> None:
        self.job = None
        self.completeChanged.emit()
        if self.metadata is not None and self.wiz.currentPage() is self:
            self.wiz.next()


# --------------------------------------------------------------------------------------------
# Page 3: metadata, and whether to decrypt
# --------------------------------------------------------------------------------------------

METADATA_LABELS = {
    "backup_id": "Backup id", "created_at": "Created", "created_by": "Created by", "app_version": "App version",
    "mode": "Type", "description": "Description", "database": "Database", "server_version": "Server version",
    "pg_dump_version": "pg_dump version", "compression": "Compression", "chunk_size": "Chunk size",
    "source": "Source", "source_name": "Source name",
}


class MetadataPage(QWizardPage):
    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Metadata")
        self.setSubTitle("What the backup says about itself (decrypted from its first chunk only).")
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label in METADATA_LABELS.items():
            value = wrap_label("", label)
            self.values[key] = value
            form.addRow(QLabel(f"{label}:"), value)
        self.extra = wrap_label("", "Other metadata fields")
        form.addRow(QLabel("Other fields:"), self.extra)

        self.decrypt_check = QCheckBox("&Decrypt to a .dump file (pg_dump custom format)")
        self.decrypt_check.setAccessibleName("Decrypt to a .dump file")
        self.out_edit = QLineEdit()
        self.out_edit.setAccessibleName("Save the .dump as")
        self.out_browse = _browse_button("Bro&wse…", "Choose where to save the .dump")
        self.out_browse.clicked.connect(self._browse)
        self.overwrite_check = QCheckBox("&Overwrite an existing file")
        self.overwrite_check.setAccessibleName("Overwrite an existing file")
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_browse)
        out_form = QFormLayout()
        out_form.addRow(buddy_label("&Save as:", self.out_edit, "Save the .dump as"), out_row)
        out_form.addRow(self.overwrite_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.decrypt_check)
        layout.addLayout(out_form)
        layout.addWidget(wrap_label("Decrypting writes to a private temporary file and renames it only after the whole "
                                    "backup has been proven; a damaged backup leaves nothing behind.",
                                    "About decrypting"))
        layout.addStretch(1)
        self.decrypt_check.toggled.connect(self._changed)
        self.out_edit.textChanged.connect(self._changed)
        self._changed()

    def initializePage(self) -> None:
        self.show_metadata(self.wiz.secret_page.metadata)
        if not self.out_edit.text():
            source = self.wiz.file_page.path()
            self.out_edit.setText(str(source.with_suffix(".dump") if source.suffix == ".enc"
                                      else source.with_name(source.name + ".dump")))

    def show_metadata(self, metadata: BackupMetadata | None) -> None:
        if metadata is None:
            return
        for f in fields(metadata):
            if f.name in self.values:
                value = getattr(metadata, f.name)
                if f.name == "chunk_size" and value:
                    value = format_bytes(value)
                self.values[f.name].setText("—" if value in (None, "") else str(value))
        self.extra.setText(", ".join(f"{k}={v}" for k, v in metadata.extra.items()) or "—")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the .dump as", self.out_edit.text(),
                                              "pg_dump archives (*.dump);;All files (*)")
        if path:
            self.out_edit.setText(path)

    def _changed(self) -> None:
        on = self.decrypt_check.isChecked()
        for widget in (self.out_edit, self.out_browse, self.overwrite_check):
            widget.setEnabled(on)
        self.setFinalPage(not on)  # Finish here, or Next to decrypt (this also re-lays out the wizard's buttons)
        self.completeChanged.emit()

    def output(self) -> Path:
        return Path(self.out_edit.text().strip()).expanduser()

    def isComplete(self) -> bool:
        return not self.decrypt_check.isChecked() or bool(self.out_edit.text().strip())

    def nextId(self) -> int:
        return ExtractWizard.DECRYPT if self.decrypt_check.isChecked() else -1

    def validatePage(self) -> bool:
        if not self.decrypt_check.isChecked():
            return True
        out = self.output()
        try:
            if out.resolve() == self.wiz.file_page.path().resolve():
                raise UsageError("The output would overwrite the backup itself.", hint="Choose another file name.")
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
    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Decrypt")
        self.setSubTitle("Every chunk is decrypted and checked; the .dump appears only when all of it is proven.")
        self.job: Job | None = None
        self.file_result: Any = None
        self.archive: Any = None
        self.outcome: str | None = None
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
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.written)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(buddy_label("Con&tents:", self.listing, "Archive contents"))
        layout.addWidget(self.listing, 1)
        self.setFinalPage(True)

    def initializePage(self) -> None:
        self.start()

    def cleanupPage(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def start(self) -> None:
        console = self.wiz.console
        path = str(self.wiz.file_page.path())
        out = self.wiz.metadata_page.output()
        overwrite = self.wiz.metadata_page.overwrite_check.isChecked()
        secret = self.wiz.secret_page.secret
        self.file_result = self.archive = self.outcome = None
        self.written.setText(f"Decrypting to {out}…")
        self.sha_edit.clear()
        self.summary.setText("")
        self.listing.clear()
        self.panel.setVisible(True)

        def job(reporter: Reporter) -> Any:
            return console.decrypt(console.locate(path), out, secret, overwrite=overwrite, reporter=reporter)

        self._run("Decrypting", job, self._decrypted, self._failed, on_cancel=self._cancelled, panel=self.panel)

    def _run(self, name: str, function: Any, on_success: Any, on_failure: Any, **kwargs: Any) -> None:
        holder: dict[str, Job] = {}
        holder["job"] = self.job = self.wiz.run_job(name, function, on_success, on_failure=on_failure,
                                                    on_done=lambda: self._done(holder["job"]), **kwargs)
        self.completeChanged.emit()

    def _decrypted(self, result: Any) -> None:
        from recovery_console.engine.console import BackupRef

        self.file_result = result
        self.written.setText(f"Written: {result.path} ({format_bytes(result.size)}, {result.size:,} bytes).")
        self.sha_edit.setText(result.sha256)
        console = self.wiz.console
        secret = self.wiz.secret_page.secret
        ref = BackupRef(location=str(result.path), path=Path(result.path))
        self.summary.setText(html.escape("Listing the archive's contents…"))
        self._run("Listing the contents", lambda r: console.contents(ref, lambda: secret)[1], self._listed,
                  self._list_failed)

    def _listed(self, archive: Any) -> None:
        from recovery_console.engine.archive import pgarchive

        self.archive = archive
        self.outcome = "ok"
        header = archive.header
        counts = archive.object_counts()
        top = ", ".join(f"{n} {desc}" for desc, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
        self.summary.setText(html.escape(
            f"pg_dump archive {header.version_str} of database {header.dbname}, dumped from PostgreSQL "
            f"{header.server_version} by pg_dump {header.dump_version}; {len(archive.toc)} entries: {top}."))
        self.listing.setPlainText("\n".join(pgarchive.listing_lines(archive)))

    def _list_failed(self, exc: RecoveryError) -> None:
        self.outcome = "ok"
        self.summary.setText(colored("The .dump was written, but its contents could not be listed: " + exc.message,
                                     WARN_COLOR))
        self.wiz.show_error("Archive contents", exc)

    def _failed(self, exc: RecoveryError) -> None:
        self.outcome = "failed"
        self.written.setText("")
        if isinstance(exc, WrongKeyError):
            exc = WrongKeyError(exc.message, hint=WRONG_SECRET_HINT, detail=exc.detail)
        self.summary.setText(colored("✘ Nothing was written: " + exc.message, FAIL_COLOR, True))
        self.wiz.show_error("Decrypt", exc)

    def _cancelled(self) -> None:
        self.outcome = "cancelled"
        self.written.setText("")
        self.summary.setText(colored("Cancelled; nothing was written.", WARN_COLOR, True))

    def _done(self, job: Job) -> None:
        if self.job is job:
            self.job = None
            self.panel.setVisible(False)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.job is None and self.outcome is not None


class ExtractWizard(WizardBase):
    """Offline forensic extraction of one backup file: keyless check, metadata, decrypt, contents."""

    FILE, SECRET, METADATA, DECRYPT = range(4)

    def __init__(self, console: Any, parent: QWidget | None = None, *, runner: JobRunner | None = None) -> None:
        super().__init__(console, parent, "Extract a backup (offline)", runner)
        self.file_page = FilePage(self)
        self.secret_page = SecretPage(self)
        self.metadata_page = MetadataPage(self)
        self.decrypt_page = DecryptPage(self)
        for page_id, page in ((self.FILE, self.file_page), (self.SECRET, self.secret_page),
                              (self.METADATA, self.metadata_page), (self.DECRYPT, self.decrypt_page)):
            self.setPage(page_id, page)

    def screenshot_pages(self) -> list[tuple[str, QWidget]]:
        """Each page filled with example data (nothing runs, nothing is read), for docs."""
        from recovery_console.engine.console import VerifyResult

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
        return self._pages_for_docs()
