"""The extraction wizard's first pages: the backup file (with its keyless sidecar check) and the secret."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.progress import Reporter
from recovery_console.engine.results import VerifyResult
from recovery_console.engine.sets.local_set import LocalSet, is_set_folder, open_local_set
from recovery_console.engine.sets.set_naming import is_member_file
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.errors import Cancelled, RecoveryError, WrongKeyError
from recovery_console.formatting import counted, format_bytes
from recovery_console.models.backup import BackupMetadata
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, colored
from recovery_console.ui.wizards.base import KEYRING_JOBS

if TYPE_CHECKING:
    from recovery_console.ui.wizards.extract import ExtractWizard

WRONG_SECRET_HINT = (
    "Check that this is the deployment's instance secret, typed exactly (it is case-sensitive; a secret file may "
    "end in one newline, nothing else), or that the keyring name is the right one. If you are sure it is right, "
    "the file's header may have been altered: go Back and run 'Check against the sidecar'."
)
WRONG_SET_SECRET_HINT = (
    "Check that this is the deployment's instance secret, typed exactly (it is case-sensitive; a secret file may "
    "end in one newline, nothing else), or that the keyring name is the right one. If you are sure it is right, "
    "the set's manifest may have been altered: download the set again."
)


def browse_button(text: str, name: str) -> QPushButton:
    """A "Browse…" button with its accessible name."""
    button = QPushButton(text)
    button.setAccessibleName(name)
    return button


@dataclass
class SaveAs:
    """Where an output goes: its path, a Browse… button beside it, and whether an existing file may be replaced."""

    edit: QLineEdit
    browse: QPushButton
    overwrite: QCheckBox
    form: QFormLayout


def save_as(what: str) -> SaveAs:
    """The "Save as:" row with Browse… and the overwrite box below it; `what` names the output for screen readers."""
    edit = QLineEdit()
    edit.setAccessibleName(f"Save {what} as")
    browse = browse_button("Bro&wse…", f"Choose where to save {what}")
    overwrite = QCheckBox("&Overwrite an existing file")
    overwrite.setAccessibleName("Overwrite an existing file")
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(browse)
    form = QFormLayout()
    form.addRow(buddy_label("&Save as:", edit, f"Save {what} as"), row)
    form.addRow(overwrite)
    return SaveAs(edit, browse, overwrite, form)


def extracted_counts(done: Extracted) -> str:
    """What a folder's extraction wrote, in words: "3 files, 2 folders, 1 links (4.9 KiB)"."""
    return (f"{done.files:,} files, {done.directories:,} folders, {done.links:,} links "
            f"({format_bytes(done.content_bytes)})")


def refused_count(done: Extracted) -> tuple[str, str]:
    """How many entries an extraction refused ("1 entry was", "3 entries were") and the pronoun for them."""
    n = len(done.refused)
    return ("1 entry was", "it") if n == 1 else (f"{n:,} entries were", "them")


# --------------------------------------------------------------------------------------------
# Page 1: the file, and the keyless check
# --------------------------------------------------------------------------------------------


