"""The restore wizard, end to end against a real PostgreSQL 15 and a real local target (pytest-qt, offscreen)."""

from __future__ import annotations

import threading
import uuid

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QRadioButton,
    QWidget,
    QWizard,
)

from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_preflight import PRE_RESTORE_INFIX, SCRATCH_INFIX
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.jobs import JobRunner
from recovery_console.ui.wizards.restore import RestoreWizard
from tests.fixtures.console import SECRET
from tests.gui.test_setup_wizard import interactive_controls

pytestmark = [pytest.mark.gui, pytest.mark.integration]

WAIT = 120_000


class MainWindowStandIn(QWidget):
    """The main window's side of the contract: `set_blocking(active, text)`."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, str]] = []

    def set_blocking(self, active: bool, text: str = "") -> None:
        self.calls.append((active, text))


def click(qtbot, button: QAbstractButton, timeout: int = WAIT) -> None:
    qtbot.waitUntil(lambda: button.isVisible() and button.isEnabled(), timeout=timeout)
    if isinstance(button, (QCheckBox, QRadioButton)):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    else:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def next_page(qtbot, wizard: QWizard, expected_id: int, which=QWizard.WizardButton.NextButton) -> None:
    click(qtbot, wizard.button(which))
    qtbot.waitUntil(lambda: wizard.currentId() == expected_id, timeout=WAIT)


def answer(qtbot, get_box, button_text: str) -> None:
    """Click the button of a message box (opened without blocking) whose text contains `button_text`."""
    qtbot.waitUntil(lambda: get_box() is not None and get_box().isVisible(), timeout=WAIT)
    box: QMessageBox = get_box()
    button = next(b for b in box.buttons() if button_text in b.text().replace("&", ""))
    click(qtbot, button)


def type_secret_in_dialog(qtbot, page, secret: str) -> None:
    qtbot.waitUntil(lambda: page.secret_dialog is not None and page.secret_dialog.isVisible(), timeout=WAIT)
    dialog = page.secret_dialog
    edit = dialog.findChild(QLineEdit)
    assert edit.echoMode() == QLineEdit.EchoMode.Password
    edit.setFocus()
    qtbot.keyClicks(edit, secret)
    click(qtbot, dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))


def type_text(qtbot, widget, text: str) -> None:
    """Real key events; QTest only maps ASCII, so other characters go as key events carrying their text."""
    for char in text:
        if char.isascii():
            qtbot.keyClicks(widget, char)
        else:
            for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                QApplication.sendEvent(widget, QKeyEvent(kind, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier,
                                                         char))


def verify_check(page) -> str:
    """The reason shown beside the pre-flight's "backup fully verified" check."""
    items = [page.checks.topLevelItem(i) for i in range(page.checks.topLevelItemCount())]
    return next(item.text(2) for item in items if item.text(1) == "backup fully verified")


def databases(pg15, like: str) -> list[str]:
    return pg15.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{like}' ORDER BY 1").split()


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"app_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def profile(console, local_target, pg15, database) -> str:
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


@pytest.fixture
def main_window(qtbot) -> MainWindowStandIn:
    window = MainWindowStandIn()
    qtbot.addWidget(window)
    return window


@pytest.fixture
def open_wizard(qtbot):
    opened: list[RestoreWizard] = []

    def open_(console, parent, **kwargs) -> RestoreWizard:
        wizard = RestoreWizard(console, parent=parent, **kwargs)
        qtbot.addWidget(wizard)
        wizard.show()
        qtbot.waitExposed(wizard)
        opened.append(wizard)
        return wizard

    yield open_
    for wizard in opened:  # no job may outlive its test
        for box in wizard.error_boxes:
            box.close()
        wizard.cancel_jobs()
        qtbot.waitUntil(lambda w=wizard: not w.busy, timeout=WAIT)


