"""File › Open backup file: prove a backup file whole and list what it holds, writing no plaintext anywhere.

It is the verify dialog over a file, plus the file's SHA-256 (with a box for the hash someone
expects), the archive's table of contents once a full verify has passed, and decrypting to a file
as a separate, explicit step whose suggested folder is never the one holding the evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.container.streams import sha256_stream
from recovery_console.engine.progress import Reporter
from recovery_console.engine.results import FileResult, VerifyResult
from recovery_console.errors import RecoveryError
from recovery_console.models.backup import KIND_FOLDER
from recovery_console.ui.dialogs.verify import VerifyDialog
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.secrets import SecretSource
from recovery_console.ui.views.details_pane import TocModel
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, colored

NO_SIDECAR = "There is no .sha256 sidecar beside this file, so there is nothing to check it against without the key."


def expected_hash(text: str) -> str:
    """The hash in what was pasted: a bare hex digest, or a sidecar line ("HASH  name"), any case."""
    words = text.strip().split()
    return words[0].lower().removeprefix("sha256:") if words else ""


def decrypt_folder(backup: Path) -> Path:
    """Where a decrypted copy is suggested: the user's documents (or home), never the backup's own folder."""
    for folder in (QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation),
                   str(Path.home())):
        if folder and Path(folder).is_dir() and Path(folder).resolve() != backup.parent.resolve():
            return Path(folder)
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.TempLocation))


class OpenFileDialog(VerifyDialog):
    """A backup file on this computer: its SHA-256, a full verify, its contents, and (only on request) decrypt."""

    def __init__(self, console: Console, path: Path, *, runner: JobRunner | None = None,
                 secrets: SecretSource | None = None, parent: QWidget | None = None) -> None:
        path = Path(path).absolute()
        has_sidecar = BackupRef(str(path), path=path).sidecar_sha256() is not None
        super().__init__(console, path, runner=runner, secrets=secrets, parent=parent)
        self.path = path
        self.has_sidecar = has_sidecar
        self.setWindowTitle(f"Open {self.path.name}")
        self.setAccessibleName("Open backup file")
        self.secret: str | None = None
        self.folder = False  # a folder backup (a vault's tar): no table of contents; decrypting gives the tar
        self.side_tasks: set[asyncio.Task[None]] = set()
        self.sha256: str | None = None
        self.keyless_box.setText("Check against the side&car only (no key needed)")
        self.keyless_box.setEnabled(self.has_sidecar)
        if not self.has_sidecar:
            self.keyless_box.setChecked(False)
            self.keyless_box.setToolTip(NO_SIDECAR)

        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.sha_label = QLabel("computing…")
        self.sha_label.setFont(mono)
        self.sha_label.setAccessibleName("File SHA-256")
        self.sha_label.setTextInteractionFlags(self.fact_labels["file_sha"].textInteractionFlags())
        self.expected_edit = QLineEdit()
        self.expected_edit.setFont(mono)
        self.expected_edit.setPlaceholderText("paste the SHA-256 you were given")
        self.expected_edit.setAccessibleName("Expected SHA-256")
        self.expected_edit.textChanged.connect(self._compare)
        self.match_label = QLabel("")
        self.match_label.setAccessibleName("Hash comparison")
        hashes = QFormLayout()
        hashes.addRow("File SHA-256:", self.sha_label)
        hashes.addRow("E&xpected:", self.expected_edit)
        hashes.addRow("", self.match_label)

        self.toc = TocModel(self)
        self.toc_view = QTableView()
        self.toc_view.setModel(self.toc)
        self.toc_view.setAccessibleName("Archive contents")
        self.toc_view.setMinimumHeight(140)
        self.toc_view.horizontalHeader().setStretchLastSection(True)
        self.toc_view.hide()
        self.decrypt_button = QPushButton("&Decrypt to a file…")
        self.decrypt_button.setAccessibleName("Decrypt to a file")
        self.decrypt_button.setToolTip("Writes the plain pg_dump archive: only when you ask, and where you choose.")
        self.decrypt_button.setEnabled(False)
        self.decrypt_button.clicked.connect(self.decrypt)
        self.decrypt_status = QLabel("")
        self.decrypt_status.setWordWrap(True)
        self.decrypt_status.setAccessibleName("Decrypt result")
        row = QHBoxLayout()
        row.addWidget(self.decrypt_button)
        row.addWidget(self.decrypt_status, 1)

        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)  # the verify dialog's column: heading, options, progress, result
        layout.insertLayout(1, hashes)
        layout.insertWidget(layout.count() - 1, self.toc_view, 1)
        layout.insertLayout(layout.count() - 1, row)
        self.verified.connect(self._list_contents)
        self._spawn(self._hash())

    def _spawn(self, flow: Coroutine[Any, Any, None]) -> None:
        """Hashing, listing and decrypting run beside the verify; closing the dialog cancels them too."""
        task = start_task(flow)
        self.side_tasks.add(task)
        task.add_done_callback(self.side_tasks.discard)

    def cancel(self) -> None:
        super().cancel()
        for task in list(self.side_tasks):
            if not task.cancelling():  # a second cancel would cut short the wait for its job to stop
                task.cancel()

    def _finish_controls(self) -> None:
        super()._finish_controls()
        self.keyless_box.setEnabled(self.has_sidecar)

    # -- the file's hash -------------------------------------------------------------------------

    async def _hash(self) -> None:
        path = self.path

        def work(_reporter: Reporter) -> str:
            with path.open("rb") as stream:
                return sha256_stream(stream)[0]

        try:
            self.sha256 = await run_job(self.runner, Job(f"Hashing {path.name}", work))
        except RecoveryError as exc:
            self.sha_label.setText(f"not computed: {exc.message}")
            return
        except OSError as exc:
            self.sha_label.setText(f"not computed: {exc.strerror or exc}")
            return
        self.sha_label.setText(self.sha256)
        self._compare()

    def _compare(self) -> None:
        expected = expected_hash(self.expected_edit.text())
        if not expected or self.sha256 is None:
            self.match_label.setText("")
        elif expected == self.sha256:
            self.match_label.setText(colored("✔ matches the file's SHA-256", PASS_COLOR, True))
        else:
            self.match_label.setText(colored("✘ DOES NOT MATCH the file's SHA-256", FAIL_COLOR, True))

    # -- contents and decrypt --------------------------------------------------------------------

    async def _instance_secret(self, secrets: SecretSource) -> str | None:
        self.secret = await super()._instance_secret(secrets)
        return self.secret

    def _list_contents(self, result: VerifyResult) -> None:
        """After a full verify, the table of contents (read into memory; nothing written)."""
        if result.mode == "full" and self.secret is not None:
            self.decrypt_button.setEnabled(True)
            self.folder = result.metadata is not None and result.metadata.kind == KIND_FOLDER
            if self.folder:
                self.decrypt_button.setToolTip("Writes the vault's tar: only when you ask, and where you choose.")
                self.decrypt_status.setText("This backup holds a folder (a file vault's tar), not a database: it has "
                                            "no table of contents. Extract… (Ctrl+E) writes its files into a new "
                                            "folder; Decrypt gives the tar itself.")
                return
            self._spawn(self._contents(self.secret))

    async def _contents(self, secret: str) -> None:
        console, path = self.console, str(self.path)
        try:
            _metadata, archive = await run_job(self.runner, Job(
                "Reading the contents", lambda r: console.contents(console.locate(path), lambda: secret)))
        except RecoveryError as exc:
            self.decrypt_status.setText(f"Contents not listed: {exc.message}")
            return
        self.toc.set_archive(archive)
        self.toc_view.show()
        self.toc_view.resizeColumnsToContents()

    def decrypt(self) -> None:
        """Ask where (never the evidence folder by default), then decrypt there; a separate, explicit step."""
        suffix, kinds = (".tar", "tar archives (*.tar)") if self.folder else (".dump", "pg_dump archives (*.dump)")
        suggested = decrypt_folder(self.path) / (self.path.name.split(".")[0] + suffix)
        out, _ = QFileDialog.getSaveFileName(self, "Decrypt to a file", str(suggested), f"{kinds};;All files (*)")
        if out and self.secret is not None:
            self._spawn(self._decrypt(Path(out), self.secret, overwrite=Path(out).exists()))  # the dialog asked

    async def _decrypt(self, out: Path, secret: str, *, overwrite: bool = False) -> None:
        console, path = self.console, str(self.path)
        self.decrypt_button.setEnabled(False)
        job = Job(f"Decrypting {self.path.name}",
                  lambda r: console.decrypt(console.locate(path), out, secret, overwrite=overwrite,
                                                  reporter=r))
        self.progress.attach(job)
        try:
            result: FileResult = await run_job(self.runner, job)
        except RecoveryError as exc:
            self.decrypt_status.setText(colored(f"✘ {exc.message}", FAIL_COLOR))
            return
        finally:
            self.decrypt_button.setEnabled(True)
        self.decrypt_status.setText(f"Decrypted to {result.path} (SHA-256 {result.sha256}).")
