"""The restore wizard's pages for a recovery set after its members are chosen: every member's pre-flight checks, the
typed confirmation, then the run with each member's stage and an end-of-job text that says what became of each."""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_restore import (
    RESTORING,
    MemberPreflight,
    MemberStep,
    SetRestorePlan,
    SetRestoreResult,
    preflight_set_restore,
    run_set_restore,
)
from recovery_console.errors import Cancelled, RecoveryError
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, check_tree, colored, set_status_item
from recovery_console.ui.widgets.table_items import table_item
from recovery_console.ui.wizards.check_runs import CheckRuns
from recovery_console.ui.wizards.restore_pages import ConfirmPage

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard

STAGE_TEXT = {"checking": "checking", "waiting": "ready, waiting", "restoring": "restoring…",
              "restored": "restored", "failed": "FAILED"}


class StepRelay(QObject):
    """Carries the engine's per-member steps from the job's thread to the page (a queued signal)."""

    step = Signal(object)


def member_title(plan: SetRestorePlan, checked: MemberPreflight) -> str:
    member = checked.member
    if member.kind == "database":
        return f"database {member.database} (member {member.name}, through profile {checked.profile})"
    return f"folder {plan.folder_destination(member)} (member {member.name})"


class SetPreflightPage(CheckRuns, QWizardPage):
    """Every chosen database member's restore checks (each verified in full) and each folder's place; nothing
    changes yet."""

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Pre-flight checks of the set")
        self.setSubTitle("Each database member is verified in full and its server checked; each folder's place "
                         "is checked. Nothing is changed yet.")
        self.plan: SetRestorePlan | None = None
        self.checked: list[MemberPreflight] = []
        self.panel = ProgressPanel()
        self.checks = check_tree(["Result", "Member and check", "Why"], "Pre-flight checks of each member")
        self.verdict = wrap_label("", "Pre-flight verdict", rich=True)
        self.again_button = QPushButton("Run the checks &again")
        self.again_button.setAccessibleName("Run the pre-flight checks of the set again")
        self.again_button.clicked.connect(self.start)
        row = QHBoxLayout()
        row.addWidget(self.verdict, 1)
        row.addWidget(self.again_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.checks, 1)
        layout.addLayout(row)

    def reset_checks(self) -> None:
        self.checked = []
        self.plan = self.wiz.set_members_page.plan

    async def run_checks(self) -> None:
        if self.plan is not None:
            await self._run_checks(self.plan, self.wiz.backup_page.secret or "", self.wiz.console)

    async def _run_checks(self, plan: SetRestorePlan, secret: str, console: Console) -> None:
        self.checks.clear()
        self.verdict.setText(html.escape("Checking each member… (each database member is decrypted and verified)"))
        self.panel.setVisible(True)
        try:
            checked = await self.wiz.run("Pre-flight checks of the set", lambda r: preflight_set_restore(
                console, plan, secret, reporter=r, stop_at_failure=False), panel=self.panel)
            self.show_checks(plan, checked)
        except (Cancelled, asyncio.CancelledError) as exc:
            self.verdict.setText(colored("The checks were cancelled.", WARN_COLOR, True))
            if isinstance(exc, asyncio.CancelledError):
                raise
        except RecoveryError as exc:
            self.verdict.setText(colored("✘ The checks could not run: " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("Pre-flight checks of the set", exc)

    def show_checks(self, plan: SetRestorePlan, checked: list[MemberPreflight]) -> None:
        """One line per member with its verdict, its checks beneath it, opened."""
        self.plan, self.checked = plan, checked
        self.checks.clear()
        for entry in checked:
            head = QTreeWidgetItem(["", member_title(plan, entry), "ready" if entry.ready else "NOT ready"])
            set_status_item(head, 0, "pass" if entry.ready else "fail")
            for check in entry.plan.checks if entry.plan is not None else entry.checks:
                item = QTreeWidgetItem(["", check.name, check.detail])
                set_status_item(item, 0, check.status)
                item.setToolTip(2, check.detail)
                head.addChild(item)
            self.checks.addTopLevelItem(head)
            head.setExpanded(True)
        if self.ready:
            self.verdict.setText(colored(f"✔ Every member passed its checks ({len(checked)} members).", PASS_COLOR,
                                         True))
        else:
            failed = ", ".join(e.member.name for e in checked if not e.ready)
            self.verdict.setText(colored(f"✘ Not ready: {failed} failed (see above). Untick it on the previous "
                                         "page, or fix it and run the checks again; nothing was changed.",
                                         FAIL_COLOR, True))

    @property
    def ready(self) -> bool:
        return bool(self.checked) and all(e.ready for e in self.checked)

    def isComplete(self) -> bool:
        return self.ready and not self.checking

    def nextId(self) -> int:
        return self.wiz.SET_CONFIRM


class SetConfirmPage(ConfirmPage):
    """What the set restore will do, member by member, confirmed by typing RESTORE."""

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__(wizard, "Confirm the set restore", "What the set restore will do")

    def summary(self) -> str:
        page = self.wiz.set_preflight_page
        return confirm_set_html(page.plan, page.checked)

    def nextId(self) -> int:
        return self.wiz.SET_RUN


def confirm_set_html(plan: SetRestorePlan | None, checked: list[MemberPreflight]) -> str:
    if plan is None:
        return ""
    lines = [html.escape(f"This restores recovery set {plan.manifest.set_id} (each member its own snapshot):")]
    for entry in checked:
        member = entry.member
        if entry.plan is not None:
            lines.append("• " + html.escape(f"database {entry.plan.database} (member {member.name}) is replaced; "
                                            f"the current one is kept as {entry.plan.pre_restore_name}"))
        elif member.name in plan.new_folders:
            lines.append("• " + html.escape(f"folder member {member.name} goes into the new folder "
                                            f"{plan.folder_destination(member)}"))
        else:
            place = plan.folder_destination(member)
            lines.append("• " + html.escape(f"folder {place} (member {member.name}) is replaced; the current one is "
                                            f"kept as {place.name}.pre_restore_<time>"))
    left = [m.name for m in plan.manifest.members if m not in plan.members]
    if left:
        lines.append(html.escape(f"Not restored (left as they are): {', '.join(left)}."))
    warnings = [(e.member.name, c) for e in checked if e.plan is not None for c in e.plan.checks
                if c.status == "warn"]
    lines += [colored(f"⚠ {name}: {c.name}: {c.detail}", WARN_COLOR) for name, c in warnings]
    return "<br>".join(lines)


def fit_rows(table: QTableWidget) -> None:
    """The table as tall as its rows (a few members: no empty area pushing the end text down)."""
    table.resizeRowsToContents()
    rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
    table.setFixedHeight(rows + table.horizontalHeader().height() + 2 * table.frameWidth())


class SetRunPage(QWizardPage):
    """The members restored one after another, databases first; each member's stage; then what became of each."""

    COLUMNS = ["Member", "Kind", "Stage", "Detail"]

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Restoring the set")
        self.setSubTitle("Cancel stops the member being restored (a database until its swap starts); members "
                         "restored before it stay restored.")
        self.running = False
        self.result: SetRestoreResult | None = None
        self.relay = StepRelay(self)
        self.relay.step.connect(self.show_step)
        self.panel = ProgressPanel()
        self.panel.cancel_button.setText("&Cancel the restore")
        self.panel.cancel_button.setAccessibleName("Cancel the restore")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setAccessibleName("Each member's stage")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setTabKeyNavigation(False)
        self.status = wrap_label("", "Set restore status", rich=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # paths to copy
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.setFinalPage(True)

    def initializePage(self) -> None:
        page = self.wiz.set_preflight_page
        plan, checked, secret = page.plan, page.checked, self.wiz.backup_page.secret
        if self.running or self.result is not None or plan is None or secret is None:
            return
        self.table.setRowCount(0)
        for entry in [*[c for c in checked if c.plan is not None], *[c for c in checked if c.plan is None]]:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.table.setItem(row, 0, table_item(entry.member.name, entry.member.name))
            self.table.setItem(row, 1, table_item(entry.member.kind))
            self.table.setItem(row, 2, table_item("waiting"))
            self.table.setItem(row, 3, table_item(member_title(plan, entry)))
        fit_rows(self.table)
        self.running = True
        self.wiz.start(self._restore(plan, checked, secret))

    def stage_of(self, name: str) -> str:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == name:
                stage = self.table.item(row, 2)
                return stage.text() if stage is not None else ""
        return ""

    def show_step(self, step: MemberStep) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text() == step.member:
                self.table.setItem(row, 2, table_item(STAGE_TEXT.get(step.stage, step.stage)))
                if step.detail:
                    self.table.setItem(row, 3, table_item(step.detail))
                if step.stage == RESTORING:
                    self.status.setText(html.escape(f"Restoring member {step.member}…"))

    async def _restore(self, plan: SetRestorePlan, checked: list[MemberPreflight], secret: str) -> None:
        console = self.wiz.console
        self.wiz.set_parent_blocking(True, f"Restoring set {plan.manifest.set_id} …")

        def job(reporter: Reporter) -> SetRestoreResult:
            return run_set_restore(console, plan, checked, secret, reporter=reporter, on_step=self.relay.step.emit)

        try:
            self.result = await self.wiz.run("Restoring the set", job, panel=self.panel)
        except Cancelled:  # before the first member started
            self.status.setText(colored("The set restore was cancelled before any member was restored; nothing "
                                        "was changed.", WARN_COLOR, True))
        except RecoveryError as exc:  # refused before any member was touched
            self.status.setText(colored("✘ Nothing was restored: " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("The set restore", exc)
        else:
            self.status.setText(result_html(plan, self.result))
            if self.result.error is not None and not isinstance(self.result.error, Cancelled):
                self.wiz.show_error(f"Member {self.result.stopped_at}", self.result.error)
        finally:
            self.running = False
            self.panel.cancel_button.setEnabled(False)
            self.wiz.set_parent_blocking(False)
            self.completeChanged.emit()
            if self.wiz.currentPage() is self:
                self.wiz.button(QWizard.WizardButton.FinishButton).setFocus()
            self.wiz.restore_finished()

    def isComplete(self) -> bool:
        return not self.running and (self.result is not None or bool(self.status.text()))

    def nextId(self) -> int:
        return -1


def result_html(plan: SetRestorePlan, result: SetRestoreResult) -> str:
    """What became of each member, as it is: restored (and what was kept where), refused tar members by name, the
    member that failed or was cancelled, what was not started and what was not chosen."""
    lines: list[str] = []
    if result.error is None:
        lines.append(colored(f"✔ Set {result.set_id}: every chosen member was restored.", PASS_COLOR, True))
    elif isinstance(result.error, Cancelled):
        lines.append(colored(f"The set restore was cancelled at member {result.stopped_at}.", WARN_COLOR, True))
    else:
        lines.append(colored(f"✘ The set restore stopped: member {result.stopped_at} failed: {result.error.message}",
                             FAIL_COLOR, True))
    for outcome in result.members:
        name = outcome.member.name
        if outcome.restore is not None:
            done = outcome.restore
            lines.append(html.escape(f"✔ Database {done.database} (member {name}) restored through profile "
                                     f"{outcome.profile}; the previous one is kept as {done.previous} (Profile › "
                                     "Restore history… rolls it back)."))
        elif outcome.folder is not None:
            folder = outcome.folder
            where = (f"in place; the previous folder is kept as {folder.kept_previous}" if folder.kept_previous
                     else "into the new folder")
            lines.append(html.escape(f"✔ Folder {folder.folder} (member {name}): {folder.files} files restored "
                                     f"{where}."))
            lines += [colored(f"⚠ Refused, nothing written for it: {why}", WARN_COLOR) for why in folder.refused]
    if result.stopped_at is not None:
        what = next(m for m in plan.members if m.name == result.stopped_at)
        kept = (result.error.hint if what.kind == "database" and result.error is not None else
                "its folder stays as it was; nothing of the member was kept.")
        lines.append(html.escape(f"Member {result.stopped_at} was not restored: {kept}".rstrip(": ")))
    if result.not_started:
        lines.append(html.escape(f"Not started: {', '.join(result.not_started)}."))
    left = [m.name for m in plan.manifest.members if m not in plan.members]
    if left:
        lines.append(html.escape(f"Not chosen, left as they are: {', '.join(left)}."))
    return "<br>".join(lines)