def test_safe_in_place_restore_then_roll_back(qtbot, console, profile, database, pg15, table_fingerprints,
                                              main_window, open_wizard):
    before = table_fingerprints(pg15, database)
    record = backup_database(console, profile, secret=SECRET)
    other = backup_database(console, profile, secret=SECRET, description="a later one")
    pg15.psql("INSERT INTO app.empty_log (message) VALUES ('after the backup'); "
              "DELETE FROM pgbench_accounts WHERE aid <= 25", db=database)
    changed = table_fingerprints(pg15, database)
    assert changed != before

    wizard = open_wizard(console, main_window, backup=record.short_id, profile=profile)
    page = wizard.backup_page
    # Page 1: the catalog's backups with the requested one preselected; the profile chosen.
    qtbot.waitUntil(lambda: page.table.rowCount() == 2 and not page.looking_up, timeout=WAIT)
    assert page.selected_record().key == record.key != other.key
    assert page.profile_combo.currentData() == profile
    assert "no instance secret" in page.secret_status.text()
    # No secret in the keyring: Next asks for it in a password dialog, then goes on.
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: page.secret_dialog is not None and page.secret_dialog.isVisible(), timeout=WAIT)
    dialog = page.secret_dialog
    edit = dialog.findChild(QLineEdit)
    edit.setFocus()
    type_text(qtbot, edit, SECRET)
    assert edit.text() == SECRET
    click(qtbot, dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.DESTINATION, timeout=WAIT)

    # Page 2: safe in-place is the default.
    assert wizard.destination_page.in_place.isChecked()
    assert database in wizard.destination_page.explain.text()
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)

    # Page 3: the pre-flight checklist, each check with its status and reason.
    pre = wizard.preflight_page
    qtbot.waitUntil(lambda: pre.plan is not None and not pre.checking, timeout=WAIT)
    rows = {pre.checks.topLevelItem(i).text(1): (pre.checks.topLevelItem(i).text(0), pre.checks.topLevelItem(i).text(2))
            for i in range(pre.checks.topLevelItemCount())}
    for name in ("connection mode declared", "server reachable", "role may create databases", "database exists",
                 "backup fully verified", "pg_restore compatible", "free space on the server", "connected sessions"):
        assert rows[name][0] in ("PASS", "WARN"), (name, rows[name])
        assert rows[name][1]
    assert rows["backup fully verified"][0] == "PASS" and "SHA-256" in rows["backup fully verified"][1]
    assert "Every check passed" in pre.verdict.text()
    next_page(qtbot, wizard, RestoreWizard.CONFIRM)

    # Page 4: typed confirmation naming the database and the backup.
    confirm = wizard.confirm_page
    what = confirm.what.text()
    assert database in what and record.short_id in what and PRE_RESTORE_INFIX in what
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    assert commit.isVisible() and not commit.isEnabled()
    confirm.confirm_edit.setFocus()
    qtbot.keyClicks(confirm.confirm_edit, "restore")
    assert not commit.isEnabled()
    confirm.confirm_edit.clear()
    qtbot.keyClicks(confirm.confirm_edit, "RESTOR")
    assert not commit.isEnabled()
    qtbot.keyClicks(confirm.confirm_edit, "E")
    assert commit.isEnabled()
    next_page(qtbot, wizard, RestoreWizard.PROGRESS, QWizard.WizardButton.CommitButton)

    # Page 5: progress; the main window is blocked while it runs.
    progress = wizard.progress_page
    qtbot.waitUntil(lambda: main_window.calls != [], timeout=WAIT)
    assert main_window.calls[0] == (True, f"Restoring {database} …")
    qtbot.waitUntil(lambda: progress.outcome is not None and not progress.running, timeout=WAIT)
    assert progress.outcome == "ok", progress.status.text()
    assert main_window.calls == [(True, f"Restoring {database} …"), (False, "")]
    next_page(qtbot, wizard, RestoreWizard.RESULT)

    # Page 6: per-table row counts, and the database equals the backup.
    result = wizard.result_page
    table = {result.table.item(r, 0).text(): [result.table.item(r, c).text() for c in (1, 2, 3)]
             for r in range(result.table.rowCount())}
    assert table["public.pgbench_accounts"] == ["100,000", "100,000", "match"]
    assert table["app.customers"] == ["2,000", "2,000", "match"]
    assert all(row[2] == "match" for row in table.values())
    previous = progress.result.previous
    assert previous and previous in result.summary.text()
    assert table_fingerprints(pg15, database) == before
    assert table_fingerprints(pg15, previous) == changed

    # Roll back: asked first, then the pre-restore database is swapped back in.
    click(qtbot, result.rollback_button)
    answer(qtbot, lambda: result.rollback_box, "Roll back")
    qtbot.waitUntil(lambda: result.rolled_back is not None and not result.rolling_back, timeout=WAIT)
    assert "Rolled back" in result.rollback_status.text()
    assert "now holds the backup's data" not in result.summary.text()  # the page says what is true after it
    assert "from before the restore again" in result.summary.text()
    assert table_fingerprints(pg15, database) == changed
    assert main_window.calls[2:] == [(True, f"Rolling back {database} …"), (False, "")]
    assert not result.rollback_button.isEnabled()

    click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)
    assert wizard.result() == QWizard.DialogCode.Accepted
    actions = [e.action for e in console.audit.entries()]
    assert "restore" in actions and "restore.rollback" in actions


