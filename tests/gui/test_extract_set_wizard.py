"""The offline extraction wizard with a downloaded recovery set's folder (#18), against a real PostgreSQL 15: the set is
made on a real local target and downloaded into a folder (standing in for a USB stick); the wizard opens its manifest
with the secret, lists the members and takes one out, and a damaged copy names the damaged member while the intact
ones still come out."""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import uuid
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard

from recovery_console.engine.sets.local_set import extract_local_member, open_local_set
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_download import download_set
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import IntegrityError, WrongKeyError
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.wizards.extract import ExtractWizard
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.gui.test_extract_wizard import WAIT, click, next_page, type_into
from tests.gui.test_restore_set_wizard import _db

pytestmark = [pytest.mark.gui, pytest.mark.integration]


@pytest.fixture
def stick(console, local_target, pg15, tmp_path) -> Path:
    """A set of two databases and a vault folder (a link in it points out of it), downloaded into a folder."""
    tag = uuid.uuid4().hex[:8]
    config, results = _db(pg15, f"config_{tag}", 300), _db(pg15, f"results_{tag}", 200)
    vault = tmp_path / "vault"
    (vault / "docs").mkdir(parents=True)
    (vault / "docs" / "résumé.txt").write_text("ünïcode\n", "utf-8")
    (vault / "data.bin").write_bytes(os.urandom(50_000))
    (vault / "link outside").symlink_to("/etc/passwd")
    console.profiles.create("records", pg15.dsn(config), target=local_target)
    console.profiles.set_mode("records", ConnectionMode.DIRECT, acknowledge_direct=True)
    members = ProfileMembers(console.profiles)
    members.add_database("records", "results", pg15.dsn(results), mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    members.add_folder("records", "vault", str(vault))
    record = backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS)
    return download_set(console, record, tmp_path / "usb").folder


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


def _to_members(qtbot, wizard: ExtractWizard, folder: Path) -> None:
    type_into(qtbot, wizard.file_page.path_edit, str(folder))
    assert "recovery set's folder with 3 member files" in wizard.file_page.info.text()
    assert not wizard.file_page.check_button.isEnabled()  # the keyless check is for one backup file
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.MEMBERS)


def _row(page, name: str) -> int:
    return next(r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == name)


def _cells(page, name: str) -> list[str]:
    row = _row(page, name)
    return [page.table.item(row, c).text() for c in range(page.table.columnCount())]


def _run(qtbot, wizard: ExtractWizard):
    next_page(qtbot, wizard, ExtractWizard.MEMBER_RUN)
    run = wizard.member_run_page
    qtbot.waitUntil(lambda: not run.running and run.outcome is not None, timeout=WAIT)
    return run


def test_members_are_listed_and_a_database_comes_out_as_its_dump_and_a_folder_into_a_new_folder(
        qtbot, wizard, stick, tmp_path):
    _to_members(qtbot, wizard, stick)
    page = wizard.members_page
    manifest = wizard.secret_page.local_set.manifest
    assert page.table.rowCount() == 3
    results = manifest.member("results")
    assert _cells(page, "results")[:4] == ["results", "database", _cells(page, "results")[2], results.database]
    assert _cells(page, "vault")[1:2] == ["folder"] and _cells(page, "vault")[3].endswith("vault")
    assert all(_cells(page, m.name)[6] == "present" for m in manifest.members)
    assert "separate snapshots" in page.note.text() and "not one transaction-consistent" in page.note.text()
    assert "✔" in page.damage.text()

    # A database member: to a .dump, the archive the manifest pins.
    page.table.selectRow(_row(page, "results"))
    assert page.dump_radio.isChecked() and page.tables_radio.isEnabled() and not page.folder_radio.isEnabled()
    out = tmp_path / "results.dump"
    type_into(qtbot, page.out_edit, str(out))
    run = _run(qtbot, wizard)
    assert run.outcome == "ok", run.status.text()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == results.archive_sha256 == run.sha_edit.text()
    assert out.read_bytes().startswith(b"PGDMP")
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()

    # Back, and the folder member into a new folder: the link out of it is refused by name, nothing written for it.
    click(qtbot, wizard.button(QWizard.WizardButton.BackButton))
    qtbot.waitUntil(lambda: wizard.currentId() == ExtractWizard.MEMBERS, timeout=WAIT)
    page.table.selectRow(_row(page, "vault"))
    assert page.folder_radio.isChecked() and not page.dump_radio.isEnabled()
    into = tmp_path / "vault back"
    type_into(qtbot, page.out_edit, str(into))
    run = _run(qtbot, wizard)
    assert run.outcome == "ok", run.status.text()
    assert (into / "docs" / "résumé.txt").read_text("utf-8") == "ünïcode\n"
    assert (into / "data.bin").read_bytes() == (tmp_path / "vault" / "data.bin").read_bytes()
    assert not os.path.lexists(into / "link outside")
    assert run.refused and "link outside" in run.refused_list.toPlainText() and run.refused_list.isVisible()
    assert "1 entry was refused" in run.status.text() and not run.sha_edit.isVisible()

    # A new folder only: the same name again is refused before anything runs.
    click(qtbot, wizard.button(QWizard.WizardButton.BackButton))
    qtbot.waitUntil(lambda: wizard.currentId() == ExtractWizard.MEMBERS, timeout=WAIT)
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.last_error is not None, timeout=WAIT)
    assert "already exists" in wizard.last_error.text()
    assert wizard.currentId() == ExtractWizard.MEMBERS


