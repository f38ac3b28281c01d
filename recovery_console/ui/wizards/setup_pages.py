"""The setup wizard's first two pages: the profile (name, database URL, instance secret) and its connection mode."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from recovery_console.engine.pg.connection_report import ConnectionReport
from recovery_console.engine.state import grouped_secret
from recovery_console.engine.state.keyring_store import KeyringStatus
from recovery_console.errors import RecoveryError
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored
from recovery_console.ui.wizards.base import KEYRING_JOBS

if TYPE_CHECKING:
    from recovery_console.ui.dialogs.escrow_dialog import EscrowSheetDialog
    from recovery_console.ui.wizards.setup import SetupWizard


class ProfilePage(QWizardPage):
    """Page 1: the profile's name, database URL and instance secret, and where the keyring will keep secrets."""

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Profile")
        self.setSubTitle("Name this deployment, say where its database is, and give the instance secret that "
                         "encrypts its backups.")
        self.keyring_status: KeyringStatus | None = None
        self.probing = False

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. prod")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("postgresql://user:password@host:5432/dbname")
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow(buddy_label("Profile na&me:", self.name_edit, "Profile name"), self.name_edit)
        form.addRow(buddy_label("&Database URL:", self.url_edit, "Database URL"), self.url_edit)
        self.generate_button = QPushButton("&Generate")
        self.generate_button.setAccessibleName("Generate an instance secret")
        self.generate_button.setToolTip("A new 256-bit secret in checked groups, shown once with its escrow sheet")
        self.generate_button.clicked.connect(self.generate_secret)
        self.escrow_dialog: EscrowSheetDialog | None = None
        secret_row = QHBoxLayout()
        secret_row.addWidget(self.secret_edit, 1)
        secret_row.addWidget(self.generate_button)
        form.addRow(buddy_label("Instance &secret:", self.secret_edit, "Instance secret"), secret_row)
        form.addRow(buddy_label("&Repeat the secret:", self.repeat_edit, "Repeat the instance secret"),
                    self.repeat_edit)
        self.mismatch = wrap_label("", "Secret check")
        self.secret_note = wrap_label(
            "The instance secret encrypts every backup of this profile. Without it no backup can be restored: "
            "keep a copy somewhere safe besides this computer (a password manager, a sealed envelope).",
            "About the instance secret")
        self.keyring_label = wrap_label("Checking the OS keyring…", "Where the secret will be kept", rich=True)
        self.recheck_button = QPushButton("Check the keyring &again")
        self.recheck_button.setAccessibleName("Check the keyring again")
        self.recheck_button.clicked.connect(self.probe)
        keyring_row = QHBoxLayout()
        keyring_row.addWidget(self.keyring_label, 1)
        keyring_row.addWidget(self.recheck_button, 0, Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.mismatch)
        layout.addWidget(self.secret_note)
        layout.addLayout(keyring_row)
        layout.addStretch(1)
        for edit in (self.name_edit, self.url_edit, self.secret_edit, self.repeat_edit):
            edit.textChanged.connect(self._changed)
        QWidget.setTabOrder(self.secret_edit, self.repeat_edit)  # typing the secret twice; Generate comes after
        QWidget.setTabOrder(self.repeat_edit, self.generate_button)

    def initializePage(self) -> None:
        if self.keyring_status is None and not self.probing:
            self.probe()

    def probe(self) -> None:
        if not self.probing:
            self.probing = True
            self.wiz.start(self._probe())

    async def _probe(self) -> None:
        """SecretStore.probe in a job: which keyring backend will hold the secrets, and does it work."""
        secrets = self.wiz.console.secrets
        self.keyring_label.setText("Checking the OS keyring…")
        self.recheck_button.setEnabled(False)
        try:
            status = await self.wiz.run("Checking the OS keyring", lambda r: secrets.probe(refresh=True),
                                        key=KEYRING_JOBS)
        except RecoveryError as exc:
            self.wiz.show_error("The OS keyring", exc)
        else:
            self.show_keyring_status(status)
        finally:
            self.probing = False
            self.recheck_button.setEnabled(True)
            self.completeChanged.emit()

    def show_keyring_status(self, status: KeyringStatus) -> None:
        self.keyring_status = status
        if status.usable and status.secure:
            text = colored("✔ ", PASS_COLOR, True) + html.escape(
                f"The instance secret and any passwords will be kept in the OS keyring ({status.backend}).")
        elif status.usable:
            text = colored("⚠ " + status.message, WARN_COLOR, True)
            if status.hint:
                text += "<br>" + html.escape(f"What to do: {status.hint}")
        else:
            text = colored("✘ Secrets cannot be stored, so the profile cannot be saved. ", FAIL_COLOR, True)
            text += html.escape(status.message)
            if status.hint:
                text += "<br><b>How to fix it:</b> " + html.escape(status.hint)
            text += "<br>" + html.escape("Then click 'Check the keyring again'.")
        self.keyring_label.setText(text)
        self.completeChanged.emit()

    def generate_secret(self) -> None:
        """A new grouped secret in both fields, shown once with its QR code and escrow sheet."""
        from recovery_console.engine.escrow_sheet import EscrowSheet, describe_use
        from recovery_console.engine.pg import postgres
        from recovery_console.engine.who import user_at_host, utc_now
        from recovery_console.models.profile import Profile
        from recovery_console.ui.dialogs.escrow_dialog import EscrowSheetDialog

        secret = grouped_secret.generate()
        self.secret_edit.setText(secret)
        self.repeat_edit.setText(secret)
        name = self.name_edit.text().strip() or "new profile"
        url = postgres.split_password(self.url_edit.text().strip())[0] if self.url_edit.text().strip() else ""
        opens = describe_use(name, Profile(name, url) if url else None)
        dialog = EscrowSheetDialog(EscrowSheet(name, secret, utc_now(), user_at_host(), opens), self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.escrow_dialog = dialog
        dialog.open()

    def secret_problem(self) -> str:
        """Why a typed grouped secret cannot be right (the group named), or ''; plain secrets pass."""
        try:
            grouped_secret.canonical(self.secret_edit.text())
        except RecoveryError as exc:
            return exc.message
        return ""

    def _changed(self) -> None:
        secret, repeat = self.secret_edit.text(), self.repeat_edit.text()
        problem = self.secret_problem()
        self.mismatch.setText(problem or ("The two secrets differ." if repeat and secret != repeat else ""))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        status = self.keyring_status
        return bool(self.name_edit.text().strip() and self.url_edit.text().strip() and self.secret_edit.text()
                    and self.secret_edit.text() == self.repeat_edit.text() and status is not None and status.usable
                    and not self.secret_problem())

    def validatePage(self) -> bool:
        from recovery_console.engine.pg import postgres

        try:
            self.wiz.console.profiles.store.check_new(self.name_edit.text().strip())
            postgres.parse(self.url_edit.text().strip())
            secret = grouped_secret.canonical(self.secret_edit.text())
        except RecoveryError as exc:
            self.wiz.show_error("The profile", exc)
            return False
        if secret != self.secret_edit.text():  # a grouped secret typed in another case or spacing: kept as generated
            self.secret_edit.setText(secret)
            self.repeat_edit.setText(secret)
        return True


# --------------------------------------------------------------------------------------------
# Page 2: connection mode
# --------------------------------------------------------------------------------------------

DIRECT_REASON = (
    "Why this is asked: pg_dump and pg_restore need one PostgreSQL session for the whole job. A connection "
    "pooler in transaction mode (PgBouncer, RDS Proxy, …) hands their statements to different server sessions, "
    "which breaks a backup or, worse, restores it silently wrong. Only confirm if this URL reaches PostgreSQL "
    "itself."
)
POOL_REASON = (
    "Your application may keep using the pooler. Backups and restores will use the direct URL below, which "
    "must reach the PostgreSQL server behind the pooler."
)


class ConnectionPage(QWizardPage):
    """Page 2: direct or through a pooler (then with a direct URL), and Test connection."""

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Connection mode")
        self.setSubTitle("Declare how the database URL reaches PostgreSQL. Backup and restore stay disabled "
                         "until this is declared.")
        self.report: ConnectionReport | None = None
        self.testing = False

        self.direct_radio = QRadioButton("&Direct: the URL reaches the PostgreSQL server itself")
        self.direct_radio.setAccessibleName("Direct connection")
        self.pool_radio = QRadioButton("&Pool: the URL goes through a connection pooler")
        self.pool_radio.setAccessibleName("Connection through a pooler")
        self.group = QButtonGroup(self)
        self.group.addButton(self.direct_radio)
        self.group.addButton(self.pool_radio)

        self.direct_box = QGroupBox("Direct connection")
        self.direct_box.setAccessibleName("Direct connection")
        self.ack_check = QCheckBox("&I confirm this URL connects straight to PostgreSQL, not through a pooler")
        self.ack_check.setAccessibleName("Confirm the URL is not a pooler")
        self.ack_check.setAccessibleDescription(DIRECT_REASON)
        direct_layout = QVBoxLayout(self.direct_box)
        direct_layout.addWidget(wrap_label(DIRECT_REASON, "Why the confirmation is needed"))
        direct_layout.addWidget(self.ack_check)

        self.pool_box = QGroupBox("Through a pooler")
        self.pool_box.setAccessibleName("Through a pooler")
        self.direct_url_edit = QLineEdit()
        self.direct_url_edit.setPlaceholderText("postgresql://user:password@db-server:5432/dbname")
        pool_form = QFormLayout()
        pool_form.addRow(buddy_label("Direct &URL:", self.direct_url_edit, "Direct URL for pg_dump and pg_restore"),
                         self.direct_url_edit)
        pool_layout = QVBoxLayout(self.pool_box)
        pool_layout.addWidget(wrap_label(POOL_REASON, "What the direct URL is for"))
        pool_layout.addLayout(pool_form)

        self.tells_label = wrap_label("", "Pooler warnings", rich=True)
        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test the database connection")
        self.test_button.clicked.connect(self.test_connection)
        self.result_view = QTextBrowser()
        self.result_view.setAccessibleName("Connection test result")
        self.result_view.setPlaceholderText("Test connection shows the server version and which pg_dump and "
                                            "pg_restore will be used.")

        layout = QVBoxLayout(self)
        layout.addWidget(self.direct_radio)
        layout.addWidget(self.pool_radio)
        layout.addWidget(self.direct_box)
        layout.addWidget(self.pool_box)
        layout.addWidget(self.tells_label)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.result_view, 1)

        for signal in (self.direct_radio.toggled, self.pool_radio.toggled, self.ack_check.toggled):
            signal.connect(self._changed)
        self.direct_url_edit.textChanged.connect(self._changed)
        self._changed()

    @property
    def mode(self) -> ConnectionMode:
        if self.direct_radio.isChecked():
            return ConnectionMode.DIRECT
        if self.pool_radio.isChecked():
            return ConnectionMode.POOL
        return ConnectionMode.UNDECLARED

    def initializePage(self) -> None:
        from recovery_console.engine.pg.connection_report import pooler_warnings

        tells = pooler_warnings(self.wiz.profile_page.url_edit.text().strip())
        if tells:
            self.tells_label.setText("<br>".join(colored("⚠ " + t, WARN_COLOR) for t in tells)
                                     + "<br>" + html.escape("If it is a pooler, choose Pool."))
        else:
            self.tells_label.setText("")

    def _changed(self) -> None:
        self.direct_box.setEnabled(self.direct_radio.isChecked())
        self.pool_box.setEnabled(self.pool_radio.isChecked())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.mode is ConnectionMode.DIRECT:
            return self.ack_check.isChecked()
        if self.mode is ConnectionMode.POOL:
            return bool(self.direct_url_edit.text().strip())
        return False

    def validatePage(self) -> bool:
        try:
            self.wiz.declared_profile()
        except RecoveryError as exc:
            self.wiz.show_error("The connection mode", exc)
            return False
        return True

    def test_connection(self) -> None:
        if not self.testing:
            self.testing = True
            self.wiz.start(self._test_connection())

    async def _test_connection(self) -> None:
        """Connect as a backup would (server version, rights, pooler signs) and pick pg_dump and pg_restore."""
        from recovery_console.engine.pg.connection_report import check_connection

        name = self.wiz.profile_page.name_edit.text().strip() or "new profile"
        url = self.wiz.profile_page.url_edit.text().strip()
        mode = self.mode
        direct = self.direct_url_edit.text().strip() or None
        self.test_button.setEnabled(False)
        self.result_view.setHtml(html.escape("Connecting…"))
        try:
            report = await self.wiz.run("Testing the connection",
                                        lambda r: check_connection(name, url, mode, direct_url=direct))
        except RecoveryError as exc:
            self.result_view.setHtml(colored("✘ " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("Test connection", exc)
        else:
            self.show_report(report)
        finally:
            self.testing = False
            self.test_button.setEnabled(True)

    def show_report(self, report: ConnectionReport) -> None:
        self.report = report
        parts = []
        if report.ok:
            parts.append(colored(f"✔ Connected to {report.url}", PASS_COLOR, True))
            parts.append(html.escape(f"Server: PostgreSQL {report.server_version} · database {report.database} · "
                                     f"role {report.user}" + ("" if report.can_create_db else " (no CREATEDB)")))
            parts.append(html.escape(f"pg_dump: {report.pg_dump or 'none that fits'}"))
            parts.append(html.escape(f"pg_restore: {report.pg_restore or 'none that fits'}"))
        else:
            parts.append(colored(f"✘ Could not connect to {report.url}", FAIL_COLOR, True))
            parts.append(html.escape(report.error or ""))
        for warning in report.warnings:
            parts.append(colored("⚠ " + warning, WARN_COLOR))
        self.result_view.setHtml("<br>".join(parts))
