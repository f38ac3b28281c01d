"""Add or edit a storage target from the window, and the confirmation before removing one.

The fields are the setup wizard's (`TargetFields`); the engine builds and checks the target
(`target_options`), tests it (`check_new_target`) and saves it (`Console.add_target` or
`Console.update_target`), each in a job. When editing, a secret left empty keeps the one in the keyring.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.target_options import NewTarget, check_new_target, pin_host_key, sftp_target
from recovery_console.engine.state.targets import target_scope
from recovery_console.engine.storage.round_trip import CheckReport
from recovery_console.errors import RecoveryError
from recovery_console.models.target import TargetConfig
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, run_job, start_task
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.quota_field import QuotaField
from recovery_console.ui.widgets.status import WARN_COLOR, check_tree, colored
from recovery_console.ui.widgets.target_test import host_key_trusted, show_problem, show_report
from recovery_console.ui.wizards.setup_target_fields import TargetFields, kind_combo, line_edit

if TYPE_CHECKING:
    from recovery_console.engine.console import Console
    from recovery_console.engine.storage.sftp_hostkeys import HostKeyInfo

KEPT = "empty: keep the one in the keyring"


def removal_text(name: str, config: TargetConfig, backups: int) -> tuple[str, str]:
    """What removing a target does, said before it is done: the question and what happens to its backups."""
    where = str(config.options.get("path") or config.options.get("bucket") or config.options.get("host") or "")
    counted = "1 backup" if backups == 1 else f"{backups} backups"
    return (f"Remove the target '{name}' from this console?",
            f"Its {counted} stay on the storage ({config.kind} {where}): nothing there is deleted. The console "
            f"forgets the target's settings and its secrets in the keyring; its backups are shown as "
            f"\"target removed\" and cannot be opened from here until you add the target again with the same "
            f"settings.")


class TargetDialog(QDialog):
    """A new target (`config` None) or a saved one to change; `saved(name)` once the engine has stored it."""

    saved = Signal(str)

    def __init__(self, console: Console, runner: JobRunner, config: TargetConfig | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.original = config
        self.busy = False
        self.report: CheckReport | None = None
        self._passed: tuple[Any, ...] | None = None
        self._tested: NewTarget | None = None
        self.error_boxes: list[QMessageBox] = []
        self.host_key_box: QMessageBox | None = None
        self.setWindowTitle(f"Edit target '{config.name}'" if config else "Add a storage target")
        self.setAccessibleName(self.windowTitle())

        self.name_edit = line_edit("e.g. vault")
        self.kind_combo = kind_combo()
        top = QFormLayout()
        top.addRow(buddy_label("Target na&me:", self.name_edit, "Target name"), self.name_edit)
        top.addRow(buddy_label("&Kind:", self.kind_combo, "Target kind"), self.kind_combo)
        self.fields = TargetFields()
        self.quota_field = QuotaField()
        self.quota_spin, self.quota_unit = self.quota_field.spin, self.quota_field.unit
        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test the storage target")
        self.test_button.clicked.connect(self.test)
        self.test_label = wrap_label("", "Storage test result", rich=True)
        self.steps = check_tree(["Step", "Result", "Details"], "Storage test steps")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setAccessibleName("Save the target")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.fields)
        layout.addLayout(self.quota_field.form)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_label, 1)
        layout.addLayout(row)
        layout.addWidget(self.steps, 1)
        layout.addWidget(self.buttons)

        self.resize(600, self.sizeHint().height())
        if config is not None:
            self._fill(config)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._changed)
        for signal in (self.quota_spin.valueChanged, self.quota_unit.currentIndexChanged,
                       self.fields.addressing_combo.currentIndexChanged, self.fields.sftp_port.valueChanged,
                       self.fields.smb_port.valueChanged, self.fields.s3_tls.toggled, self.fields.s3_verify.toggled,
                       self.fields.sftp_key_radio.toggled):
            signal.connect(self._changed)
        self._kind_changed()

    # -- the form --------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def _fill(self, config: TargetConfig) -> None:
        """The saved settings in the form; secrets stay in the keyring (an empty field keeps them)."""
        f, o = self.fields, config.options
        self.name_edit.setText(config.name)
        self.name_edit.setEnabled(False)
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(config.kind))
        self.kind_combo.setEnabled(False)
        text = {"local": {f.local_path: "path"},
                "s3": {f.s3_bucket: "bucket", f.s3_endpoint: "endpoint_url", f.s3_region: "region",
                       f.s3_key_id: "access_key_id", f.s3_prefix: "prefix", f.s3_kms: "kms_key_id"},
                "smb": {f.smb_host: "host", f.smb_share: "share", f.smb_user: "username", f.smb_domain: "domain",
                        f.smb_dir: "directory"},
                "sftp": {f.sftp_host: "host", f.sftp_user: "username", f.sftp_dir: "directory"}}[config.kind]
        for edit, key in text.items():
            edit.setText(str(o.get(key) or ""))
        if config.kind == "s3":
            f.addressing_combo.setCurrentIndex(max(0, f.addressing_combo.findData(o.get("addressing_style", ""))))
            f.s3_tls.setChecked(bool(o.get("use_tls", True)))
            f.s3_verify.setChecked(bool(o.get("verify_tls", True)))
        if config.kind in ("smb", "sftp"):
            (f.smb_port if config.kind == "smb" else f.sftp_port).setValue(int(o.get("port") or 0))
        if config.kind == "sftp":
            f.sftp_key_radio.setChecked(o.get("auth") == "key")
            f.sftp_pw_radio.setChecked(o.get("auth") != "key")
            fingerprint = o.get("host_key_fingerprint")
            if fingerprint:
                f.host_key_label.setText(f"Host key: {o.get('host_key_type', '')} {fingerprint} (confirmed earlier)")
        for edit in (f.s3_secret, f.smb_password, f.sftp_password, f.sftp_passphrase, f.sftp_key_file):
            edit.setPlaceholderText(KEPT)
        self.quota_field.set_value(config.quota)

    def quota(self) -> int | None:
        return self.quota_field.value()

    def _state(self) -> tuple[Any, ...]:
        return self.name_edit.text().strip(), self.kind, *self.fields.values(), self.quota()

    def _kind_changed(self) -> None:
        self.fields.show_kind(self.kind)
        self._changed()

    def _changed(self) -> None:
        if self._passed is not None and self._passed != self._state():
            self._passed = None
            self._tested = None
            self.test_label.setText(colored("Settings changed: test again.", WARN_COLOR))
        self.save_button.setEnabled(not self.busy and bool(self.name_edit.text().strip())
                                    and (self.kind == "local" or self._passed is not None))
        self.test_button.setEnabled(not self.busy)

    def builder(self) -> Callable[[], NewTarget]:
        """The engine's builder over the form; when editing, an empty secret field takes the keyring's secret
        (read when the builder runs, in a job)."""
        name, kind, quota = self.name_edit.text().strip(), self.kind, self.quota()
        build = self.fields.builder(name, kind, quota)
        if self.original is None or kind == "local":
            return build
        f, scope, get = self.fields, target_scope(name), self.console.secrets.get
        if kind == "sftp" and f.sftp_key_radio.isChecked() and not f.sftp_key_file.text().strip():
            typed = f.sftp_passphrase.text()
            return lambda: sftp_target(name, host=f.sftp_host.text(), port=f.sftp_port.value(),
                                       username=f.sftp_user.text(), directory=f.sftp_dir.text(), quota=quota,
                                       private_key=get(scope, "private_key"),
                                       passphrase=typed or get(scope, "passphrase"))
        password_kept = ((kind == "smb" and not f.smb_password.text())
                         or (kind == "sftp" and f.sftp_pw_radio.isChecked() and not f.sftp_password.text()))
        s3_kept = kind == "s3" and f.s3_key_id.text().strip() and not f.s3_secret.text()
        kept = "password" if password_kept else "secret_access_key" if s3_kept else None
        if kept is None:
            return build
        return lambda: partial(build, **{kept: get(scope, kept)})()

    def _kept_host_key(self, new: NewTarget) -> NewTarget | None:
        """An edited SFTP target still on the same host and port keeps the host key confirmed before."""
        old = self.original.options if self.original else {}
        same = (old.get("host"), old.get("port")) == (new.config.options["host"], new.config.options["port"])
        if not same or not old.get("host_key_fingerprint"):
            return None
        options = {**new.config.options, "host_key_fingerprint": old["host_key_fingerprint"],
                   "host_key_type": old.get("host_key_type", "")}
        return NewTarget(TargetConfig(new.config.name, new.config.kind, options, new.config.quota), new.secrets)

    # -- jobs ------------------------------------------------------------------------------------

    async def _run(self, name: str, function: Callable[[Reporter], Any]) -> Any:
        return await run_job(self.runner, Job(name, function, key=f"target-dialog-{id(self)}"))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._changed()

    def show_error(self, title: str, error: RecoveryError) -> None:
        show_problem(self.test_label, error)
        box = error_box(self, title, error)
        self.error_boxes.append(box)
        box.open()

    def test(self) -> None:
        """Build the target with the engine, confirm a new SFTP host key, then the real round trip."""
        if not self.busy:
            self._set_busy(True)
            start_task(self._test())

    async def _test(self) -> None:
        state, build = self._state(), self.builder()
        self.steps.clear()
        try:
            new: NewTarget = await self._run("Checking the target settings", lambda r: build())
            if new.config.kind == "sftp":
                kept = self._kept_host_key(new)
                if kept is None:
                    found = await self._confirm_host_key(new.config)
                    if found is None:
                        return
                    kept = pin_host_key(new, found)
                new = kept
            self.test_label.setText(html.escape(f"Testing {new.config.name}: list, write, read back, delete…"))
            report: CheckReport = await self._run("Testing the storage target", lambda r: check_new_target(new))
        except RecoveryError as exc:
            self.show_error("Test connection", exc)
            return
        finally:
            self._set_busy(False)
        self.show_report(report)
        if report.ok and state == self._state():
            self._passed, self._tested = state, new
        self._changed()

    async def _confirm_host_key(self, config: TargetConfig) -> HostKeyInfo | None:
        from recovery_console.engine.storage.sftp_hostkeys import fetch_host_key

        host, port = str(config.options["host"]), int(config.options["port"])
        info: HostKeyInfo = await self._run("Fetching the SSH host key", lambda r: fetch_host_key(host, port))
        if not await host_key_trusted(self, host, port, info, self.test_label, self._show_box):
            return None
        self.fields.host_key_label.setText(f"Host key: {info.key_type} {info.fingerprint_sha256} (confirmed by you)")
        return info

    def _show_box(self, box: QMessageBox | None) -> None:
        self.host_key_box = box

    def show_report(self, report: CheckReport) -> None:
        self.report = report
        show_report(self.test_label, self.steps, report)

    def save(self) -> None:
        """Store the tested target (a local folder is checked now) through the engine's audited call."""
        if not self.busy:
            self._set_busy(True)
            start_task(self._save())

    async def _save(self) -> None:
        console, tested, build, editing = self.console, self._tested, self.builder(), self.original is not None

        def store(_reporter: Reporter) -> str:
            new = tested if tested is not None else build()
            if editing:
                console.update_target(new.config, new.secrets)
            else:
                console.add_target(new.config, new.secrets)
            return new.config.name

        try:
            name: str = await self._run("Saving the target", store)
        except RecoveryError as exc:
            self.show_error("Saving the target", exc)
            return
        finally:
            self._set_busy(False)
        self.saved.emit(name)
        self.accept()
