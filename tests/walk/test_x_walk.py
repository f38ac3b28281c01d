"""The console walked with real X input (xdotool) under Xvfb + openbox, on a 1024×768 screen.

From a demo home (a local target with real backups, no PostgreSQL): the window fits the screen;
open the newest backup's verify dialog with the keyboard, type the instance secret, see it pass,
close it; then the extraction wizard on a copy of that backup: type its path and the secret, read
the metadata, decrypt it to a .dump, finish. What happened is read from window titles and
geometry (xdotool) and from the console's own audit log, never from pixels; a screenshot of
each step is kept under the test's tmp folder (`make walk` prints where).

Setup → backup → verify → restore → rollback, which need a PostgreSQL server, are walked in
test_x_walk_restore.py.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from recovery_console.engine import demo
from tests.walk.x_session import console_on_screen, missing_tools

pytestmark = [pytest.mark.gui, pytest.mark.skipif(bool(missing_tools()),
                                                   reason=f"needs {', '.join(missing_tools())} (X walk tools)")]

SCREEN = (1024, 768)
MAIN = "^Recovery Console$"


@pytest.fixture
def session(tmp_path: Path):
    home = tmp_path / "home"
    setup = demo.set_up(home)
    with console_on_screen(home, tmp_path, f"{SCREEN[0]}x{SCREEN[1]}") as x:
        yield x, setup


def newest_backup(home: Path) -> Path:
    files = sorted((home / "target").rglob("*.enc"), key=lambda p: p.name)
    assert files, "the demo home has no backups"
    return files[-1]


def test_walk_verify_then_extract_with_the_keyboard(session, tmp_path):
    x, setup = session
    main = x.wait_window(MAIN)
    time.sleep(1.5)  # the first listing, and the window fitted to the frame its manager gave it
    left, top, width, height = x.geometry(main)
    assert width >= SCREEN[0] * 0.9 and left >= 0 and top >= 0
    assert left + width <= SCREEN[0] and top + height <= SCREEN[1], "the window runs off the screen"
    x.wait_active(MAIN)
    x.screenshot("main_window")

    # Verify: the filter (Ctrl+F), Tab into the table, the first row, Ctrl+Shift+V, Return to start.
    x.keys("ctrl+f", "Tab", "Down", "ctrl+shift+v")
    x.wait_window("^Verify rc_backup_")
    x.wait_active("^Verify ")
    x.screenshot("verify_dialog")
    x.keys("Return")
    x.wait_window("^Instance secret$")
    x.screenshot("secret_prompt")
    x.type(setup.secret)
    x.keys("Return")
    verified = x.wait_audit("backup.verify")
    assert verified.result == "ok" and verified.detail["mode"] == "full"
    x.wait_active("^Verify ")  # the keyboard is back in the dialog
    x.screenshot("verify_passed")
    x.keys("Escape")
    x.wait_gone("^Verify ")
    x.wait_active(MAIN)

    # Extract, offline, from a copy on a "USB stick".
    usb = tmp_path / "usb"
    usb.mkdir()
    source = newest_backup(x.home)
    copy = Path(shutil.copy2(source, usb / source.name))
    last = max(e.seq for e in x.audit())
    x.keys("ctrl+e")
    x.wait_window("^Extract a backup")
    x.wait_active("^Extract a backup")
    x.type(str(copy))
    x.screenshot("extract_file")
    x.keys("Return")  # Next: the instance secret page, its field focused
    time.sleep(0.5)
    x.type(setup.secret)
    x.screenshot("extract_secret")
    x.keys("Return")  # Next: the secret is tried on the metadata chunk, then the metadata page
    x.wait_audit("backup.inspect", after=last)
    time.sleep(0.5)
    x.screenshot("extract_metadata")
    x.keys("alt+d", "Return")  # Decrypt to a .dump beside the copy; Next runs it
    decrypted = x.wait_audit("decrypt", after=last)
    assert decrypted.result == "ok"
    dump = copy.with_suffix(".dump")
    assert dump.is_file() and dump.stat().st_size > 0
    time.sleep(0.5)
    x.screenshot("extract_decrypted")
    x.keys("Return")  # Finish
    x.wait_gone("^Extract a backup")
    x.wait_active(MAIN)
    x.screenshot("back_to_main")
    x.assert_running()
    assert len(x.taken) >= 8 and all(p.stat().st_size > 0 for p in x.taken)
