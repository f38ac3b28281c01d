"""Guided restore: backup and profile → destination → pre-flight checks → typed RESTORE → progress → result.

Every step is an engine call awaited in a job: `Console.list_backups`, `Profiles.instance_secret`,
`Console.locate` + `Restorer.preflight` (which verifies the backup fully unless a full verify of
the unchanged file is on record), `Restorer.run` (which proves every chunk again) and
`Restorer.rollback`. The destination (safe in-place or a new database) is chosen before the
pre-flight checks, because the checks depend on it (a new database's name must be free, an
existing one must exist, its sessions are counted, its size sets the space needed).

While a restore or rollback runs, the parent window (if it has `set_blocking(active, text)`) is
blocked, and closing the wizard asks first: cancel the restore cleanly, or keep waiting.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget, QWizard

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Phase, Progress
from recovery_console.models.backup import BackupRecord
from recovery_console.models.profile import Profile
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.wizards.base import WizardBase
from recovery_console.ui.wizards.restore_backup_page import BackupChoice, BackupPage
from recovery_console.ui.wizards.restore_pages import (
    CONFIRM_WORD,
    ConfirmPage,
    DestinationPage,
    PreflightPage,
    confirm_html,
)
from recovery_console.ui.wizards.restore_run_pages import ProgressPage, ResultPage
from recovery_console.ui.wizards.restore_set_pages import SetMembersPage
from recovery_console.ui.wizards.restore_set_run_pages import SetConfirmPage, SetPreflightPage, SetRunPage


class RestoreWizard(WizardBase):
    """Guided, undoable restore of one backup into a profile's database."""

    BACKUP, DESTINATION, PREFLIGHT, CONFIRM, PROGRESS, RESULT = range(6)
    SET_MEMBERS, SET_PREFLIGHT, SET_CONFIRM, SET_RUN = range(6, 10)  # a recovery set's path after BACKUP

    def __init__(self, console: Console, *, runner: JobRunner | None = None, backup: BackupChoice | None = None,
                 profile: str | None = None, parent: QWidget | None = None) -> None:
        """`backup`: the backup to preselect, as a BackupRecord, a BackupRef (a catalog record or a file) or an
        id. `profile`: the profile to preselect. `runner`: the main window's, so keyring jobs run one at a time
        (None: a runner of its own)."""
        super().__init__(console, parent, "Restore a backup", runner)
        self.backup_ref = backup
        self.file_ref = backup if isinstance(backup, BackupRef) and backup.record is None else None
        self.profile_name = profile
        self.close_box: QMessageBox | None = None
        self._close_requested = False
        self.blocking_calls: list[tuple[bool, str]] = []
        self.backup_page = BackupPage(self)
        self.destination_page = DestinationPage(self)
        self.preflight_page = PreflightPage(self)
        self.confirm_page = ConfirmPage(self)
        self.progress_page = ProgressPage(self)
        self.result_page = ResultPage(self)
        self.set_members_page = SetMembersPage(self)
        self.set_preflight_page = SetPreflightPage(self)
        self.set_confirm_page = SetConfirmPage(self)
        self.set_run_page = SetRunPage(self)
        for page_id, page in ((self.BACKUP, self.backup_page), (self.DESTINATION, self.destination_page),
                              (self.PREFLIGHT, self.preflight_page), (self.CONFIRM, self.confirm_page),
                              (self.PROGRESS, self.progress_page), (self.RESULT, self.result_page),
                              (self.SET_MEMBERS, self.set_members_page), (self.SET_PREFLIGHT, self.set_preflight_page),
                              (self.SET_CONFIRM, self.set_confirm_page), (self.SET_RUN, self.set_run_page)):
            self.setPage(page_id, page)
        self.setOption(QWizard.WizardOption.DisabledBackButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Restore")
        self.button(QWizard.WizardButton.CommitButton).setAccessibleName("Start the restore")

    # -- the parent window -----------------------------------------------------------------------

    def set_parent_blocking(self, active: bool, text: str = "") -> None:
        """Block (or unblock) the main window while a restore or rollback runs, if it can be."""
        self.blocking_calls.append((active, text))
        parent = self.parentWidget()
        setter = getattr(parent, "set_blocking", None)
        if callable(setter):
            setter(active, text)

    @property
    def restoring(self) -> bool:
        return self.progress_page.running or self.result_page.rolling_back or self.set_run_page.running

    # -- closing ---------------------------------------------------------------------------------

    def reject(self) -> None:
        if not self.restoring:
            super().reject()
            return
        if self.close_box is not None and self.close_box.isVisible():
            self.close_box.raise_()
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setAccessibleName("A restore is running")
        stop: QPushButton | None = None
        if self.progress_page.running or self.set_run_page.running:
            box.setWindowTitle("A restore is running")
            box.setText("A restore is running. Stop it before closing?")
            box.setInformativeText("Cancelling stops it: the original database stays as it was, and the scratch copy "
                                   "is dropped (or, if the server cannot be reached, kept on record to drop later). "
                                   "If the restored copy is already being swapped in, the restore completes first. "
                                   "Or keep waiting for it to finish.")
            stop = box.addButton("&Cancel the restore", QMessageBox.ButtonRole.DestructiveRole)
            stop.setAccessibleName("Cancel the restore and close")
        else:
            box.setWindowTitle("A roll back is running")
            box.setText("A roll back is running; it takes a moment and cannot be interrupted safely.")
        wait = box.addButton("&Keep waiting", QMessageBox.ButtonRole.RejectRole)
        wait.setAccessibleName("Keep waiting")
        box.setDefaultButton(wait)
        self.close_box = box
        self.start(self._close_when_stopped(box, stop))

    async def _close_when_stopped(self, box: QMessageBox, stop: QPushButton | None) -> None:
        """On "Cancel the restore": cancel it, and close the wizard once it has stopped (see restore_finished)."""
        try:
            await self.answer(box)
        finally:
            if self.close_box is box:  # not a newer question asked since this one was answered
                self.close_box = None
        page = self.set_run_page if self.set_run_page.running else self.progress_page
        if stop is not None and box.clickedButton() is stop and page.running:
            self._close_requested = True
            page.panel.cancel()
            page.status.setText(html.escape("Cancelling the restore; the wizard closes when it has stopped…"))

    def restore_finished(self) -> None:
        """A restore or rollback ended: close now if the user asked to while it ran."""
        if self._close_requested and not self.restoring:
            self._close_requested = False
            super().reject()

    # -- docs ------------------------------------------------------------------------------------

    def screenshot_pages(self) -> list[tuple[str, QWidget]]:
        """Each page filled with example data (nothing runs, nothing is read), for docs."""
        from recovery_console.engine.restore import RestoreResult, TableCheck
        from recovery_console.engine.restore_preflight import Check, RestorePlan
        from recovery_console.models.backup import BackupMetadata
        from recovery_console.models.profile import ConnectionMode

        md = BackupMetadata(backup_id="971f67e4-2b0c-4d1e-9a51-0c8b6f3e2a10", created_at="2026-11-22T04:53:23Z",
                            app_version="0.1.0", database="shop", server_version="15.8", pg_dump_version="15.8")
        record = BackupRecord(short_id="971f67e4", target="vault", key="backups/rc_backup_20261122-04-53-23-0.1.0-"
                              "manual-971f67e4.enc", size=48_213_504, mtime=0, created="2026-11-22 04:53:23",
                              app_version="0.1.0", mode="manual", metadata=md, verified_at="2026-11-22T05:00:00Z",
                              verify_result="ok")
        if not self.backup_page.records:
            self.backup_page.show_records([record])
        if self.profile_name is None and self.backup_page.profile_combo.count() == 0:
            self.backup_page.profile_combo.addItem("prod", "prod")
        profile = Profile(name="prod", database_url="postgresql://backup@db.example.com:5432/shop",
                          mode=ConnectionMode.DIRECT, direct_acknowledged=True)
        checks = [Check("connection mode declared", "pass",
                        "direct; pg_restore will use backup@db.example.com:5432/shop"),
                  Check("server reachable", "pass", "PostgreSQL 15.8"),
                  Check("role may create databases", "pass", "role backup has CREATEDB"),
                  Check("database exists", "pass", "shop"),
                  Check("connected sessions", "warn", "2 sessions (app@web) will be disconnected at the swap"),
                  Check("free space on the server", "pass", "76.0 GiB free, about 392.9 MiB needed"),
                  Check("backup fully verified", "pass", "full verify on record from 2026-11-22T05:00:00Z, file "
                        "unchanged since; checked again as it is restored"),
                  Check("pg_restore compatible", "pass",
                        "/usr/lib/postgresql/15/bin/pg_restore 15.8 reads archive 1.15")]
        self.destination_page.explain.setText(self.destination_page.explanation("shop"))
        plan = RestorePlan(profile, BackupRef(location="vault:" + record.key, record=record), "shop", False, 1, checks,
                           stamp="20261122060000")
        if self.preflight_page.plan is None:
            self.preflight_page.panel.setVisible(False)
            self.preflight_page.show_plan(plan)
        shown_plan = self.preflight_page.plan
        self.confirm_page.what.setText(confirm_html(shown_plan, record))
        self.confirm_page.confirm_edit.setText(CONFIRM_WORD)
        self.progress_page.panel.show_progress(Progress(Phase.RESTORE, done=31_000_000, total=48_213_504,
                                                        elapsed=6.2))
        result = self.progress_page.result or RestoreResult(
            "shop", "shop__pre_restore_20261122060000",
            [TableCheck("app", "customers", 2000, 2000), TableCheck("app", "invoices", 5000, 5000),
             TableCheck("public", "pgbench_accounts", 100000, 100000)], "/usr/lib/postgresql/15/bin/pg_restore 15.8",
            ["2 sessions (app@web) will be disconnected at the swap"])
        self.result_page.show_result(result)
        sets = (self.set_members_page, self.set_preflight_page, self.set_confirm_page, self.set_run_page)
        return [(title, page) for title, page in self._pages_for_docs() if page not in sets]  # see restore_set_docs
