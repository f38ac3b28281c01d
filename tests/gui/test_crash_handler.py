"""An exception nobody caught in the desktop console: a private crash report, one plain dialog, the window stays.

pytest-qt's own exception capture is off here: the console's handler is the one under test.
"""

from __future__ import annotations

import asyncio
import stat

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QPushButton

from recovery_console.engine.state.crash_reports import crash_folder
from recovery_console.ui.app import create_main_window, install_crash_handler
from recovery_console.ui.crash_handler import TITLE
from recovery_console.ui.jobs import event_loop, start_task

pytestmark = [pytest.mark.gui, pytest.mark.qt_no_exception_capture]

WAIT = 10_000


@pytest.fixture
def window(qtbot, console):
    w = create_main_window(console)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def crashes(window):
    handler = install_crash_handler(window, event_loop())
    yield handler
    handler.uninstall()
    if handler.dialog is not None:
        handler.dialog.close()


def reports(console) -> list:
    folder = crash_folder(console.paths)
    return sorted(folder.glob("crash-*.txt")) if folder.is_dir() else []


def assert_reported(qtbot, crashes, window, console, message: str, where: str) -> None:
    """One 0600 crash report holding the traceback, and the dialog naming it over a window that is still open."""
    qtbot.waitUntil(lambda: crashes.dialog is not None and crashes.dialog.isVisible(), timeout=WAIT)
    [report] = reports(console)
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    text = report.read_text()
    assert "Traceback (most recent call last)" in text and f"RuntimeError: {message}" in text and where in text
    dialog = crashes.dialog
    assert dialog.windowTitle() == TITLE
    assert f"RuntimeError: {message}" in dialog.text() and "stays open" in dialog.text()
    assert str(report) in dialog.informativeText()
    assert message in dialog.detailedText()  # the traceback, folded away
    assert window.isVisible()


def test_an_exception_in_a_slot_writes_a_crash_report_and_shows_one_dialog(qtbot, window, crashes, console):
    def broken_slot() -> None:
        raise RuntimeError("boom in a slot")

    button = QPushButton("Break", window)
    button.clicked.connect(broken_slot)
    button.show()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert_reported(qtbot, crashes, window, console, "boom in a slot", "broken_slot")

    # A second crash while the dialog is open: its own report, but no second dialog on top.
    first = crashes.dialog
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(reports(console)) == 2, timeout=WAIT)
    assert crashes.dialog is first and len(crashes.reports) == 2
    first.accept()
    qtbot.waitUntil(lambda: not first.isVisible(), timeout=WAIT)
    assert window.isVisible()


def test_an_exception_in_a_flow_started_with_start_task_is_reported(qtbot, window, crashes, console):
    async def broken_flow() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom in a coroutine")

    task = start_task(broken_flow())
    qtbot.waitUntil(task.done, timeout=WAIT)
    assert_reported(qtbot, crashes, window, console, "boom in a coroutine", "broken_flow")


def test_an_exception_in_an_event_loop_callback_is_reported(qtbot, window, crashes, console):
    def broken_callback() -> None:
        raise RuntimeError("boom in a callback")

    QTimer.singleShot(0, lambda: event_loop().call_soon(broken_callback))
    assert_reported(qtbot, crashes, window, console, "boom in a callback", "broken_callback")
