"""Verify one backup: Console.verify (full or quick) or Console.verify_without_key, awaited in a job.

Progress (rate, ETA, cancel) comes from the shared ProgressPanel; the result panel lists every
fact an auditor asks for and ends in one plain verdict line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.results import VerifyResult
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.errors import Cancelled, RecoveryError, WrongKeyError
from recovery_console.formatting import format_bytes
from recovery_console.models.backup import KIND_FOLDER, BackupRecord
from recovery_console.ui.backup_table import format_time, locate_record
from recovery_console.ui.jobs import Job, JobRunner, event_loop, run_job, start_task
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.secrets import SecretSource
from recovery_console.ui.theme import icon

PASSED_FULL = "PASSED: this backup is whole and restorable"
PASSED_FOLDER = "PASSED: this folder backup is whole"
PASSED_QUICK = "PASSED (quick): every chunk is intact and nothing is missing"
PASSED_KEYLESS = "PASSED (without key): the file matches its .sha256 sidecar"
DEFAULT_FAILED_ADVICE = ("Do not rely on this backup. Keep the file for investigation, fetch another copy "
                         "(download it again) or verify another backup.")

FACTS = (
    ("version", "App version"), ("created", "Created"), ("location", "Location"), ("mode", "Verify mode"),
    ("chunks", "Chunks"), ("encrypted_size", "Encrypted size"), ("archive_size", "Archive size"),
    ("file_sha", "File SHA-256"), ("sidecar_sha", "Sidecar SHA-256"), ("archive_sha", "Archive SHA-256"),
    ("archive_version", "Archive version"), ("dumped_from", "Dumped from"), ("dumped_by", "Dumped by"),
    ("objects", "Objects"),
)


def _describe(backup: BackupRecord | Path | str) -> tuple[str, str | None]:
    """(file name, target or None) of what is verified."""
    if isinstance(backup, BackupRecord):
        return backup.file_name, backup.target
    return Path(str(backup)).name, None


def _size(n: int | None) -> str:
    return "" if n is None else f"{format_bytes(n)} ({n:,} bytes)"


def result_facts(result: VerifyResult) -> dict[str, str]:
    """The result panel's lines, as text."""
    md = result.metadata
    sidecar = result.sidecar_sha256
    if sidecar is None:
        sidecar_text = "no sidecar beside the file"
    elif result.ciphertext_sha256 is None:
        sidecar_text = f"{sidecar} (not compared by a quick verify)"
    elif sidecar == result.ciphertext_sha256:
        sidecar_text = f"{sidecar} (matches)"
    else:
        sidecar_text = f"{sidecar} (DIFFERS)"
    counts = result.object_counts or {}
    objects = ", ".join(f"{n} {desc}" for desc, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "version": md.app_version if md else "",
        "created": f"{format_time(md.created_at)} ({md.created_at})" if md else "",
        "location": result.location,
        "mode": {"full": "full", "quick": "quick (chunks only)", "keyless": "without key (checksum only)"}.get(
            result.mode, result.mode),
        "chunks": "" if result.chunk_count is None else f"{result.chunk_count:,}",
        "encrypted_size": _size(result.encrypted_size),
        "archive_size": _size(result.archive_length),
        "file_sha": result.ciphertext_sha256 or "not computed by a quick verify",
        "sidecar_sha": sidecar_text,
        "archive_sha": result.archive_sha256 or "",
        "archive_version": result.archive_version or "",
        "dumped_from": f"PostgreSQL {result.dumped_from}" if result.dumped_from else "",
        "dumped_by": f"pg_dump {result.dumped_by}" if result.dumped_by else "",
        "objects": objects,
    }


def verdict_for(result: VerifyResult) -> tuple[str, str]:
    """(verdict line, what it means) for a passed verify."""
    if result.mode == "keyless":
        return PASSED_KEYLESS, ("The file is byte for byte the one that was written. This does not prove the "
                                "secret opens it: a full verify needs the instance secret.")
    if result.mode == "quick":
        return PASSED_QUICK, ("Every chunk decrypted and authenticated, in order, and the end record is present. "
                              "The archive's hash and table of contents were not checked: run a full verify "
                              "before relying on it for a restore.")
    note = "" if result.sidecar_sha256 else " (There is no .sha256 sidecar beside it to compare against.)"
    if result.metadata is not None and result.metadata.kind == KIND_FOLDER:
        return PASSED_FOLDER, ("Every chunk decrypted and authenticated in order, nothing was cut off or added, and "
                               "the tar's SHA-256 matches the one sealed at backup time. It holds a file vault's "
                               "folder, not a database: it is extracted into a new folder, not restored." + note)
    return PASSED_FULL, ("Every chunk decrypted and authenticated in order, nothing was cut off or added, the "
                         "archive's SHA-256 matches the one sealed at backup time and its table of contents "
                         "reads." + note)


