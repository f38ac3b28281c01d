"""Restore → roll back → restore history → drop, walked with real X input (xdotool) under Xvfb + openbox, on a
1024×768 screen, against a real PostgreSQL 15 and a local target.

The profile and one backup of its database are made before the console starts (the setup wizard and a backup
are walked elsewhere); the profile is the one the window reopens with. Then only keys: the restore wizard twice
(the instance secret typed, RESTORE typed), Roll back on its last page the first time, Profile › Restore
history… (Ctrl+H), and Drop with the kept database's name typed. What happened is read from the console's audit log and
restore history and from the server, never from pixels; a screenshot of each step is kept under the test's tmp
folder.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.state import restore_history
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.walk.x_session import XSession, missing_tools, wait_for, xvfb

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} (X walk tools)")]

SCREEN = "1024x768"
MAIN = "^Recovery Console$"
WIZARD = "^Restore a backup"
HISTORY = "^Restore history of prod"
# ASCII only: xdotool types other characters by remapping a keycode for each, which races under load.
SECRET = "walk secret: correct horse battery staple"


@pytest.fixture
def prepared(tmp_path: Path, pg15, sample_database):
    """A home with target `vault`, profile `prod` on a fresh sample database, one backup of it, and the window set
    to reopen on `prod`."""
    from PySide6.QtCore import QSettings

    from recovery_console.ui.window_state import settings_path

    home = tmp_path / "home"
    database = sample_database(pg15, f"walk_{uuid.uuid4().hex[:8]}")
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "target").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "target")}))
    console.profiles.create("prod", pg15.dsn(database), target="vault")
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    backup_database(console, "prod", secret=SECRET)
    settings = QSettings(str(settings_path(console)), QSettings.Format.IniFormat)
    settings.setValue("lastProfile", "prod")
    settings.sync()
    console.close()
    return home, database


@pytest.fixture
def session(tmp_path: Path, prepared):
    home, database = prepared
    with xvfb(SCREEN) as display:
        x = XSession(display, home, tmp_path / "screenshots", tmp_path / "console.log")
        x.start()
        try:
            yield x, database
        finally:
            print(f"walk screenshots: {x.shots}")
            x.stop()


def restores(x: XSession) -> list[int]:
    return [e.seq for e in x.audit() if e.action == "restore"]


def walk_restore(x: XSession, name: str) -> None:
    """The wizard from the main window with the backup selected: secret typed, in place, checks, RESTORE typed."""
    done_before = len(restores(x))
    x.keys("ctrl+r")
    x.wait_window(WIZARD)
    x.wait_active(WIZARD)
    time.sleep(1.0)  # the backup list and the keyring lookup
    x.keys("Return")  # Next: no secret in the keyring, so it is asked for
    x.wait_window("^Instance secret$")
    x.type(SECRET)
    x.keys("Return")  # and the wizard goes on to the destination page
    time.sleep(1.0)
    x.screenshot(f"{name}_destination")
    x.keys("Return")  # Next: safe in-place; the pre-flight checks run

    def running() -> bool:
        return len(restores(x)) > done_before or any((x.home / "data" / "restore-journal").glob("*.json"))

    def started() -> bool:
        # Mnemonics, not Return: Return while the checks run would press their Cancel. Next (Alt+N) is enabled only
        # once every check passed; Alt+T focuses the confirm field, and Restore (Alt+R) needs RESTORE typed in it.
        if running():
            return True
        x.keys("alt+n")
        time.sleep(0.5)
        x.keys("alt+t", "ctrl+a")
        x.type("RESTORE")
        x.keys("alt+r")
        time.sleep(1.0)
        return running()

    try:
        wait_for(started, 120, "the restore to start")
    finally:
        x.screenshot(f"{name}_started")
    finished = wait_for(lambda: len(restores(x)) > done_before, 180, "the restore to end")
    assert finished
    entry = next(e for e in x.audit() if e.seq == restores(x)[-1])
    assert entry.result == "ok", entry.detail
    time.sleep(1.0)
    x.keys("alt+n")  # from the progress page to the result page
    time.sleep(1.0)
    x.screenshot(f"{name}_result")


def test_walk_restore_roll_back_then_drop_from_the_history(session, pg15, table_fingerprints):
    x, database = session
    x.wait_window(MAIN)
    time.sleep(1.5)  # the first listing
    x.wait_active(MAIN)
    x.keys("ctrl+f", "Tab", "Down")  # the one backup selected
    before = table_fingerprints(pg15, database)

    walk_restore(x, "first_restore")
    x.keys("alt+o")  # Roll back, on the wizard's last page
    x.wait_window("^Roll back the restore")
    x.keys("alt+r")
    rolled = x.wait_audit("restore.rollback", timeout=120)
    assert rolled.result == "ok"
    assert table_fingerprints(pg15, database) == before
    time.sleep(1.0)
    x.screenshot("rolled_back")
    x.keys("Return")  # Finish
    x.wait_gone(WIZARD)
    x.wait_active(MAIN)

    walk_restore(x, "second_restore")
    x.keys("Return")  # Finish
    x.wait_gone(WIZARD)
    x.wait_active(MAIN)

    history = restore_history.entries(AppPaths(config_dir=x.home / "config", data_dir=x.home / "data"), "prod")
    assert [e.result for e in history] == ["succeeded", "rolled back"]
    kept = history[0].previous
    assert kept and kept in pg15.databases()

    x.keys("ctrl+h")  # Profile › Restore history…
    x.wait_window(HISTORY)
    x.wait_active(HISTORY)
    time.sleep(1.5)  # the history and the kept databases' sizes, read in a job
    x.screenshot("history")
    x.keys("alt+d")  # Drop kept database… on the newest restore, selected
    x.wait_window("^Drop kept database")
    x.type(kept)
    x.screenshot("drop_typed")
    x.keys("Return")
    dropped = x.wait_audit("restore.drop_previous", timeout=60)
    assert dropped.result == "ok" and dropped.object == kept
    assert kept not in pg15.databases()
    time.sleep(1.5)  # the list read again
    x.screenshot("history_after_drop")
    x.keys("Escape")
    x.wait_gone(HISTORY)
    x.wait_active(MAIN)
    x.assert_running()
