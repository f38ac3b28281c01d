"""The setup wizard's storage target page: an existing target, or a new one that must pass Test connection.

Test connection is one flow: for a new SFTP server its host key is fetched and confirmed by the
user first, then the real round trip (list, write, read back, delete) runs in a job.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from recovery_console.engine.progress import Reporter
from recovery_console.engine.storage.round_trip import CheckReport
from recovery_console.errors import RecoveryError, SecretUnavailableError, UsageError
from recovery_console.models.target import TargetConfig
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, check_tree, colored, set_status_item
from recovery_console.ui.wizards.base import KEYRING_JOBS
from recovery_console.ui.wizards.setup_target_fields import HOST_KEY_UNCONFIRMED, KIND_LABELS, TargetFields, line_edit

if TYPE_CHECKING:
    from recovery_console.engine.storage.sftp_hostkeys import HostKeyInfo
    from recovery_console.ui.wizards.setup import SetupWizard

QUOTA_UNITS = (("GiB", 1 << 30), ("TiB", 1 << 40), ("MiB", 1 << 20))
Tested = tuple[TargetConfig, dict[str, str]]


class TargetPage(QWizardPage):
    NEW = "__new__"

    def __init__(self, wizard: SetupWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Storage target")
        self.setSubTitle("Where this profile's backups are kept. Remote targets must pass Test connection "
                         "before you can go on.")
        self.report: CheckReport | None = None
        self.host_key: tuple[str, int, HostKeyInfo] | None = None
        self.host_key_box: QMessageBox | None = None
        self.testing = False
        self._passed: tuple[Any, ...] | None = None
        self._tested: Tested | None = None

        self.existing_combo = QComboBox()
        self.name_edit = line_edit("e.g. vault")
        self.kind_combo = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind_combo.addItem(label, kind)
        top = QFormLayout()
        top.addRow(buddy_label("T&arget:", self.existing_combo, "New or existing target"), self.existing_combo)
        top.addRow(buddy_label("Target na&me:", self.name_edit, "New target name"), self.name_edit)
        top.addRow(buddy_label("&Kind:", self.kind_combo, "Target kind"), self.kind_combo)

        self.fields = TargetFields()

        self.quota_spin = QDoubleSpinBox()
        self.quota_spin.setRange(0, 1_000_000)
        self.quota_spin.setDecimals(1)
        self.quota_spin.setSpecialValueText("No quota")
        self.quota_unit = QComboBox()
        for unit, _ in QUOTA_UNITS:
            self.quota_unit.addItem(unit)
        self.quota_unit.setAccessibleName("Quota unit")
        quota_row = QHBoxLayout()
        quota_row.addWidget(self.quota_spin, 1)
        quota_row.addWidget(self.quota_unit)
        quota_form = QFormLayout()
        quota_form.addRow(buddy_label("&Quota:", self.quota_spin, "Quota: refuse backups beyond this size"),
                          quota_row)

        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test the storage target")
        self.test_button.clicked.connect(self.test_target)
        self.steps = check_tree(["Step", "Result", "Details"], "Storage test steps")
        self.test_label = wrap_label("", "Storage test result", rich=True)

        self.new_box = QWidget()
        new_layout = QVBoxLayout(self.new_box)
        new_layout.setContentsMargins(0, 0, 0, 0)
        new_layout.addWidget(self.fields)
        new_layout.addLayout(quota_form)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.new_box)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_label, 1)
        layout.addLayout(row)
        layout.addWidget(self.steps, 1)

        self.existing_combo.currentIndexChanged.connect(self._changed)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._changed)
        for spin in self.findChildren(QSpinBox):
            spin.valueChanged.connect(self._changed)
        for check in self.findChildren(QCheckBox):
            check.toggled.connect(self._changed)
        for radio in self.findChildren(QRadioButton):
            radio.toggled.connect(self._changed)
        self.fields.addressing_combo.currentIndexChanged.connect(self._changed)
        self.quota_spin.valueChanged.connect(self._changed)
        self.quota_unit.currentIndexChanged.connect(self._changed)
        self._kind_changed()

    # -- state -----------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    @property
    def use_existing(self) -> str | None:
        data = self.existing_combo.currentData()
        return None if data in (None, self.NEW) else str(data)

    def initializePage(self) -> None:
        current = self.existing_combo.currentData()
        self.existing_combo.blockSignals(True)
        self.existing_combo.clear()
        self.existing_combo.addItem("A new target", self.NEW)
        try:
            names = list(self.wiz.console.targets.load())
        except RecoveryError as exc:
            names = []
            self.wiz.show_error("Configured targets", exc)
        for name in names:
            self.existing_combo.addItem(f"Existing: {name}", name)
        index = self.existing_combo.findData(current)
        self.existing_combo.setCurrentIndex(max(0, index))
        self.existing_combo.blockSignals(False)
        if not self.name_edit.text():
            profile = self.wiz.profile_page.name_edit.text().strip()
            self.name_edit.setText(f"{profile}-backups" if profile else "")
        self._changed()

    def _kind_changed(self) -> None:
        self.fields.show_kind(self.kind)
        self._changed()

    def _changed(self) -> None:
        existing = self.use_existing is not None
        self.name_edit.setEnabled(not existing)
        self.kind_combo.setEnabled(not existing)
        self.new_box.setEnabled(not existing)
        where = (self.fields.sftp_host.text().strip(), self.fields.sftp_port.value())
        if self.host_key is not None and self.host_key[:2] != where:
            self.host_key = None
            self.fields.host_key_label.setText(HOST_KEY_UNCONFIRMED)
        if self._passed is not None and self._passed != self._state():
            self._passed = None
            self._tested = None
            self.test_label.setText(colored("Settings changed: test again.", WARN_COLOR))
        self.completeChanged.emit()

    def _state(self) -> tuple[Any, ...]:
        """Everything the test depends on; a passed test counts only while this is unchanged."""
        return (self.use_existing, self.name_edit.text().strip(), self.kind, *self.fields.values(), self.quota(),
                self.host_key[2].fingerprint_sha256 if self.host_key else None)

    def quota(self) -> int | None:
        value = self.quota_spin.value()
        if value <= 0:
            return None
        return int(value * dict(QUOTA_UNITS)[self.quota_unit.currentText()])

    def build(self) -> Tested:
        """The new target's settings and its secrets, from the form (file reads happen in the test job)."""
        return self.fields.build(self.name_edit.text().strip(), self.kind, self.quota(),
                                 self.host_key[2] if self.host_key else None)

    def tested(self) -> Tested | None:
        return self._tested if self._passed == self._state() else None

    # -- test connection -------------------------------------------------------------------------

    def test_target(self) -> None:
        """Check the form, then run the test flow."""
        if self.testing:
            return
        if self.use_existing is None:
            try:
                self.build()
            except RecoveryError as exc:
                self.wiz.show_error("Test connection", exc)
                return
            except ImportError as exc:
                self.wiz.show_error("Test connection", UsageError(f"This kind of target is not available: {exc}."))
                return
        self.testing = True
        self.test_button.setEnabled(False)
        self.steps.clear()
        self.wiz.start(self._test())

    async def _test(self) -> None:
        """An existing target's round trip; or a new one's, after its SFTP host key is confirmed."""
        try:
            if self.use_existing is not None:
                state = self._state()
                config, secrets, report = await self._test_existing(self.use_existing)
            else:
                if self.kind == "sftp" and self.host_key is None and not await self._confirm_host_key():
                    return
                state = self._state()
                config, secrets, report = await self._test_new()
        except RecoveryError as exc:
            self.test_label.setText(colored("✘ " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("Test connection", exc)
            return
        finally:
            self.testing = False
            self.test_button.setEnabled(True)
            self.completeChanged.emit()
        self.show_report(report)
        if report.ok and state == self._state():
            self._passed = state
            self._tested = (config, secrets)
        self.completeChanged.emit()

    async def _test_existing(self, name: str) -> tuple[TargetConfig, dict[str, str], CheckReport]:
        from recovery_console.engine.storage.round_trip import round_trip

        console = self.wiz.console
        self.test_label.setText(html.escape(f"Testing {name}: list, write, read back, delete…"))
        config, report = await self.wiz.run(
            "Testing the storage target", lambda r: (console.targets.get(name), round_trip(console.storage(name))),
            key=KEYRING_JOBS)
        return config, {}, report

    async def _test_new(self) -> tuple[TargetConfig, dict[str, str], CheckReport]:
        from recovery_console.engine.state.targets import open_storage
        from recovery_console.engine.storage.round_trip import round_trip

        config, secrets = self.build()
        by_key = config.kind == "sftp" and config.options["auth"] == "key"
        key_file = self.fields.sftp_key_file.text().strip() if by_key else ""

        def job(reporter: Reporter) -> tuple[TargetConfig, dict[str, str], CheckReport]:
            values = dict(secrets)
            if key_file:
                values["private_key"] = _read_private_key(Path(key_file).expanduser(), values.get("passphrase"))
            with open_storage(config, values.get) as storage:
                return config, values, round_trip(storage)

        self.test_label.setText(html.escape(f"Testing {config.name}: list, write, read back, delete…"))
        return await self.wiz.run("Testing the storage target", job)

    async def _confirm_host_key(self) -> bool:
        """SFTP: read the server's host key (no login) and have the user confirm its fingerprint; True if trusted."""
        from recovery_console.engine.storage.sftp_hostkeys import fetch_host_key

        host, port = self.fields.sftp_host.text().strip(), self.fields.sftp_port.value()
        self.test_label.setText(html.escape(f"Fetching the host key of {host}:{port}…"))
        info = await self.wiz.run("Fetching the SSH host key", lambda r: fetch_host_key(host, port))
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Confirm the SSH host key")
        box.setText(f"The server {host}:{port} presents this host key:\n\n{info.key_type}\n{info.fingerprint_sha256}")
        box.setInformativeText(
            "Compare it with the fingerprint the server's administrator gives you (on the server: "
            "ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Trust it only if they match; nothing has been sent "
            "to the server yet.")
        box.setAccessibleName("Confirm the SSH host key")
        box.setAccessibleDescription(f"{info.key_type} {info.fingerprint_sha256}")
        trust = box.addButton("&Trust this host key", QMessageBox.ButtonRole.AcceptRole)
        trust.setAccessibleName("Trust this host key")
        refuse = box.addButton("&Do not trust", QMessageBox.ButtonRole.RejectRole)
        refuse.setAccessibleName("Do not trust this host key")
        box.setDefaultButton(refuse)
        self.host_key_box = box
        self.test_label.setText(html.escape("Waiting for you to confirm the host key…"))
        try:
            await self.wiz.answer(box)
        finally:
            self.host_key_box = None
        if box.clickedButton() is not trust:
            self.test_label.setText(colored("The host key was not confirmed; nothing was sent to the server.",
                                            FAIL_COLOR, True))
            return False
        self.host_key = (host, port, info)
        self.fields.host_key_label.setText(f"Host key: {info.key_type} {info.fingerprint_sha256} (confirmed by you)")
        self._changed()
        return True

    def show_report(self, report: CheckReport) -> None:
        self.report = report
        self.steps.clear()
        for step in report.steps:
            why = step.message + (f" What to do: {step.hint}" if step.hint else "")
            item = QTreeWidgetItem([step.step, "", why or "ok"])
            set_status_item(item, 1, "pass" if step.ok else "fail")
            item.setToolTip(2, why)
            self.steps.addTopLevelItem(item)
        if report.ok:
            self.test_label.setText(colored(f"✔ Target '{report.target}' works.", PASS_COLOR, True))
        else:
            failed = next((s for s in report.steps if not s.ok), None)
            cause = f" The {failed.step} step failed: {failed.message}" if failed else ""
            self.test_label.setText(colored(f"✘ Target '{report.target}' does NOT work.{cause}", FAIL_COLOR, True))

    def isComplete(self) -> bool:
        if self.testing:
            return False
        if self.use_existing is not None:
            return True
        if not self.name_edit.text().strip():
            return False
        if self.kind == "local":
            return bool(self.fields.local_path.text().strip())
        return self.tested() is not None

    def validatePage(self) -> bool:
        if self.use_existing is not None:
            return True
        try:
            self.wiz.console.targets.check_new(self.name_edit.text().strip())
            config, _ = self.build()
            if config.kind == "local" and not Path(config.options["path"]).is_dir():
                raise UsageError(f"{config.options['path']} is not an existing folder.",
                                 hint="Create it first, or check the path.")
        except RecoveryError as exc:
            self.wiz.show_error("The storage target", exc)
            return False
        return True


def _read_private_key(path: Path, passphrase: str | None) -> str:
    """The key file's text, checked (with its passphrase) before anything connects."""
    from recovery_console.engine.storage.sftp_keys import load_private_key

    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SecretUnavailableError(f"The private key file {path} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise SecretUnavailableError(f"{path} is not a text private key file.") from None
    load_private_key(text, passphrase)
    return text
