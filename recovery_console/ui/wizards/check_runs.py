"""A wizard page whose checks run as an awaited job: each time the page opens and from its Run-again button; a run
still stopping (the user went Back and Next again) ends before the next one starts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QPushButton

    from recovery_console.ui.progress_panel import ProgressPanel
    from recovery_console.ui.wizards.restore import RestoreWizard


class CheckRuns:
    """Mixed into a QWizardPage (before it) that has `wiz`, `panel` and `again_button`; it supplies what a run
    resets (`reset_checks`) and the checks themselves (`run_checks`)."""

    wiz: RestoreWizard
    panel: ProgressPanel
    again_button: QPushButton
    completeChanged: SignalInstance
    task: asyncio.Task[None] | None = None
    _runs = 0
    """Check runs started and not yet ended."""

    def reset_checks(self) -> None:
        """Forget the last run's outcome before a new one starts."""

    async def run_checks(self) -> None:
        """The checks, showing their outcome on the page."""

    def initializePage(self) -> None:
        self.start()

    def cleanupPage(self) -> None:
        if self.task is not None:
            self.task.cancel()

    @property
    def checking(self) -> bool:
        return self._runs > 0

    def start(self) -> None:
        """Run the checks; a run still stopping ends first."""
        previous = self.task
        if previous is not None:
            previous.cancel()
        self._runs += 1
        self.reset_checks()
        self.again_button.setEnabled(False)
        self.completeChanged.emit()
        self.task = self.wiz.start(self._run(previous))

    async def _run(self, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await self.run_checks()
        finally:
            self._runs -= 1
            if not self.checking:
                self.panel.setVisible(False)
                self.again_button.setEnabled(True)
            self.completeChanged.emit()
