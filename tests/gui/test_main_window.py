"""The main window driven like a user would: real clicks and keys, a real local target, real PostgreSQL.

Run with QT_QPA_PLATFORM=offscreen. The instance secret comes from a monkeypatched
`console.profiles.instance_secret` (the CI keyring may be locked in GUI tests) or is typed into
the password prompt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QSettings, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialogButtonBox,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QScrollBar,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.target_health import TargetHealth
from recovery_console.models.profile import ConnectionMode, InstanceSecret
from recovery_console.models.target import TargetConfig
from recovery_console.ui import theme
from recovery_console.ui.app import create_main_window
from recovery_console.ui.backup_table import COL_CREATED, COL_SIZE, COL_TARGET, COL_VERIFY
from recovery_console.ui.dialogs.verify import PASSED_FOLDER, verdict_for
from recovery_console.ui.jobs import Job
from recovery_console.ui.main_window import MainWindow
from recovery_console.ui.window_state import settings_path
from tests.fixtures.console import DATA, FAST_ITERATIONS, SECRET

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
JOB_TIMEOUT = 60_000


# ------------------------------------------------------------------------------------ helpers


def settle(qtbot, window: MainWindow, timeout: int = JOB_TIMEOUT) -> None:
    """Wait until every job of the window has finished and its signals were delivered."""
    qtbot.waitUntil(lambda: not window.runner.running, timeout=timeout)


def tool_button(window: MainWindow, key: str) -> QWidget:
    button = window.toolbar.widgetForAction(window.controller.actions[key])
    assert button is not None and button.isEnabled(), f"toolbar button {key} is missing or disabled"
    return button


def click(qtbot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_list_item(qtbot, view: QListWidget, text: str) -> None:
    items = view.findItems(text, Qt.MatchFlag.MatchExactly)
    assert items, f"{text!r} is not in {view.accessibleName()}"
    rect = view.visualItemRect(items[0])
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert items[0].isSelected()


def click_row(qtbot, window: MainWindow, row: int) -> None:
    index = window.browser.proxy.index(row, COL_SIZE)
    rect = window.browser.table.visualRect(index)
    qtbot.mouseClick(window.browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.selected_backup() is not None


def dialog_button(box: QMessageBox, text: str) -> QAbstractButton:
    for button in box.buttons():
        if button.text().replace("&", "") == text:
            return button
    raise AssertionError(f"no button {text!r} in {[b.text() for b in box.buttons()]}")


def type_text(qtbot, widget: QWidget, text: str) -> None:
    """Key presses for every character (QTest only types ASCII, so others go as text key events)."""
    for char in text:
        if char.isascii():
            qtbot.keyClicks(widget, char)
        else:
            for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                QApplication.sendEvent(widget, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))


def answer_input(qtbot, dialog, text: str) -> None:
    """Type into a QInputDialog and press its OK button."""
    qtbot.waitUntil(dialog.isVisible)
    line = dialog.findChild(QLineEdit)
    line.clear()
    type_text(qtbot, line, text)
    assert line.text() == text
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    click(qtbot, ok)


def out_of_band_backup(folder: Path, tmp_path: Path, source: Path = DATA / "sample-pg15.dump", **kwargs):
    """A backup written by another console (its own home and catalog) into the same target folder."""
    other = Console(AppPaths(config_dir=tmp_path / f"other-{uuid.uuid4().hex[:6]}" / "config",
                             data_dir=tmp_path / f"other-{uuid.uuid4().hex[:6]}" / "data"))
    with open(source, "rb") as stream:
        return other.create_backup(stream, str(folder), SECRET, iterations=FAST_ITERATIONS,
                                   source_name=source.name, **kwargs)


@pytest.fixture
def target_folder(console, local_target) -> Path:
    return Path(console.targets.load()[local_target].options["path"])


@pytest.fixture
def open_window(qtbot, console):
    """`open_window(profile=None) -> MainWindow`, shown, with its first refresh done."""
    windows: list[MainWindow] = []

    def open_(profile: str | None = None) -> MainWindow:
        window = create_main_window(console, profile)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):  # the first listing
            window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)  # so that shortcuts reach it
        settle(qtbot, window)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.runner.cancel_all()
        qtbot.waitUntil(lambda w=window: not w.runner.running, timeout=JOB_TIMEOUT)
        for dialog in list(window.dialogs):
            dialog.close()


@pytest.fixture
def secret_profile(console, local_target, monkeypatch):
    """A profile 'prod' on the local target whose keyring secret is the test secret (no real PostgreSQL)."""
    console.profiles.create("prod", "postgresql://postgres@127.0.0.1:1/prod", target=local_target)
    monkeypatch.setattr(console.profiles, "instance_secret", lambda name: SECRET)
    return "prod"


# ------------------------------------------------------------------------------------ browser


def test_refresh_lists_backups_made_out_of_band(qtbot, open_window, target_folder, tmp_path):
    window = open_window()
    assert window.browser.model.rowCount() == 0
    assert "No backups yet" in window.browser.empty_label.text()

    first = out_of_band_backup(target_folder, tmp_path, description="one")
    second = out_of_band_backup(target_folder, tmp_path, source=DATA / "sample-pg17.dump", mode="scheduled")
    assert window.browser.model.rowCount() == 0  # nothing changes until Refresh

    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT) as refreshed:
        click(qtbot, tool_button(window, "refresh"))
    assert refreshed.args == [2]
    records = {window.browser.model.record(r).short_id: window.browser.model.record(r) for r in range(2)}
    assert set(records) == {first.short_id, second.short_id}
    assert records[second.short_id].mode == "scheduled"
    assert window.browser.count_label.text() == "2 backups"
    displayed = [window.browser.proxy.index(r, c).data() for r in range(2) for c in (COL_TARGET, COL_VERIFY)]
    assert displayed.count("vault") == 2 and displayed.count("never") == 2

    # filtering by free text, then by target
    qtbot.keyClicks(window.browser.filter_edit, "scheduled")
    assert window.browser.proxy.rowCount() == 1
    assert window.browser.proxy.record(window.browser.proxy.index(0, 0)).short_id == second.short_id
    assert window.browser.count_label.text() == "1 of 2 backups"
    window.browser.filter_edit.clear()
    qtbot.keyClicks(window.browser.filter_edit, "no such thing")
    assert window.browser.proxy.rowCount() == 0 and "No backup matches" in window.browser.empty_label.text()
    window.browser.filter_edit.clear()
    assert window.browser.proxy.rowCount() == 2

    # sorting by a column header: newest first by default, then by size
    created = [window.browser.proxy.index(r, COL_CREATED).data(Qt.ItemDataRole.UserRole) for r in range(2)]
    assert created == sorted(created, reverse=True)
    header = window.browser.table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(COL_SIZE) + 10, header.height() // 2))
    assert header.sortIndicatorSection() == COL_SIZE
    sizes = [window.browser.proxy.index(r, COL_SIZE).data(Qt.ItemDataRole.UserRole) for r in range(2)]
    assert sizes == sorted(sizes, reverse=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder)

    # a backup removed from storage out of band disappears on the next refresh
    (target_folder / first.key).unlink()
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT) as refreshed:
        qtbot.keyClick(window.browser.table, Qt.Key.Key_F5)
    assert refreshed.args == [1]


def test_unreachable_target_is_reported_and_the_rest_listed(qtbot, console, open_window, target_folder, tmp_path,
                                                            make_backup):
    make_backup()
    console.add_target(TargetConfig(name="gone", kind="local", options={"path": str(tmp_path / "missing")}))
    window = open_window()
    assert window.browser.model.rowCount() == 1
    assert window.error_dialog is not None and window.error_dialog.isVisible()
    assert "gone" in window.error_dialog.windowTitle()
    assert window.error_dialog.detailedText() == "" or "Traceback" not in window.error_dialog.text()
    window.error_dialog.close()


def test_details_pane_decrypts_metadata_and_lists_contents_after_asking_for_the_secret(
        qtbot, open_window, target_folder, tmp_path):
    made = out_of_band_backup(target_folder, tmp_path, description="for the details pane")
    window = open_window()
    click_row(qtbot, window, 0)
    pane = window.details
    assert pane.file_labels["id"].text() == made.short_id  # only the name is known so far
    assert pane.meta_labels["description"].text() == ""
    assert "Not decrypted" in pane.meta_status.text()

    click(qtbot, pane.metadata_button)  # no profile: the secret is asked for
    prompt = window.secrets.prompt
    assert prompt is not None and prompt.textEchoMode() == QLineEdit.EchoMode.Password
    with qtbot.waitSignal(pane.metadata_loaded, timeout=JOB_TIMEOUT):
        answer_input(qtbot, prompt, SECRET)
    assert pane.meta_labels["description"].text() == "for the details pane"
    assert pane.meta_labels["backup_id"].text() == made.backup_id
    settle(qtbot, window)
    assert window.selected_backup().metadata is not None  # the catalog kept it; the selection survived

    with qtbot.waitSignal(pane.contents_loaded, timeout=JOB_TIMEOUT):
        click(qtbot, pane.contents_button)  # the typed secret is remembered for the session
    assert pane.toc_view.isVisible()
    descs = {pane.toc_model.index(r, 2).data() for r in range(pane.toc_model.rowCount())}
    assert {"TABLE", "TABLE DATA"} <= descs
    assert "entries" in pane.contents_status.text()


def test_wrong_typed_secret_shows_the_error_and_asks_again(qtbot, open_window, target_folder, tmp_path):
    out_of_band_backup(target_folder, tmp_path)
    window = open_window()
    click_row(qtbot, window, 0)
    click(qtbot, window.details.metadata_button)
    with qtbot.waitSignal(window.details.failed, timeout=JOB_TIMEOUT) as failed:
        answer_input(qtbot, window.secrets.prompt, "not the secret")
    assert type(failed.args[0]).__name__ == "WrongKeyError"
    box = window.details.error_dialog
    assert box.isVisible() and "Traceback" not in box.text()
    box.close()
    assert not window.secrets.has_secret("vault")  # forgotten: the next attempt asks again
    click(qtbot, window.details.metadata_button)
    assert window.secrets.prompt is not None
    window.secrets.prompt.reject()


# ------------------------------------------------------------------------------------ create backup


def test_create_backup_from_a_real_database_through_the_toolbar(qtbot, console, local_target, pg15,
                                                                sample_database, monkeypatch, open_window):
    database = sample_database(pg15, f"gui_{uuid.uuid4().hex[:8]}")
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    monkeypatch.setattr(console.profiles, "newest_secret", lambda name: (InstanceSecret("test", "test secret"), SECRET))
    window = open_window()
    click_list_item(qtbot, window.sidebar.profiles_list, "prod")
    assert window.selected_target() == local_target  # the profile's target is shown

    click(qtbot, tool_button(window, "create"))
    dialog = window.controller.backups.description_dialog
    assert dialog is not None
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=120_000):
        answer_input(qtbot, dialog, "before the upgrade")
    settle(qtbot, window, timeout=120_000)
    assert window.browser.model.rowCount() == 1
    record = window.browser.model.record(0)
    assert record.metadata.description == "before the upgrade"
    assert record.metadata.database == database and record.metadata.source == "pg_dump"
    assert window.selected_backup().key == record.key  # the new backup is selected
    assert window.details.meta_labels["database"].text() == database
    result = console.verify(console.locate(record.short_id), SECRET)
    assert result.object_counts["TABLE"] == 7


def test_create_backup_from_a_dump_file_without_a_profile(qtbot, open_window, local_target, monkeypatch):
    window = open_window()
    monkeypatch.setattr("recovery_console.ui.backup_actions.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(DATA / "sample-pg16.dump"), ""))
    click(qtbot, tool_button(window, "create"))
    answer_input(qtbot, window.controller.backups.description_dialog, "from a file")
    answer_input(qtbot, window.secrets.prompt, SECRET)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 1, timeout=JOB_TIMEOUT)
    record = window.browser.model.record(0)
    assert record.metadata.source_name == "sample-pg16.dump" and record.metadata.description == "from a file"


# ------------------------------------------------------------------------------------ verify, delete


def test_verify_action_passes_and_then_fails_on_a_tampered_file(qtbot, open_window, secret_profile, make_backup,
                                                                target_folder):
    record = make_backup()
    window = open_window()
    click_row(qtbot, window, 0)
    qtbot.keyClick(window.browser.table, Qt.Key.Key_V,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.controller.verify_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(dialog.verified, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    assert dialog.verdict.text() == "PASSED: this backup is whole and restorable"
    qtbot.waitUntil(lambda: window.browser.model.record(0).verify_result == "ok", timeout=JOB_TIMEOUT)
    assert window.browser.proxy.index(0, COL_VERIFY).data().startswith("passed")
    dialog.close()

    path = target_folder / record.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    click(qtbot, tool_button(window, "verify"))
    dialog = window.controller.verify_dialog
    with qtbot.waitSignal(dialog.verify_failed, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.start_button)
    assert dialog.verdict.text().startswith("FAILED: ")
    assert dialog.verdict.objectName() == "verdictFailed"
    assert dialog.advice.text().startswith("What to do next:")
    qtbot.waitUntil(lambda: window.browser.model.record(0).verify_result == "failed", timeout=JOB_TIMEOUT)
    assert window.browser.proxy.index(0, COL_VERIFY).data().startswith("FAILED")
    assert window.details.file_labels["verify"].text().startswith("FAILED")


def test_delete_asks_and_removes(qtbot, open_window, make_backup, target_folder):
    keep = make_backup(description="keep me")
    gone = make_backup(description="delete me")
    window = open_window()
    row = next(r for r in range(2) if window.browser.proxy.record(window.browser.proxy.index(r, 0)).key == gone.key)
    click_row(qtbot, window, row)

    click(qtbot, tool_button(window, "delete"))
    box = window.controller.backups.confirm_box
    assert box.isVisible() and gone.short_id in box.text() and "cannot be undone" in box.informativeText()
    click(qtbot, dialog_button(box, "Keep it"))  # the safe answer is the default
    settle(qtbot, window)
    assert (target_folder / gone.key).exists() and window.browser.model.rowCount() == 2

    click(qtbot, tool_button(window, "delete"))
    box = window.controller.backups.confirm_box
    assert box.defaultButton().text().replace("&", "") == "Keep it"
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT) as refreshed:
        click(qtbot, dialog_button(box, "Delete backup"))
    assert refreshed.args == [1]
    assert not (target_folder / gone.key).exists()
    assert not (target_folder / (gone.key + ".sha256")).exists()
    assert (target_folder / keep.key).exists()
    assert window.browser.model.record(0).key == keep.key


# ------------------------------------------------------------------------------------ download, upload, targets


def test_download_upload_and_target_badges(qtbot, console, open_window, secret_profile, make_backup, tmp_path,
                                           monkeypatch):
    record = make_backup()
    assert console.health.badge("vault") == "green"  # writing the backup proved the target works
    second = tmp_path / "second-target"
    second.mkdir()
    console.add_target(TargetConfig(name="offsite", kind="local", options={"path": str(second)}))
    window = open_window()  # its first listing is a check of both targets
    health = TargetHealth(console.paths.data_dir)
    hours_ago = datetime.now(UTC) - timedelta(hours=3)
    health.record("vault", True, "backup upload ok", now=hours_ago)
    health.record("offsite", True, "checked long ago", now=hours_ago)
    window.refresh_badges()
    assert window.sidebar.badge("vault") == "amber" and window.sidebar.badge("offsite") == "amber"

    # Test target: a real round trip on the local target turns its badge green
    click_list_item(qtbot, window.sidebar.targets_list, "vault")
    click(qtbot, window.sidebar.test_button)
    settle(qtbot, window)
    assert window.sidebar.badge("vault") == "green"
    assert "passed" in window.sidebar.target_item("vault").toolTip()

    # Download into a folder
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    monkeypatch.setattr("recovery_console.ui.backup_actions.QFileDialog.getExistingDirectory",
                        lambda *a, **k: str(downloads))
    click_row(qtbot, window, 0)
    click(qtbot, tool_button(window, "download"))
    settle(qtbot, window)
    copy = downloads / record.file_name
    assert copy.is_file() and (downloads / (record.file_name + ".sha256")).is_file()
    assert "Downloaded" in window.statusBar().currentMessage()

    # Upload the copy to the second target
    monkeypatch.setattr("recovery_console.ui.backup_actions.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(copy), ""))
    click_list_item(qtbot, window.sidebar.targets_list, "offsite")
    window.secrets.remember(SECRET, "offsite")
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        click(qtbot, tool_button(window, "upload"))
    settle(qtbot, window)
    assert (second / record.key).is_file()
    assert window.sidebar.badge("offsite") == "green"
    click_list_item(qtbot, window.sidebar.targets_list, "All targets")
    assert window.browser.proxy.rowCount() == 2

    # A failing round trip turns the badge red: the target's folder is replaced by a file
    shutil.rmtree(second)
    second.write_text("not a folder")
    click_list_item(qtbot, window.sidebar.targets_list, "offsite")
    click(qtbot, window.sidebar.test_button)
    settle(qtbot, window)
    assert window.sidebar.badge("offsite") == "red"
    assert window.error_dialog is not None and "offsite" in window.error_dialog.text()
    window.error_dialog.close()


def test_upload_imports_a_pg_dump_archive_and_a_vault_tar(qtbot, console, open_window, secret_profile, target_folder,
                                                         tmp_path, monkeypatch):
    """The window's Upload takes what `backup upload` takes: a plain pg_dump archive, a vault's tar, by one engine
    call; a file it cannot import shows the engine's reason."""
    vault = tmp_path / "vault"
    (vault / "empty").mkdir(parents=True)
    (vault / "ça.txt").write_text("ok", "utf-8")
    tar = tmp_path / "vault.tar.gz"
    subprocess.run(["tar", "-czf", str(tar), "-C", str(vault), "."], check=True)
    sql = tmp_path / "plain.sql"
    sql.write_text("--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\n", "utf-8")
    window = open_window()
    chosen: list[Path] = []
    monkeypatch.setattr("recovery_console.ui.backup_actions.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(chosen[-1]), ""))
    for path in (DATA / "sample-pg15.dump", tar):
        chosen.append(path)
        with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
            click(qtbot, tool_button(window, "upload"))
        settle(qtbot, window)
    kinds = sorted(r.metadata.kind for r in console.catalog.records() if r.metadata)
    assert kinds == ["database", "folder"] and window.browser.proxy.rowCount() == 2
    folder = next(r for r in console.catalog.records() if r.metadata and r.metadata.kind == "folder")
    assert verdict_for(console.verify(console.locate(folder.short_id), SECRET))[0] == PASSED_FOLDER
    chosen.append(sql)
    click(qtbot, tool_button(window, "upload"))
    settle(qtbot, window)
    assert window.error_dialog is not None and "plain-SQL dump" in window.error_dialog.text()
    window.error_dialog.close()
    assert len(console.catalog.records()) == 2


def test_target_health_store(tmp_path):
    health = TargetHealth(tmp_path)
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert health.badge("t", now) == "unknown"
    health.record("t", True, "round trip ok", now=now - timedelta(minutes=2))
    assert health.badge("t", now) == "green"
    assert health.badge("t", now + timedelta(minutes=4)) == "amber"
    assert health.badge("t", now + timedelta(hours=23)) == "amber"
    assert health.badge("t", now + timedelta(days=1)) == "red"
    health.record("t", False, "write failed", now=now)
    assert health.badge("t", now) == "red"
    again = TargetHealth(tmp_path)  # persisted as JSON in the data folder
    assert again.get("t").message == "write failed" and not again.get("t").ok
    assert json.loads((tmp_path / "target_health.json").read_text())["t"]["ok"] is False
    (tmp_path / "target_health.json").write_text("{broken")
    assert TargetHealth(tmp_path).badge("t", now) == "unknown"  # a damaged file costs only the badges


# ------------------------------------------------------------------------------------ audit


def test_audit_view_shows_entries_and_the_chain_verifies(qtbot, console, open_window, make_backup):
    make_backup()
    window = open_window()
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        window.controller.refresh()
    click(qtbot, tool_button(window, "audit"))
    view = window.controller.audit_view
    qtbot.waitUntil(lambda: view.model.rowCount() >= 2, timeout=JOB_TIMEOUT)
    actions = {view.model.index(r, 2).data() for r in range(view.model.rowCount())}
    assert {"target.add", "backup.create"} <= actions
    who = view.model.index(0, 1).data()
    assert "@" in who
    assert view.proxy.index(0, 4).data() == "ok"

    with qtbot.waitSignal(view.chain_checked, timeout=JOB_TIMEOUT) as checked:
        click(qtbot, view.verify_button)
    assert checked.args[0].ok
    assert view.chain_label.text().startswith("Chain intact") and view.chain_label.objectName() == "chainIntact"

    qtbot.keyClicks(view.filter_edit, "backup.create")
    assert view.proxy.rowCount() == 1

    lines = console.audit.path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"ok"', '"failed"')
    console.audit.path.write_text("".join(lines))
    with qtbot.waitSignal(view.chain_checked, timeout=JOB_TIMEOUT) as checked:
        click(qtbot, view.verify_button)
    assert not checked.args[0].ok
    assert view.chain_label.text().startswith("Chain BROKEN") and view.chain_label.objectName() == "chainBroken"
    view.close()


# ------------------------------------------------------------------------------------ blocking, closing, state


def test_set_blocking_disables_actions_and_covers_the_window(qtbot, open_window, make_backup):
    make_backup()
    window = open_window()
    click_row(qtbot, window, 0)
    assert window.controller.actions["verify"].isEnabled()

    with qtbot.waitSignal(window.blocking_changed) as changed:
        window.set_blocking(True, "Restoring prod from backup 1234abcd…")
    assert changed.args == [True] and window.blocking
    assert all(not action.isEnabled() for action in window.controller.actions.values())
    assert window.overlay.isVisible()
    assert window.overlay.geometry() == window.centralWidget().rect()
    assert "Restoring prod" in window.overlay.label.text()
    assert not window.splitter.isEnabled()
    window.browser.table.clearSelection()
    pos = window.browser.table.visualRect(window.browser.proxy.index(0, COL_SIZE)).center()
    qtbot.mouseClick(window.browser.table.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert window.selected_backup() is None  # the click never reached the table
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert not window.runner.running  # nor did the shortcut

    window.set_blocking(False)
    assert not window.overlay.isVisible() and window.splitter.isEnabled()
    assert window.controller.actions["refresh"].isEnabled() and window.controller.actions["create"].isEnabled()
    assert not window.controller.actions["verify"].isEnabled()  # nothing selected now
    click_row(qtbot, window, 0)
    assert window.controller.actions["verify"].isEnabled()


def test_closing_with_a_running_job_asks_and_cancels_cleanly(qtbot, open_window):
    window = open_window()
    seen = []

    def endless(reporter):
        while True:
            reporter.check()
            time.sleep(0.01)

    job = Job("A long job", endless, key="vault")
    job.cancelled.connect(lambda: seen.append("cancelled"))
    window.submit(job, "A long job")
    qtbot.waitUntil(lambda: bool(window.runner.running))

    window.close()
    box = window.close_box
    assert box is not None and box.isVisible() and "A long job" in box.text()
    click(qtbot, dialog_button(box, "Keep the window open"))
    assert window.isVisible() and window.runner.running

    window.close()
    click(qtbot, dialog_button(window.close_box, "Cancel jobs and close"))
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=JOB_TIMEOUT)
    assert seen == ["cancelled"] and not window.runner.running


def test_window_state_is_remembered(qtbot, console, open_window):
    window = open_window()
    window.resize(777, 555)  # the offscreen screen is 800 x 800
    window.splitter.setSizes([200, 300, 250])
    window.browser.table.sortByColumn(COL_SIZE, Qt.SortOrder.AscendingOrder)
    sizes = window.splitter.sizes()
    window.close()
    assert not window.isVisible()
    ini = settings_path(console)
    assert ini.is_file() and ini.parent == console.paths.config_dir
    assert QSettings(str(ini), QSettings.Format.IniFormat).value("geometry") is not None

    again = open_window()
    assert (again.width(), again.height()) == (777, 555)
    assert again.splitter.sizes() == sizes
    header = again.browser.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (COL_SIZE, Qt.SortOrder.AscendingOrder)


def test_profile_option_selects_the_profile_and_unknown_one_is_explained(qtbot, secret_profile, open_window):
    window = open_window(profile="prod")
    assert window.selected_profile() == "prod" and window.selected_target() == "vault"
    other = open_window(profile="nope")
    qtbot.waitUntil(lambda: other.error_dialog is not None and other.error_dialog.isVisible())
    assert "nope" in other.error_dialog.text()
    other.error_dialog.close()


def test_restore_wizard_opens_on_the_selected_backup_and_profile(qtbot, secret_profile, open_window, make_backup):
    from recovery_console.ui.wizards.restore import RestoreWizard

    make_backup()
    window = open_window(profile="prod")
    click_row(qtbot, window, 0)
    click(qtbot, tool_button(window, "restore"))
    wizard = window.controller.wizard
    assert isinstance(wizard, RestoreWizard) and wizard.isVisible()
    assert wizard.console is window.console and wizard.parent() is window
    assert wizard.backup_ref.key == window.selected_backup().key and wizard.profile_name == "prod"
    wizard.cancel_jobs()
    wizard.close()


# ------------------------------------------------------------------------------------ accessibility, style, app


def test_every_interactive_control_is_named_and_reachable_by_keyboard(qtbot, open_window, make_backup):
    make_backup()
    window = open_window()
    unnamed = [
        f"{type(w).__name__} {w.objectName()!r}"
        for w in window.findChildren(QWidget)
        if w.isVisibleTo(window) and w.focusPolicy() != Qt.FocusPolicy.NoFocus and not w.accessibleName()
        and not isinstance(w, QScrollBar) and w.parent() is not None
        and type(w).__name__ not in ("QWidget", "QHeaderView", "QSplitterHandle", "QToolBarExtension")
        and not (w.parentWidget() and w.parentWidget().accessibleName() and type(w).__name__ == "QLineEdit")
    ]
    assert unnamed == []

    window.sidebar.profiles_list.setFocus()
    chain = []
    for _ in range(12):
        chain.append(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    sidebar = window.sidebar
    order = [sidebar.profiles_list, sidebar.new_profile_button, sidebar.targets_list, sidebar.test_button,
             window.browser.filter_edit, window.browser.table]
    positions = [chain.index(w) for w in order]
    assert positions == sorted(positions)

    # mnemonics and shortcuts: Alt+L jumps to the filter, Ctrl+F too
    window.browser.table.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is window.browser.filter_edit
    menus = [a.text() for a in window.menuBar().actions()]
    assert all("&" in text for text in menus)
    assert all("&" in a.text() for a in window.controller.actions.values())


def test_style_follows_the_palette_and_icons_load(qapp):
    from PySide6.QtGui import QColor, QPalette

    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    light = QPalette()
    light.setColor(QPalette.ColorRole.Window, QColor("#f0f0f0"))
    assert theme.is_dark(dark) and not theme.is_dark(light)
    assert theme.apply(qapp) in ("light", "dark")
    assert "verdictPassed" in qapp.styleSheet()
    for name in theme.ICON_NAMES:
        assert theme.icon_path(name).is_file()
        assert not theme.icon(name).pixmap(24, 24).isNull(), name
    assert theme.stylesheet("dark") != theme.stylesheet("light")


def test_app_runs_and_quits_in_a_fresh_process(tmp_path):
    script = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from recovery_console.ui import app\n"
        "def close():\n"
        "    # Once the window is up and its start-up jobs are done: closing while a job runs asks first.\n"
        "    for w in QApplication.topLevelWidgets():\n"
        "        if type(w).__name__ == 'MainWindow' and w.isVisible() and not w.runner.running:\n"
        "            print('window', w.isVisible(), w.windowTitle(), flush=True)\n"
        "            w.close()\n"
        "            return\n"
        "    QTimer.singleShot(100, close)\n"
        "app.application()\n"
        "QTimer.singleShot(500, close)\n"
        "sys.exit(app.run())\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RECOVERY_CONSOLE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90, env=env,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "window True Recovery Console" in proc.stdout
    assert (tmp_path / "config" / "gui.ini").is_file()


def test_details_pane_lists_a_folder_backups_files_as_contents(qtbot, open_window, console, local_target, tmp_path):
    vault = tmp_path / "vault"
    (vault / "Anhänge").mkdir(parents=True)
    (vault / "Anhänge" / "rechnung.pdf").write_bytes(b"%PDF invoice")
    tar = tmp_path / "nightly.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(vault), "."], check=True)
    console.upload(tar, local_target, SECRET)
    window = open_window()
    click_row(qtbot, window, 0)
    pane = window.details
    click(qtbot, pane.contents_button)
    answer_input(qtbot, window.secrets.prompt, SECRET)
    qtbot.waitUntil(pane.files_view.isVisible, timeout=JOB_TIMEOUT)
    lines = pane.files_view.text().splitlines()
    assert any(line.startswith("-rw") and line.endswith("./Anhänge/rechnung.pdf") for line in lines)
    assert "Folder backup (a vault's tar): 3 members" in pane.contents_status.text()
    assert not pane.toc_view.isVisible() and pane.error_dialog is None


def test_a_folder_backup_of_many_files_lists_the_first_and_counts_the_rest(qtbot, open_window):
    from recovery_console.engine.folder_backup import FolderListing
    from recovery_console.ui.views.details_pane import FILES_SHOWN

    members = [tarfile.TarInfo(f"file-{i:05d}") for i in range(FILES_SHOWN + 5)]
    window = open_window()
    window.details._show_files(FolderListing(members, total=FILES_SHOWN + 5))
    lines = window.details.files_view.text().splitlines()
    assert len(lines) == FILES_SHOWN + 1 and lines[FILES_SHOWN - 1].endswith(f"file-{FILES_SHOWN - 1:05d}")
    assert lines[-1] == "… and 5 more: Extract… (Ctrl+E) writes them all."
