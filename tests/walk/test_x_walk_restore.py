"""The console walked from an empty home to a restore, its rollback and the restore history, with real X input.

Setup wizard (a profile over a real PostgreSQL 15 database, direct mode acknowledged, a new local
folder target, the instance secret; secrets go to a real Secret Service) → the new profile is
selected → Back up now → verify that backup in full → change a row → restore the backup in place
through the restore wizard (pre-flight, typed RESTORE) → roll back from its last page → the restore
history (Ctrl+H) → drop the restored copy the rollback set aside, its name typed. At 1366×768.

Each step is one function over a `Walk` and asserts what happened three ways: the window it led
to (titles, read with xdotool), the console's audit log, and the database or files themselves.
A screenshot of each step is kept under the test's tmp folder (`make walk` prints where). More
steps are appended by adding functions and calls.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest

from recovery_console.engine.state.audit_entry import AuditEntry
from recovery_console.engine.state.keyring_store import service_name
from recovery_console.engine.state.profiles import DB_PASSWORD as DB_PASSWORD_ENTRY
from recovery_console.engine.state.profiles import INSTANCE_SECRET, profile_scope
from tests.fixtures.postgres import PgServer, find_bin_dir
from tests.walk.x_session import XSession, missing_tools, wait_for, xvfb

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} (X walk tools)")]

SCREEN = (1366, 768)
MAIN = "^Recovery Console$"


def titled(*parts: str) -> str:
    """A window title as a regular expression: `parts` joined by " — ", then Qt's " — Recovery Console", if any."""
    return "^" + re.escape(" — ".join(parts)) + "( — Recovery Console)?$"


def setup_page(page: str) -> str:
    return titled("Set up a profile", page)


def restore_page(page: str) -> str:
    return titled("Restore a backup", page)


SETUP = "^Set up a profile"
RESTORE = "^Restore a backup"
PROFILE = "walk"
SECRET = "walk instance secret 2026"
DB_PASSWORD = "walk-db-password"  # the server trusts 127.0.0.1; the console must still keep it in the keyring only
ROWS = {1: "anchor", 2: "ballast", 3: "compass"}


@dataclass
class Walk:
    """What the walk works on, and what it has learnt on the way (the backup it made, the last audit entry seen)."""

    x: XSession
    pg: PgServer
    database: str
    target_dir: Path
    seen: int = 0  # the audit sequence number of the last entry a step asserted
    backup_key: str = ""
    pre_restore: str = ""  # the database as it was before the restore, kept under this name by the restore
    undone: str = ""  # the restored copy, kept under this name by the roll back

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{self.pg.port}/{self.database}"

    def rows(self, database: str | None = None) -> dict[int, str]:
        out = self.pg.psql("SELECT id || '|' || name FROM items ORDER BY id", database or self.database)
        return {int(i): name for i, name in (line.split("|", 1) for line in out.splitlines())}

    def databases(self) -> list[str]:
        return [d for d in self.pg.databases() if d.startswith(self.database)]

    def audited(self, action: str, timeout: float = 120) -> AuditEntry:
        """The next `action` entry after the last one a step asserted; it must say ok."""
        entry = self.x.wait_audit(action, timeout=timeout, after=self.seen)
        assert entry.result == "ok", f"{action} ended {entry.result}: {entry.detail}"
        self.seen = entry.seq
        return entry


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> PgServer:
    """The shared PostgreSQL 15; a clean skip where it is not installed."""
    if find_bin_dir(15) is None:
        pytest.skip("needs PostgreSQL 15 (bash .ci/install.d/10-postgres.sh)")
    server: PgServer = request.getfixturevalue("pg15")
    return server


@pytest.fixture
def database(pg: PgServer) -> Iterator[str]:
    name = f"walk_{uuid.uuid4().hex[:8]}"
    pg.createdb(name)
    values = ", ".join(f"({i}, '{v}')" for i, v in ROWS.items())
    pg.psql(f"CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO items VALUES {values};", name)
    try:
        yield name
    finally:
        for left in [d for d in pg.databases() if d.startswith(name)]:
            pg.dropdb(left)