class FilePage(QWizardPage):
    """Page 1: the backup file, and its check against the .sha256 sidecar (no key needed)."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Backup file")
        self.setSubTitle("Pick the encrypted backup (.enc), or the folder a recovery set was downloaded into. Works "
                         "offline: no profile, server or network needed.")
        self.keyless_result: VerifyResult | None = None
        self.keyless_error: RecoveryError | None = None
        self.checking = False

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("/media/usb/rc_backup_….enc")
        self.browse = browse_button("Bro&wse…", "Browse for the backup file")
        self.browse.clicked.connect(self._browse)
        self.browse_set = browse_button("Set fol&der…", "Browse for a downloaded recovery set's folder")
        self.browse_set.clicked.connect(self._browse_set)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse)
        row.addWidget(self.browse_set)
        form = QFormLayout()
        form.addRow(buddy_label("Backup &file:", self.path_edit, "Backup file or recovery set folder"), row)
        self.info = wrap_label("", "About the file")
        self.check_button = QPushButton("Check against the &sidecar (no key needed)")
        self.check_button.setAccessibleName("Check the file against its sidecar, without the key")
        self.check_button.clicked.connect(self.check_keyless)
        self.panel = ProgressPanel()
        self.panel.setVisible(False)
        self.result = wrap_label("", "Sidecar check result", rich=True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.info)
        layout.addWidget(wrap_label(
            "The sidecar (<file>.sha256) holds the file's SHA-256. Checking it needs no secret: it shows whether "
            "this is the exact file the sidecar was written for. Only the secret proves that it decrypts.",
            "About the sidecar check"))
        check_row = QHBoxLayout()
        check_row.addWidget(self.check_button)
        check_row.addStretch(1)
        layout.addLayout(check_row)
        layout.addWidget(self.panel)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self.path_edit.textChanged.connect(self._changed)
        self._changed()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a backup file", self.path_edit.text(),
                                              "Backups (*.enc);;All files (*)")
        if path:
            self.path_edit.setText(path)

    def _browse_set(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a downloaded recovery set's folder",
                                                self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def is_set(self) -> bool:
        """A recovery set's folder rather than one backup file."""
        return bool(self.path_edit.text().strip()) and is_set_folder(self.path())

    def _changed(self) -> None:
        text = self.path_edit.text().strip()
        self.keyless_result = None
        self.keyless_error = None
        self.result.setText("")
        path = self.path()
        if not text:
            self.info.setText("")
        elif path.is_file():
            sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
            self.info.setText(f"{format_bytes(path.stat().st_size)}; "
                              + ("a .sha256 sidecar is beside it." if sidecar.is_file() else
                                 "no .sha256 sidecar beside it (the keyless check needs one)."))
        elif is_set_folder(path):
            members = sum(1 for child in path.iterdir() if is_member_file(child.name))
            self.info.setText(f"A recovery set's folder with {counted(members, 'member file')}. Its manifest is "
                              "opened with the secret next; each member is checked against it before it is extracted.")
        elif path.is_dir():
            self.info.setText("This folder holds no recovery set (no manifest in it).")
        else:
            self.info.setText("No such file.")
        self.check_button.setEnabled(bool(text) and path.is_file() and not self.checking)
        self.completeChanged.emit()

    def check_keyless(self) -> None:
        if not self.checking:
            self.checking = True
            self.check_button.setEnabled(False)
            self.completeChanged.emit()
            self.wiz.start(self._check_keyless())

    async def _check_keyless(self) -> None:
        """Read the whole file and compare its SHA-256 with the sidecar's."""
        console = self.wiz.console
        path = str(self.path())

        def job(reporter: Reporter) -> VerifyResult:
            return console.verify_without_key(console.locate(path), reporter=reporter)

        self.result.setText(html.escape("Reading the whole file…"))
        self.panel.setVisible(True)
        try:
            self._checked(await self.wiz.run("Checking against the sidecar", job, panel=self.panel))
        except Cancelled:
            self.result.setText("Cancelled.")
        except RecoveryError as exc:
            self.keyless_error = exc
            self.result.setText(colored("✘ FAILED: ", FAIL_COLOR, True) + html.escape(exc.message))
            self.wiz.show_error("Check against the sidecar", exc)
        finally:
            self.checking = False
            self.panel.setVisible(False)
            self.check_button.setEnabled(self.path().is_file())
            self.completeChanged.emit()

    def _checked(self, result: VerifyResult) -> None:
        self.keyless_result = result
        self.result.setText(colored("✔ PASSED: ", PASS_COLOR, True) + html.escape(
            f"the file's SHA-256 {result.ciphertext_sha256} matches its sidecar ({format_bytes(result.encrypted_size)} "
            "read; the header is well-formed)."))

    def isComplete(self) -> bool:
        return (self.path().is_file() or self.is_set()) and bool(self.path_edit.text().strip()) and not self.checking



