"""Every end state says what is true now: verdicts, badges, status bar, progress, and what setup made.

Issue #15 ("Truthful state"). Run with QT_QPA_PLATFORM=offscreen; the window fixtures come from
test_main_window.py, the setup wizard's drivers from test_setup_wizard.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLineEdit, QWizard

from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.state.target_health import TargetHealth
from recovery_console.errors import DatabaseError
from recovery_console.ui.backup_table import CHANGED_SINCE, COL_VERIFY
from recovery_console.ui.jobs import Job, JobRunner
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.views.audit_view import result_color
from tests.fixtures.console import SECRET
from tests.gui import test_main_window
from tests.gui.test_main_window import JOB_TIMEOUT, click, click_list_item, click_row, settle, tool_button
from tests.gui.test_setup_wizard import click as wizard_click
from tests.gui.test_setup_wizard import finish, to_target_page, type_into

pytestmark = pytest.mark.gui

# the main window's fixtures, shared by name
open_window = test_main_window.open_window
secret_profile = test_main_window.secret_profile
target_folder = test_main_window.target_folder


# ------------------------------------------------------------------------------------ verdicts


def test_a_tampered_backup_keeps_its_failed_verdict_shown_as_changed_since(qtbot, console, open_window, make_backup,
                                                                           target_folder):
    record = make_backup()
    path = target_folder / record.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(Exception, match="authentication|integrity|damaged|altered"):
        console.verify(console.locate(record.short_id), SECRET)
    path.write_bytes(bytes(data) + b"more tampering")  # the file changes again after its verdict

    window = open_window()  # its first listing sees the changed file
    shown = window.browser.proxy.index(0, COL_VERIFY)
    assert shown.data().startswith("FAILED") and shown.data().endswith(CHANGED_SINCE)
    assert "changed" in shown.data(Qt.ItemDataRole.ToolTipRole)
    click_row(qtbot, window, 0)
    last = window.details.file_labels["verify"].text()
    assert last.startswith("FAILED") and "authentication" in last and last.endswith(CHANGED_SINCE)
    history = window.details.file_labels["history"].text()
    assert "FAILED" in history and "never" not in history


def test_a_verify_that_cannot_reach_the_target_is_shown_as_no_verdict(qtbot, console, open_window, make_backup,
                                                                      target_folder, tmp_path):
    record = make_backup()
    console.verify(console.locate(record.short_id), SECRET)
    target_folder.rename(tmp_path / "moved")
    with pytest.raises(Exception, match="does not exist"):
        console.verify(console.locate(record.short_id), SECRET)
    (tmp_path / "moved").rename(target_folder)

    window = open_window()
    assert window.browser.proxy.index(0, COL_VERIFY).data().startswith("passed")
    click_row(qtbot, window, 0)
    history = window.details.file_labels["history"].text().splitlines()
    assert "not checked (target unreachable" in history[0] and "passed" in history[1]


# ------------------------------------------------------------------------------------ audit results


def test_a_failed_target_test_is_audited_as_failed_and_shown_red(qtbot, console, open_window, target_folder):
    window = open_window()
    target_folder.rmdir()
    target_folder.write_text("not a folder")
    click_list_item(qtbot, window.sidebar.targets_list, "vault")
    click(qtbot, window.sidebar.test_button)
    settle(qtbot, window)
    assert window.error_dialog is not None
    window.error_dialog.close()
    entry = [e for e in console.audit.entries() if e.action == "target.test"][-1]
    assert (entry.result, entry.detail["ok"]) == ("failed", False)
    assert result_color(entry.result) != result_color("ok")


# ------------------------------------------------------------------------------------ badges and status bar


def test_a_successful_listing_turns_a_red_badge_green(qtbot, console, local_target, open_window):
    window = open_window()
    TargetHealth(console.paths.data_dir).record("vault", False, "listing failed: the folder was missing")
    window.refresh_badges()
    assert window.sidebar.badge("vault") == "red"
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        click(qtbot, tool_button(window, "refresh"))
    assert window.sidebar.badge("vault") == "green"


def test_the_status_bar_says_a_backup_failed(qtbot, open_window, secret_profile):
    window = open_window(secret_profile)  # its database URL points at a closed port
    assert window.controller.actions["create"].text().replace("&", "") == "Back up prod now…"
    click(qtbot, tool_button(window, "create"))
    dialog = window.controller.backups.description_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.findChild(QLineEdit).setText("nightly")
    with qtbot.waitSignal(window.runner.busy_changed, timeout=JOB_TIMEOUT):
        click(qtbot, dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.error_dialog is not None, timeout=JOB_TIMEOUT)
    window.error_dialog.close()
    assert window.statusBar().currentMessage() == "Backing up prod: failed."


def test_a_finished_job_leaves_no_running_message(qtbot, local_target, open_window):
    window = open_window()
    with qtbot.waitSignal(window.runner.busy_changed, timeout=JOB_TIMEOUT):
        window.submit(Job("Counting", lambda reporter: 42), "Counting", progress=False)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() != "Counting…", timeout=JOB_TIMEOUT)
    assert window.statusBar().currentMessage() == ""


# ------------------------------------------------------------------------------------ progress panel


def run_in_panel(qtbot, function, *, cancel_when=None) -> ProgressPanel:
    """Run `function(reporter)` as a job shown in a fresh ProgressPanel; cancel it once `cancel_when(panel)`."""
    runner = JobRunner()
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    job = Job("work", function)
    panel.attach(job)
    with qtbot.waitSignal(job.done, timeout=JOB_TIMEOUT):
        runner.submit(job)
        if cancel_when is not None:
            qtbot.waitUntil(lambda: cancel_when(panel), timeout=JOB_TIMEOUT)
            click(qtbot, panel.cancel_button)
    QApplication.processEvents()
    return panel


def test_progress_after_the_swap_says_done_and_stops_the_busy_bar(qtbot):
    def swap(reporter: Reporter) -> str:
        reporter.start(Phase.SWAP)
        time.sleep(0.05)
        return "swapped"

    panel = run_in_panel(qtbot, swap)
    assert panel.phase.text() == "Done."
    assert "cannot be cancelled" not in panel.phase.text()
    assert panel.bar.maximum() > 0 and panel.bar.value() == panel.bar.maximum()
    assert not panel.cancel_button.isEnabled()


def test_progress_after_a_cancel_drops_the_time_left(qtbot):
    started = threading.Event()

    def slow(reporter: Reporter) -> None:
        reporter.start(Phase.RESTORE, 1000)
        started.set()
        while True:
            time.sleep(0.02)
            reporter.advance(1)

    panel = run_in_panel(qtbot, slow, cancel_when=lambda p: "left" in p.detail.text())
    assert panel.phase.text() == "Cancelled."
    assert panel.detail.text() == "" and panel.bar.maximum() > 0


def test_progress_after_a_failure_says_why(qtbot):
    def fail(reporter: Reporter) -> None:
        reporter.start(Phase.DUMP)
        raise DatabaseError("pg_dump exited with status 1.")

    panel = run_in_panel(qtbot, fail)
    assert panel.phase.text() == "Failed: pg_dump exited with status 1."
    assert panel.bar.maximum() > 0 and panel.bar.value() == 0


# ------------------------------------------------------------------------------------ after the setup wizard


def test_after_setup_the_new_profile_is_selected_tested_and_backed_up_by_name(qtbot, secret_service, console,
                                                                             open_window, tmp_path, monkeypatch):
    folder = tmp_path / "backups"
    folder.mkdir()
    window = open_window()
    assert window.controller.actions["create"].text().replace("&", "") == "Back up a pg_dump file…"
    window.controller.actions["new_profile"].trigger()
    wizard = window.controller.wizard
    to_target_page(qtbot, wizard, "prod")
    target = wizard.target_page
    type_into(qtbot, target.name_edit, "vault")
    type_into(qtbot, target.fields.local_path, str(folder))
    wizard_click(qtbot, target.test_button)
    qtbot.waitUntil(lambda: target.report is not None, timeout=JOB_TIMEOUT)
    assert target.report.ok
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        finish(qtbot, wizard)
    assert wizard.result() == QWizard.DialogCode.Accepted
    settle(qtbot, window)

    assert window.selected_profile() == "prod"
    assert window.sidebar.badge("vault") == "green"
    assert window.controller.actions["create"].text().replace("&", "") == "Back up prod now…"
    monkeypatch.setattr("recovery_console.ui.backup_actions.QFileDialog.getOpenFileName",
                        lambda *a, **k: pytest.fail("Create backup asked for a file"))
    click(qtbot, tool_button(window, "create"))
    dialog = window.controller.backups.description_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert "Back up prod now" in dialog.windowTitle()
    dialog.reject()
