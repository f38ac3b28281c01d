"""The settings of a new storage target, one group of fields per kind (local, S3, SMB, SFTP).

What they mean and whether they make a usable target is the engine's call (`target_options`, as for
`target add` in the CLI): these fields only hand it what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from recovery_console.engine.state.target_options import (
    NewTarget,
    local_target,
    read_private_key,
    s3_target,
    sftp_target,
    smb_target,
)
from recovery_console.models.target import SFTP_DEFAULT_PORT, SMB_DEFAULT_PORT
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label

KIND_LABELS = {"local": "Local or mounted folder", "s3": "Amazon S3 or S3-compatible bucket",
               "smb": "SMB share (Windows, Samba, NAS)", "sftp": "SFTP server (SSH)"}
HOST_KEY_UNCONFIRMED = "Host key: not confirmed yet (Test connection fetches it and asks you)."


def line_edit(placeholder: str = "", password: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def kind_combo() -> QComboBox:
    """The target kinds to choose from, each item's data its kind ('local', 's3', …)."""
    combo = QComboBox()
    for kind, label in KIND_LABELS.items():
        combo.addItem(label, kind)
    return combo


def port_box(default: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, 65535)
    spin.setValue(default)
    return spin


class TargetFields(QStackedWidget):
    """The fields of the chosen kind of target (the others hidden); `builder` hands them to the engine."""

    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Target settings")
        self.groups = [self._local_fields(), self._s3_fields(), self._smb_fields(), self._sftp_fields()]
        for group in self.groups:  # in the order of KIND_LABELS
            self.addWidget(group)
        self.sftp_pw_radio.toggled.connect(self._auth_changed)
        self._auth_changed()

    def _local_fields(self) -> QWidget:
        box = QGroupBox("Local folder")
        self.local_path = line_edit("/mnt/backups")
        self.local_browse = QPushButton("Bro&wse…")
        self.local_browse.setAccessibleName("Browse for the folder")
        self.local_browse.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        row.addWidget(self.local_path, 1)
        row.addWidget(self.local_browse)
        form = QFormLayout(box)
        form.addRow(buddy_label("&Folder:", self.local_path, "Folder"), row)
        form.addRow(wrap_label("An existing folder on a local or mounted disk. Backups go to its backups/ "
                               "subfolder.", "About local folders"))
        return box

    def _s3_fields(self) -> QWidget:
        box = QGroupBox("S3 bucket")
        self.s3_bucket = line_edit("my-backups")
        self.s3_endpoint = line_edit("empty for AWS; https://minio.example:9000")
        self.s3_region = line_edit("eu-central-1")
        self.s3_key_id = line_edit("empty: IAM role / instance profile / environment")
        self.s3_secret = line_edit("", password=True)
        self.s3_prefix = line_edit("prod/db1")
        self.s3_kms = line_edit("empty: the bucket's own setting")
        self.addressing_combo = QComboBox()
        for text, value in (("Default", ""), ("Auto", "auto"), ("Path", "path"), ("Virtual host", "virtual")):
            self.addressing_combo.addItem(text, value)
        self.s3_tls = QCheckBox("Use TL&S (HTTPS)")
        self.s3_tls.setChecked(True)
        self.s3_tls.setAccessibleName("Use TLS")
        self.s3_verify = QCheckBox("&Verify the TLS certificate")
        self.s3_verify.setChecked(True)
        self.s3_verify.setAccessibleName("Verify the TLS certificate")
        form = QFormLayout(box)
        form.addRow(buddy_label("B&ucket:", self.s3_bucket, "Bucket"), self.s3_bucket)
        form.addRow(buddy_label("&Endpoint URL:", self.s3_endpoint, "Endpoint URL"), self.s3_endpoint)
        form.addRow(buddy_label("Re&gion:", self.s3_region, "Region"), self.s3_region)
        form.addRow(buddy_label("Access key &ID:", self.s3_key_id, "Access key ID"), self.s3_key_id)
        form.addRow(buddy_label("Secret access ke&y:", self.s3_secret, "Secret access key"), self.s3_secret)
        form.addRow(buddy_label("&Prefix:", self.s3_prefix, "Prefix (folder in the bucket)"), self.s3_prefix)
        form.addRow(buddy_label("KMS key (SSE-KMS):", self.s3_kms, "KMS key id"), self.s3_kms)
        form.addRow(buddy_label("Addressing sty&le:", self.addressing_combo, "Addressing style"), self.addressing_combo)
        form.addRow(self.s3_tls)
        form.addRow(self.s3_verify)
        return box

    def _smb_fields(self) -> QWidget:
        box = QGroupBox("SMB share (SMB3, encrypted sessions only)")
        self.smb_host = line_edit("nas.example.lan")
        self.smb_port = port_box(SMB_DEFAULT_PORT)
        self.smb_share = line_edit("backups")
        self.smb_user = line_edit(r"user or DOMAIN\user")
        self.smb_domain = line_edit("WORKGROUP")
        self.smb_dir = line_edit("an existing folder in the share; empty: its root")
        self.smb_password = line_edit("", password=True)
        form = QFormLayout(box)
        form.addRow(buddy_label("&Host:", self.smb_host, "SMB host"), self.smb_host)
        form.addRow(buddy_label("P&ort:", self.smb_port, "SMB port"), self.smb_port)
        form.addRow(buddy_label("&Share:", self.smb_share, "Share"), self.smb_share)
        form.addRow(buddy_label("&User name:", self.smb_user, "SMB user name"), self.smb_user)
        form.addRow(buddy_label("Doma&in:", self.smb_domain, "Domain or workgroup"), self.smb_domain)
        form.addRow(buddy_label("Fo&lder:", self.smb_dir, "Folder in the share"), self.smb_dir)
        form.addRow(buddy_label("Pass&word:", self.smb_password, "SMB password"), self.smb_password)
        return box

    def _sftp_fields(self) -> QWidget:
        box = QGroupBox("SFTP server")
        self.sftp_host = line_edit("backup.example.com")
        self.sftp_port = port_box(SFTP_DEFAULT_PORT)
        self.sftp_user = line_edit("backup")
        self.sftp_dir = line_edit("/srv/backups (must exist)")
        self.sftp_pw_radio = QRadioButton("Log in with a pass&word")
        self.sftp_pw_radio.setAccessibleName("Log in with a password")
        self.sftp_pw_radio.setChecked(True)
        self.sftp_key_radio = QRadioButton("Log in with a pri&vate key")
        self.sftp_key_radio.setAccessibleName("Log in with a private key")
        auth_group = QButtonGroup(box)
        auth_group.addButton(self.sftp_pw_radio)
        auth_group.addButton(self.sftp_key_radio)
        self.sftp_password = line_edit("", password=True)
        self.sftp_key_file = line_edit("~/.ssh/id_ed25519 (OpenSSH format)")
        self.sftp_key_browse = QPushButton("Choose fi&le…")
        self.sftp_key_browse.setAccessibleName("Browse for the private key file")
        self.sftp_key_browse.clicked.connect(self._browse_key)
        self.sftp_passphrase = line_edit("only if the key has one", password=True)
        key_row = QHBoxLayout()
        key_row.addWidget(self.sftp_key_file, 1)
        key_row.addWidget(self.sftp_key_browse)
        self.host_key_label = wrap_label(HOST_KEY_UNCONFIRMED, "SSH host key")
        form = QFormLayout(box)
        form.addRow(buddy_label("&Host:", self.sftp_host, "SFTP host"), self.sftp_host)
        form.addRow(buddy_label("P&ort:", self.sftp_port, "SSH port"), self.sftp_port)
        form.addRow(buddy_label("&User name:", self.sftp_user, "SFTP user name"), self.sftp_user)
        form.addRow(buddy_label("&Directory:", self.sftp_dir, "Directory on the server"), self.sftp_dir)
        form.addRow(self.sftp_pw_radio)
        form.addRow(buddy_label("Password:", self.sftp_password, "SFTP password"), self.sftp_password)
        form.addRow(self.sftp_key_radio)
        form.addRow(buddy_label("Private key file:", self.sftp_key_file, "Private key file"), key_row)
        form.addRow(buddy_label("Pass&phrase:", self.sftp_passphrase, "Private key passphrase"), self.sftp_passphrase)
        form.addRow(self.host_key_label)
        return box

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the backup folder", self.local_path.text())
        if folder:
            self.local_path.setText(folder)

    def _browse_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the private key", str(Path.home() / ".ssh"))
        if path:
            self.sftp_key_file.setText(path)

    def _auth_changed(self) -> None:
        self.sftp_password.setEnabled(self.sftp_pw_radio.isChecked())
        for widget in (self.sftp_key_file, self.sftp_key_browse, self.sftp_passphrase):
            widget.setEnabled(self.sftp_key_radio.isChecked())

    def show_kind(self, kind: str) -> None:
        """Show `kind`'s fields; the stack is as tall as they are, not as the tallest kind's."""
        self.setCurrentWidget(self.groups[list(KIND_LABELS).index(kind)])
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        """The shown kind's size: a QStackedWidget asks for its largest page's, which squeezed the test steps."""
        shown = self.currentWidget()
        return shown.sizeHint() if shown is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        shown = self.currentWidget()
        return shown.minimumSizeHint() if shown is not None else super().minimumSizeHint()

    def hasHeightForWidth(self) -> bool:
        """No: QStackedLayout's height for a width is its tallest page's; the size hint above is the shown one's."""
        return False

    def values(self) -> list[Any]:
        """The shown kind's field values, in order (a passed test holds only while they are unchanged)."""
        values: list[Any] = []
        for widget in self.groups[self.currentIndex()].findChildren(QWidget):
            if isinstance(widget, QLineEdit):
                values.append(widget.text())
            elif isinstance(widget, QSpinBox):
                values.append(widget.value())
            elif isinstance(widget, (QCheckBox, QRadioButton)):
                values.append(widget.isChecked())
            elif isinstance(widget, QComboBox):
                values.append(widget.currentData())
        return values

    def builder(self, name: str, kind: str, quota: int | None) -> Callable[[], NewTarget]:
        """The engine's builder for `kind` over the values typed now: it checks them (`UsageError` says what to
        change) and may read a key file or load a storage library, so the page calls it in a job."""
        if kind == "local":
            return partial(local_target, name, self.local_path.text(), quota=quota)
        if kind == "s3":
            return partial(s3_target, name, bucket=self.s3_bucket.text(), endpoint_url=self.s3_endpoint.text(),
                           region=self.s3_region.text(), prefix=self.s3_prefix.text(),
                           access_key_id=self.s3_key_id.text(), secret_access_key=self.s3_secret.text(),
                           kms_key_id=self.s3_kms.text(), addressing_style=self.addressing_combo.currentData() or None,
                           use_tls=self.s3_tls.isChecked(), verify_tls=self.s3_verify.isChecked(), quota=quota)
        if kind == "smb":
            return partial(smb_target, name, host=self.smb_host.text(), share=self.smb_share.text(),
                           username=self.smb_user.text(), password=self.smb_password.text(),
                           domain=self.smb_domain.text() or None, port=self.smb_port.value(),
                           directory=self.smb_dir.text(), quota=quota)
        sftp = partial(sftp_target, name, host=self.sftp_host.text(), port=self.sftp_port.value(),
                       username=self.sftp_user.text(), directory=self.sftp_dir.text(), quota=quota)
        if not self.sftp_key_radio.isChecked():
            return partial(sftp, password=self.sftp_password.text())
        key_file, passphrase = self.sftp_key_file.text().strip(), self.sftp_passphrase.text() or None

        def by_key() -> NewTarget:
            return sftp(private_key=read_private_key(Path(key_file)) if key_file else None, passphrase=passphrase)

        return by_key