@pytest.fixture
def walk(tmp_path: Path, secret_service, pg: PgServer, database: str) -> Iterator[Walk]:
    home = tmp_path / "home"  # empty: no profile, no target, no audit log yet
    target_dir = tmp_path / "walk-backups"
    target_dir.mkdir()
    env = {"DBUS_SESSION_BUS_ADDRESS": secret_service.address,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    with xvfb(f"{SCREEN[0]}x{SCREEN[1]}") as display:
        x = XSession(display, home, tmp_path / "screenshots", tmp_path / "console.log", extra_env=env)
        x.start()
        try:
            yield Walk(x, pg, database, target_dir)
        finally:
            if x.process is not None and x.process.poll() is None:
                x.screenshot("last_screen")  # where the walk ended, or stopped
            print(f"walk screenshots: {x.shots}")
            x.stop()


# -- the steps --------------------------------------------------------------------------------------


def step_start(w: Walk) -> None:
    """The console opens on an empty home, fitted to the screen, with the keyboard in its window."""
    x = w.x
    main = x.wait_window(MAIN)
    x.wait_active(MAIN)
    geometry = wait_for(lambda: _fitted(x, main), 15, "the window to fit the screen")
    assert isinstance(geometry, tuple)
    left, top, width, height = geometry
    assert width >= SCREEN[0] * 0.9 and left + width <= SCREEN[0] and top + height <= SCREEN[1]
    assert x.audit() == []
    x.screenshot("empty_console")


def _fitted(x: XSession, window: str) -> tuple[int, int, int, int] | None:
    geometry = x.geometry(window)
    left, top, width, height = geometry
    return geometry if left >= 0 and top >= 0 and width >= SCREEN[0] * 0.9 else None


def step_setup(w: Walk) -> None:
    """New profile: name, URL with its password, the secret twice; direct mode acknowledged; a new local folder."""
    x = w.x
    x.keys("ctrl+shift+n")
    x.wait_window(setup_page("Profile"))
    x.wait_active(setup_page("Profile"))
    x.type(PROFILE)  # the name field has the focus
    x.keys("Tab")
    x.type(w.url)
    x.keys("Tab")
    x.type(SECRET)
    x.keys("Tab")
    x.type(SECRET)
    x.screenshot("setup_profile")
    x.advance("Return", setup_page("Connection mode"))  # Next, once the keyring check has passed

    x.keys("alt+d", "alt+i")  # Direct; I confirm the URL is not a pooler
    x.screenshot("setup_connection")
    x.advance("Return", setup_page("Storage target"))

    x.keys("alt+f")  # the Folder field; "A new target", named walk-backups, local, are the defaults
    x.type(str(w.target_dir))
    x.keys("alt+t")  # Test connection: list, write, read back, delete in the folder
    x.advance("Return", setup_page("Summary"))  # Next waits for the test's verdict
    x.advance("alt+b", setup_page("Storage target"))  # Back, to see that verdict
    x.screenshot("setup_target")
    x.advance("Return", setup_page("Summary"))
    x.screenshot("setup_summary")
    x.keys("Return")  # Finish saves it all
    setup = w.audited("profile.setup")
    assert setup.object == PROFILE and setup.detail["mode"] == "direct"
    x.wait_gone(SETUP)
    x.wait_active(MAIN)
    tested = w.audited("target.test")  # the window checks the new target at once, so its badge is true
    assert tested.object == f"{PROFILE}-backups"

    profiles = json.loads((x.home / "config" / "profiles.json").read_text("utf-8"))
    text = json.dumps(profiles)
    assert PROFILE in text and DB_PASSWORD not in text and SECRET not in text
    assert keyring.get_password(service_name(profile_scope(PROFILE)), INSTANCE_SECRET) == SECRET
    assert keyring.get_password(service_name(profile_scope(PROFILE)), DB_PASSWORD_ENTRY) == DB_PASSWORD
    x.screenshot("profile_created")


def step_backup(w: Walk) -> None:
    """The new profile is selected, so Back up now asks for a description and backs up its database."""
    x = w.x
    x.keys("ctrl+b")
    x.wait_window(titled(f"Back up {PROFILE} now"))  # not a file chooser: the selected profile is what is backed up
    x.wait_active(titled(f"Back up {PROFILE} now"))
    x.type("before the change")
    x.screenshot("backup_description")
    x.keys("Return")
    created = w.audited("backup.create")
    w.backup_key = created.object
    assert created.detail["target"] == f"{PROFILE}-backups"
    assert (w.target_dir / w.backup_key).is_file(), f"no {w.backup_key} in {w.target_dir}"
    x.wait_gone(titled(f"Back up {PROFILE} now"))
    x.wait_active(MAIN)
    assert w.rows() == ROWS
    x.screenshot("backup_created")


def step_verify(w: Walk) -> None:
    """Verify the new backup in full; its secret comes from the keyring, the verdict is in the audit log."""
    x = w.x
    name = Path(w.backup_key).name
    x.advance("ctrl+shift+v", titled(f"Verify {name}"))  # enabled once the list shows the new backup
    x.screenshot("verify_dialog")
    x.keys("Return")  # Verify
    verified = w.audited("backup.verify")
    assert verified.detail["mode"] == "full" and verified.object.endswith(name)
    x.wait_active(titled(f"Verify {name}"))  # the keyboard stays in the dialog
    x.screenshot("verify_passed")
    x.keys("Escape")
    x.wait_gone("^Verify ")
    x.wait_active(MAIN)


def step_change_the_database(w: Walk) -> None:
    """What happens to the database after the backup: the restore must undo it, the rollback bring it back."""
    w.pg.psql("UPDATE items SET name = 'changed after the backup' WHERE id = 1; "
              "INSERT INTO items VALUES (4, 'added after the backup');", w.database)
    assert w.rows() == {**ROWS, 1: "changed after the backup", 4: "added after the backup"}


def step_restore(w: Walk) -> None:
    """Restore wizard: the backup and profile preselected, safe in-place, pre-flight passes, RESTORE typed."""
    x = w.x
    changed = w.rows()
    x.keys("ctrl+r")
    x.wait_window(restore_page("Choose the backup"))
    x.wait_active(restore_page("Choose the backup"))
    x.screenshot("restore_backup")
    x.advance("Return", restore_page("Where to restore"))  # once the list and the keyring's secret are in
    x.screenshot("restore_destination")
    x.advance("Return", restore_page("Pre-flight checks"))
    x.advance("Return", restore_page("Confirm the restore"), timeout=180)  # Next is enabled once every check passed
    x.advance("alt+b", restore_page("Pre-flight checks"))  # Back: the checks' results stay for a second look
    x.screenshot("restore_preflight")
    x.advance("Return", restore_page("Confirm the restore"))
    x.screenshot("restore_confirm")
    x.type("RESTORE")
    x.advance("Return", restore_page("Restoring"))
    restored = w.audited("restore", timeout=300)
    assert restored.object.endswith(Path(w.backup_key).name)
    assert restored.detail["database"] == w.database and restored.detail["mode"] == "safe in-place"
    assert w.rows() == ROWS, "the restored database does not hold the backup's rows"
    kept = [d for d in w.databases() if "__pre_restore_" in d]
    assert len(kept) == 1 and w.rows(kept[0]) == changed, "the database from before the restore was not kept"
    w.pre_restore = kept[0]
    x.advance("Return", restore_page("Restore complete"))
    x.screenshot("restore_complete")


def step_rollback(w: Walk) -> None:
    """Roll back from the wizard's last page: the database from before the restore is swapped back in."""
    x = w.x
    changed = w.rows(w.pre_restore)
    x.advance("alt+o", titled("Roll back the restore"))
    x.screenshot("rollback_question")
    x.keys("alt+r")  # Roll back (the default button is Keep the restored database)
    rolled = w.audited("restore.rollback")
    assert rolled.object == w.database
    x.wait_gone(titled("Roll back the restore"))
    x.wait_active(restore_page("Restore complete"))
    assert w.rows() == changed
    undone = [d for d in w.databases() if "__undone_" in d]
    assert len(undone) == 1 and w.rows(undone[0]) == ROWS, "the restored copy was not kept"
    w.undone = undone[0]
    assert w.pre_restore not in w.databases()
    x.screenshot("rolled_back")
    x.keys("Return")  # Finish (the focus is on it once Roll back is done)
    x.wait_gone(RESTORE)
    x.wait_active(MAIN)
    x.screenshot("back_to_main")


def step_history_and_drop(w: Walk) -> None:
    """Profile › Restore history (Ctrl+H): the rolled-back restore keeps the restored copy the rollback set aside;
    drop it, its name typed to confirm."""
    x = w.x
    history = f"^Restore history of {PROFILE}"
    x.keys("ctrl+h")
    x.wait_window(history)
    x.wait_active(history)
    time.sleep(1.5)  # the history and the kept databases' sizes, read in a job
    x.screenshot("history")
    x.keys("alt+d")  # Drop kept database… on the newest restore, selected
    x.wait_window("^Drop kept database")
    x.type(w.undone)
    x.screenshot("drop_typed")
    x.keys("Return")
    dropped = w.audited("restore.drop_previous")
    assert dropped.object == w.undone
    assert w.undone not in w.databases() and w.rows() != ROWS  # the live database is the rolled-back one still
    time.sleep(1.5)  # the list read again
    x.screenshot("history_after_drop")
    x.keys("Escape")
    x.wait_gone(history)
    x.wait_active(MAIN)


def test_walk_setup_backup_verify_restore_rollback_history_drop(walk: Walk) -> None:
    step_start(walk)
    step_setup(walk)
    step_backup(walk)
    step_verify(walk)
    step_change_the_database(walk)
    step_restore(walk)
    step_rollback(walk)
    step_history_and_drop(walk)
    walk.x.assert_running()
    assert all(p.stat().st_size > 0 for p in walk.x.taken)