def test_wrong_secret_fails_the_verify_check_and_blocks(qtbot, console, profile, database, main_window,
                                                        open_wizard):
    record = backup_database(console, profile, secret=SECRET)
    wizard = open_wizard(console, main_window, backup=record, profile=profile)
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and not page.looking_up, timeout=WAIT)
    click(qtbot, page.secret_button)
    type_secret_in_dialog(qtbot, page, "not the secret")
    qtbot.waitUntil(lambda: "you typed" in page.secret_status.text(), timeout=WAIT)
    next_page(qtbot, wizard, RestoreWizard.DESTINATION)
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)
    pre = wizard.preflight_page
    qtbot.waitUntil(lambda: pre.plan is not None and not pre.checking, timeout=WAIT)
    rows = {pre.checks.topLevelItem(i).text(1): (pre.checks.topLevelItem(i).text(0), pre.checks.topLevelItem(i).text(2))
            for i in range(pre.checks.topLevelItemCount())}
    assert rows["backup fully verified"][0] == "FAIL"
    assert "secret" in rows["backup fully verified"][1].lower()
    assert "cannot go ahead" in pre.verdict.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert main_window.calls == []


def test_closing_during_a_restore_asks_and_cancels_cleanly(qtbot, console, secret_service, local_target, pg15,
                                                          database, table_fingerprints, main_window, monkeypatch,
                                                          open_wizard):
    # The instance secret comes from the real Secret Service this time: no dialog.
    console.profiles.create("kept", pg15.dsn(database), target=local_target, instance_secret=SECRET)
    console.profiles.set_mode("kept", ConnectionMode.DIRECT, acknowledge_direct=True)
    backup_database(console, "kept")
    before = table_fingerprints(pg15, database)

    # Hold the restore after pg_restore, before the swap, until the test has asked to close.
    reached, release = threading.Event(), threading.Event()
    original = Restorer._check_tables

    def held_check(self, *args, **kwargs):
        reached.set()
        release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Restorer, "_check_tables", held_check)

    wizard = open_wizard(console, main_window, profile="kept")
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.secret is not None, timeout=WAIT)
    assert "OS keyring" in page.secret_status.text()
    next_page(qtbot, wizard, RestoreWizard.DESTINATION)
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)
    qtbot.waitUntil(lambda: wizard.preflight_page.plan is not None and not wizard.preflight_page.checking, timeout=WAIT)
    next_page(qtbot, wizard, RestoreWizard.CONFIRM)
    qtbot.keyClicks(wizard.confirm_page.confirm_edit, "RESTORE")
    next_page(qtbot, wizard, RestoreWizard.PROGRESS, QWizard.WizardButton.CommitButton)
    qtbot.waitUntil(reached.is_set, timeout=WAIT)

    # Close: asked first; "Keep waiting" keeps the wizard and the restore.
    wizard.close()
    answer(qtbot, lambda: wizard.close_box, "Keep waiting")
    assert wizard.isVisible() and wizard.restoring
    # Close again and cancel: the wizard closes once the restore has stopped cleanly.
    click(qtbot, wizard.button(QWizard.WizardButton.CancelButton))
    answer(qtbot, lambda: wizard.close_box, "Cancel the restore")
    release.set()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=WAIT)
    assert wizard.progress_page.outcome == "cancelled"
    assert main_window.calls == [(True, f"Restoring {database} …"), (False, "")]
    assert table_fingerprints(pg15, database) == before
    assert databases(pg15, f"{database}{SCRATCH_INFIX}%") == []
    assert databases(pg15, f"{database}{PRE_RESTORE_INFIX}%") == []
    assert [e.result for e in console.audit.entries() if e.action == "restore"] == ["cancelled"]