def test_a_database_members_tables_are_read_once_its_file_is_proven(qtbot, wizard, stick):
    _to_members(qtbot, wizard, stick)
    page = wizard.members_page
    page.table.selectRow(_row(page, "results"))
    click(qtbot, page.tables_radio)
    assert not page.out_edit.isEnabled()
    run = _run(qtbot, wizard)
    assert run.outcome == "ok", run.status.text()
    assert wizard.source_path() == stick / wizard.secret_page.local_set.manifest.member("results").key
    next_page(qtbot, wizard, ExtractWizard.TABLES)
    tables = wizard.tables_page
    qtbot.waitUntil(lambda: tables.report is not None and not tables.running, timeout=WAIT)
    (stats,) = tables.report.tables
    assert (stats.table.qualified, stats.rows) == ("public.t", 200)
    assert tables.report.metadata.extra["set_member"] == "results"
    assert tables.nextId() == -1  # nothing of the single-file pages follows
    # Compare reads this member (A), not the set's folder, against the first member (B): its 300 rows hold all 200.
    other = stick / wizard.secret_page.local_set.manifest.members[0].key
    tables.compare.compare_with(other)
    qtbot.waitUntil(lambda: tables.compare.report is not None and not tables.running, timeout=WAIT)
    (diff,) = tables.compare.report.tables
    assert (diff.table, diff.only_a, diff.only_b, diff.changed) == ("public.t", 0, 100, 0)
    tables.open_workbench()
    assert tables.workbench is not None and tables.workbench.isVisible()
    tables.workbench.close()


def test_a_damaged_copy_names_the_member_and_the_intact_ones_still_come_out(qtbot, wizard, console, stick,
                                                                            tmp_path):
    files = {m.member.name: m.path for m in open_local_set(console, stick, SECRET).members}
    assert all(path.is_file() for path in files.values())
    files["results"].unlink()
    with open(files["vault"], "r+b") as f:  # altered, same size: found only by its SHA-256
        f.seek(f.seek(0, os.SEEK_END) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    type_into(qtbot, wizard.file_page.path_edit, str(stick))
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.MEMBERS)
    page = wizard.members_page
    assert _cells(page, "results")[6] == "damaged" and _cells(page, "vault")[6] == "present"
    assert page.table.item(_row(page, "results"), 6).toolTip() == \
        f"its file {files['results'].name} is missing from the folder"
    assert "Member 'results'" in page.damage.text() and "another copy of the set" in page.damage.text()
    page.table.selectRow(_row(page, "results"))
    assert not any(r.isEnabled() for r in (page.dump_radio, page.tables_radio, page.folder_radio))
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    # The altered folder member is refused whole: no folder is left.
    page.table.selectRow(_row(page, "vault"))
    into = tmp_path / "vault back"
    type_into(qtbot, page.out_edit, str(into))
    run = _run(qtbot, wizard)
    assert run.outcome == "failed" and "Nothing was kept" in run.status.text()
    assert not os.path.lexists(into)
    wizard.last_error.close()

    # The intact database member still comes out.
    click(qtbot, wizard.button(QWizard.WizardButton.BackButton))
    qtbot.waitUntil(lambda: wizard.currentId() == ExtractWizard.MEMBERS, timeout=WAIT)
    first = wizard.secret_page.local_set.manifest.members[0]
    page.table.selectRow(_row(page, first.name))
    out = tmp_path / "first.dump"
    type_into(qtbot, page.out_edit, str(out))
    run = _run(qtbot, wizard)
    assert run.outcome == "ok", run.status.text()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == first.archive_sha256


def test_a_member_file_swapped_for_another_sets_is_refused_by_the_engine(console, stick, tmp_path):
    opened = open_local_set(console, stick, SECRET)
    vault = opened.member("vault")
    first = opened.manifest.members[0]
    os.replace(stick / first.key, vault.path)  # same folder, other member's (valid, sealed) file
    again = open_local_set(console, stick, SECRET)
    assert "bytes; the manifest says" in (again.member("vault").problem or "")
    with pytest.raises(IntegrityError, match="Member 'vault' of this set cannot be used"):
        extract_local_member(console, again, "vault", tmp_path / "out", SECRET)
    assert not (tmp_path / "out").exists()
    with pytest.raises(WrongKeyError):
        open_local_set(console, stick, "not the secret")


def test_a_folder_without_a_manifest_is_not_offered(qtbot, wizard, tmp_path):
    empty = tmp_path / "not a set"
    empty.mkdir()
    type_into(qtbot, wizard.file_page.path_edit, str(empty))
    assert "holds no recovery set" in wizard.file_page.info.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_a_wrong_secret_for_a_set_is_refused_and_says_what_to_check(qtbot, wizard, stick):
    type_into(qtbot, wizard.file_page.path_edit, str(stick))
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, "not the secret")
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: wizard.last_error is not None, timeout=WAIT)
    assert "download the set again" in wizard.last_error.informativeText() + wizard.last_error.text()
    assert wizard.currentId() == ExtractWizard.SECRET and wizard.secret_page.local_set is None


def test_a_member_file_swapped_after_its_check_is_caught_when_its_tables_are_read(qtbot, wizard, stick):
    _to_members(qtbot, wizard, stick)
    page = wizard.members_page
    page.table.selectRow(_row(page, "results"))
    click(qtbot, page.tables_radio)
    run = _run(qtbot, wizard)
    assert run.outcome == "ok", run.status.text()
    manifest = wizard.secret_page.local_set.manifest
    shutil.copyfile(stick / manifest.members[0].key, stick / manifest.member("results").key)  # a valid, sealed file
    next_page(qtbot, wizard, ExtractWizard.TABLES)
    tables = wizard.tables_page
    qtbot.waitUntil(lambda: wizard.last_error is not None and not tables.running, timeout=WAIT)
    assert tables.report is None and tables.table.rowCount() == 0
    status = html.unescape(tables.status.text())
    assert "Member 'results'" in status and "decrypts to another backup than the set's manifest names" in status
    assert not tables.workbench_button.isEnabled()
