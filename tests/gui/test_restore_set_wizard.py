"""The restore wizard with a recovery set (#18), against a real PostgreSQL 15 and a real local target: the members
listed and chosen, a folder into a new folder or in place, each database member's pre-flight, the end-of-job text,
and a damaged set never offered."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QWizard

from recovery_console.engine.restore_preflight import lock_identity
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_catalog import DAMAGED
from recovery_console.engine.sets.set_listing import list_sets
from recovery_console.engine.sets.set_restore import plan_set_restore
from recovery_console.engine.state.locks import database_lock
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import IntegrityError
from recovery_console.models.profile import ConnectionMode
from recovery_console.ui.app import create_main_window
from recovery_console.ui.wizards.restore import RestoreWizard
from recovery_console.ui.wizards.restore_set_docs import set_screenshot_pages
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.gui.test_restore_wizard import WAIT, click, next_page, type_text
from tests.gui.test_setup_wizard import interactive_controls

pytestmark = [pytest.mark.gui, pytest.mark.integration]


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


def _db(server, name: str, rows: int) -> str:
    server.createdb(name)
    server.psql(f"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g "
                f"FROM generate_series(1, {rows}) g", db=name)
    return name


@pytest.fixture
def made_set(console, local_target, pg15, tmp_path):
    """A set of profile `records`: its own database, a second one (restored through profile `results-db`) and a
    vault folder with a link pointing out of it (refused on restore, by name)."""
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
    console.profiles.create("results-db", pg15.dsn(results), target=local_target)
    console.profiles.set_mode("results-db", ConnectionMode.DIRECT, acknowledge_direct=True)
    record = backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS)
    return {"record": record, "config": config, "results": results, "vault": vault}


def _to_members(qtbot, wizard: RestoreWizard, record) -> None:
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() >= 1 and not page.loading and not page.looking_up, timeout=WAIT)
    assert page.selected_set() is not None and page.selected_set().folder == record.folder
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    qtbot.waitUntil(lambda: page.secret_dialog is not None and page.secret_dialog.isVisible(), timeout=WAIT)
    edit = page.secret_dialog.findChild(QLineEdit)
    edit.setFocus()
    type_text(qtbot, edit, SECRET)
    click(qtbot, page.secret_dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    qtbot.waitUntil(lambda: wizard.currentId() == RestoreWizard.SET_MEMBERS, timeout=WAIT)
    members = wizard.set_members_page
    qtbot.waitUntil(lambda: members.plan is not None, timeout=WAIT)


def _rows(members) -> dict[str, list[str]]:
    table = members.table
    return {table.item(r, 0).text(): [table.item(r, c).text() if table.item(r, c) else "" for c in range(1, 4)]
            + [str(table.item(r, 0).checkState() == Qt.CheckState.Checked)] for r in range(table.rowCount())}


def _run_to_end(qtbot, wizard: RestoreWizard) -> str:
    if wizard.currentId() != RestoreWizard.SET_PREFLIGHT:
        next_page(qtbot, wizard, RestoreWizard.SET_PREFLIGHT)
    pre = wizard.set_preflight_page
    qtbot.waitUntil(lambda: bool(pre.checked) and not pre.checking, timeout=WAIT)
    assert pre.ready, pre.verdict.text()
    next_page(qtbot, wizard, RestoreWizard.SET_CONFIRM)
    confirm = wizard.set_confirm_page
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    assert not commit.isEnabled()
    confirm.confirm_edit.setFocus()
    qtbot.keyClicks(confirm.confirm_edit, "RESTORE")
    next_page(qtbot, wizard, RestoreWizard.SET_RUN, QWizard.WizardButton.CommitButton)
    run = wizard.set_run_page
    qtbot.waitUntil(lambda: not run.running and run.result is not None, timeout=WAIT)
    return run.status.text()


def test_members_listed_and_only_the_ticked_ones_restored_a_folder_into_a_new_folder(
        qtbot, console, made_set, pg15, tmp_path, open_wizard):
    record, vault = made_set["record"], made_set["vault"]
    pg15.psql("DELETE FROM t WHERE id > 10", db=made_set["config"])
    pg15.psql("DELETE FROM t", db=made_set["results"])
    (vault / "data.bin").write_bytes(b"changed after the backup")

    wizard = open_wizard(console, None, backup=record, profile="records")
    _to_members(qtbot, wizard, record)
    members = wizard.set_members_page
    rows = _rows(members)
    assert list(rows) == ["main", "results", "vault"]
    assert rows["main"][:1] + rows["main"][2:] == ["database", made_set["config"], "True"]
    assert rows["results"][:1] + rows["results"][2:] == ["database", made_set["results"], "True"]
    assert rows["vault"][0] == "folder" and rows["vault"][2] == str(vault) and rows["vault"][3] == "True"
    assert members.profile_combos["results"].currentData() == "results-db"  # the profile of that database
    assert members.folder_choices["vault"].in_place.isChecked()

    members.set_chosen("results", False)  # as a click on its box
    choice = members.folder_choices["vault"]
    click(qtbot, choice.new_folder)
    assert not members.isComplete()  # a new folder needs its name
    assert "Name the new folder" in members.status.text()
    choice.path_edit.setText("relative folder")  # relative to wherever the console was started: refused
    assert not members.isComplete() and "by its full path" in members.status.text()
    restored = tmp_path / "vault restored ✓"
    choice.path_edit.setText(str(restored))
    qtbot.waitUntil(members.isComplete, timeout=WAIT)
    assert [m.name for m in members.plan.members] == ["main", "vault"] and "results" in members.status.text()

    next_page(qtbot, wizard, RestoreWizard.SET_PREFLIGHT)
    pre = wizard.set_preflight_page
    qtbot.waitUntil(lambda: bool(pre.checked) and not pre.checking, timeout=WAIT)
    heads = [pre.checks.topLevelItem(i) for i in range(pre.checks.topLevelItemCount())]
    assert [h.text(1).split(" (member ")[1].split(",")[0].rstrip(")") for h in heads] == ["main", "vault"]
    main_checks = {heads[0].child(i).text(1): heads[0].child(i).text(0) for i in range(heads[0].childCount())}
    assert main_checks["backup fully verified"] == "PASS" and main_checks["database exists"] == "PASS"
    assert str(restored) in heads[1].child(0).text(2)

    text = _run_to_end(qtbot, wizard)
    assert f"Database {made_set['config']} (member main) restored through profile records" in text
    assert "__pre_restore_" in text and "into the new folder" in text
    assert "Refused, nothing written for it: link outside" in text
    assert "Not chosen, left as they are: results." in text
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["config"]) == "300"
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["results"]) == "0"  # unticked: untouched
    assert (vault / "data.bin").read_bytes() == b"changed after the backup"  # in place: untouched
    assert (restored / "docs" / "résumé.txt").read_text("utf-8") == "ünïcode\n"
    assert len((restored / "data.bin").read_bytes()) == 50_000 and not os.path.lexists(restored / "link outside")
    assert [run_stage for run_stage in (wizard.set_run_page.stage_of("main"), wizard.set_run_page.stage_of("vault"))] \
        == ["restored", "restored"]
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()


def test_a_folder_in_place_keeps_the_previous_one_and_the_text_says_where(qtbot, console, made_set, tmp_path,
                                                                         open_wizard):
    record, vault = made_set["record"], made_set["vault"]
    (vault / "added later.txt").write_text("after the backup")
    wizard = open_wizard(console, None, backup=record, profile="records")
    _to_members(qtbot, wizard, record)
    members = wizard.set_members_page
    members.set_chosen("main", False)
    members.set_chosen("results", False)
    qtbot.waitUntil(members.isComplete, timeout=WAIT)
    text = _run_to_end(qtbot, wizard)
    kept = list(tmp_path.glob("vault.pre_restore_*"))
    assert len(kept) == 1 and (kept[0] / "added later.txt").read_text() == "after the backup"
    assert not (vault / "added later.txt").exists() and (vault / "docs" / "résumé.txt").exists()
    assert f"the previous folder is kept as {kept[0]}" in text
    assert "Not chosen, left as they are: main, results." in text


def test_a_damaged_set_is_shown_damaged_and_never_offered(qtbot, console, made_set, tmp_path, open_wizard):
    record = made_set["record"]
    (tmp_path / "target" / record.folder / "02-database.enc").unlink()
    damaged = list_sets(console)[0][0]
    assert damaged.state == DAMAGED
    with pytest.raises(IntegrityError, match="damaged"):
        plan_set_restore(damaged, record.manifest, "records")

    wizard = open_wizard(console, None, backup=damaged, profile="records")
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() >= 1 and not page.loading and not page.looking_up, timeout=WAIT)
    assert page.selected_set() is not None and page.selected_set().state == DAMAGED
    assert page.table.item(0, 6).text().startswith("DAMAGED: member file 02-database.enc is missing")
    assert "never restored" in page.list_status.text()
    assert not page.isComplete() and not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_new_folder_that_exists_is_refused_at_the_checks_before_anything_changes(qtbot, console, made_set, pg15,
                                                                               tmp_path, open_wizard):
    record = made_set["record"]
    pg15.psql("DELETE FROM t WHERE id > 5", db=made_set["config"])
    taken = tmp_path / "taken"
    taken.mkdir()
    wizard = open_wizard(console, None, backup=record, profile="records")
    _to_members(qtbot, wizard, record)
    members = wizard.set_members_page
    members.set_chosen("results", False)
    click(qtbot, members.folder_choices["vault"].new_folder)
    members.folder_choices["vault"].path_edit.setText(str(taken))
    qtbot.waitUntil(members.isComplete, timeout=WAIT)
    next_page(qtbot, wizard, RestoreWizard.SET_PREFLIGHT)
    pre = wizard.set_preflight_page
    qtbot.waitUntil(lambda: bool(pre.checked) and not pre.checking, timeout=WAIT)
    assert not pre.ready and "vault failed" in pre.verdict.text() and "already exists" in \
        pre.checks.topLevelItem(1).child(0).text(2)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["config"]) == "5"
    assert Path(taken).is_dir() and not any(taken.iterdir())


def test_a_member_that_fails_ends_the_job_and_the_text_says_what_was_and_was_not_restored(
        qtbot, console, made_set, pg15, open_wizard):
    record = made_set["record"]
    pg15.psql("DELETE FROM t WHERE id > 10", db=made_set["config"])
    pg15.psql("DELETE FROM t WHERE id > 20", db=made_set["results"])
    wizard = open_wizard(console, None, backup=record, profile="records")
    _to_members(qtbot, wizard, record)
    next_page(qtbot, wizard, RestoreWizard.SET_PREFLIGHT)
    pre = wizard.set_preflight_page
    qtbot.waitUntil(lambda: bool(pre.checked) and not pre.checking, timeout=WAIT)
    assert pre.ready, pre.verdict.text()
    results = console.profiles.store.load()["results-db"]
    with database_lock(console.paths, lock_identity(results, made_set["results"]), "backup", made_set["results"]):
        text = _run_to_end(qtbot, wizard)  # another job holds the second database: it cannot be restored now
    run = wizard.set_run_page
    assert "member results failed" in text and f"Database {made_set['config']} (member main) restored" in text
    assert "Not started: vault." in text and "Member results was not restored" in text
    assert [run.stage_of(n) for n in ("main", "results", "vault")] == ["restored", "FAILED", "waiting"]
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["config"]) == "300"
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["results"]) == "20"
    assert not list(made_set["vault"].parent.glob("vault.pre_restore_*"))
    entry = [e for e in console.audit.entries() if e.action == "set.restore"][-1]
    assert entry.result == "failed" and entry.detail["restored"] == ["main"]


def test_cancel_stops_the_set_restore_and_nothing_is_swapped(qtbot, console, made_set, pg15, open_wizard):
    record = made_set["record"]
    pg15.psql("DELETE FROM t WHERE id > 10", db=made_set["config"])
    wizard = open_wizard(console, None, backup=record, profile="records")
    _to_members(qtbot, wizard, record)
    next_page(qtbot, wizard, RestoreWizard.SET_PREFLIGHT)
    pre = wizard.set_preflight_page
    qtbot.waitUntil(lambda: bool(pre.checked) and not pre.checking, timeout=WAIT)
    next_page(qtbot, wizard, RestoreWizard.SET_CONFIRM)
    wizard.set_confirm_page.confirm_edit.setText("RESTORE")
    next_page(qtbot, wizard, RestoreWizard.SET_RUN, QWizard.WizardButton.CommitButton)
    run = wizard.set_run_page
    qtbot.waitUntil(lambda: run.panel.job is not None, timeout=WAIT)
    qtbot.mouseClick(run.panel.cancel_button, Qt.MouseButton.LeftButton)  # at once: the first database is not swapped
    qtbot.waitUntil(lambda: not run.running, timeout=WAIT)
    assert "cancelled" in run.status.text()
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["config"]) == "10"
    assert databases_like(pg15, f"{made_set['config']}__%") == []
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()


def databases_like(pg15, like: str) -> list[str]:
    return pg15.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{like}' ORDER BY 1").split()


def test_the_browser_lists_sets_a_damaged_one_shown_damaged_and_not_offered(qtbot, console, made_set, tmp_path):
    complete = made_set["record"]
    broken = backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS, description="to be damaged")
    (tmp_path / "target" / broken.folder / "03-folder.enc").unlink()
    window = create_main_window(console, None)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=WAIT):
        window.show()
    qtbot.waitExposed(window)
    sets = window.browser.sets
    assert sets.isVisible() and sets.table.rowCount() == 2
    rows = {sets.table.item(r, 1).text(): sets.table.item(r, 5).text() for r in range(2)}
    assert f"{broken.short_id} · to be damaged" in rows  # the set's name beside its id
    rows[broken.short_id] = rows.pop(f"{broken.short_id} · to be damaged")
    assert rows[broken.short_id] == "DAMAGED: member file 03-folder.enc is missing"
    assert rows[complete.short_id].startswith("complete")
    assert "main (database), results (database), vault (folder)" in sets.table.item(
        [r for r in range(2) if sets.table.item(r, 1).text() == complete.short_id][0], 3).text()
    restore = window.controller.actions["restore"]

    sets.table.selectRow([r for r in range(2) if sets.table.item(r, 1).text().startswith(broken.short_id)][0])
    assert window.browser.selected_set().folder == broken.folder and window.selected_backup() is None
    assert not restore.isEnabled() and "never restored" in sets.status.text()
    sets.table.doubleClicked.emit(sets.table.currentIndex())
    assert window.controller.wizard is None  # not offered

    sets.table.selectRow([r for r in range(2) if sets.table.item(r, 1).text() == complete.short_id][0])
    assert restore.isEnabled()
    restore.trigger()
    wizard = window.controller.wizard
    assert isinstance(wizard, RestoreWizard)
    page = wizard.backup_page
    qtbot.waitUntil(lambda: page.table.rowCount() == 2 and not page.loading and not page.looking_up, timeout=WAIT)
    assert page.selected_set().folder == complete.folder and page.profile_combo.currentData() == "records"
    wizard.close()
    window.runner.cancel_all()
    qtbot.waitUntil(lambda: not window.runner.running and not wizard.busy, timeout=WAIT)


def test_set_pages_render_for_docs_and_every_control_is_named(qtbot, console):
    wizard = RestoreWizard(console)
    qtbot.addWidget(wizard)
    pages = set_screenshot_pages(wizard)
    assert [name for name, _ in pages] == ["restore_set_members", "restore_set_preflight", "restore_set_vault"]
    for name, page in pages:
        assert not page.grab().isNull()
        for control in interactive_controls(page):
            assert control.accessibleName(), f"{name}: {type(control).__name__} {getattr(control, 'text', str)()!r}"
    assert [m.name for m in wizard.set_members_page.plan.members] == ["main", "results", "vault"]
    assert wizard.set_preflight_page.ready and "Refused, nothing written for it: link to etc" in \
        wizard.set_run_page.status.text()
    table = wizard.set_members_page.table  # a member is unticked from the keyboard too
    table.setFocus()
    table.setCurrentCell(1, 0)
    qtbot.keyClick(table, Qt.Key.Key_Space)
    assert wizard.set_members_page.chosen() == ["main", "vault"]
    assert "left as they are: results" in wizard.set_members_page.status.text()
    assert [t for t, _ in wizard.screenshot_pages()][-1] == "Restore complete"  # the set pages are not in that list
