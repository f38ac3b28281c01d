"""The restore wizard's middle pages: where to restore, the pre-flight checks, and the typed confirmation."""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from recovery_console.engine.progress import Reporter
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_preflight import RestorePlan
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.engine.sets.set_catalog import SetRecord
from recovery_console.errors import Cancelled, RecoveryError, UsageError
from recovery_console.formatting import counted
from recovery_console.models.backup import BackupRecord
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, check_tree, colored, set_status_item
from recovery_console.ui.wizards.check_runs import CheckRuns
from recovery_console.ui.wizards.restore_backup_page import Entry, describe_backup
from recovery_console.ui.wizards.restore_cleanup_row import CleanupRow

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard

CONFIRM_WORD = "RESTORE"


class DestinationPage(QWizardPage):
    """Page 2: safe in-place (scratch copy, check, swap) or a new database; and whether to verify in full first."""

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Where to restore")
        self.setSubTitle("Safe in-place never touches the current database until the restored copy is complete "
                         "and checked; the current one is kept so you can roll back.")
        self.in_place = QRadioButton("&Safe in-place: restore into a scratch copy, check it, then swap it in")
        self.in_place.setAccessibleName("Safe in-place restore")
        self.in_place.setChecked(True)
        self.new_db = QRadioButton("Into a ne&w database:")
        self.new_db.setAccessibleName("Restore into a new database")
        group = QButtonGroup(self)
        group.addButton(self.in_place)
        group.addButton(self.new_db)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. shop_restored")
        self.name_edit.setAccessibleName("New database name")
        self.explain = wrap_label("", "What will happen")
        self.verify_first = QCheckBox("&Verify the whole backup before restoring, even if a full verify of it is on "
                                      "record")
        self.verify_first.setAccessibleName("Verify the whole backup first")
        self.verify_first.setToolTip("Without this, a full verify the catalog recorded for this unchanged file is "
                                     "trusted for the pre-flight; the restore still proves every chunk and the "
                                     "archive hash before anything is swapped.")
        new_row = QHBoxLayout()
        new_row.addWidget(self.new_db)
        new_row.addWidget(self.name_edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.in_place)
        layout.addLayout(new_row)
        layout.addWidget(self.explain)
        layout.addWidget(self.verify_first)
        layout.addStretch(1)
        for signal in (self.in_place.toggled, self.new_db.toggled):
            signal.connect(self._changed)
        self.name_edit.textChanged.connect(self._changed)
        self._changed()

    def database(self) -> str:
        from recovery_console.engine.pg import postgres

        profile = self.wiz.backup_page.profile()
        if profile is None or not profile.declared:
            return ""
        return postgres.parse(profile.dump_url()).get("dbname") or ""

    def new_database(self) -> str | None:
        return self.name_edit.text().strip() if self.new_db.isChecked() else None

    def initializePage(self) -> None:
        self._changed()

    def _changed(self) -> None:
        self.name_edit.setEnabled(self.new_db.isChecked())
        self.explain.setText(self.explanation(self.database()))
        self.completeChanged.emit()

    def explanation(self, db: str) -> str:
        """What the chosen destination will do to `db`, in words."""
        if self.new_db.isChecked():
            name = self.name_edit.text().strip() or "…"
            return (f"A new database {name} is created from the backup on the profile's server; {db} is not "
                    "touched. The name must not exist yet.")
        return (f"{db} is restored into a scratch copy, every table's row count is checked against the backup, "
                f"then the copy is swapped in. The current {db} is kept, renamed {db}__pre_restore_<time>, "
                "until you drop it; Roll back swaps it back. Sessions connected to it are disconnected at the "
                "swap.")

    def isComplete(self) -> bool:
        return self.in_place.isChecked() or bool(self.name_edit.text().strip())



