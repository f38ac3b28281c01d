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
