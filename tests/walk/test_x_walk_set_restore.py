"""A recovery set restored, then rolled back as a whole, walked with real X input (xdotool) under Xvfb + openbox on a
1024×768 screen, keyboard only, against a real PostgreSQL 15 and a local target.

The set (profile `records`: its database, a second database restored through profile `results-db`, and a vault
folder holding a link that points out of it) is made before the console starts. Then only keys: the restore
wizard (the set preselected, the instance secret typed, every member in its default place, the checks, RESTORE
typed), its end text, then Profile › Restore history… (Ctrl+H) and Roll back whole set with the set's id typed.
What happened is read from the audit log, the server and the folders, never from pixels; a screenshot of each step
is kept under the test's tmp folder.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS
from tests.gui.test_restore_set_wizard import _db
from tests.walk.x_session import XSession, missing_tools, wait_for, xvfb

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} (X walk tools)")]

SCREEN = "1024x768"
WIZARD = "^Restore a backup"
HISTORY = "^Restore history of records"
SECRET = "walk set secret: four members, one moment"  # ASCII only: xdotool remaps a keycode for anything else


@pytest.fixture
def prepared(tmp_path: Path, pg15):
    """A home whose profile `records` has one recovery set on target `vault`; the window reopens on `records`."""
    from PySide6.QtCore import QSettings

    from recovery_console.ui.window_state import settings_path

    tag = uuid.uuid4().hex[:8]
    config, results = _db(pg15, f"config_{tag}", 300), _db(pg15, f"results_{tag}", 200)
    vault = tmp_path / "vault"
    (vault / "docs").mkdir(parents=True)
    (vault / "docs" / "report.txt").write_text("quarterly\n")
    (vault / "data.bin").write_bytes(os.urandom(200_000))
    (vault / "link outside").symlink_to("/etc/passwd")
    home = tmp_path / "home"
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "target").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "target")}))
    for profile, database in (("records", config), ("results-db", results)):
        console.profiles.create(profile, pg15.dsn(database), target="vault")
        console.profiles.set_mode(profile, ConnectionMode.DIRECT, acknowledge_direct=True)
    members = ProfileMembers(console.profiles)
    members.add_database("records", "results", pg15.dsn(results), mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    members.add_folder("records", "vault", str(vault))
    record = backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS)
    settings = QSettings(str(settings_path(console)), QSettings.Format.IniFormat)
    settings.setValue("lastProfile", "records")
    settings.sync()
    console.close()
    try:
        yield {"home": home, "config": config, "results": results, "vault": vault, "set_id": record.set_id}
    finally:
        for name in [d for d in pg15.databases() if tag in d]:
            pg15.dropdb(name)


@pytest.fixture
def session(tmp_path: Path, prepared):
    with xvfb(SCREEN) as display:
        x = XSession(display, prepared["home"], tmp_path / "screenshots", tmp_path / "console.log")
        x.start()
        try:
            yield x
        finally:
            if x.process is not None and x.process.poll() is None:
                x.screenshot("last_screen")
            print(f"walk screenshots: {x.shots}")
            x.stop()


def _entries(x: XSession, action: str) -> list:
    return [e for e in x.audit() if e.action == action]


def test_walk_a_set_restored_in_place_then_rolled_back_whole(session: XSession, prepared, pg15, tmp_path) -> None:
    x = session
    config, results, vault = prepared["config"], prepared["results"], prepared["vault"]
    pg15.psql("DELETE FROM t WHERE id > 10", db=config)
    pg15.psql("DELETE FROM t", db=results)
    (vault / "data.bin").write_bytes(b"changed after the backup")
    (vault / "added later.txt").write_text("after the backup")

    x.wait_window("^Recovery Console$")
    x.wait_active("^Recovery Console$")
    x.keys("ctrl+r")
    x.wait_window(WIZARD)
    x.wait_active(WIZARD)
    time.sleep(1.5)  # the list of backups and sets, the set preselected (the only entry)
    x.screenshot("set_chosen")
    x.keys("Return")  # Next: no secret in the keyring, so it is asked for
    x.wait_window("^Instance secret$")
    x.type(SECRET)
    x.keys("Return")
    x.wait_window("Choose the members")
    x.wait_active("Choose the members")
    time.sleep(1.0)  # the manifest read, each database's profile chosen
    x.screenshot("members")
    x.advance("alt+n", "Pre-flight checks of the set")
    x.advance("alt+n", "Confirm the set restore", timeout=180)  # Next is enabled once every member passed
    x.screenshot("confirm")
    x.keys("alt+t", "ctrl+a")
    x.type("RESTORE")
    x.keys("alt+r")
    restored = wait_for(lambda: _entries(x, "set.restore"), 240, "the set restore to end")
    assert isinstance(restored, list) and restored[0].result == "ok", restored[0].detail
    assert restored[0].detail["restored"] == ["main", "results", "vault"]
    time.sleep(1.0)
    x.screenshot("restored")

    assert pg15.psql("SELECT count(*) FROM t", db=config) == "300"
    assert pg15.psql("SELECT count(*) FROM t", db=results) == "200"
    assert len((vault / "data.bin").read_bytes()) == 200_000 and not (vault / "added later.txt").exists()
    assert not os.path.lexists(vault / "link outside")  # pointed out of the folder: refused, nothing written
    kept = list(tmp_path.glob("vault.pre_restore_*"))
    assert len(kept) == 1 and (kept[0] / "added later.txt").read_text() == "after the backup"

    x.keys("alt+f")  # Finish
    x.wait_gone(WIZARD)
    x.wait_active("^Recovery Console$")
    x.keys("ctrl+h")
    x.wait_window(HISTORY)
    x.wait_active(HISTORY)
    time.sleep(1.5)  # the history and the set restores, read in a job
    x.screenshot("history")
    x.keys("alt+s")  # Roll back whole set… on the newest set restore, selected
    x.wait_window("^Roll back whole set")
    x.type(prepared["set_id"].replace("-", "")[:8])
    x.screenshot("rollback_typed")
    x.keys("Return")
    rolled = wait_for(lambda: _entries(x, "set.rollback"), 180, "the set rollback to end")
    assert isinstance(rolled, list) and rolled[0].result == "ok", rolled[0].detail
    time.sleep(1.5)
    x.screenshot("rolled_back")
    assert pg15.psql("SELECT count(*) FROM t", db=config) == "10"
    assert pg15.psql("SELECT count(*) FROM t", db=results) == "0"
    assert (vault / "data.bin").read_bytes() == b"changed after the backup"
    assert (vault / "added later.txt").read_text() == "after the backup"
    x.keys("Escape")
    x.wait_gone(HISTORY)
    x.assert_running()