class PreflightPage(CheckRuns, QWizardPage):
    """Page 3: every check the restore depends on, run against the server and the backup; nothing changes yet."""

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Pre-flight checks")
        self.setSubTitle("The backup is verified in full (or its recorded full verify is confirmed) and the server "
                         "checked. Nothing is changed yet.")
        self.plan: RestorePlan | None = None
        self.panel = ProgressPanel()
        self.checks = check_tree(["Result", "Check", "Why"], "Pre-flight checks")
        self.verdict = wrap_label("", "Pre-flight verdict", rich=True)
        self.again_button = QPushButton("Run the checks &again")
        self.again_button.setAccessibleName("Run the pre-flight checks again")
        self.again_button.clicked.connect(self.start)
        self.other_database = wrap_label("", "The backup is of another database", rich=True)
        self.allow_other = QCheckBox()
        self.allow_other.setAccessibleName("Restore this backup over the other database anyway")
        self.allow_other.toggled.connect(self._acknowledged)
        row = QHBoxLayout()
        row.addWidget(self.verdict, 1)
        row.addWidget(self.again_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.checks, 1)
        layout.addWidget(self.other_database)
        layout.addWidget(self.allow_other)
        self.cleanup = CleanupRow(wizard, self.start)
        layout.addWidget(self.cleanup)
        layout.addLayout(row)
        # The page opens with the focus on the checks, not on the progress panel's Cancel: there Return, meant
        # for Next once the checks have passed, would stop them instead.
        QWidget.setTabOrder(self.checks, self.panel.cancel_button)
        self._show_other_database(None)

    def reset_checks(self) -> None:
        self.plan = None

    async def run_checks(self) -> None:
        try:
            console = self.wiz.console
            profile = self.wiz.backup_page.profile_combo.currentData()
            selected = self.wiz.backup_page.selected()
            secret = self.wiz.backup_page.secret or ""
            new_database = self.wiz.destination_page.new_database()
            verify_first = self.wiz.destination_page.verify_first.isChecked()
            opening: list[str] = []

            def job(reporter: Reporter) -> RestorePlan:
                if selected is None or isinstance(selected, SetRecord):
                    raise UsageError("No single backup is selected.", hint="Go back and choose one.")
                ref = (console.locate(selected.short_id, target=selected.target)
                       if isinstance(selected, BackupRecord) else selected)
                opening.append(SecretRotation(console).secret_opening(ref, secret, reporter, profile))  # maybe an older
                return Restorer(console).preflight(profile, ref, opening[0], new_database=new_database,
                                                   verify_first=verify_first, reporter=reporter)

            self.checks.clear()
            self.verdict.setText(html.escape("Checking… (the whole backup is decrypted and verified unless a full "
                                             "verify of it is on record)"))
            self.panel.setVisible(True)
            plan = await self.wiz.run("Pre-flight checks", job, panel=self.panel)
            if opening and self.wiz.backup_page.secret == secret:  # the restore itself opens it with the same
                self.wiz.backup_page.secret = opening[0]
            self.show_plan(plan)
        except Cancelled:
            self.verdict.setText(colored("The checks were cancelled.", WARN_COLOR, True))
        except asyncio.CancelledError:
            self.verdict.setText(colored("The checks were cancelled.", WARN_COLOR, True))
            raise
        except RecoveryError as exc:
            self.verdict.setText(colored("✘ The checks could not run: " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("Pre-flight checks", exc)

    def _show_other_database(self, plan: RestorePlan | None) -> None:
        """The two database names, plainly, and the box that must be ticked when the backup is of another one."""
        needed = plan is not None and any(c.needs_ack for c in plan.checks)
        self.other_database.setVisible(needed)
        self.allow_other.setVisible(needed)
        self.allow_other.blockSignals(True)
        self.allow_other.setChecked(False)
        self.allow_other.blockSignals(False)
        if plan is None or not needed:
            return
        source = plan.source_database
        target = html.escape(plan.database)
        of = f"of database <b>{html.escape(source)}</b>" if source else "<b>of an unrecorded database</b>"
        self.other_database.setText(colored("⚠ This backup is ", WARN_COLOR, True) + of
                                    + f". Restoring it replaces database <b>{target}</b> with that data.")
        self.allow_other.setText(f"&Yes, restore the backup of {source or 'an unrecorded database'} over "
                                 f"database {plan.database}")

    def _acknowledged(self, checked: bool) -> None:
        if self.plan is not None:
            self.plan.allow_other_database = checked
            self._show_verdict(self.plan)
        self.completeChanged.emit()

    def show_plan(self, plan: RestorePlan) -> None:
        self.plan = plan
        self._show_other_database(plan)
        self.cleanup.offer(plan.profile.name, "Clean up asks the server about each now, drops those still "
                                              "unfinished and says what became of the others; otherwise the "
                                              "restore does so when it starts.")
        self.checks.clear()
        for check in plan.checks:
            item = QTreeWidgetItem(["", check.name, check.detail])
            set_status_item(item, 0, check.status)
            item.setToolTip(2, check.detail)
            self.checks.addTopLevelItem(item)
        self._show_verdict(plan)

    def _show_verdict(self, plan: RestorePlan) -> None:
        if plan.unacknowledged and not any(c.blocking for c in plan.checks):
            self.verdict.setText(colored("⚠ The backup is not of the database it would replace: tick the box above "
                                         "to restore it anyway.", WARN_COLOR, True))
        elif plan.ready:
            warns = sum(1 for c in plan.checks if c.status == "warn")
            read = f" ({counted(warns, 'warning')}: read them before going on)." if warns else "."
            text = "✔ Every check passed" + read
            self.verdict.setText(colored(text, PASS_COLOR, True))
        else:
            self.verdict.setText(colored("✘ The restore cannot go ahead: fix the failed checks, then run the checks "
                                         "again.", FAIL_COLOR, True))

    def isComplete(self) -> bool:
        return not self.checking and not self.cleanup.cleaning and self.plan is not None and self.plan.ready



class ConfirmPage(QWizardPage):
    """Page 4: what the restore will do, confirmed by typing RESTORE; after this there is no going back. A set
    restore's page (restore_set_run_pages.py) is this page with its own summary."""

    def __init__(self, wizard: RestoreWizard, title: str = "Confirm the restore",
                 what: str = "What the restore will do") -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle(title)
        self.setSubTitle(f"Type {CONFIRM_WORD} to start. After this there is no going back in this wizard.")
        self.setCommitPage(True)
        self.what = wrap_label("", what, rich=True)
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setPlaceholderText(CONFIRM_WORD)
        self.confirm_edit.textChanged.connect(self.completeChanged)
        form = QFormLayout()
        form.addRow(buddy_label(f"&Type {CONFIRM_WORD} to confirm:", self.confirm_edit,
                                f"Type {CONFIRM_WORD} to confirm"), self.confirm_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.what)
        layout.addLayout(form)
        layout.addStretch(1)

    def summary(self) -> str:
        """What the restore will do, as rich text."""
        return confirm_html(self.wiz.preflight_page.plan, self.wiz.backup_page.selected())

    def initializePage(self) -> None:
        self.confirm_edit.clear()
        self.what.setText(self.summary())
        self.confirm_edit.setAccessibleDescription(self.what.text())
        self.confirm_edit.setFocus()

    def isComplete(self) -> bool:
        return self.confirm_edit.text().strip() == CONFIRM_WORD


def confirm_html(plan: RestorePlan | None, selected: Entry | None) -> str:
    """What the restore will do, in words, with the pre-flight's warnings."""
    from recovery_console.engine.pg import postgres

    if plan is None:
        return ""
    server = postgres.describe(plan.profile.dump_url()).rsplit("/", 1)[0]
    backup = html.escape(describe_backup(selected))
    db = f"<b>{html.escape(plan.database)}</b>"
    if plan.new_database:
        text = f"This creates the new database {db} on {html.escape(server)} from {backup}."
    else:
        text = (f"This replaces the database {db} on {html.escape(server)} with {backup}.<br>"
                f"The current {db} is kept as <b>{html.escape(plan.pre_restore_name)}</b>; Roll back swaps it back. "
                "Sessions connected to it are disconnected at the swap.")
    warnings = [c for c in plan.checks if c.status == "warn"]
    if warnings:
        text += "<br>" + "<br>".join(colored(f"⚠ {c.name}: {c.detail}", WARN_COLOR) for c in warnings)
    return text

