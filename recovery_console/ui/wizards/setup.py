"""First-run / profile setup wizard: profile → connection mode → storage target → summary.

Nothing is saved until Finish; Finish hands a `SetupPlan` to the engine's `save_setup`, which
saves the target (if new), the profile and its declared mode under one audit entry, or nothing.
Every check (keyring probe, connection test, storage round trip, SFTP host-key fetch) is an
engine call awaited in a job, off the GUI thread.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget, QWizard, QWizardPage

from recovery_console.engine.console import Console
from recovery_console.engine.setup import SetupPlan, save_setup
from recovery_console.engine.state.keyring_store import KeyringStatus
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes
from recovery_console.models.profile import ConnectionMode, Profile
from recovery_console.models.target import TargetConfig
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, colored
from recovery_console.ui.wizards.base import KEYRING_JOBS, WizardBase
from recovery_console.ui.wizards.setup_pages import ConnectionPage, ProfilePage
from recovery_console.ui.wizards.setup_target_fields import KIND_LABELS
from recovery_console.ui.wizards.setup_target_page import TargetPage


class SummaryPage(QWizardPage):
    """Page 4: everything Finish will save, and the save's progress."""

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Summary")
        self.setSubTitle("Nothing has been saved yet. Finish saves all of this; secrets go to the OS keyring.")
        self.view = QTextBrowser()
        self.view.setAccessibleName("What will be saved")
        self.panel = ProgressPanel()
        self.panel.cancel_button.hide()
        self.panel.setVisible(False)
        self.status = wrap_label("", "Save status", rich=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.panel)
        self.setFinalPage(True)

    def initializePage(self) -> None:
        self.status.setText("")
        try:
            plan = self.wiz.plan()
        except RecoveryError as exc:
            self.view.setPlainText(exc.message)
            return
        self.view.setHtml(summary_html(plan, self.wiz.profile_page.keyring_status))

    def isComplete(self) -> bool:
        return not self.wiz.saving


def summary_html(plan: SetupPlan, keyring_status: KeyringStatus | None) -> str:
    from recovery_console.engine.pg import postgres

    url, password = postgres.split_password(plan.database_url)
    where = keyring_status.backend if keyring_status is not None else "the OS keyring"
    in_keyring = "  (its password goes to the keyring)"
    rows = [("Profile", plan.name), ("Database URL", url + (in_keyring if password else "")),
            ("Instance secret", f"set ({len(plan.instance_secret)} characters), kept in {where}")]
    if plan.mode is ConnectionMode.DIRECT:
        rows.append(("Connection mode", "Direct — you confirmed the URL is not a pooler"))
    else:
        direct, direct_pw = postgres.split_password(plan.direct_url or "")
        rows.append(("Connection mode", "Pool — backups and restores use the direct URL"))
        rows.append(("Direct URL", direct + ("  (its password goes to the keyring)" if direct_pw else "")))
    if plan.new_target is None:
        rows.append(("Storage target", f"{plan.target_name} (already configured)"))
    else:
        config = plan.new_target
        rows.append(("Storage target", f"{config.name}: {KIND_LABELS[config.kind]} (new)"))
        for key, value in config.options.items():
            rows.append((f"  {key}", str(value)))
        rows.append(("  quota", format_bytes(config.quota) if config.quota else "none"))
        if plan.target_secrets:
            rows.append(("  secrets to the keyring", ", ".join(sorted(plan.target_secrets))))
    body = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table cellspacing='4'>{body}</table><p>Nothing has been saved yet. Finish saves it.</p>"


# --------------------------------------------------------------------------------------------
# The wizard
# --------------------------------------------------------------------------------------------