class SecretPage(QWizardPage):
    """Page 2: the instance secret (typed, from a file, or from the keyring), proven by reading the metadata."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Instance secret")
        self.setSubTitle("Give the secret the backup was made with. It is checked by reading the backup's "
                         "metadata (nothing is written).")
        self.secret: str | None = None
        self.metadata: BackupMetadata | None = None
        self.local_set: LocalSet | None = None
        """A recovery set's folder, opened with the secret (in place of the metadata above)."""
        self._proven_for: tuple[str, str, str] | None = None
        self.proving = False

        self.typed_radio = QRadioButton("T&yped:")
        self.typed_radio.setAccessibleName("Type the secret")
        self.typed_radio.setChecked(True)
        self.file_radio = QRadioButton("From a &file:")
        self.file_radio.setAccessibleName("Read the secret from a file")
        self.keyring_radio = QRadioButton("From the OS &keyring, name:")
        self.keyring_radio.setAccessibleName("Read the secret from the OS keyring")
        group = QButtonGroup(self)
        for radio in (self.typed_radio, self.file_radio, self.keyring_radio):
            group.addButton(radio)
        self.typed_edit = QLineEdit()
        self.typed_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.typed_edit.setAccessibleName("Instance secret")
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("a file holding only the secret")
        self.file_edit.setAccessibleName("Secret file")
        self.file_browse = browse_button("Bro&wse…", "Browse for the secret file")
        self.file_browse.clicked.connect(self._browse)
        self.keyring_combo = QComboBox()
        keyring_edit = QLineEdit()  # the combo box's own, editable: a keyring name needs no profile
        keyring_edit.setAccessibleName("Keyring name (profile name)")
        keyring_edit.setPlaceholderText("the profile's name")
        self.keyring_combo.setLineEdit(keyring_edit)
        self.keyring_combo.setAccessibleName("Keyring name (profile name)")
        grid = QGridLayout()
        grid.addWidget(self.typed_radio, 0, 0)
        grid.addWidget(self.typed_edit, 0, 1, 1, 2)
        grid.addWidget(self.file_radio, 1, 0)
        grid.addWidget(self.file_edit, 1, 1)
        grid.addWidget(self.file_browse, 1, 2)
        grid.addWidget(self.keyring_radio, 2, 0)
        grid.addWidget(self.keyring_combo, 2, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        self.status = wrap_label("", "Secret check status", rich=True)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        layout.addStretch(1)
        for radio in (self.typed_radio, self.file_radio, self.keyring_radio):
            radio.toggled.connect(self._changed)
        for edit in (self.typed_edit, self.file_edit):
            edit.textChanged.connect(self._changed)
        self.keyring_combo.editTextChanged.connect(self._changed)
        self._changed()

    def initializePage(self) -> None:
        if self.keyring_combo.count() == 0:
            try:  # profile names, as suggestions only: a bare keyring name works too
                names = list(self.wiz.console.profiles.store.load())
            except RecoveryError:
                names = []
            self.keyring_combo.addItems(names)
            self.keyring_combo.setCurrentIndex(-1)
            self.keyring_combo.setEditText("")
        if self.typed_radio.isChecked():  # after QWizard focuses the page's first control, the radio button
            QTimer.singleShot(0, self.typed_edit.setFocus)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the secret file", self.file_edit.text())
        if path:
            self.file_edit.setText(path)

    def _changed(self) -> None:
        self.typed_edit.setEnabled(self.typed_radio.isChecked())
        self.file_edit.setEnabled(self.file_radio.isChecked())
        self.file_browse.setEnabled(self.file_radio.isChecked())
        self.keyring_combo.setEnabled(self.keyring_radio.isChecked())
        self.completeChanged.emit()

    def source(self) -> tuple[str, str]:
        if self.typed_radio.isChecked():
            return "typed", self.typed_edit.text()
        if self.file_radio.isChecked():
            return "file", self.file_edit.text().strip()
        return "keyring", self.keyring_combo.currentText().strip()

    def isComplete(self) -> bool:
        return bool(self.source()[1]) and not self.proving

    def validatePage(self) -> bool:
        """The secret must open the backup (one key derivation) before going on; checked in a job."""
        kind, value = self.source()
        state = (str(self.wiz.file_page.path()), kind, value)
        if self._proven_for == state and (self.metadata is not None or self.local_set is not None):
            return True
        if not self.proving:
            self.proving = True
            self.completeChanged.emit()
            self.wiz.start(self.prove(state))
        return False

    async def prove(self, state: tuple[str, str, str]) -> None:
        """Obtain the secret and read the backup's metadata with it; on success, go on to the next page."""
        from recovery_console.engine.state import grouped_secret
        from recovery_console.engine.state.secret_sources import SecretRequest, obtain_secret, read_secret_file

        console = self.wiz.console
        path, kind, value = state
        is_set = self.wiz.file_page.is_set()

        def job(reporter: Reporter) -> tuple[str, BackupMetadata | LocalSet]:
            if kind == "typed":  # a grouped secret is checked group by group before any key is derived
                secret = grouped_secret.canonical(value)
            elif kind == "file":
                secret = grouped_secret.canonical(read_secret_file(Path(value).expanduser()))
            else:
                secret = obtain_secret(SecretRequest(keyring_name=value, allow_prompt=False), store=console.secrets)
            if is_set:
                return secret, open_local_set(console, Path(path), secret)
            return secret, console.inspect(console.locate(path), secret)

        self.secret = self.metadata = self.local_set = None
        self.status.setText(html.escape("Checking the secret (deriving the key and reading the metadata)…"))
        try:
            self.secret, opened = await self.wiz.run("Checking the secret", job, key=KEYRING_JOBS)
        except RecoveryError as exc:
            if isinstance(exc, WrongKeyError):
                exc = WrongKeyError(exc.message, hint=WRONG_SET_SECRET_HINT if is_set else WRONG_SECRET_HINT,
                                    detail=exc.detail)
            self.status.setText(colored("✘ " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("The secret", exc)
            return
        finally:
            self.proving = False
            self.completeChanged.emit()
        if isinstance(opened, LocalSet):
            self.local_set = opened
        else:
            self.metadata = opened
        self._proven_for = state
        self.status.setText(colored("✔ The secret opens this " + ("set's manifest." if is_set else "backup."),
                                    PASS_COLOR, True))
        if self.wiz.currentPage() is self:
            self.wiz.next()

    def nextId(self) -> int:
        return self.wiz.MEMBERS if self.wiz.file_page.is_set() else self.wiz.METADATA

