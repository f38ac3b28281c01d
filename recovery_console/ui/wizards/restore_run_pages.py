"""The restore wizard's last pages: the restore running (cancellable until the swap), then its result and Roll back."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from recovery_console.engine.progress import Progress
from recovery_console.engine.restore import Restorer, RestoreResult
from recovery_console.engine.restore_preflight import RestorePlan
from recovery_console.errors import Cancelled, RecoveryError
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored
from recovery_console.ui.widgets.table_items import number_item, table_item
from recovery_console.ui.wizards.restore_cleanup_row import CleanupRow

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard

CLEANUP_ADVICE = ("When the server is back, use Clean up: it drops those still unfinished and says what became "
                  "of the others.")
HISTORY_POINTER = ("Later, Profile › Restore history… in the main window lists every restore of this profile, "
                   "with Roll back and Drop for the database each one kept.")

class ProgressPage(QWizardPage):
    """Page 5: the restore runs; the main window is blocked meanwhile."""

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Restoring")
        self.setSubTitle("Cancel is possible until the restored copy is swapped in; the original database stays "
                         "as it was until then.")
        self.running = False
        self.result: RestoreResult | None = None
        self.outcome: str | None = None  # "ok", "failed", "cancelled"
        self.panel = ProgressPanel()
        self.panel.cancel_button.setText("&Cancel the restore")
        self.panel.cancel_button.setAccessibleName("Cancel the restore")
        self.status = wrap_label("", "Restore status", rich=True)
        self.headline = ""  # how the restore ended, in one line, without what it left behind
        self.cleanup = CleanupRow(wizard, self._cleaned)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addWidget(self.cleanup)
        layout.addStretch(1)

    def initializePage(self) -> None:
        plan, secret = self.wiz.preflight_page.plan, self.wiz.backup_page.secret
        if not self.running and self.outcome is None and plan is not None and secret is not None:
            self.running = True
            self.wiz.start(self._restore(plan, secret))

    async def _restore(self, plan: RestorePlan, secret: str) -> None:
        """Block the main window, run the restore (it proves every chunk again), show how it ended."""
        console = self.wiz.console
        self.status.setText(html.escape(f"Restoring {plan.database}…"))
        self.wiz.set_parent_blocking(True, f"Restoring {plan.database} …")
        try:
            self.result = await self.wiz.run("Restoring", lambda r: Restorer(console).run(plan, secret, reporter=r),
                                             panel=self.panel, on_progress=self._progress)
        except Cancelled as exc:
            self.outcome = "cancelled"
            self.headline = colored("The restore was cancelled.", WARN_COLOR, True)
            self.status.setText(self.headline + ("<br>" + html.escape(exc.hint) if exc.hint else ""))
            self.cleanup.offer(plan.profile.name, CLEANUP_ADVICE)
        except RecoveryError as exc:
            self.outcome = "failed"
            self.headline = colored("✘ The restore failed: " + exc.message, FAIL_COLOR, True)
            self.status.setText(self.headline + ("<br>" + html.escape(exc.hint) if exc.hint else ""))
            self.cleanup.offer(plan.profile.name, CLEANUP_ADVICE)
            self.wiz.show_error("The restore", exc)
        else:
            self.outcome = "ok"
            self.status.setText(colored(f"✔ {self.result.database} was restored.", PASS_COLOR, True))
        finally:
            self.running = False
            self.panel.cancel_button.setEnabled(False)
            self.wiz.set_parent_blocking(False)
            self.setFinalPage(self.outcome != "ok")  # also makes the wizard lay its buttons out again (Next or Finish)
            self.completeChanged.emit()
            self._focus_the_way_on()
            self.wiz.restore_finished()

    def _focus_the_way_on(self) -> None:
        """Next (or Finish) takes the focus, which would fall from the disabled Cancel the restore to the wizard's
        Cancel, where Return would close the wizard with the result and its Roll back unseen."""
        if self.outcome is not None and self.wiz.currentPage() is self:
            which = QWizard.WizardButton.NextButton if self.outcome == "ok" else QWizard.WizardButton.FinishButton
            self.wiz.button(which).setFocus()

    def _cleaned(self) -> None:
        """After Clean up: once nothing the restore made is left, the status says so."""
        plan = self.wiz.preflight_page.plan
        if plan is not None and not self.cleanup.left():
            now = "" if plan.new_database else f"The original database {plan.database} was not touched. "
            self.status.setText(self.headline + "<br>" + html.escape(now + "Nothing the restore made is left on the "
                                                                     "server."))
        self.completeChanged.emit()

    def _progress(self, progress: Progress) -> None:
        if progress.fraction is not None and progress.fraction >= 1.0 and self.outcome is None:
            self.status.setText(html.escape("pg_restore is finishing; then every table's row count is checked and "
                                            "the restored copy is swapped in."))

    def isComplete(self) -> bool:
        return not self.running and not self.cleanup.cleaning and self.outcome is not None

    def nextId(self) -> int:
        return -1 if self.outcome in ("failed", "cancelled") else self.wiz.RESULT



class ResultPage(QWizardPage):
    """Page 6: every table's row count against the backup's; Roll back swaps the previous database back in."""

    COLUMNS = ["Table", "Rows in the backup", "Rows restored", "Result"]

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Restore complete")
        self.setSubTitle("Every table's row count in the restored database, compared with the backup.")
        self.rolling_back = False
        self.rolled_back: tuple[str, str] | None = None
        self.rollback_box: QMessageBox | None = None
        self.summary = wrap_label("", "Restore summary", rich=True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setAccessibleName("Row counts per table")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setTabKeyNavigation(False)
        self.rollback_button = QPushButton("R&oll back")
        self.rollback_button.setAccessibleName("Roll back to the database as it was before the restore")
        self.rollback_button.clicked.connect(lambda: self.wiz.start(self.roll_back()))
        self.rollback_status = wrap_label("", "Roll back status", rich=True)
        row = QHBoxLayout()
        row.addWidget(self.rollback_button)
        row.addWidget(self.rollback_status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)

    def initializePage(self) -> None:
        self.show_result(self.wiz.progress_page.result)

    def show_result(self, result: RestoreResult | None) -> None:
        if result is None:
            return
        lines = [colored(f"✔ {result.database} now holds the backup's data.", PASS_COLOR, True)]
        if result.previous:
            lines.append(html.escape(f"The previous database is kept as {result.previous} until you drop it."))
            lines.append(html.escape(HISTORY_POINTER))
        lines.append(html.escape(f"Restored with {result.tool}."))
        lines += [colored("⚠ " + w, WARN_COLOR) for w in result.warnings]
        self.summary.setText("<br>".join(lines))
        self.table.setRowCount(len(result.tables))
        for row, check in enumerate(result.tables):
            self.table.setItem(row, 0, table_item(f"{check.schema}.{check.table}"))
            self.table.setItem(row, 1, number_item(check.expected_rows))
            self.table.setItem(row, 2, number_item(check.restored_rows))
            self.table.setItem(row, 3, table_item("match" if check.ok else "MISMATCH"))
        self.rollback_button.setVisible(bool(result.previous))
        self.rollback_button.setEnabled(bool(result.previous) and self.rolled_back is None)
        if not result.previous:
            self.rollback_status.setText(html.escape("A new database was created; nothing to roll back (drop it if "
                                                     "you do not want it)."))

    async def roll_back(self) -> None:
        """Ask first; then swap the pre-restore database back in (the main window blocked meanwhile)."""
        result = self.wiz.progress_page.result
        plan = self.wiz.preflight_page.plan
        if result is None or plan is None or self.rolling_back:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Roll back the restore")
        box.setText(f"Swap {result.previous} back in as {result.database}?")
        box.setInformativeText("The restored database is kept under another name. Sessions connected to "
                               f"{result.database} are disconnected.")
        box.setAccessibleName("Roll back the restore")
        yes = box.addButton("&Roll back", QMessageBox.ButtonRole.AcceptRole)
        yes.setAccessibleName("Roll back")
        no = box.addButton("&Keep the restored database", QMessageBox.ButtonRole.RejectRole)
        no.setAccessibleName("Keep the restored database")
        box.setDefaultButton(no)
        self.rollback_box = box
        try:
            await self.wiz.answer(box)
        finally:
            self.rollback_box = None
        if box.clickedButton() is not yes:
            return

        profile, previous, console = plan.profile.name, result.previous, self.wiz.console
        self.rolling_back = True
        self.rollback_button.setEnabled(False)
        self.rollback_status.setText(html.escape("Rolling back…"))
        self.wiz.set_parent_blocking(True, f"Rolling back {result.database} …")
        self.completeChanged.emit()
        try:
            self.rolled_back = await self.wiz.run("Rolling back",
                                                  lambda r: Restorer(console).rollback(profile, previous))
        except RecoveryError as exc:
            self.rollback_status.setText(colored("✘ Roll back failed: " + exc.message, FAIL_COLOR, True))
            self.rollback_button.setEnabled(True)
            self.wiz.show_error("Roll back", exc)
        else:
            undone = self.rolled_back[1]
            self.summary.setText(colored(f"↶ {result.database} holds its data from before the restore again.",
                                         PASS_COLOR, True) + "<br>" + html.escape(
                f"The restored copy is kept as {undone}; the row counts below are that copy's."))
            self.rollback_status.setText(colored(f"✔ Rolled back: {result.database} is the database from before the "
                                                 f"restore again; the restored copy is kept as {undone}.",
                                                 PASS_COLOR, True))
        finally:
            self.rolling_back = False
            self.wiz.set_parent_blocking(False)
            self.completeChanged.emit()
            if self.rolled_back is not None and self.wiz.currentPage() is self:
                self.wiz.button(QWizard.WizardButton.FinishButton).setFocus()  # Roll back is disabled now
            self.wiz.restore_finished()

    def isComplete(self) -> bool:
        return not self.rolling_back

    def nextId(self) -> int:
        return -1  # the set pages' ids follow this one

