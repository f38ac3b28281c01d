"""The desktop console's actions on recovery sets (#18), against a real PostgreSQL 15 and real local targets: a set
profile backed up in one click (and cancelled), a selected set verified, pinned (its delete refused), copied,
downloaded and deleted; a damaged set offered only verify and delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialogButtonBox, QLineEdit

from recovery_console.engine.sets.set_catalog import DAMAGED
from recovery_console.engine.sets.set_listing import list_sets, verify_set
from recovery_console.engine.sets.set_naming import MANIFEST_NAME
from recovery_console.models.profile import InstanceSecret
from recovery_console.models.target import TargetConfig
from recovery_console.ui.views.set_list import COLUMNS
from tests.fixtures.console import SECRET
from tests.gui.test_main_window import (  # noqa: F401 - the fixture
    JOB_TIMEOUT,
    answer_input,
    click,
    click_list_item,
    open_window,
    settle,
    tool_button,
)
from tests.gui.test_restore_set_wizard import made_set  # noqa: F401 - the fixture

pytestmark = [pytest.mark.gui, pytest.mark.integration]
STATE = COLUMNS.index("State")


@pytest.fixture
def window(qtbot, console, made_set, open_window, monkeypatch, tmp_path):  # noqa: F811
    """The main window over made_set's set on the local target, with a second local target 'spare'."""
    monkeypatch.setattr(console.profiles, "instance_secret", lambda name: SECRET)
    monkeypatch.setattr(console.profiles, "newest_secret", lambda name: (InstanceSecret("test", "test secret"), SECRET))
    (tmp_path / "spare").mkdir()
    console.add_target(TargetConfig(name="spare", kind="local", options={"path": str(tmp_path / "spare")}))
    opened = open_window()
    opened.said = []
    opened.statusBar().messageChanged.connect(opened.said.append)
    return opened


def select_set(qtbot, window, row: int = 0):
    sets = window.browser.sets
    qtbot.waitUntil(lambda: sets.table.rowCount() > row, timeout=JOB_TIMEOUT)
    rect = sets.table.visualRect(sets.table.model().index(row, COLUMNS.index("Size")))
    qtbot.mouseClick(sets.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    chosen = window.browser.selected_set()
    assert chosen is not None and window.selected_backup() is None
    return chosen


def target_path(console, name: str) -> Path:
    return Path(console.targets.get(name).options["path"])


def state_of(window, row: int = 0) -> str:
    return window.browser.sets.table.item(row, STATE).text()


def typed_ok(dialog):
    return dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)


def test_a_set_profile_is_backed_up_in_one_click_and_a_cancelled_one_leaves_nothing(
        qtbot, console, made_set, window, local_target):  # noqa: F811
    folder = target_path(console, local_target) / "sets"
    before = sorted(p.name for p in folder.iterdir())
    click_list_item(qtbot, window.sidebar.profiles_list, "records")
    assert window.controller.actions["create"].text() == "&Back up records now…"

    click(qtbot, tool_button(window, "create"))
    dialog = window.controller.backups.description_dialog
    assert dialog.windowTitle() == "Back up recovery set records now"
    answer_input(qtbot, dialog, "before the migration")
    qtbot.waitUntil(lambda: any(j.name == "Backing up set records" for j in window.runner.running),
                    timeout=JOB_TIMEOUT)
    job = next(j for j in window.runner.running if j.name == "Backing up set records")
    with qtbot.waitSignal(job.cancelled, timeout=120_000):
        job.cancel()  # as the progress panel's Cancel does
    assert window.statusBar().currentMessage() == "Backing up recovery set records: cancelled."
    settle(qtbot, window)
    left = {p.name: sorted(c.name for c in p.rglob("*")) for p in folder.iterdir() if p.name not in before}
    assert all(files == [] for files in left.values()), left  # no file of the cancelled set is left
    assert [r.folder for r in list_sets(console)[0]] == [made_set["record"].folder]  # nor is it listed

    click(qtbot, tool_button(window, "create"))
    answer_input(qtbot, window.controller.backups.description_dialog, "before the migration")
    settle(qtbot, window, timeout=120_000)
    settle(qtbot, window)
    assert any(m.startswith("Recovery set ") and ": 3 members" in m for m in window.said), window.said
    made = [r for r in list_sets(console)[0] if r.folder != made_set["record"].folder]
    assert len(made) == 1 and made[0].manifest.description == "before the migration"
    assert [m.name for m in verify_set(console, made[0], SECRET).manifest.members] == ["main", "results", "vault"]
    settle(qtbot, window)
    assert window.browser.sets.table.rowCount() == 2  # the list shows the new set
    assert window.browser.count_label.text() == "0 backups, 2 recovery sets"
    assert window.browser.empty_label.text() == "No single backups here; the recovery sets are listed below."
    assert "0 backups and 2 recovery sets listed." in window.said  # not "0 backups listed." over two sets