class SetupWizard(WizardBase):
    """Create a profile with its connection mode and storage target; nothing is saved until Finish."""

    saved = Signal(object)  # the saved Profile

    PROFILE, CONNECTION, TARGET, SUMMARY = range(4)

    def __init__(self, console: Console, *, runner: JobRunner | None = None, parent: QWidget | None = None) -> None:
        """`runner`: the main window's, so keyring jobs run one at a time (None: a runner of its own)."""
        super().__init__(console, parent, "Set up a profile", runner)
        self.saving = False
        self.saved_profile: Profile | None = None
        self.profile_page = ProfilePage(self)
        self.connection_page = ConnectionPage(self)
        self.target_page = TargetPage(self)
        self.summary_page = SummaryPage(self)
        self.setPage(self.PROFILE, self.profile_page)
        self.setPage(self.CONNECTION, self.connection_page)
        self.setPage(self.TARGET, self.target_page)
        self.setPage(self.SUMMARY, self.summary_page)

    def declared_profile(self) -> Profile:
        """An unsaved Profile under the declared mode: the model's rules (acknowledgement, direct URL) apply."""
        from recovery_console.engine.pg import postgres

        url, _ = postgres.split_password(self.profile_page.url_edit.text().strip())
        direct = self.connection_page.direct_url_edit.text().strip() or None
        direct_url = postgres.split_password(direct)[0] if direct else None
        profile = Profile(name=self.profile_page.name_edit.text().strip(), database_url=url)
        return profile.with_mode(self.connection_page.mode,
                                 acknowledge_direct=self.connection_page.ack_check.isChecked(), direct_url=direct_url)

    def plan(self) -> SetupPlan:
        """Everything Finish saves; a new target as it passed Test connection (a local folder: checked now)."""
        plan = self._profile_plan()
        existing = self.target_page.use_existing
        if existing is not None:
            plan.target_name = existing
            return plan
        tested = self.target_page.tested()
        config, secrets = tested if tested is not None else self.target_page.build()
        plan.target_name, plan.new_target, plan.target_secrets = config.name, config, secrets
        return plan

    def _profile_plan(self) -> SetupPlan:
        """The profile part of the plan (pages 1 and 2), no target yet."""
        mode = self.connection_page.mode
        plan = SetupPlan(name=self.profile_page.name_edit.text().strip(),
                         database_url=self.profile_page.url_edit.text().strip(),
                         instance_secret=self.profile_page.secret_edit.text(), mode=mode,
                         acknowledge_direct=(mode is ConnectionMode.DIRECT
                                             and self.connection_page.ack_check.isChecked()),
                         direct_url=(self.connection_page.direct_url_edit.text().strip() or None)
                         if mode is ConnectionMode.POOL else None)
        return plan

    def accept(self) -> None:
        """Finish: save in a job; the wizard closes only once everything is saved."""
        if self.saved_profile is not None:
            super().accept()
            return
        if self.saving:
            return
        try:
            plan = self.plan()
        except RecoveryError as exc:
            self.show_error("Saving the profile", exc)
            return
        self.saving = True
        self.start(self._save(plan))

    async def _save(self, plan: SetupPlan) -> None:
        """Save everything in one engine call (undone by the engine if a step fails), then close."""
        panel = self.summary_page.panel
        self.summary_page.completeChanged.emit()
        self.button(QWizard.WizardButton.BackButton).setEnabled(False)
        panel.setVisible(True)
        panel.phase.setText("Saving the target, the profile and the secrets…")
        panel.bar.setRange(0, 0)
        console = self.console
        try:
            profile = await self.run("Saving the profile", lambda r: save_setup(console, plan), key=KEYRING_JOBS)
        except RecoveryError as exc:
            self.summary_page.status.setText(colored("✘ Nothing was saved: " + exc.message, FAIL_COLOR, True))
            self.show_error("Saving the profile", exc)
            return
        else:
            self.saved_profile = profile
            self.summary_page.status.setText(colored(f"✔ Profile '{profile.name}' saved.", PASS_COLOR, True))
            self.saved.emit(profile)
        finally:
            self.saving = False
            panel.setVisible(False)
            self.button(QWizard.WizardButton.BackButton).setEnabled(True)
            self.summary_page.completeChanged.emit()
        super().accept()

    def reject(self) -> None:
        if self.saving:
            return  # a save in progress finishes (it is quick and undoes itself on failure)
        super().reject()

    # -- docs ------------------------------------------------------------------------------------

    def screenshot_pages(self) -> list[tuple[str, QWidget]]:
        """Each page of this wizard, filled with example values and results (nothing runs), for docs."""
        from recovery_console.engine.pg.connection_report import ConnectionReport
        from recovery_console.engine.state.keyring_store import KeyringStatus
        from recovery_console.engine.storage.round_trip import CheckReport, StepResult

        p, c, t = self.profile_page, self.connection_page, self.target_page
        if not p.name_edit.text():
            p.name_edit.setText("prod")
            p.url_edit.setText("postgresql://backup@db.example.com:5432/shop")
            p.secret_edit.setText("example instance secret")
            p.repeat_edit.setText("example instance secret")
        if p.keyring_status is None:
            p.show_keyring_status(KeyringStatus(backend="keyring.backends.SecretService.Keyring", secure=True,
                                                usable=True, message="Secrets are kept in the OS keyring."))
        c.direct_radio.setChecked(True)
        c.ack_check.setChecked(True)
        if c.report is None:
            c.show_report(ConnectionReport("prod", "backup@db.example.com:5432/shop", True, server_version="15.8",
                                           server_major=15, database="shop", user="backup", can_create_db=True,
                                           pg_dump="/usr/lib/postgresql/15/bin/pg_dump (15.8)",
                                           pg_restore="/usr/lib/postgresql/15/bin/pg_restore (15.8)"))
        t.initializePage()
        if not t.name_edit.text():
            t.name_edit.setText("prod-backups")
        if not t.fields.local_path.text():
            t.fields.local_path.setText("/srv/backups")
        if t.report is None:
            steps = [StepResult(step, True) for step in ("list", "write", "read", "delete")]
            t.show_report(CheckReport("prod-backups", steps))
        plan = self._profile_plan()  # with the example target, whose folder need not exist here
        plan.target_name = t.name_edit.text().strip()
        plan.new_target = TargetConfig(name=plan.target_name, kind="local",
                                       options={"path": t.fields.local_path.text()})
        self.summary_page.view.setHtml(summary_html(plan, p.keyring_status))
        return self._pages_for_docs()
