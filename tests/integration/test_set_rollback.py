"""A recovery set restored in place and rolled back whole (#18), against real PostgreSQL 15 and 17 and a vault
folder: every database and the folder are back row for row and byte for byte; a member's database locked by
another process makes the rollback refuse with nothing changed; kill -9 at the worst moments of the rollback, then
running it again, finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.sets.set_restores import ROLLED_BACK, restores
from recovery_console.engine.state.locks import database_identity, lock_file, read_holder
from recovery_console.errors import ExitCode
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.integration.test_recovery_sets import _tree, set_profile  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TABLE_DIGEST = "SELECT count(*) || ':' || md5(coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '')) FROM t"


def _digests(pg15, pg17, names) -> dict[str, str]:
    return {"main": pg15.psql(TABLE_DIGEST, db=names["config"]),
            "results": pg15.psql(TABLE_DIGEST, db=names["results"]),
            "remote": pg17.psql(TABLE_DIGEST, db=names["remote"])}


@pytest.fixture
def restored(console, set_profile, pg15, pg17, pg_server_factory, tmp_path, monkeypatch, capsys,  # noqa: F811
             secret_file):
    """A set backed up, its members changed, then restored in place: the state before the restore (what a rollback
    must bring back) and the state the restore made."""
    from recovery_console.engine.sets.set_backup import backup_set

    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    tools = [str(pg_server_factory.bin_dir(15)), str(pg_server_factory.bin_dir(17))]
    for name, server, database in (("results-db", pg15, set_profile["results"]),
                                   ("remote-db", pg17, set_profile["remote"])):
        console.profiles.create(name, server.dsn(database), target="vault", tool_dirs=tools)
        console.profiles.set_mode(name, ConnectionMode.DIRECT, acknowledge_direct=True)
    made = backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS)
    vault = set_profile["vault"]
    (vault / "data.bin").write_bytes(b"changed after the backup")
    (vault / "docs" / "new ✓.txt").write_text("added after the backup", "utf-8")
    pg15.psql("DELETE FROM t WHERE id > 10; UPDATE t SET v = 'changed' WHERE id = 1", db=set_profile["config"])
    pg15.psql("DELETE FROM t WHERE id % 2 = 0", db=set_profile["results"])
    pg17.psql("INSERT INTO t VALUES (100000, 'new row')", db=set_profile["remote"])
    before = {"rows": _digests(pg15, pg17, set_profile), "vault": _tree(vault)}
    assert main(["restore", "run", made.short_id, "--profile", "records", "--as-profile", "results=results-db",
                 "--as-profile", "remote=remote-db", "--yes", "--secret-key-file", str(secret_file)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"restore rollback --profile records --set {made.set_id}" in out
    after = {"rows": _digests(pg15, pg17, set_profile), "vault": _tree(vault)}
    assert after["rows"]["main"].startswith("500:") and after["rows"]["results"].startswith("2000:")
    assert after["rows"]["remote"].startswith("300:") and after["vault"] != before["vault"]
    return {"set": made, "before": before, "after": after, "vault": vault, "names": set_profile, "home": tmp_path}


def _rollback(s, *extra) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recovery_console.cli.main", "restore", "rollback", "--profile",
                           "records", "--set", s["set"].set_id, "--yes", *extra], cwd=REPO, env=_env(s),
                          capture_output=True, text=True, timeout=300)


def _env(s) -> dict[str, str]:
    return {**os.environ, "RECOVERY_CONSOLE_HOME": str(s["home"]), "PYTHONPATH": str(REPO)}


def _state(pg15, pg17, s) -> dict[str, object]:
    return {"rows": _digests(pg15, pg17, s["names"]), "vault": _tree(s["vault"])}


def test_a_restored_set_rolls_back_whole_every_member_as_it_was(console, restored, pg15, pg17, capsys):
    s = restored
    assert main(["restore", "history", "--profile", "records"]) == ExitCode.OK
    listed = capsys.readouterr().out
    assert f"set {s['set'].set_id}  restored: main, results, remote, vault" in listed
    assert main(["restore", "rollback", "--profile", "records", "--set", s["set"].short_id, "--yes",
                 "--json"]) == ExitCode.OK
    done = json.loads(capsys.readouterr().out)
    assert sorted(done["rolled_back"]) == ["main", "remote", "results", "vault"] and done["already"] == []
    assert _state(pg15, pg17, s) == s["before"]  # every row and every file as before the restore
    aside = Path(done["set_aside"]["vault"])
    assert aside.name.startswith("vault.undone_") and _tree(aside) == s["after"]["vault"]  # the restored one kept
    assert pg15.psql(TABLE_DIGEST, db=done["set_aside"]["results"]) == s["after"]["rows"]["results"]
    assert pg17.psql(TABLE_DIGEST, db=done["set_aside"]["remote"]) == s["after"]["rows"]["remote"]
    assert restores(console.paths, "records")[0].state == ROLLED_BACK
    actions = [(e.action, e.result) for e in console.audit.entries()]
    assert ("set.restore-recorded", "ok") in actions and actions[-1] == ("set.rollback", "ok")
    assert actions.count(("restore.rollback", "ok")) == 3 and ("set.rollback-folder", "ok") in actions

    assert main(["restore", "rollback", "--profile", "records", "--set", s["set"].set_id, "--yes"]) == ExitCode.USAGE
    assert "rolled back already; nothing was changed" in capsys.readouterr().err
    assert list((console.paths.data_dir / "set-restores").glob(".*.part")) == []


def test_a_members_database_locked_by_another_process_is_busy_and_nothing_changes(console, restored, pg15, pg17):
    s = restored
    identity = database_identity(pg17.dsn(s["names"]["remote"]))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from recovery_console.engine.state.locks import database_lock
        from recovery_console.engine.state.paths import AppPaths
        paths = AppPaths(config_dir=Path({str(s['home'] / 'config')!r}), data_dir=Path({str(s['home'] / 'data')!r}))
        with database_lock(paths, {identity!r}, "backup", "remote"):
            print("held", flush=True)
            time.sleep(300)
        """)], cwd=REPO, env=_env(s), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert read_holder(lock_file(console.paths, identity)).pid == holder.pid
        busy = _rollback(s)
        assert busy.returncode == ExitCode.BUSY, busy.stderr
        assert "busy: backup of remote started" in busy.stderr and f"by pid {holder.pid}" in busy.stderr
        assert _state(pg15, pg17, s) == s["after"]  # nothing was rolled back, not even the members not locked
        assert restores(console.paths, "records")[0].state == "restored"
    finally:
        holder.kill()
        holder.wait()
    ok = _rollback(s)
    assert ok.returncode == 0, ok.stderr
    assert _state(pg15, pg17, s) == s["before"]