def test_verify_pin_refused_delete_unpin_and_delete_of_a_selected_set(
        qtbot, console, made_set, window, local_target):  # noqa: F811
    actions = window.set_actions.actions
    assert not any(a.isEnabled() for a in actions.values())  # nothing selected
    record = select_set(qtbot, window)
    assert record.folder == made_set["record"].folder
    assert [k for k, a in actions.items() if a.isEnabled()] == ["verify", "pin", "copy", "download", "delete"]
    assert all(a in window.browser.sets.table.actions() for a in actions.values())  # its context menu

    actions["verify"].trigger()
    settle(qtbot, window, timeout=120_000)
    assert any("passed: all 3 members (main, results, vault)" in m for m in window.said), window.said
    settle(qtbot, window)
    assert state_of(window).startswith("complete, verified ")

    actions["pin"].trigger()
    answer_input(qtbot, window.set_actions.dialog, "case 77")
    settle(qtbot, window)
    assert console.pins.get(local_target, record.folder).reason == "case 77"
    qtbot.waitUntil(lambda: state_of(window).endswith("· PINNED"), timeout=JOB_TIMEOUT)
    assert not actions["pin"].isEnabled() and actions["unpin"].isEnabled()

    manifest = target_path(console, local_target) / record.folder / MANIFEST_NAME
    actions["delete"].trigger()
    dialog = window.set_actions.dialog
    qtbot.waitUntil(dialog.isVisible)
    line = dialog.findChild(QLineEdit)
    qtbot.keyClicks(line, record.short_id[:-1])
    assert not typed_ok(dialog).isEnabled()  # only the whole id deletes
    qtbot.keyClicks(line, record.short_id[-1])
    click(qtbot, typed_ok(dialog))
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.error_dialog is not None and window.error_dialog.isVisible())
    assert "is pinned (legal hold: case 77); it cannot be deleted" in window.error_dialog.text()
    window.error_dialog.close()
    assert manifest.exists()

    select_set(qtbot, window)
    actions["unpin"].trigger()
    settle(qtbot, window)
    assert console.pins.get(local_target, record.folder) is None
    select_set(qtbot, window)
    actions["delete"].trigger()
    answer_input(qtbot, window.set_actions.dialog, record.short_id)
    settle(qtbot, window)
    assert not [p for p in (target_path(console, local_target) / record.folder).rglob("*")]  # no file left
    assert any(" deleted from " in m and "files)" in m for m in window.said), window.said
    qtbot.waitUntil(lambda: window.browser.sets.table.rowCount() == 0, timeout=JOB_TIMEOUT)
    assert list_sets(console)[0] == []


def test_copy_to_another_target_and_download_of_a_selected_set(
        qtbot, console, made_set, window, local_target, tmp_path):  # noqa: F811
    actions = window.set_actions.actions
    record = select_set(qtbot, window)
    actions["copy"].trigger()
    dialog = window.set_actions.dialog
    qtbot.waitUntil(dialog.isVisible)
    combo = dialog.findChild(QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == ["spare"]
    click(qtbot, typed_ok(dialog))
    settle(qtbot, window, timeout=120_000)
    assert any("copied to spare and checked there" in m for m in window.said), window.said
    copied = [r for r in list_sets(console, ["spare"])[0]]
    assert [r.folder for r in copied] == [record.folder]
    assert verify_set(console, copied[0], SECRET).manifest.set_id == record.set_id
    qtbot.waitUntil(lambda: window.browser.sets.table.rowCount() == 2, timeout=JOB_TIMEOUT)

    out = tmp_path / "downloads"
    out.mkdir()
    window.set_actions.download(record, out)
    settle(qtbot, window, timeout=120_000)
    got = out / record.folder.rstrip("/").rsplit("/", 1)[-1]
    assert (got / MANIFEST_NAME).is_file()
    stored = sorted(p.name for p in (target_path(console, local_target) / record.folder).iterdir())
    assert sorted(p.name for p in got.iterdir() if not p.name.endswith(".sha256")) == \
        [n for n in stored if not n.endswith(".sha256")]
    assert any(f"downloaded to {got}" in m for m in window.said), window.said
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial folder left


def test_a_damaged_set_offers_only_verify_and_delete_and_its_verify_fails_in_the_error_dialog(
        qtbot, console, made_set, window, local_target):  # noqa: F811
    record = made_set["record"]
    member = record.manifest.members[1]
    (target_path(console, local_target) / record.folder / member.key).unlink()
    window.controller.refresh(sync=True)
    settle(qtbot, window)
    chosen = select_set(qtbot, window)
    assert chosen.state == DAMAGED
    actions = window.set_actions.actions
    assert [k for k, a in actions.items() if a.isEnabled()] == ["verify", "delete"]
    actions["verify"].trigger()
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.error_dialog is not None and window.error_dialog.isVisible())
    assert f"Member '{member.name}'" in window.error_dialog.text()
    window.error_dialog.close()


# ------------------------------------------------------------------ whole-set rollback in the restore history


