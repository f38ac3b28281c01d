"""The setup wizard's storage target page: an existing target, or a new one that must pass Test connection.

Test connection is one flow: the engine builds the new target from the form (and says what to
change if it cannot), a new SFTP server's host key is fetched and confirmed by the user, then the
real round trip (list, write, read back, delete) runs; each engine call in a job.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from recovery_console.engine.state.target_options import NewTarget, check_new_target, pin_host_key
from recovery_console.engine.storage.round_trip import CheckReport
from recovery_console.errors import RecoveryError
from recovery_console.models.target import TargetConfig
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.quota_field import QuotaField
from recovery_console.ui.widgets.status import WARN_COLOR, check_tree, colored
from recovery_console.ui.widgets.target_test import host_key_trusted, show_problem, show_report
from recovery_console.ui.wizards.base import KEYRING_JOBS
from recovery_console.ui.wizards.setup_target_fields import HOST_KEY_UNCONFIRMED, TargetFields, kind_combo, line_edit

if TYPE_CHECKING:
    from recovery_console.engine.storage.sftp_hostkeys import HostKeyInfo
    from recovery_console.ui.wizards.setup import SetupWizard



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
        self._tested: NewTarget | None = None

        self.existing_combo = QComboBox()
        self.name_edit = line_edit("e.g. vault")
        self.kind_combo = kind_combo()
        top = QFormLayout()
        top.addRow(buddy_label("T&arget:", self.existing_combo, "New or existing target"), self.existing_combo)
        top.addRow(buddy_label("Target na&me:", self.name_edit, "New target name"), self.name_edit)
        top.addRow(buddy_label("&Kind:", self.kind_combo, "Target kind"), self.kind_combo)

        self.fields = TargetFields()

        self.quota_field = QuotaField()
        self.quota_spin, self.quota_unit = self.quota_field.spin, self.quota_field.unit

        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test the storage target")
        self.test_button.clicked.connect(self.test_target)
        self.steps = check_tree(["Step", "Result", "Details"], "Storage test steps")
        self.test_label = wrap_label("", "Storage test result", rich=True)

        self.new_box = QWidget()
        new_layout = QVBoxLayout(self.new_box)
        new_layout.setContentsMargins(0, 0, 0, 0)
        new_layout.addWidget(self.fields)
        new_layout.addLayout(self.quota_field.form)

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
        return (*self._form(), self.host_key[2].fingerprint_sha256 if self.host_key else None)

    def _form(self) -> tuple[Any, ...]:
        """What the user typed and chose (the host key aside)."""
        return self.use_existing, self.name_edit.text().strip(), self.kind, *self.fields.values(), self.quota()

    def quota(self) -> int | None:
        return self.quota_field.value()

    def builder(self) -> Callable[[], NewTarget]:
        """The engine's builder of the new target over the form's values (call it in a job: it may read files)."""
        return self.fields.builder(self.name_edit.text().strip(), self.kind, self.quota())

    def build(self) -> NewTarget:
        """The new target, built and checked by the engine now (for a local folder, which is quick to check)."""
        return self.builder()()

    def tested(self) -> NewTarget | None:
        """The new target as it passed Test connection (host key pinned), while the form is unchanged."""
        return self._tested if self._passed == self._state() else None

    # -- test connection -------------------------------------------------------------------------

    def test_target(self) -> None:
        """Run the test flow (one at a time)."""
        if self.testing:
            return
        self.testing = True
        self.test_button.setEnabled(False)
        self.steps.clear()
        self.completeChanged.emit()  # Next waits for the test's verdict
        self.wiz.start(self._test())

    async def _test(self) -> None:
        """An existing target's round trip; or the new one's: built by the engine, its SFTP host key confirmed."""
        try:
            if self.use_existing is not None:
                state = self._state()
                new, report = await self._test_existing(self.use_existing)
            else:
                form, build = self._form(), self.builder()
                new = await self.wiz.run("Checking the target settings", lambda r: build())
                if new.config.kind == "sftp":
                    found = self.host_key[2] if self.host_key else await self._confirm_host_key(new.config)
                    if found is None:
                        return
                    new = pin_host_key(new, found)
                state = (*form, new.config.options.get("host_key_fingerprint"))
                report = await self._test_new(new)
        except RecoveryError as exc:
            self.show_problem(exc)
            return
        finally:
            self.testing = False
            self.test_button.setEnabled(True)
            self.completeChanged.emit()
        self.show_report(report)
        if report.ok and state == self._state():
            self._passed = state
            self._tested = new
        self.completeChanged.emit()

    async def _test_existing(self, name: str) -> tuple[NewTarget, CheckReport]:
        from recovery_console.engine.storage.round_trip import round_trip

        console = self.wiz.console
        self.test_label.setText(html.escape(f"Testing {name}: list, write, read back, delete…"))
        config, report = await self.wiz.run(
            "Testing the storage target", lambda r: (console.targets.get(name), round_trip(console.storage(name))),
            key=KEYRING_JOBS)
        return NewTarget(config, {}), report

    async def _test_new(self, new: NewTarget) -> CheckReport:
        self.test_label.setText(html.escape(f"Testing {new.config.name}: list, write, read back, delete…"))
        report: CheckReport = await self.wiz.run("Testing the storage target", lambda r: check_new_target(new))
        return report

    def show_problem(self, error: RecoveryError) -> None:
        """Why the test could not run, on the page and in the one error style."""
        show_problem(self.test_label, error)
        self.wiz.show_error("Test connection", error)

    async def _confirm_host_key(self, config: TargetConfig) -> HostKeyInfo | None:
        """SFTP: read the server's host key (no login) and have the user confirm its fingerprint; the key if trusted."""
        from recovery_console.engine.storage.sftp_hostkeys import fetch_host_key

        host, port = str(config.options["host"]), int(config.options["port"])
        self.test_label.setText(html.escape(f"Fetching the host key of {host}:{port}…"))
        info = await self.wiz.run("Fetching the SSH host key", lambda r: fetch_host_key(host, port))
        if not await host_key_trusted(self, host, port, info, self.test_label, self._show_box):
            return None
        self.host_key = (host, port, info)
        self.fields.host_key_label.setText(f"Host key: {info.key_type} {info.fingerprint_sha256} (confirmed by you)")
        self._changed()
        return info

    def _show_box(self, box: QMessageBox | None) -> None:
        self.host_key_box = box

    def show_report(self, report: CheckReport) -> None:
        self.report = report
        show_report(self.test_label, self.steps, report)

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
            if self.tested() is None:
                self.build()  # a local folder that was not tested: the engine checks it now
        except RecoveryError as exc:
            self.wiz.show_error("The storage target", exc)
            return False
        return True
