"""The forensic workbench walked with real X input (xdotool) under Xvfb + openbox, keyboard only, at 1366×768.

From a demo home: the extraction wizard on a copy of the newest backup (path, secret, "Browse the
tables"), its Tables page, then "Open in the workbench…": the chosen table's rows are read, a search
across every table finds its hits, and Ctrl+W closes the window. What happened is read from window
titles and the console's own audit log, never from pixels; each step's screenshot is kept.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from recovery_console.engine import demo
from tests.walk.test_x_walk import newest_backup
from tests.walk.x_session import console_on_screen, missing_tools

pytestmark = [pytest.mark.gui, pytest.mark.skipif(bool(missing_tools()),
                                                   reason=f"needs {', '.join(missing_tools())} (X walk tools)")]

MAIN = "^Recovery Console$"


@pytest.fixture
def session(tmp_path: Path):
    home = tmp_path / "home"
    setup = demo.set_up(home)
    with console_on_screen(home, tmp_path, "1366x768") as x:
        yield x, setup


def test_walk_the_workbench_with_the_keyboard(session, tmp_path):
    x, setup = session
    x.wait_window(MAIN)
    x.wait_active(MAIN)
    usb = tmp_path / "usb"
    usb.mkdir()
    source = newest_backup(x.home)
    copy = Path(shutil.copy2(source, usb / source.name))
    last = max(e.seq for e in x.audit())

    x.keys("ctrl+e")
    x.wait_window("^Extract a backup")
    x.wait_active("^Extract a backup")
    x.type(str(copy))
    x.keys("Return")  # Next: the instance secret
    time.sleep(0.5)
    x.type(setup.secret)
    x.keys("Return")  # Next: the metadata page
    x.wait_audit("backup.inspect", after=last)
    time.sleep(0.5)
    x.keys("alt+t", "Return")  # Browse the tables; Next reads them
    listed = x.wait_audit("forensics.tables", after=last)
    assert listed.result == "ok"
    time.sleep(0.5)
    x.screenshot("tables_page")

    x.keys("alt+w")  # Open in the workbench…
    x.wait_window("^Workbench")
    x.wait_active("^Workbench")
    browsed = x.wait_audit("forensics.browse", after=last)
    assert browsed.result == "ok" and browsed.detail["rows"] > 0
    time.sleep(0.5)
    x.screenshot("workbench_rows")

    x.keys("alt+s")  # the Search tab; its field takes the text
    time.sleep(0.3)
    x.keys("alt+n")
    x.type("customer 1")
    x.keys("Return")
    searched = x.wait_audit("forensics.search", after=last)
    assert searched.result == "ok" and searched.detail["hits"] >= 1
    time.sleep(0.5)
    x.screenshot("workbench_search")

    x.keys("ctrl+w")
    x.wait_gone("^Workbench")
    x.assert_running()
    assert all(p.stat().st_size > 0 for p in x.taken)