def test_restore_into_a_new_database(qtbot, console, profile, database, pg15, table_fingerprints, main_window,
                                     open_wizard):
    record = backup_database(console, profile, secret=SECRET)
    console.verify(console.locate(record.short_id), SECRET)
    before = table_fingerprints(pg15, database)
    # As the main window opens it: a catalog record and its own JobRunner (whose other jobs the wizard never cancels).
    shared = JobRunner()
    wizard = open_wizard(console, main_window, backup=record, profile=profile, runner=shared)
    assert wizard.runner is shared
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() == 1 and not page.looking_up, timeout=WAIT)
    click(qtbot, page.secret_button)
    qtbot.waitUntil(lambda: page.secret_dialog is not None and page.secret_dialog.isVisible(), timeout=WAIT)
    page.secret_dialog.setTextValue(SECRET)
    click(qtbot, page.secret_dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    next_page(qtbot, wizard, RestoreWizard.DESTINATION)
    dest = wizard.destination_page
    click(qtbot, dest.new_db)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    copy = f"{database}_copy"
    qtbot.keyClicks(dest.name_edit, copy)
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)
    pre = wizard.preflight_page
    qtbot.waitUntil(lambda: pre.plan is not None and not pre.checking, timeout=WAIT)
    assert pre.plan.ready and pre.plan.new_database
    assert "full verify on record" in verify_check(pre)
    click(qtbot, wizard.button(QWizard.WizardButton.BackButton))
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.DESTINATION, timeout=WAIT)
    click(qtbot, dest.verify_first)
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)
    qtbot.waitUntil(lambda: pre.plan is not None and not pre.checking, timeout=WAIT)
    assert pre.plan.ready and "chunks, archive SHA-256" in verify_check(pre)
    next_page(qtbot, wizard, RestoreWizard.CONFIRM)
    assert f"creates the new database <b>{copy}</b>" in wizard.confirm_page.what.text()
    qtbot.keyClicks(wizard.confirm_page.confirm_edit, "RESTORE")
    next_page(qtbot, wizard, RestoreWizard.PROGRESS, QWizard.WizardButton.CommitButton)
    qtbot.waitUntil(lambda: wizard.progress_page.outcome is not None, timeout=WAIT)
    assert wizard.progress_page.outcome == "ok"
    next_page(qtbot, wizard, RestoreWizard.RESULT)
    assert not wizard.result_page.rollback_button.isVisible()
    assert table_fingerprints(pg15, copy) == before
    pg15.psql(f'DROP DATABASE "{copy}"')


def test_a_backup_file_not_in_the_catalog_can_be_restored_from(qtbot, console, make_backup, tmp_path, open_wizard):
    record = make_backup()
    copy = tmp_path / record.file_name
    with open(console.locate(record.short_id).location, "rb") as source:
        copy.write_bytes(source.read())
    ref = console.locate(str(copy))
    assert ref.record is None
    wizard = open_wizard(console, None, backup=ref)
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() == 2 and not page.loading, timeout=WAIT)
    assert page.selected() is ref
    assert page.table.item(0, 5).text() == str(copy)


def test_pages_render_for_docs(qtbot, console):
    wizard = RestoreWizard(console)
    qtbot.addWidget(wizard)
    pages = wizard.screenshot_pages()
    assert [t for t, _ in pages] == ["Choose the backup", "Where to restore", "Pre-flight checks",
                                     "Confirm the restore", "Restoring", "Restore complete"]
    for title, page in pages:
        assert not page.grab().isNull()
        for control in interactive_controls(page):
            assert control.accessibleName(), f"{title}: {type(control).__name__} {getattr(control, 'text', str)()!r}"
    assert wizard.preflight_page.checks.topLevelItemCount() > 0
    assert wizard.result_page.table.rowCount() > 0