KILL_AT = {  # a patch that kills the rollback with SIGKILL at one moment
    # the results database swapped back on the server, its restore history not yet told
    "database swapped, history not written": """
        from recovery_console.engine import restore
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        restore.rolled_back = killed
    """,
    # the kept vault exchanged in, the restored one not yet renamed aside (it has the kept one's name)
    "after the folder's exchange": """
        from recovery_console.engine.sets import set_rollback
        real = set_rollback._exchange
        def killed(first, second):
            assert real(first, second)
            os.kill(os.getpid(), signal.SIGKILL)
        set_rollback._exchange = killed
    """,
    # where folders cannot be exchanged: the restored vault moved aside, the kept one not yet back
    "between the folder's two renames": """
        from recovery_console.engine.sets import set_rollback
        real = set_rollback._rename
        def killed(source, destination):
            real(source, destination)
            os.kill(os.getpid(), signal.SIGKILL)
        set_rollback._rename = killed
        set_rollback._exchange = lambda first, second: False
    """,
}


@pytest.mark.parametrize("moment", list(KILL_AT))
def test_kill_9_during_the_set_rollback_then_running_it_again_finishes_it(console, restored, pg15, pg17, moment):
    s = restored
    script = "import os, signal, sys\n" + textwrap.dedent(KILL_AT[moment]) + textwrap.dedent(f"""
        from recovery_console.cli.main import main
        sys.exit(main(["restore", "rollback", "--profile", "records", "--set", {s['set'].set_id!r}, "--yes"]))
        """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=_env(s), capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert restores(console.paths, "records")[0].state == "partly rolled back"  # cut short half way
    if moment != "after the folder's exchange":
        assert _state(pg15, pg17, s) != s["before"]
    if moment == "between the folder's two renames":
        assert not s["vault"].exists() and list(s["vault"].parent.glob("vault.undone_*"))
    if moment == "after the folder's exchange":  # the folder's path was never empty: the previous one is in place
        assert _tree(s["vault"]) == s["before"]["vault"]
        assert _tree(next(s["vault"].parent.glob("vault.pre_restore_*"))) == s["after"]["vault"]
    time.sleep(0.1)
    again = _rollback(s, "--json")
    assert again.returncode == 0, again.stderr
    done = json.loads(again.stdout)
    assert _state(pg15, pg17, s) == s["before"]
    assert sorted(done["already"] + done["rolled_back"]) == ["main", "remote", "results", "vault"]
    assert done["already"], "the members the killed run finished are not rolled back twice"
    assert restores(console.paths, "records")[0].state == ROLLED_BACK
    assert list((console.paths.data_dir / "set-restores").glob(".*.part")) == []


def test_a_member_that_fails_stops_the_rollback_which_says_what_was_rolled_back_and_how_to_finish(
        console, restored, pg15, pg17, monkeypatch, capsys):
    import errno

    from recovery_console.engine.sets import set_rollback

    s = restored

    def refused(source, destination):
        raise set_rollback.from_os_error(f"moving {source} to", str(destination), OSError(errno.EIO, "I/O error"))

    with monkeypatch.context() as patched:
        patched.setattr(set_rollback, "_exchange", refused)  # the disk refuses the folder's move
        patched.setattr(set_rollback, "_rename", refused)
        code = main(["restore", "rollback", "--profile", "records", "--set", s["set"].set_id, "--yes"])
    err = capsys.readouterr().err
    assert code == ExitCode.STORAGE, err
    assert "stopped at member vault" in err and "Rolled back: main, results, remote. Not rolled back: vault." in err
    assert f"restore rollback --profile records --set {s['set'].set_id}` again" in err
    now = _state(pg15, pg17, s)
    assert now["rows"] == s["before"]["rows"] and now["vault"] == s["after"]["vault"]  # the vault untouched
    assert restores(console.paths, "records")[0].state == "partly rolled back"
    assert [e.result for e in console.audit.entries() if e.action == "set.rollback"] == ["failed"]

    assert main(["restore", "rollback", "--profile", "records", "--set", s["set"].set_id, "--yes"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "Member main was rolled back already." in out and "Rolled back member vault" in out
    assert _state(pg15, pg17, s) == s["before"]


def test_a_members_kept_copy_dropped_or_moved_refuses_the_whole_rollback_and_changes_nothing(
        console, restored, pg15, pg17, capsys):
    from recovery_console.engine.restore_kept import drop_previous

    s = restored
    kept = next(m.kept for m in restores(console.paths, "records")[0].members if m.name == "results")
    drop_previous(console, "results-db", kept, confirm=kept)
    vault_kept = next(s["vault"].parent.glob("vault.pre_restore_*"))
    vault_kept.rename(s["vault"].parent / "moved away")
    assert main(["restore", "rollback", "--profile", "records", "--set", s["set"].set_id, "--yes"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "nothing was changed" in err and f"member results: {kept} is dropped" in err
    assert f"member vault: the kept folder {vault_kept} is gone or was replaced" in err
    assert _state(pg15, pg17, s) == s["after"]
    assert [e.result for e in console.audit.entries() if e.action == "set.rollback"] == ["failed"]


def test_kill_9_in_the_folder_phase_keeps_the_databases_restore_recorded_and_the_next_start_removes_the_copy(
        console, pg15, tmp_path, secret_file):
    """An attacker's find: a kill while the folder member was extracted, after the databases were swapped, left a
    set restore no rollback knew (it was recorded only at the end) and a full `vault.restoring_<time>` for good."""
    from recovery_console.engine.console import Console
    from recovery_console.engine.sets.set_backup import backup_set
    from recovery_console.engine.state.profile_members import ProfileMembers

    database = pg15.createdb(f"killed_{os.getpid()}_{time.monotonic_ns() % 10**6}")
    pg15.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50)", db=database)
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "noise.bin").write_bytes(os.urandom(64 << 20))
    (tmp_path / "target").mkdir()
    console.add_target(TargetConfig(name="t", kind="local", options={"path": str(tmp_path / "target")}))
    console.profiles.create("p", pg15.dsn(database), target="t")
    console.profiles.set_mode("p", ConnectionMode.DIRECT, acknowledge_direct=True)
    ProfileMembers(console.profiles).add_folder("p", "vault", str(vault))
    made = backup_set(console, "p", secret=SECRET, iterations=FAST_ITERATIONS)
    pg15.psql("DELETE FROM t WHERE id > 5", db=database)
    (vault / "after.txt").write_text("written after the backup")
    home = console.paths.config_dir.parent
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home), "PYTHONPATH": str(REPO)}
    run = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "restore", "run", made.short_id,
                            "--profile", "p", "--yes", "--secret-key-file", str(secret_file)], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if [p for p in tmp_path.glob(".vault.restoring_*.part/noise.bin") if p.stat().st_size > (4 << 20)]:
            break  # the database is swapped; the folder is being extracted beside the vault
        time.sleep(0.005)
    assert run.poll() is None, "the restore ended before its folder phase was seen"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert pg15.psql("SELECT count(*) FROM t", db=database) == "50"  # swapped before the kill
    [recorded] = restores(console.paths, "p")
    assert [m.name for m in recorded.members] == ["main"] and recorded.set_id == made.set_id
    Console(console.paths).close()  # the next start removes the copy the killed restore was building
    assert sorted(p.name for p in tmp_path.iterdir() if "vault" in p.name) == ["vault"]
    assert (vault / "after.txt").read_text() == "written after the backup"  # the folder was never swapped
    done = subprocess.run([sys.executable, "-m", "recovery_console.cli.main", "restore", "rollback", "--profile", "p",
                           "--set", made.set_id, "--yes"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert pg15.psql("SELECT count(*) FROM t", db=database) == "5"
