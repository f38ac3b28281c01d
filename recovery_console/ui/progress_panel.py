"""A progress panel for one job: phase, bar, rate, ETA and a Cancel button wired to the job's token.

When the job ends the panel says how it ended (done, failed, cancelled): no phase, busy bar or
time left outlives the work it described.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from recovery_console.engine.progress import Progress
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes, format_duration
from recovery_console.ui.jobs import Job

PHASE_LABELS = {
    "derive-key": "Deriving the key",
    "read": "Reading",
    "encrypt": "Encrypting",
    "upload": "Uploading",
    "download": "Downloading",
    "verify": "Verifying",
    "decrypt": "Decrypting",
    "sync": "Listing the target",
    "dump": "Dumping the database",
    "restore": "Restoring",
    "check": "Checking the restored copy",
    "swap": "Swapping in the restored database (cannot be cancelled now)",
}


def format_eta(seconds: float | None) -> str:
    return "estimating…" if seconds is None else f"{format_duration(seconds)} left"


def _message(error: object) -> str:
    return error.message if isinstance(error, RecoveryError) else str(error)


class ProgressPanel(QWidget):
    """Shows a job's progress; Cancel asks the job to stop at its next chunk."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.phase = QLabel("Waiting…")
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Progress")
        self.detail = QLabel("")
        self.detail.setAccessibleName("Progress details")
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setAccessibleName("Cancel the running job")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.phase)
        layout.addLayout(row)
        layout.addWidget(self.detail)

    def attach(self, job: Job) -> None:
        """Follow `job`; bound methods, not lambdas, so a panel deleted before its job ends is simply not called."""
        self.job = job
        self.cancel_button.setEnabled(True)
        job.progress.connect(self.show_progress)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        job.done.connect(self._done)

    def _succeeded(self, _result: object) -> None:
        self.show_end("Done.", complete=True)

    def _failed(self, error: object) -> None:
        self.show_end(f"Failed: {_message(error)}")

    def _cancelled(self) -> None:
        self.show_end("Cancelled.")

    def _done(self) -> None:
        self.cancel_button.setEnabled(False)

    def show_end(self, text: str, *, complete: bool = False) -> None:
        """The job has ended: say how, stop the busy bar (full only when it succeeded), drop the rate and ETA."""
        self.cancel_button.setEnabled(False)
        self.phase.setText(text)
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if complete else 0)
        self.detail.setText("")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.phase.setText("Cancelling…")

    def show_progress(self, progress: Progress) -> None:
        self.phase.setText(PHASE_LABELS.get(progress.phase.value, progress.phase.value))
        if not progress.phase.cancellable:
            self.cancel_button.setEnabled(False)
        if progress.fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(progress.fraction * 1000))
        total = f" of {format_bytes(progress.total)}" if progress.total else ""
        self.detail.setText(f"{format_bytes(progress.done)}{total} · {format_bytes(progress.rate)}/s · "
                            f"{format_eta(progress.eta)}")