def enter_secret_and_go_to_preflight(qtbot, wizard: RestoreWizard, rows: int) -> None:
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() == rows and not page.looking_up, timeout=WAIT)
    click(qtbot, page.secret_button)
    qtbot.waitUntil(lambda: page.secret_dialog is not None and page.secret_dialog.isVisible(), timeout=WAIT)
    page.secret_dialog.setTextValue(SECRET)
    click(qtbot, page.secret_dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    next_page(qtbot, wizard, RestoreWizard.DESTINATION)
    next_page(qtbot, wizard, RestoreWizard.PREFLIGHT)
    qtbot.waitUntil(lambda: wizard.preflight_page.plan is not None and not wizard.preflight_page.checking,
                    timeout=WAIT)


def test_another_databases_backup_needs_a_tick_naming_both_databases(qtbot, console, profile, database, pg15,
                                                                     sample_database, table_fingerprints,
                                                                     main_window, open_wizard, tmp_path):
    record = backup_database(console, profile, secret=SECRET)
    other = sample_database(pg15, f"big_{uuid.uuid4().hex[:8]}")
    console.profiles.create("big", pg15.dsn(other), target=console.profiles.store.get(profile).target)
    console.profiles.set_mode("big", ConnectionMode.DIRECT, acknowledge_direct=True)
    wizard = open_wizard(console, main_window, backup=record, profile="big")
    enter_secret_and_go_to_preflight(qtbot, wizard, 1)
    pre = wizard.preflight_page
    rows = {pre.checks.topLevelItem(i).text(1): pre.checks.topLevelItem(i).text(0)
            for i in range(pre.checks.topLevelItemCount())}
    assert rows["backup is of this database"] == "WARN"
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert pre.allow_other.isVisible() and not pre.allow_other.isChecked()
    assert not next_button.isEnabled()
    shown = pre.other_database.text()
    assert f"of database <b>{database}</b>" in shown and f"replaces database <b>{other}</b>" in shown
    assert database in pre.allow_other.text() and other in pre.allow_other.text()
    assert "tick the box" in pre.verdict.text()
    pre.grab().save(str(tmp_path / "other-database.png"))
    click(qtbot, pre.allow_other)
    assert pre.plan.ready and next_button.isEnabled()
    assert "Every check passed" in pre.verdict.text()
    click(qtbot, pre.allow_other)
    assert not pre.plan.ready and not next_button.isEnabled()
    click(qtbot, pre.allow_other)
    next_page(qtbot, wizard, RestoreWizard.CONFIRM)
    what = wizard.confirm_page.what.text()
    assert f"of database {database}, not {other}" in what
    before = table_fingerprints(pg15, other)
    # Going back and running the checks again asks again.
    click(qtbot, wizard.button(QWizard.WizardButton.BackButton))
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.PREFLIGHT, timeout=WAIT)
    qtbot.waitUntil(lambda: pre.plan is not None and not pre.checking, timeout=WAIT)
    click(qtbot, pre.again_button)
    qtbot.waitUntil(lambda: pre.plan is not None and not pre.checking, timeout=WAIT)
    assert not pre.allow_other.isChecked() and not next_button.isEnabled()
    assert table_fingerprints(pg15, other) == before


