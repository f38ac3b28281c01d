"""File › Open backup file (issue #15): verify and list a file without writing plaintext; decrypt only on request."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from recovery_console.cli.main import main as cli_main
from recovery_console.ui.dialogs import open_file_dialog
from recovery_console.ui.dialogs.open_file_dialog import OpenFileDialog, decrypt_folder, expected_hash
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.secrets import FixedSecret
from tests.fixtures.console import SECRET
from tests.gui.test_main_window import JOB_TIMEOUT, click, settle
from tests.gui.test_manage_targets import open_window_fixture  # noqa: F401 - the fixture, by name

pytestmark = pytest.mark.gui


@pytest.fixture
def evidence(make_backup, console, tmp_path) -> Path:
    """A backup file and its sidecar, copied into a folder of their own (the evidence folder)."""
    record = make_backup()
    source = Path(console.locate(f"{record.target}:{record.key}").local_file() or "")
    folder = tmp_path / "evidence"
    folder.mkdir()
    shutil.copy(source, folder)
    shutil.copy(source.with_name(source.name + ".sha256"), folder)
    return folder / source.name


@pytest.fixture
def open_file(qtbot, console):
    dialogs: list[OpenFileDialog] = []

    def open_(path: Path) -> OpenFileDialog:
        dialog = OpenFileDialog(console, path, runner=JobRunner(), secrets=FixedSecret(SECRET))
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        dialogs.append(dialog)
        return dialog

    yield open_
    for dialog in dialogs:
        dialog.cancel()
        qtbot.waitUntil(lambda d=dialog: not d.running and not d.side_tasks, timeout=JOB_TIMEOUT)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_open_shows_the_hash_verifies_and_lists_without_writing(qtbot, open_file, evidence, tmp_path):
    before = files_under(tmp_path)
    dialog = open_file(evidence)
    digest = hashlib.sha256(evidence.read_bytes()).hexdigest()
    qtbot.waitUntil(lambda: dialog.sha_label.text() == digest, timeout=JOB_TIMEOUT)
    dialog.expected_edit.setText(digest.upper() + "  " + evidence.name)
    assert "matches" in dialog.match_label.text()
    dialog.expected_edit.setText("0" * 64)
    assert "DOES NOT MATCH" in dialog.match_label.text()
    assert dialog.keyless_box.isEnabled() and not dialog.decrypt_button.isEnabled()
    with qtbot.waitSignal(dialog.verified, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    qtbot.waitUntil(lambda: dialog.toc.rowCount() > 0, timeout=JOB_TIMEOUT)
    assert dialog.toc_view.isVisible() and "TABLE" in {entry.desc for entry in dialog.toc.entries}
    assert dialog.decrypt_button.isEnabled()
    assert files_under(tmp_path) == before  # nothing was written: no plaintext, no copy


def decrypt_to(qtbot, dialog: OpenFileDialog, out: Path, monkeypatch) -> list[str]:
    """Click Decrypt, answer the save dialog with `out` (its folder made), wait for the end; the names suggested."""
    out.parent.mkdir()
    asked: list[str] = []

    def save_name(_parent, _title, suggested, _filter):
        asked.append(suggested)
        return str(out), ""

    monkeypatch.setattr(open_file_dialog.QFileDialog, "getSaveFileName", save_name)
    click(qtbot, dialog.decrypt_button)
    qtbot.waitUntil(lambda: "Decrypted to" in dialog.decrypt_status.text(), timeout=JOB_TIMEOUT)
    return asked


def test_decrypt_is_a_separate_step_suggested_outside_the_evidence_folder(qtbot, open_file, evidence, tmp_path,
                                                                         monkeypatch):
    dialog = open_file(evidence)
    with qtbot.waitSignal(dialog.verified, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    out = tmp_path / "elsewhere" / "plain.dump"
    asked = decrypt_to(qtbot, dialog, out, monkeypatch)
    assert Path(asked[0]).parent != evidence.parent
    assert out.read_bytes().startswith(b"PGDMP")
    assert files_under(evidence.parent) == sorted([evidence.name, evidence.name + ".sha256"])


def test_decrypt_folder_is_never_the_evidence_folder(tmp_path):
    assert decrypt_folder(tmp_path / "x.enc") != tmp_path
    assert decrypt_folder(Path.home() / "x.enc") != Path.home()


def test_check_against_the_sidecar_is_disabled_without_one(qtbot, open_file, evidence):
    evidence.with_name(evidence.name + ".sha256").unlink()
    dialog = open_file(evidence)
    assert not dialog.keyless_box.isEnabled() and "no .sha256 sidecar" in dialog.keyless_box.toolTip()
    with qtbot.waitSignal(dialog.verified, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    qtbot.waitUntil(lambda: not dialog.running, timeout=JOB_TIMEOUT)
    assert not dialog.keyless_box.isEnabled()


def test_expected_hash_accepts_a_sidecar_line():
    assert expected_hash("  ABCDEF  backup.enc\n") == "abcdef"
    assert expected_hash("") == ""


def test_file_menu_and_a_file_dropped_on_the_window_open_it(qtbot, open_window, evidence):
    window = open_window()
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    assert file_menu.actions()[0] is window.controller.actions["open_file"]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(evidence))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    dialog = window.controller.manage.open_file_dialog
    assert isinstance(dialog, OpenFileDialog) and dialog.path == evidence
    qtbot.waitUntil(lambda: len(dialog.sha_label.text()) == 64 and not dialog.side_tasks, timeout=JOB_TIMEOUT)
    settle(qtbot, window)


def test_gui_command_takes_a_file(monkeypatch, tmp_path):
    seen: dict[str, object] = {}
    monkeypatch.setattr("recovery_console.ui.app.run", lambda **kwargs: seen.update(kwargs) or 0)
    assert cli_main(["gui", str(tmp_path / "x.enc")]) == 0
    assert seen == {"profile": None, "backup_file": tmp_path / "x.enc"}


def test_a_folder_backup_says_what_it_holds_and_decrypts_to_a_tar(qtbot, open_file, console, local_target, tmp_path,
                                                                 monkeypatch):
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "note.txt").write_text("attached\n")
    tar = tmp_path / "nightly.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(vault), "."], check=True)
    record = console.upload(tar, local_target, SECRET)
    dialog = open_file(Path(console.locate(record.short_id).location))
    with qtbot.waitSignal(dialog.verified, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    qtbot.waitUntil(lambda: dialog.decrypt_button.isEnabled(), timeout=JOB_TIMEOUT)
    assert dialog.folder and "holds a folder" in dialog.decrypt_status.text()
    assert "Extract… (Ctrl+E)" in dialog.decrypt_status.text() and not dialog.toc_view.isVisible()
    out = tmp_path / "elsewhere" / "vault.tar"
    asked = decrypt_to(qtbot, dialog, out, monkeypatch)
    assert asked[0].endswith(".tar") and out.read_bytes() == tar.read_bytes()