class VerifyDialog(QDialog):
    """Run one verify and show its verdict; `verified` / `verify_failed` fire when it ends."""

    verified = Signal(object)
    verify_failed = Signal(object)

    def __init__(self, console: Console, backup: BackupRecord | Path | str, *, runner: JobRunner | None = None,
                 secrets: SecretSource | None = None, quick: bool = False, without_key: bool = False,
                 parent: QWidget | None = None) -> None:
        """`backup`: a catalog record, or a backup file's path. `secrets`: where the instance secret comes from
        (None: only a keyless check can run). `runner`: the main window's, so jobs on one target run one at a
        time (None: a runner of its own). `quick` / `without_key`: the options ticked at first."""
        super().__init__(parent)
        self.console = console
        self.backup = backup
        self.secrets = secrets
        self.runner = runner or JobRunner()
        self.task: asyncio.Task[None] | None = None
        self.verify_result: VerifyResult | None = None
        self.error: RecoveryError | None = None
        name, self.target = _describe(backup)
        self.setWindowTitle(f"Verify {name}")
        self.setWindowIcon(icon("verify"))
        self.setAccessibleName("Verify backup")
        self.setMinimumWidth(720)

        heading = QLabel(f"<b>{name}</b>" + (f"<br>on target <b>{self.target}</b>" if self.target else ""))
        heading.setTextFormat(Qt.TextFormat.RichText)
        heading.setWordWrap(True)
        heading.setAccessibleName("Backup being verified")

        options = QGroupBox("What to check")
        self.full_hint = QLabel("A full verify decrypts every chunk and proves the archive's hash and contents.")
        self.full_hint.setObjectName("hint")
        self.full_hint.setWordWrap(True)
        self.quick_box = QCheckBox("&Quick: every chunk, without the archive hash and contents")
        self.quick_box.setAccessibleName("Quick verify")
        self.quick_box.setChecked(quick)
        self.keyless_box = QCheckBox("With&out key: only compare the file with its .sha256 sidecar")
        self.keyless_box.setAccessibleName("Verify without the key")
        self.keyless_box.setChecked(without_key)
        self.keyless_box.toggled.connect(lambda on: self.quick_box.setEnabled(not on))
        self.quick_box.setEnabled(not without_key)
        box = QVBoxLayout(options)
        box.addWidget(self.full_hint)
        box.addWidget(self.quick_box)
        box.addWidget(self.keyless_box)

        # Both panels are shown from the start: a stable layout, and nothing new to lay out, polish or
        # load fonts for on the GUI thread at the moment the verify starts.
        self.progress = ProgressPanel()
        self.progress.setAccessibleName("Verify progress")
        self.progress.phase.setText("Not started")
        self.progress.cancel_button.setEnabled(False)

        self.result_panel = QFrame()
        self.result_panel.setObjectName("resultPanel")
        self.result_panel.setAccessibleName("Verify result")
        self.verdict = QLabel("")
        self.verdict.setObjectName("verdictRunning")
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Verdict")
        font = QFont(self.verdict.font())
        font.setPointSizeF(max(font.pointSizeF(), 9) * 1.6)
        font.setBold(True)
        self.verdict.setFont(font)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice = QLabel("")
        self.advice.setWordWrap(True)
        self.advice.setAccessibleName("What the verdict means")
        self.fact_labels: dict[str, QLabel] = {}
        self.facts_form = QFormLayout()
        self.facts_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, text in FACTS:
            label = QLabel("")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
            label.setAccessibleName(text)
            if key.endswith("_sha"):
                font = QFont("monospace")
                font.setStyleHint(QFont.StyleHint.Monospace)
                label.setFont(font)
                label.setWordWrap(False)
            if key == "location":  # a long path has no place to wrap: let it be cut (whole on hover) rather than
                # widen the form past the dialog and cut every other line with it
                label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.fact_labels[key] = label
            self.facts_form.addRow(f"{text}:", label)
        self.details_button = QPushButton("Show technical &details")
        self.details_button.setAccessibleName("Show technical details")
        self.details_button.setCheckable(True)
        self.details_button.hide()
        self.details_text = QPlainTextEdit()
        self.details_text.setReadOnly(True)
        self.details_text.setAccessibleName("Technical details")
        self.details_text.setMaximumHeight(140)
        self.details_text.hide()
        self.details_button.toggled.connect(self.details_text.setVisible)
        panel = QVBoxLayout(self.result_panel)
        panel.addWidget(self.verdict)
        panel.addWidget(self.advice)
        panel.addLayout(self.facts_form)
        panel.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        panel.addWidget(self.details_text)
        panel.addStretch(1)
        self._show_state("Not verified yet", "Choose what to check, then press Verify.")
        self._set_rows_visible(lambda key: False)
        for label in (self.verdict, *self.fact_labels.values()):
            label.fontMetrics().height()  # resolve (load) the fonts now, not mid-verify

        self.start_button = QPushButton(icon("verify"), "&Verify")
        self.start_button.setAccessibleName("Start the verify")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.close_button = QPushButton("C&lose")
        self.close_button.setAccessibleName("Close this window")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(options)
        layout.addWidget(self.progress)
        self.result_scroll = QScrollArea()  # on a short screen the facts scroll; none is cut off
        self.result_scroll.setWidget(self.result_panel)
        self.result_scroll.setWidgetResizable(True)
        self.result_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.result_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.result_scroll, 1)
        layout.addLayout(buttons)
        self.setTabOrder(self.quick_box, self.keyless_box)
        self.setTabOrder(self.keyless_box, self.start_button)
        self.setTabOrder(self.start_button, self.close_button)

    # ------------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        if not self.running:
            self.task = start_task(self._verify())

    async def _verify(self) -> None:
        """Get the secret (unless keyless), run the verify in a job, show its verdict."""
        self.verify_result, self.error = None, None
        self.start_button.setEnabled(False)
        self.quick_box.setEnabled(False)
        self.keyless_box.setEnabled(False)
        self._show_state("Starting…", "")
        try:
            secret = None
            if not self.keyless_box.isChecked():
                if self.secrets is None:
                    self._run_failed(RecoveryError(
                        "No instance secret is available to this window.",
                        hint="Verify without the key, or open the verify from the main window."))
                    return
                self._show_state("Waiting for the instance secret…", "")
                secret = await self._instance_secret(self.secrets)
                self.activateWindow()  # the prompt handed the focus to its own parent; keep it here for the keyboard
                if secret is None:
                    self._show_state("Not verified: no instance secret was given.",
                                     "A full or quick verify needs the instance secret; a keyless check does not.")
                    return
            job = Job(f"Verifying {self.windowTitle()[7:]}", self._work(secret, self.quick_box.isChecked()),
                      key=self.target or "")
            self.progress.attach(job)
            self.progress.phase.setText("Opening the backup…")
            self.progress.bar.setRange(0, 0)
            self.progress.detail.setText("")
            self._show_state("Verifying…", "")
            try:
                self._passed(await run_job(self.runner, job), job)
            except Cancelled:  # Cancel in the progress panel
                self._cancelled()
            except asyncio.CancelledError:  # cancel(): the dialog is closing
                self._cancelled()
                raise
            except RecoveryError as exc:
                self._run_failed(exc)
        finally:
            self._finish_controls()

    async def _instance_secret(self, secrets: SecretSource) -> str | None:
        """The instance secret from `secrets`, which may ask the user first; None if none was given."""
        answered: asyncio.Future[str | None] = event_loop().create_future()
        secrets.request(self.target, lambda secret: None if answered.done() else answered.set_result(secret),
                        why=f"verify {self.windowTitle()[7:]}")
        return await answered

    def _work(self, secret: str | None, quick: bool) -> Callable[[Reporter], VerifyResult]:
        """The job: locate the backup (opening its target may connect), then verify it."""
        console, backup = self.console, self.backup

        def work(reporter: Reporter) -> VerifyResult:
            ref: BackupRef = (locate_record(console, backup) if isinstance(backup, BackupRecord)
                              else console.locate(str(backup)))
            if secret is None:
                return console.verify_without_key(ref, reporter=reporter)
            opening = SecretRotation(console).secret_opening(ref, secret, reporter)  # an older secret if it needs one
            return console.verify(ref, opening, quick=quick, reporter=reporter)

        return work

    def cancel(self) -> None:
        """Stop the verify (its job stops at its next chunk); the verdict says it was cancelled."""
        if self.task is not None:
            self.task.cancel()

    def _finish_controls(self) -> None:
        self.start_button.setEnabled(True)
        self.start_button.setText("&Verify again")
        self.keyless_box.setEnabled(True)
        self.quick_box.setEnabled(not self.keyless_box.isChecked())

    # ------------------------------------------------------------------ results

    def _show_state(self, verdict: str, advice: str, kind: str = "verdictRunning") -> None:
        self.verdict.setObjectName(kind)
        self.verdict.setText(verdict)
        self.verdict.setAccessibleDescription(verdict)
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)
        self.advice.setText(advice)
        self.result_panel.show()
        QTimer.singleShot(0, self._grow_to_fit)

    def _grow_to_fit(self) -> None:
        """Grow the dialog (within the screen) so that the result shows whole, wrapped lines such as Objects
        included; what still does not fit scrolls."""
        if not self.isVisible():
            return
        viewport = self.result_scroll.viewport()
        panel = self.result_panel
        wanted = panel.heightForWidth(viewport.width()) if panel.hasHeightForWidth() else panel.sizeHint().height()
        needed = self.height() + max(0, wanted - viewport.height())
        screen = self.screen()
        limit = screen.availableGeometry().height() - 40 if screen is not None else needed
        if needed > self.height():
            self.resize(self.width(), min(needed, limit))

    def _set_fact(self, key: str, text: str) -> None:
        self.fact_labels[key].setText(text)
        self.fact_labels[key].setToolTip(text if key == "location" else "")

    def _clear_facts(self) -> None:
        for label in self.fact_labels.values():
            label.setText("")
        self._set_rows_visible(lambda key: False)
        self.details_text.clear()
        self.details_button.setChecked(False)
        self.details_button.hide()

    def _set_rows_visible(self, visible: Callable[[str], bool]) -> None:
        for row, (key, _) in enumerate(FACTS):
            self.facts_form.setRowVisible(row, visible(key))

    def _passed(self, result: VerifyResult, job: Job) -> None:
        self.verify_result = result
        self.progress.bar.setRange(0, 1000)
        self.progress.bar.setValue(1000)
        self.progress.phase.setText("Done")
        last = job.last_progress
        took = f" in {last.elapsed:.1f} s" if last is not None and last.elapsed > 0 else ""
        self.progress.detail.setText(f"{format_bytes(result.encrypted_size)} read and checked{took}.")
        verdict, advice = verdict_for(result)
        self._clear_facts()
        facts = result_facts(result)
        for key, text in facts.items():
            self._set_fact(key, text)
        self._set_rows_visible(lambda key: bool(facts.get(key)))
        self._show_state(verdict, advice, "verdictPassed")
        self.verified.emit(result)

    def _run_failed(self, error: RecoveryError) -> None:
        self.error = error
        if isinstance(error, WrongKeyError) and self.secrets is not None:
            self.secrets.reject(self.target)
        self.progress.phase.setText("Stopped")
        self.progress.bar.setRange(0, 1000)
        self.progress.detail.setText("")
        self._clear_facts()
        location = self.backup.file_name if isinstance(self.backup, BackupRecord) else str(self.backup)
        self._set_fact("location", location)
        self._set_rows_visible(lambda key: key == "location")
        if error.detail:
            self.details_text.setPlainText(error.detail)
            self.details_button.show()
        self._show_state(f"FAILED: {error.message}", f"What to do next: {error.hint or DEFAULT_FAILED_ADVICE}",
                         "verdictFailed")
        self.verify_failed.emit(error)

    def _cancelled(self) -> None:
        self.error = Cancelled()
        self.progress.phase.setText("Cancelled")
        self._clear_facts()
        self._show_state("Cancelled: the verify was stopped before it finished.",
                         "Nothing was changed. Start it again to get a verdict.")
        self.verify_failed.emit(self.error)

    # ------------------------------------------------------------------ closing

    def reject(self) -> None:
        """Closing while a verify runs cancels it; the dialog goes away at once."""
        self.cancel()
        super().reject()