def test_the_same_databases_backup_asks_nothing(qtbot, console, profile, database, main_window, open_wizard):
    record = backup_database(console, profile, secret=SECRET)
    wizard = open_wizard(console, main_window, backup=record, profile=profile)
    enter_secret_and_go_to_preflight(qtbot, wizard, 1)
    assert not wizard.preflight_page.allow_other.isVisible()
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_a_restore_the_server_stopped_says_what_it_left_and_cleans_up_when_it_is_back(
        qtbot, console, local_target, pg_server_factory, sample_database, main_window, open_wizard, monkeypatch,
        request, tmp_path):
    from recovery_console.engine.state import restore_journal

    pg = pg_server_factory.new(15)
    request.addfinalizer(pg.remove)
    database = sample_database(pg, "big")
    console.profiles.create("bigdb", pg.dsn(database), target=local_target)
    console.profiles.set_mode("bigdb", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = backup_database(console, "bigdb", secret=SECRET)
    checking = Restorer._check_tables

    def server_stops_first(self, *args, **kwargs):  # PostgreSQL goes away after pg_restore, before the checks
        pg.stop("immediate")
        return checking(self, *args, **kwargs)

    monkeypatch.setattr(Restorer, "_check_tables", server_stops_first)
    wizard = open_wizard(console, main_window, backup=record, profile="bigdb")
    enter_secret_and_go_to_preflight(qtbot, wizard, 1)
    next_page(qtbot, wizard, RestoreWizard.CONFIRM)
    qtbot.keyClicks(wizard.confirm_page.confirm_edit, "RESTORE")
    next_page(qtbot, wizard, RestoreWizard.PROGRESS, QWizard.WizardButton.CommitButton)
    progress = wizard.progress_page
    qtbot.waitUntil(lambda: progress.outcome is not None and not progress.running, timeout=WAIT)
    for box in wizard.error_boxes:
        box.close()
    assert progress.outcome == "failed"
    scratch = wizard.preflight_page.plan.scratch_name
    status = progress.status.text()
    assert f"The scratch copy {scratch} could not be dropped (server unreachable" in status
    assert "was dropped" not in status and "recovery-console" not in status
    row = progress.cleanup
    assert row.button.isVisible() and scratch in row.status.text() and "Clean up" in row.status.text()
    progress.grab().save(str(tmp_path / "left-behind.png"))

    pg.start()
    assert scratch in pg.databases()
    click(qtbot, row.button)
    qtbot.waitUntil(lambda: row.report is not None and not row.cleaning, timeout=WAIT)
    assert row.report.dropped == [scratch] and row.report.not_dropped == []
    assert f"Dropped {scratch}." in row.status.text()
    status = progress.status.text()
    assert "Nothing the restore made is left on the server" in status and "could not be dropped" not in status
    assert scratch not in pg.databases() and database in pg.databases()
    assert not row.button.isVisible()
    assert restore_journal.pending(console.paths) == []
    progress.grab().save(str(tmp_path / "cleaned.png"))


def test_preflight_offers_to_clean_up_what_an_earlier_restore_left(qtbot, console, profile, database, pg15,
                                                                   main_window, open_wizard, tmp_path):
    from recovery_console.engine.restore_preflight import lock_identity
    from recovery_console.engine.state import restore_journal

    record = backup_database(console, profile, secret=SECRET)
    left = f"{database}{SCRATCH_INFIX}20260101000000"
    pg15.psql(f'CREATE DATABASE "{left}"')
    journal = restore_journal.begin(console.paths, profile, database,
                                    lock_identity(console.profiles.store.get(profile), database))
    journal.made(left, int(pg15.psql(f"SELECT oid FROM pg_database WHERE datname = '{left}'")))
    journal.finish("failed", "server unreachable")
    wizard = open_wizard(console, main_window, backup=record, profile=profile)
    enter_secret_and_go_to_preflight(qtbot, wizard, 1)
    pre = wizard.preflight_page
    names = [pre.checks.topLevelItem(i).text(1) for i in range(pre.checks.topLevelItemCount())]
    assert "left by an earlier restore" in names and "leftover scratch databases" not in names
    row = pre.cleanup
    assert row.isVisible() and row.button.isVisible() and left in row.status.text()
    pre.grab().save(str(tmp_path / "preflight-leftovers.png"))
    click(qtbot, row.button)
    qtbot.waitUntil(lambda: row.report is not None and pre.plan is not None and not pre.checking, timeout=WAIT)
    assert row.report.dropped == [left] and left not in databases(pg15, f"{database}%")
    names = [pre.checks.topLevelItem(i).text(1) for i in range(pre.checks.topLevelItemCount())]
    assert "left by an earlier restore" not in names
    assert not row.button.isVisible() and f"Dropped {left}." in row.status.text()
    pre.grab().save(str(tmp_path / "preflight-cleaned.png"))
