"""Clean up, in the restore wizard: drop what failed restores of a profile left on its server, and say what happened."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from recovery_console.engine.restore_cleanup import CleanupReport, clean_up
from recovery_console.engine.state import restore_journal
from recovery_console.errors import RecoveryError
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard


class CleanupRow(QWidget):
    """A Clean up button beside what the restore journals of a profile record as left on the server."""

    def __init__(self, wizard: RestoreWizard, on_cleaned: Callable[[], None]) -> None:
        super().__init__()
        self.wiz = wizard
        self.on_cleaned = on_cleaned
        self.profile: str | None = None
        self.cleaning = False
        self.report: CleanupReport | None = None
        self.button = QPushButton("Clean &up")
        self.button.setAccessibleName("Drop the databases failed restores of this profile left behind")
        self.button.clicked.connect(lambda: self.wiz.start(self.clean_up()))
        self.status = wrap_label("", "Clean up status", rich=True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.status, 1)
        self.setVisible(False)

    def left(self) -> list[str]:
        if self.profile is None:
            return []
        return [name for journal in restore_journal.pending(self.wiz.console.paths, self.profile)
                for name in journal.leftovers]

    def offer(self, profile: str, advice: str) -> None:
        """Show the row if restores of `profile` left databases behind, naming them, with `advice`."""
        if profile != self.profile:
            self.profile, self.report = profile, None
        left = self.left()
        self.setVisible(bool(left) or self.report is not None)  # what the last clean-up did stays in view
        self.button.setVisible(bool(left))
        self.button.setEnabled(bool(left) and not self.cleaning)
        if left:
            self.status.setText(html.escape(f"Recorded by restores that did not finish: {', '.join(left)}. "
                                            + advice))

    async def clean_up(self) -> None:
        """Drop what the journals record (engine/restore_cleanup.py), then list exactly what was and was not."""
        profile, console = self.profile, self.wiz.console
        if profile is None or self.cleaning:
            return
        self.cleaning = True
        self.button.setEnabled(False)
        self.status.setText(html.escape("Cleaning up…"))
        try:
            report = await self.wiz.run("Cleaning up", lambda r: clean_up(console, profile))
        except RecoveryError as exc:
            self.status.setText(colored("✘ Clean up failed: " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("Clean up", exc)
        else:
            self.report = report
            color = WARN_COLOR if report.not_dropped else PASS_COLOR
            self.status.setText("<br>".join(colored(line, color) for line in report.lines()))
        finally:
            self.cleaning = False
            left = bool(self.left())
            self.button.setVisible(left)
            self.button.setEnabled(left)
            self.on_cleaned()
