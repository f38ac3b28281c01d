"""The offline extraction wizard, driven end to end with real clicks and keys (pytest-qt, offscreen).

A real backup of a sample pg_dump archive is made on a real local target, then copied (with its
sidecar) to a folder standing in for a USB stick: no profile and no server are involved.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QCheckBox, QFileDialog, QLineEdit, QRadioButton, QWizard

from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.engine.forensics.workbench import Workbench
from recovery_console.engine.state.keyring_store import INSTANCE_SECRET, profile_scope
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.ui.wizards.extract import ExtractWizard
from tests.fixtures.console import SECRET
from tests.gui.test_setup_wizard import interactive_controls

pytestmark = pytest.mark.gui

WAIT = 60_000


def click(qtbot, button: QAbstractButton, timeout: int = WAIT) -> None:
    qtbot.waitUntil(lambda: button.isVisible() and button.isEnabled(), timeout=timeout)
    if isinstance(button, (QCheckBox, QRadioButton)):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    else:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def next_page(qtbot, wizard: QWizard, expected_id: int) -> None:
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.currentId() == expected_id, timeout=WAIT)


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    """Real key events; QTest only maps ASCII, so other characters go as key events carrying their text."""
    edit.setFocus()
    edit.clear()
    for char in text:
        if char.isascii():
            qtbot.keyClicks(edit, char)
        else:
            for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                QApplication.sendEvent(edit, QKeyEvent(kind, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier, char))
    assert edit.text() == text


@pytest.fixture
def usb(tmp_path: Path, console, make_backup) -> Path:
    """A backup file and its sidecar, copied to a folder of their own (as on a USB stick)."""
    record = make_backup()
    source = Path(console.locate(record.short_id).location)
    folder = tmp_path / "usb"
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    shutil.copy(source.with_name(source.name + SIDECAR_SUFFIX), folder / (source.name + SIDECAR_SUFFIX))
    return folder / source.name


@pytest.fixture
def wizard(qtbot, console):
    w = ExtractWizard(console)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    for box in w.error_boxes:
        box.close()
    w.cancel_jobs()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)


def choose_file(qtbot, wizard: ExtractWizard, path: Path) -> None:
    type_into(qtbot, wizard.file_page.path_edit, str(path))
    assert "sidecar is beside it" in wizard.file_page.info.text()


def dumps_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.endswith((".enc", SIDECAR_SUFFIX)))


def test_right_secret_shows_metadata_and_decrypts_with_sha256_and_contents(qtbot, wizard, usb, sample_dump):
    choose_file(qtbot, wizard, usb)
    # The keyless check passes against the sidecar.
    page = wizard.file_page
    click(qtbot, page.check_button)
    qtbot.waitUntil(lambda: page.keyless_result is not None or page.keyless_error is not None, timeout=WAIT)
    assert page.keyless_error is None
    assert "PASSED" in page.result.text() and page.keyless_result.ciphertext_sha256 in page.result.text()
    next_page(qtbot, wizard, ExtractWizard.SECRET)

    # The typed secret is proven by reading the metadata.
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    meta = wizard.metadata_page
    metadata = wizard.secret_page.metadata
    assert meta.values["backup_id"].text() == metadata.backup_id
    assert meta.values["source_name"].text() == sample_dump.name
    assert meta.values["compression"].text() == "zstd"
    # Metadata only would finish here; ask to decrypt instead.
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()
    click(qtbot, meta.decrypt_check)
    out = usb.with_suffix(".dump")
    assert meta.output() == out
    next_page(qtbot, wizard, ExtractWizard.DECRYPT)

    decrypt = wizard.decrypt_page
    qtbot.waitUntil(lambda: decrypt.outcome is not None and not decrypt.running, timeout=WAIT)
    assert decrypt.outcome == "ok"
    assert out.read_bytes() == sample_dump.read_bytes()
    assert decrypt.sha_edit.text() == hashlib.sha256(sample_dump.read_bytes()).hexdigest()
    expected = [line for line in (sample_dump.with_suffix(".list")).read_text().splitlines()
                if line and not line.startswith(";")]
    assert decrypt.listing.toPlainText().splitlines() == expected
    assert "recovery_sample" in decrypt.summary.text() and "TABLE" in decrypt.summary.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isVisible()  # the last page: Return finishes
    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)


def test_wrong_secret_is_shown_in_the_error_style_and_nothing_is_written(qtbot, wizard, usb):
    choose_file(qtbot, wizard, usb)
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, "not the secret")
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.last_error is not None and wizard.last_error.isVisible(), timeout=WAIT)
    box = wizard.last_error
    assert box.text() == "The secret does not open this backup."
    assert box.informativeText().startswith("What to do next: Check that this is the deployment's instance secret")
    assert "Traceback" not in (box.detailedText() or "")
    assert "does not open" in wizard.secret_page.status.text()
    box.accept()
    assert wizard.currentId() == ExtractWizard.SECRET
    assert dumps_in(usb.parent) == []
    # The right one then goes on.
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.METADATA)


def test_secret_from_a_file_metadata_only(qtbot, wizard, usb, secret_file):
    choose_file(qtbot, wizard, usb)
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    click(qtbot, wizard.secret_page.file_radio)
    type_into(qtbot, wizard.secret_page.file_edit, str(secret_file))
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    assert wizard.metadata_page.values["backup_id"].text() == wizard.secret_page.metadata.backup_id
    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)
    assert dumps_in(usb.parent) == []


def test_secret_from_the_keyring_by_name(qtbot, secret_service, wizard, console, usb):
    console.secrets.put(profile_scope("offline"), INSTANCE_SECRET, SECRET)
    choose_file(qtbot, wizard, usb)
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    click(qtbot, wizard.secret_page.keyring_radio)
    type_into(qtbot, wizard.secret_page.keyring_combo.lineEdit(), "offline")
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    assert wizard.secret_page.secret == SECRET


def test_keyless_check_fails_on_a_tampered_file(qtbot, wizard, usb):
    data = bytearray(usb.read_bytes())
    data[len(data) // 2] ^= 0x01
    usb.write_bytes(bytes(data))
    choose_file(qtbot, wizard, usb)
    page = wizard.file_page
    click(qtbot, page.check_button)
    qtbot.waitUntil(lambda: page.keyless_error is not None or page.keyless_result is not None, timeout=WAIT)
    assert page.keyless_result is None
    assert "FAILED" in page.result.text() and "does not match its sidecar" in page.result.text()
    qtbot.waitUntil(lambda: wizard.last_error is not None and wizard.last_error.isVisible(), timeout=WAIT)
    assert "does not match its sidecar" in wizard.last_error.text()
    assert wizard.last_error.informativeText().startswith("What to do next:")
    wizard.last_error.accept()
    assert dumps_in(usb.parent) == []


def test_decrypt_of_a_tampered_file_writes_nothing(qtbot, wizard, usb):
    data = bytearray(usb.read_bytes())
    data[-100] ^= 0x01  # in the last chunks: the metadata still opens, the full decrypt must fail
    usb.write_bytes(bytes(data))
    choose_file(qtbot, wizard, usb)
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    click(qtbot, wizard.metadata_page.decrypt_check)
    next_page(qtbot, wizard, ExtractWizard.DECRYPT)
    decrypt = wizard.decrypt_page
    qtbot.waitUntil(lambda: decrypt.outcome is not None and not decrypt.running, timeout=WAIT)
    assert decrypt.outcome == "failed" and "Nothing was written" in decrypt.summary.text()
    qtbot.waitUntil(lambda: wizard.last_error is not None and wizard.last_error.isVisible(), timeout=WAIT)
    assert dumps_in(usb.parent) == []
    assert decrypt.sha_edit.text() == ""


def test_pages_render_for_docs(qtbot, console):
    wizard = ExtractWizard(console)
    qtbot.addWidget(wizard)
    pages = wizard.screenshot_pages()
    assert [t for t, _ in pages] == ["Backup file", "Instance secret", "Metadata", "Decrypt", "Tables",
                                     "Recovery set members", "Member"]
    for title, page in pages:
        assert not page.grab().isNull()
        for control in interactive_controls(page):
            assert control.accessibleName(), f"{title}: {type(control).__name__} {getattr(control, 'text', str)()!r}"
    assert wizard.decrypt_page.sha_edit.text()
    assert wizard.tables_page.table.rowCount() == 3
    assert wizard.members_page.table.rowCount() == 3 and wizard.members_page.folder_radio.isChecked()
    assert "link to etc" in wizard.member_run_page.refused_list.toPlainText()


def test_tables_page_lists_the_tables_and_exports_the_selected_one(qtbot, wizard, usb, monkeypatch, sample_dump):
    choose_file(qtbot, wizard, usb)
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    click(qtbot, wizard.metadata_page.tables_check)
    assert not wizard.button(QWizard.WizardButton.FinishButton).isVisible()
    next_page(qtbot, wizard, ExtractWizard.TABLES)
    page = wizard.tables_page
    qtbot.waitUntil(lambda: page.report is not None and not page.running, timeout=WAIT)
    shown = {page.table.item(r, 0).text(): page.table.item(r, 1).text() for r in range(page.table.rowCount())}
    assert shown == {"audit.attachments": "11", "audit.empty_log": "0", "public.settings": "5",
                     "shop.customers": "37", "shop.orders": "23"}
    assert "balance numeric(12,2)" in page.table.item(3, 3).text()
    page.table.selectRow(3)
    out = usb.parent / "customers.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    click(qtbot, page.export_button)
    qtbot.waitUntil(lambda: page.exported is not None and not page.running, timeout=WAIT)
    data = out.read_bytes()
    expected = io.BytesIO()
    Workbench(wizard.console).export(wizard.console.locate(str(sample_dump)), str, "shop.customers", stream=expected)
    assert data == expected.getvalue() and data.startswith(b'id,name,balance,joined\n"1","customer 1","12.50",')
    assert page.sha_edit.text() == hashlib.sha256(data).hexdigest()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "37 rows of shop.customers" in page.exported_label.text()
    assert wizard.console.audit.entries() and [e for e in wizard.console.audit.entries()
                                               if e.action == "forensics.export"][-1].detail["sha256"] == \
        page.sha_edit.text()
    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)


def test_the_secret_page_puts_the_cursor_in_the_secret_field(qtbot, wizard, usb):
    """A keyboard user types the secret as soon as the page shows, without tabbing past the choices."""
    choose_file(qtbot, wizard, usb)
    wizard.activateWindow()
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    qtbot.waitUntil(lambda: wizard.focusWidget() is wizard.secret_page.typed_edit, timeout=WAIT)


def test_a_folder_backup_is_extracted_into_a_new_folder_not_decrypted_to_a_dump(qtbot, wizard, console, local_target,
                                                                                tmp_path):
    vault = tmp_path / "vault"
    (vault / "Anhänge").mkdir(parents=True)
    (vault / "Anhänge" / "rechnung.pdf").write_bytes(b"%PDF-1.7 invoice\n")
    os.symlink("Anhänge/rechnung.pdf", vault / "latest")
    tar = tmp_path / "nightly.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(vault), "."], check=True)
    record = console.upload(tar, local_target, SECRET)
    source = Path(console.locate(record.short_id).location)
    usb = tmp_path / "usb"
    usb.mkdir()
    shutil.copy(source, usb / source.name)
    shutil.copy(source.with_name(source.name + SIDECAR_SUFFIX), usb / (source.name + SIDECAR_SUFFIX))

    choose_file(qtbot, wizard, usb / source.name)
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    meta = wizard.metadata_page
    assert meta.folder and not meta.tables_check.isEnabled()
    assert "new folder" in meta.decrypt_check.text() and "vault's tar" in meta.about.text()
    click(qtbot, meta.decrypt_check)
    out = usb / source.name.removesuffix(".enc")
    assert meta.output() == out and not meta.overwrite_check.isVisible() and meta.out_label.text() == "New &folder:"
    out.mkdir()  # a folder of that name exists: refused before anything runs
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: bool(wizard.error_boxes), timeout=WAIT)
    assert wizard.currentId() == ExtractWizard.METADATA and "already exists" in wizard.error_boxes[-1].text()
    wizard.error_boxes[-1].close()
    out.rmdir()
    next_page(qtbot, wizard, ExtractWizard.DECRYPT)

    page = wizard.decrypt_page
    qtbot.waitUntil(lambda: page.outcome is not None and not page.running, timeout=WAIT)
    assert page.outcome == "ok" and page.title() == "Extract"
    assert (out / "Anhänge" / "rechnung.pdf").read_bytes() == b"%PDF-1.7 invoice\n"
    assert os.readlink(out / "latest") == "Anhänge/rechnung.pdf"
    assert f"Extracted into {out}: 1 files, 2 folders, 1 links" in page.written.text()
    assert "every entry extracted" in page.summary.text() and not page.sha_edit.isVisible()
    assert not page.listing.isVisible()
    # An entry refused by the vault's rules (a backup made elsewhere may hold one) is named on the page.
    page.show_extracted(Extracted(out, files=1, refused=["./escape: './escape' would link to '/etc/passwd', which "
                                                         "is outside the destination"]))
    assert "1 entry was refused" in page.summary.text() and page.listing.toPlainText().startswith("./escape:")
    assert page.listing.isVisible() and page.listing_label.text() == "&Refused:"
