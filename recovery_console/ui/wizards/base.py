"""What every wizard shares: engine jobs awaited in coroutines, errors in the one error style, page shots for docs.

A wizard's flows are coroutines started with `start`: each awaits its engine jobs (`run`) and the
user's answers (`answer`) in the order they happen. Closing the wizard cancels them, which
cancels their jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget, QWizard

from recovery_console.engine.console import Console
from recovery_console.engine.progress import Progress, Reporter
from recovery_console.errors import RecoveryError
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, answered, run_job, start_task
from recovery_console.ui.progress_panel import ProgressPanel

T = TypeVar("T")
KEYRING_JOBS = "keyring"
"""The job key of every job that calls the keyring: a SecretStore is used from one thread at a time."""


class WizardBase(QWizard):
    """A wizard whose flows await engine jobs run off the GUI thread, and that shows errors in the one error style."""

    def __init__(self, console: Console, parent: QWidget | None, title: str, runner: JobRunner | None) -> None:
        super().__init__(parent)
        self.console = console
        # A runner shared with the main window (if given) keeps keyed jobs (keyring, a target) one at a time.
        self.runner = runner if runner is not None else JobRunner()
        self.tasks: set[asyncio.Task[Any]] = set()  # this wizard's running flows (the runner may be shared)
        self.error_boxes: list[QMessageBox] = []
        self.base_title = title
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.currentIdChanged.connect(self._title_for_page)
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.setMinimumSize(760, 600)
        names = {
            QWizard.WizardButton.BackButton: "Back: the previous page",
            QWizard.WizardButton.NextButton: "Next: the next page",
            QWizard.WizardButton.CommitButton: "Commit: start, then there is no going back",
            QWizard.WizardButton.FinishButton: "Finish",
            QWizard.WizardButton.CancelButton: "Cancel and close the wizard",
        }
        for which, name in names.items():
            self.button(which).setAccessibleName(name)

    def _title_for_page(self, page_id: int) -> None:
        """The window title names the step as well, as the taskbar, window switchers and screen readers show it."""
        page = self.page(page_id)
        step = page.title() if page is not None else ""
        self.setWindowTitle(f"{self.base_title} — {step}" if step else self.base_title)

    # -- flows -----------------------------------------------------------------------------------

    def start(self, flow: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run one of this wizard's flows; closing the wizard cancels it."""
        task = start_task(flow)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self, name: str, function: Callable[[Reporter], T], *, panel: ProgressPanel | None = None,
                  key: str = "", on_progress: Callable[[Progress], None] | None = None) -> T:
        """`function(reporter)` on a worker thread: its result, or its `RecoveryError` (`Cancelled` if stopped)."""
        job = Job(name, function, key)
        if panel is not None:
            panel.attach(job)
        if on_progress is not None:
            job.progress.connect(on_progress)
        result: T = await run_job(self.runner, job)
        return result

    async def answer(self, dialog: QDialog) -> int:
        """Open `dialog` window-modal without blocking and wait until it is closed; its result code."""
        return await answered(dialog)

    @property
    def busy(self) -> bool:
        """Whether one of this wizard's flows (and so maybe a job) is still running."""
        return bool(self.tasks)

    def cancel_jobs(self) -> None:
        """Cancel this wizard's flows and their jobs (never the main window's, when the runner is shared)."""
        for task in list(self.tasks):
            task.cancel()

    def _pages_for_docs(self) -> list[tuple[str, QWidget]]:
        """(title, page) for every page, laid out at a documentation-friendly size."""
        size = self.size().expandedTo(QSize(820, 760))
        self.resize(size)
        return [(self.page(page_id).title(), self.page(page_id)) for page_id in self.pageIds()]

    # -- errors ----------------------------------------------------------------------------------

    def show_error(self, title: str, error: RecoveryError) -> QMessageBox:
        """The one error style (what happened, what to do, details folded), shown without blocking."""
        box = error_box(self, title, error)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_boxes.append(box)
        box.open()
        return box

    @property
    def last_error(self) -> QMessageBox | None:
        return self.error_boxes[-1] if self.error_boxes else None

    def done(self, result: int) -> None:
        self.cancel_jobs()
        super().done(result)