@pytest.fixture
def set_restored(console, made_set, pg15):  # noqa: F811
    """made_set's set restored in place over changed members, as the restore wizard does it."""
    from recovery_console.engine.sets.set_restore import (
        open_set,
        plan_set_restore,
        preflight_set_restore,
        run_set_restore,
    )

    record, vault = made_set["record"], made_set["vault"]
    pg15.psql("DELETE FROM t WHERE id > 10", db=made_set["config"])
    pg15.psql("DELETE FROM t WHERE id > 20", db=made_set["results"])
    (vault / "data.bin").write_bytes(b"changed after the backup")
    plan = plan_set_restore(record, open_set(console, record, SECRET), "records", through={"results": "results-db"})
    done = run_set_restore(console, plan, preflight_set_restore(console, plan, SECRET), SECRET)
    assert done.error is None and done.recorded is not None
    assert pg15.psql("SELECT count(*) FROM t", db=made_set["config"]) == "300"
    assert (vault / "data.bin").read_bytes() != b"changed after the backup"
    return made_set


@pytest.fixture
def history_dialog(qtbot, console):
    from recovery_console.ui.dialogs.restore_history_dialog import RestoreHistoryDialog
    from recovery_console.ui.jobs import JobRunner

    dialog = RestoreHistoryDialog(console, JobRunner(), "records")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=JOB_TIMEOUT)
    yield dialog
    dialog.acting = False
    dialog.reject()


def _roll_back_whole_set(qtbot, dialog, short: str) -> None:
    panel = dialog.sets
    assert panel.isVisible() and panel.rollback_button.isEnabled()
    click(qtbot, panel.rollback_button)
    qtbot.waitUntil(lambda: dialog.set_rollback_box is not None and dialog.set_rollback_box.isVisible())
    box = dialog.set_rollback_box
    assert not typed_ok(box).isEnabled()
    answer_input(qtbot, box, short)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=120_000)


def test_the_history_lists_the_set_restore_and_rolls_the_whole_set_back(qtbot, console, set_restored, pg15,
                                                                       history_dialog):
    s, dialog = set_restored, history_dialog
    panel = dialog.sets
    short = s["record"].short_id
    assert panel.table.rowCount() == 1 and panel.table.item(0, 1).text() == short
    assert panel.table.item(0, 2).text() == "restored"
    members = panel.table.item(0, 3).text()
    assert f"main: database {s['config']} kept as " in members
    assert f"results: database {s['results']} kept as " in members
    assert f"vault: folder {s['vault']} kept as " in members

    _roll_back_whole_set(qtbot, dialog, short)
    assert dialog.error_dialog is None
    text = dialog.status.text()
    assert f"Set {short} is back as it was before its restore." in text
    assert "Rolled back now: main (the restored database kept as " in text and "vault (the restored folder set " \
        "aside as " in text and "results (" in text
    assert "The restored states are kept, not deleted" in text
    assert pg15.psql("SELECT count(*) FROM t", db=s["config"]) == "10"  # the state before the restore, live again
    assert pg15.psql("SELECT count(*) FROM t", db=s["results"]) == "20"
    assert (s["vault"] / "data.bin").read_bytes() == b"changed after the backup"
    assert panel.table.item(0, 2).text() == "rolled back"  # read again after the action
    assert not panel.rollback_button.isEnabled()


def test_a_busy_member_refuses_the_rollback_in_the_error_dialog_and_changes_nothing(qtbot, console, set_restored,
                                                                                   pg15, history_dialog):
    from recovery_console.engine.restore_preflight import lock_identity
    from recovery_console.engine.state.locks import database_lock

    s, dialog = set_restored, history_dialog
    results = console.profiles.store.load()["results-db"]
    with database_lock(console.paths, lock_identity(results, s["results"]), "backup", s["results"]):
        _roll_back_whole_set(qtbot, dialog, s["record"].short_id)
    qtbot.waitUntil(lambda: dialog.error_dialog is not None and dialog.error_dialog.isVisible())
    shown = dialog.error_dialog.text() + dialog.error_dialog.informativeText()
    assert "busy" in shown and s["results"] in shown, shown
    dialog.error_dialog.close()
    assert pg15.psql("SELECT count(*) FROM t", db=s["config"]) == "300"  # not even the free members rolled back
    assert (s["vault"] / "data.bin").read_bytes() != b"changed after the backup"
    assert dialog.sets.table.item(0, 2).text() == "restored" and dialog.sets.rollback_button.isEnabled()


def test_a_kept_folder_gone_refuses_the_rollback_in_the_error_dialog_and_changes_nothing(
        qtbot, console, set_restored, pg15, history_dialog, tmp_path):
    s, dialog = set_restored, history_dialog
    kept = next(m.kept for m in dialog.sets.selected().members if m.name == "vault")
    Path(kept).rename(tmp_path / "moved away")
    _roll_back_whole_set(qtbot, dialog, s["record"].short_id)
    qtbot.waitUntil(lambda: dialog.error_dialog is not None and dialog.error_dialog.isVisible())
    shown = dialog.error_dialog.text()
    assert "cannot be rolled back whole; nothing was changed" in shown and "member vault" in shown, shown
    assert "restore rollback" not in shown + dialog.error_dialog.informativeText()  # no CLI command in the window
    dialog.error_dialog.close()
    assert pg15.psql("SELECT count(*) FROM t", db=s["config"]) == "300"
    assert dialog.sets.table.item(0, 2).text() == "restored"
