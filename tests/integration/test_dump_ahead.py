"""`backup create --profile P` starts pg_dump before its imports (engine/dump_ahead.py): the backup adopts it only
when it is exactly its own pg_dump, under the lock it already holds; anything else is stopped and the usual path
runs; SIGTERM at once leaves no pg_dump and no lock. Against a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from recovery_console.cli.ahead import dump_ahead_wanted
from recovery_console.engine import dump_ahead
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.pg import pgdump
from recovery_console.engine.restore import Restorer
from recovery_console.engine.state.locks import database_identity, database_lock, ensure_free
from recovery_console.errors import BusyError, ExitCode
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import SECRET
from tests.fixtures.processes import children_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(pg15, sample_database) -> str:
    return sample_database(pg15, f"ahead_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def profile(console, local_target, pg15, database) -> str:
    """A plain profile whose server version was seen by a first backup."""
    console.profiles.create("prod", pg15.dsn(database), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    backup_database(console, "prod", secret=SECRET)
    return "prod"


@pytest.fixture
def dumps_started(monkeypatch) -> list[pgdump.DumpStream]:
    """Every pg_dump started from here on."""
    started: list[pgdump.DumpStream] = []
    original = pgdump.DumpStream.__init__

    def counted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(pgdump.DumpStream, "__init__", counted)
    return started


def identity(console, name="prod") -> str:
    return database_identity(console.profiles.store.get(name).dump_url())


def lock_is_free(console) -> bool:
    try:
        ensure_free(console.paths, identity(console), "db")
    except BusyError:
        return False
    return True


def test_an_adopted_pg_dump_makes_a_backup_that_verifies_and_restores(console, profile, pg15, database,
                                                                     dumps_started, table_fingerprints):
    dump_ahead.start(console.paths, profile, "zstd")
    assert len(dumps_started) == 1 and not lock_is_free(console), "started under the database's lock"
    record = backup_database(console, profile, secret=SECRET)
    assert len(dumps_started) == 1, "the backup started no pg_dump of its own"
    assert dumps_started[0].process.poll() == 0 and lock_is_free(console)
    assert console.verify(console.locate(record.short_id), SECRET).object_counts["TABLE"] == 7
    restorer = Restorer(console)
    plan = restorer.preflight(profile, console.locate(record.short_id), SECRET, new_database=f"{database}_copy")
    assert plan.ready, plan.checks
    restorer.run(plan, SECRET)
    assert table_fingerprints(pg15, f"{database}_copy") == table_fingerprints(pg15, database)


def test_a_profile_changed_since_the_start_gets_a_pg_dump_of_its_own(console, profile, tmp_path, dumps_started):
    dump_ahead.start(console.paths, profile, "zstd")
    (tmp_path / "other").mkdir()
    console.add_target(TargetConfig(name="other", kind="local", options={"path": str(tmp_path / "other")}))
    console.profiles.set_target(profile, "other")
    record = backup_database(console, profile, secret=SECRET)
    assert len(dumps_started) == 2 and dumps_started[0].process.poll() is not None
    assert record.target == "other" and lock_is_free(console)
    assert console.verify(console.locate(record.short_id), SECRET).object_counts["TABLE"] == 7


def test_another_compression_or_a_discard_stops_the_started_pg_dump_and_frees_the_lock(console, profile,
                                                                                       dumps_started):
    dump_ahead.start(console.paths, profile, "zstd")
    record = backup_database(console, profile, secret=SECRET, compression="none")
    assert len(dumps_started) == 2 and dumps_started[0].process.poll() is not None
    assert record.metadata.compression == "none" and lock_is_free(console)
    dump_ahead.start(console.paths, profile, "zstd")
    dump_ahead.discard()
    assert len(dumps_started) == 3 and dumps_started[2].process.poll() is not None and lock_is_free(console)


def test_nothing_starts_for_a_busy_database_or_a_profile_it_does_not_fit(console, profile, pg15, database,
                                                                        local_target, dumps_started):
    with database_lock(console.paths, identity(console), "restore", database):
        dump_ahead.start(console.paths, profile, "zstd")
        assert dumps_started == []
        with pytest.raises(BusyError):
            backup_database(console, profile, secret=SECRET)
    console.profiles.create("unseen", pg15.dsn(database) + "?application_name=unseen", target=local_target)
    console.profiles.set_mode("unseen", ConnectionMode.DIRECT, acknowledge_direct=True)
    stored = replace(console.profiles.store.get(profile), name="stored", stored_secrets=("db_password",))
    console.profiles.store.add(stored)  # its password is in the keyring: reading it would cost what is saved
    for name in ("unseen", "stored", "no-such-profile"):  # no server version seen at its URL; a password; none
        dump_ahead.start(console.paths, name, "zstd")
    assert dumps_started == [] and lock_is_free(console)


@pytest.mark.parametrize(("argv", "wanted"), [
    (["backup", "create", "--profile", "p"], ("p", "zstd")),
    (["--debug", "backup", "create", "--profile=p", "--compression", "none", "--secret-key-file", "f"], ("p", "none")),
    (["-q", "backup", "create", "--description", "create", "--profile", "p", "--json"], ("p", "zstd")),
    (["backup", "create", "--from", "f.dump"], None),
    (["backup", "create", "--profile", "p", "--target", "t"], None),
    (["backup", "create", "--prof", "p"], None),
    (["backup", "create", "--profile", "p", "--help"], None),
    (["backup", "list"], None),
    (["restore", "run", "x", "--profile", "p"], None),
])
def test_only_a_plain_backup_create_of_a_profile_starts_ahead(argv, wanted):
    assert dump_ahead_wanted(argv) == wanted


def pg_dumps_of(console_pid: int) -> list[int]:
    """The pg_dump children of a console that are dumping (not discovery's `--version` runs)."""
    return [pid for pid, argv in children_of(console_pid).items()
            if argv[0].endswith(b"pg_dump") and b"--format=custom" in argv]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_console_stopped_right_after_starting_pg_dump_leaves_none_and_no_lock(console, profile, pg15, database,
                                                                               tmp_path, how):
    """pg_dump is held at its table lock by another session, so it is surely running when the console is stopped:
    at once, while the console still imports its modules."""
    holder = subprocess.Popen([str(pg15.tool("psql")), "-X", "-q", f"--dbname={pg15.dsn(database)}", "-c",
                               "BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tmp_path / "secret").write_text(SECRET)
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "backup", "create", "--profile",
                             profile, "--secret-key-file", str(tmp_path / "secret")],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dumps: list[int] = []
        for _ in range(3000):
            if (dumps := pg_dumps_of(proc.pid)) or proc.poll() is not None:
                break
            os.sched_yield()
        assert dumps, "pg_dump started"
        proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
        if how == signal.SIGTERM:
            assert proc.returncode == ExitCode.CANCELLED and "Traceback" not in err, (proc.returncode, err)
            assert [pid for pid in dumps if alive(pid)] == []
        assert lock_is_free(console)
    finally:
        proc.kill()
        pg15.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' "
                  "AND pid <> pg_backend_pid()")  # a backend in pg_sleep would not notice its client gone
        holder.wait()
    if how == signal.SIGKILL:  # pg_dump, in a session of its own, ends at its next write to the closed pipe
        for _ in range(600):
            if not any(alive(pid) for pid in dumps):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert [pid for pid in dumps if alive(pid)] == []
    assert len(console.list_backups()[0]) == 1, "the profile's first backup only"
