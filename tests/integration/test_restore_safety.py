"""Restores that do not trip over each other, over sessions they cannot end, over long names, or over
backups stored under foreign or duplicated names (issue #14, points 12, 14, 15 and 16)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from recovery_console.cli import restore_cmd
from recovery_console.cli.main import main
from recovery_console.engine import restore as restore_module
from recovery_console.engine.console import Console
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_preflight import (
    MAX_DB_NAME,
    PRE_RESTORE_INFIX,
    SCRATCH_INFIX,
    UNDONE_INFIX,
    db_name,
    named_copies,
    now_stamp,
)
from recovery_console.engine.state.locks import database_identity, database_lock, lock_file, read_holder
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import BusyError, DatabaseError, ExitCode, NotFoundError, UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.fixtures.postgres import create_sample_database, table_fingerprints
from tests.integration.test_s3 import FakeSecrets

pytestmark = pytest.mark.integration


def home_console(home: Path) -> Console:
    """A console whose home a CLI process (RECOVERY_CONSOLE_HOME) shares."""
    return Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))


def direct_profile(console: Console, url: str, target: str = "vault") -> str:
    console.profiles.create("prod", url, target=target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


def local_vault(console: Console, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    return folder


def cli(home: Path, *argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# --- 12: one restore, backup or rollback of a database at a time ------------------------------


@pytest.fixture
def busy_scenario(tmp_path, pg15):
    home = tmp_path / "home"
    console = home_console(home)
    local_vault(console, tmp_path / "target")
    database = create_sample_database(pg15, f"busy_{uuid.uuid4().hex[:8]}", scale=3)
    direct_profile(console, pg15.dsn(database))
    record = backup_database(console, "prod", secret=SECRET)
    pg15.psql("INSERT INTO app.empty_log (message) VALUES ('after the backup')", db=database)
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    return dict(home=home, console=console, database=database, backup=record.short_id, secret_file=secret_file,
                lock=lock_file(console.paths, database_identity(pg15.dsn(database))))


def restore_holding_the_lock(s) -> subprocess.Popen[bytes]:
    """A CLI restore, stopped (SIGSTOP) while it holds the database's lock, so that others meet it there."""
    first = cli(s["home"], "restore", "run", s["backup"], "--profile", "prod", "--yes",
                "--secret-key-file", str(s["secret_file"]))
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline:
        holder = read_holder(s["lock"])
        if holder is not None and holder.action == "restore":
            first.send_signal(signal.SIGSTOP)
            return first
        time.sleep(0.01)
    out, err = first.communicate(timeout=300)
    pytest.fail(f"the restore never held a lock on {s['database']} (exit {first.returncode}): {err.decode()}")


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode()


def test_two_restores_of_one_database_at_once_one_runs_and_the_other_is_busy(busy_scenario, pg15):
    s = busy_scenario
    before = table_fingerprints(pg15, s["database"])
    first = restore_holding_the_lock(s)
    try:
        second = cli(s["home"], "restore", "run", s["backup"], "--profile", "prod", "--yes",
                     "--secret-key-file", str(s["secret_file"]))
        _, err = second.communicate(timeout=120)
        assert second.returncode == ExitCode.BUSY, err
        text = err.decode()
        assert f"busy: restore of {s['database']} started " in text and f"by pid {first.pid}" in text, text
        assert "Traceback" not in text
    finally:
        code, first_err = finish(first)
    assert code == 0, first_err
    kept = [db for db in pg15.databases() if db.startswith(f"{s['database']}{PRE_RESTORE_INFIX}")]
    assert len(kept) == 1  # one restore swapped, so the one kept copy is the live data
    assert table_fingerprints(pg15, kept[0]) == before != table_fingerprints(pg15, s["database"])
    rollback = cli(s["home"], "restore", "rollback", "--profile", "prod", "--yes")
    _, err = rollback.communicate(timeout=120)
    assert rollback.returncode == 0, err
    assert table_fingerprints(pg15, s["database"]) == before
    assert read_holder(s["lock"]) is None  # released: the lock file says nothing once the job is over


def test_a_backup_or_a_rollback_during_a_restore_is_busy(busy_scenario):
    s = busy_scenario
    backups_before = len(s["console"].list_backups()[0])
    first = restore_holding_the_lock(s)
    try:
        for argv in (("backup", "create", "--profile", "prod", "--secret-key-file", str(s["secret_file"])),
                     ("restore", "rollback", "--profile", "prod", "--yes")):
            proc = cli(s["home"], *argv)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == ExitCode.BUSY, (argv, err)
            assert f"busy: restore of {s['database']} started" in err.decode()
    finally:
        code, first_err = finish(first)
    assert code == 0, first_err
    assert len(s["console"].list_backups()[0]) == backups_before


def test_the_lock_dies_with_its_holder_and_says_who_holds_it(tmp_path):
    """kill -9 of the holder frees the database at once: there is no stale lock to clear by hand."""
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data").ensure()
    identity = database_identity("postgresql://app@db.example:5433/prod")
    assert identity == database_identity("host=db.example port=5433 dbname=prod user=other")
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; "
                               "from recovery_console.engine.state.locks import database_lock; "
                               "from recovery_console.engine.state.paths import AppPaths; "
                               f"p = AppPaths(Path({str(tmp_path / 'config')!r}), Path({str(tmp_path / 'data')!r})); "
                               f"l = database_lock(p, {identity!r}, 'restore', 'prod'); l.__enter__(); "
                               "print('held', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        busy = rf"busy: restore of prod started \d\d:\d\d:\d\d by pid {holder.pid}\."
        with pytest.raises(BusyError, match=busy), database_lock(paths, identity, "backup", "prod"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with database_lock(paths, identity, "backup", "prod"):
        assert json.loads(lock_file(paths, identity).read_text())["action"] == "backup"


# --- 14: sessions the role may not end ------------------------------------------------------


@pytest.fixture
def owned_database(pg_private, tmp_path):
    """A database owned by a role without superuser rights (but CREATEDB), with a backup of it."""
    pg = pg_private
    pg.psql("CREATE ROLE restorer LOGIN CREATEDB")
    pg.psql("CREATE DATABASE shop OWNER restorer")
    pg.psql("SET ROLE restorer; CREATE TABLE items (id int PRIMARY KEY, name text); "
            "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5000) g", db="shop")
    console = home_console(Path(os.environ["RECOVERY_CONSOLE_HOME"]))
    local_vault(console, tmp_path / "target")
    direct_profile(console, f"postgresql://restorer@127.0.0.1:{pg.port}/shop")
    backup_database(console, "prod", secret=SECRET)
    pg.psql("SET ROLE restorer; DELETE FROM items WHERE id > 10", db="shop")
    return pg, console


def superuser_session(pg) -> psycopg.Connection:
    return psycopg.connect(pg.dsn("shop"), autocommit=True, application_name="dba-console")


def test_preflight_names_sessions_the_role_cannot_end_and_says_what_to_do(owned_database):
    pg, console = owned_database
    with superuser_session(pg):
        plan = Restorer(console).preflight("prod", console.locate(console.list_backups()[0][0].short_id), SECRET)
    assert not plan.ready
    failed = [c for c in plan.checks if c.blocking]
    assert [c.name for c in failed] == ["sessions this role cannot end"]
    assert "postgres@dba-console" in failed[0].detail and "pg_terminate_backend" in failed[0].detail
    assert "restore into a new database" in failed[0].detail  # the CLI adds its flag (cli/restore_cmd.CLI_STEPS)


def test_a_blocked_swap_keeps_the_checked_copy_and_restore_swap_finishes_it(owned_database, monkeypatch, capsys):
    pg, console = owned_database
    monkeypatch.setattr(restore_module, "SWAP_WAIT", 1.0)
    restorer = Restorer(console)
    plan = restorer.preflight("prod", console.locate(console.list_backups()[0][0].short_id), SECRET)
    assert plan.ready, plan.checks
    with superuser_session(pg):
        with pytest.raises(DatabaseError, match="shop is still in use .* by sessions this role may not end: "
                                                "postgres@dba-console") as caught:
            restorer.run(plan, SECRET)
        assert plan.scratch_name in caught.value.hint
        assert "Swap in a checked copy in the restore history of profile prod" in caught.value.hint
        assert pg.psql("SELECT count(*) FROM items", db="shop") == "10"  # the original, untouched
        assert plan.scratch_name in pg.databases()
        assert pg.psql("SELECT count(*) FROM items", db=plan.scratch_name) == "5000"
    again = restorer.preflight("prod", plan.ref, SECRET)
    waiting = [c.detail for c in again.checks if c.name == "restored copy waiting"]
    assert waiting and plan.scratch_name in waiting[0] and "swapped in without restoring again" in waiting[0]
    assert "restore swap --profile prod" in "\n".join(restore_cmd._plan_lines(again))  # the CLI names its command
    code = main(["restore", "swap", "--profile", "prod", "--yes"])
    out = capsys.readouterr().out
    assert code == 0 and plan.scratch_name in out
    assert pg.psql("SELECT count(*) FROM items", db="shop") == "5000"
    kept = [db for db in pg.databases() if db.startswith(f"shop{PRE_RESTORE_INFIX}")]
    assert len(kept) == 1 and pg.psql("SELECT count(*) FROM items", db=kept[0]) == "10"
    assert plan.scratch_name not in pg.databases()
    comment = pg.psql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'shop'")
    assert comment.startswith("Restored by Recovery Console from backup " + str(plan.backup_id))
    with pytest.raises(NotFoundError, match="no checked restored copy"):
        restorer.swap("prod")


def test_the_swap_waits_for_a_session_it_cannot_end_to_leave(owned_database):
    """What autovacuum does to a non-superuser's swap: a holder the role may not end, gone a moment later."""
    pg, console = owned_database
    restorer = Restorer(console)
    plan = restorer.preflight("prod", console.locate(console.list_backups()[0][0].short_id), SECRET)
    assert plan.ready, plan.checks
    session = superuser_session(pg)
    leaving = threading.Timer(2.0, session.close)
    original_rename = restore_module._rename_pair

    def rename_pair(*args, **kwargs):
        leaving.start()  # the session leaves while the swap is waiting
        return original_rename(*args, **kwargs)

    restore_module._rename_pair = rename_pair
    try:
        result = restorer.run(plan, SECRET)
    finally:
        restore_module._rename_pair = original_rename
        leaving.join()
        session.close()
    assert pg.psql("SELECT count(*) FROM items", db="shop") == "5000"
    assert pg.psql("SELECT count(*) FROM items", db=result.previous) == "10"


def test_a_swap_refuses_a_copy_that_was_not_checked(owned_database):
    pg, console = owned_database
    leftover = pg.createdb(db_name("shop", SCRATCH_INFIX, now_stamp()))  # what a killed restore leaves
    with pytest.raises(NotFoundError, match="no checked restored copy"):
        Restorer(console).swap("prod")
    with pytest.raises(UsageError, match="not a restored copy of shop that passed its checks"):
        Restorer(console).swap("prod", leftover)
    assert leftover in pg.databases() and pg.psql("SELECT count(*) FROM items", db="shop") == "10"


# --- 15: the longest names ------------------------------------------------------------------


LONG_NAMES = ["d" * MAX_DB_NAME, "é" * 31 + "x", "x" + "データ" * 6 + "_tail"]


@pytest.mark.parametrize("base", LONG_NAMES)
def test_kept_names_fit_63_bytes_at_a_character_boundary_and_are_found_again(base):
    assert len(base.encode()) <= MAX_DB_NAME
    stamp = "20260102030405"
    for infix in (SCRATCH_INFIX, PRE_RESTORE_INFIX, UNDONE_INFIX):
        name = db_name(base, infix, stamp)
        assert len(name.encode()) <= MAX_DB_NAME and name.endswith(infix + stamp)
        assert base.startswith(name[: -len(infix + stamp)])
        others = [db_name("q" + base, infix, stamp), db_name(base, infix, stamp)[:-1], base, "x" + name]
        assert named_copies([*others, name], base, infix) == [name]


@pytest.mark.parametrize("base", LONG_NAMES[:2], ids=["63-ascii", "63-bytes-multibyte"])
def test_restore_and_rollback_of_a_63_byte_database_name(pg15, tmp_path, base):
    console = home_console(tmp_path / "home")
    local_vault(console, tmp_path / "target")
    pg15.dropdb(base)
    pg15.createdb(base)
    try:
        pg15.psql("CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 100)", db=base)
        direct_profile(console, f"host=127.0.0.1 port={pg15.port} user=postgres dbname='{base}'")
        record = backup_database(console, "prod", secret=SECRET)
        pg15.psql("DELETE FROM t WHERE n > 1", db=base)
        restorer = Restorer(console)
        leftover = db_name(base, SCRATCH_INFIX, "20000101000000")
        pg15.createdb(leftover)
        plan = restorer.preflight("prod", console.locate(record.short_id), SECRET)
        assert plan.ready, plan.checks
        warned = [c.detail for c in plan.checks if c.name == "leftover scratch databases"]
        assert warned and leftover in warned[0]
        result = restorer.run(plan, SECRET)
        assert result.previous is not None and result.previous in pg15.databases()
        assert pg15.psql("SELECT count(*) FROM t", db=base) == "100"
        restored_from, undone = restorer.rollback("prod")
        assert restored_from == result.previous
        assert pg15.psql("SELECT count(*) FROM t", db=base) == "1"
        assert pg15.psql("SELECT count(*) FROM t", db=undone) == "100"
    finally:
        for name in pg15.databases():
            if name.startswith(base[:10]):
                pg15.dropdb(name)


# --- 16: every listed backup addressable -----------------------------------------------------


def store(console: Console, target: str, sample_dump: Path):
    with open(sample_dump, "rb") as stream:
        return console.create_backup(stream, target, SECRET, iterations=FAST_ITERATIONS, source_name="sample")


def assert_every_listed_backup_is_addressable(console: Console, target: str) -> None:
    records = console.list_backups()[0]
    ids = [r.short_id for r in records]
    for record in records:
        ref = console.locate(f"{target}:{record.key}")
        assert ref.record is not None and ref.record.key == record.key
        if ids.count(record.short_id) == 1:
            by_id = console.locate(record.short_id)
            assert by_id.record is not None and by_id.record.key == record.key


def renamed_and_duplicated(console: Console, target: str, put, sample_dump: Path) -> tuple[str, str, str]:
    """A backup moved to a foreign name, and another with a same-named copy in a subfolder."""
    moved = store(console, target, sample_dump)
    put(moved.key, "backups/my copy.enc", move=True)
    kept = store(console, target, sample_dump)
    duplicate = f"backups/old/{kept.file_name}"
    put(kept.key, duplicate, move=False)
    console.list_backups()
    return moved.backup_id, kept.key, duplicate


def check_addressing(console: Console, target: str, kept_key: str, duplicate: str) -> None:
    renamed = next(r for r in console.list_backups()[0] if r.key == "backups/my copy.enc")
    console.verify(console.locate(renamed.short_id), SECRET)
    console.inspect(console.locate(renamed.short_id), SECRET)
    shown = next(r for r in console.list_backups()[0] if r.key == "backups/my copy.enc")
    assert shown.short_id == renamed.short_id and shown.metadata is not None
    assert console.locate(shown.short_id).record.key == "backups/my copy.enc"
    short = kept_key.rsplit("-", 1)[-1].removesuffix(".enc")
    with pytest.raises(UsageError, match="matches several backups") as caught:
        console.locate(short)
    assert f"{target}:{kept_key}" in caught.value.message and f"{target}:{duplicate}" in caught.value.message
    assert console.locate(f"{target}:{duplicate}").record.key == duplicate
    assert console.locate(f"{target}:{kept_key.removeprefix('backups/')}").record.key == kept_key
    assert_every_listed_backup_is_addressable(console, target)


def test_renamed_and_duplicated_backups_on_a_local_target_stay_addressable(console, tmp_path, sample_dump, capsys):
    folder = local_vault(console, tmp_path / "vault-folder")

    def put(key: str, new_key: str, move: bool) -> None:
        (folder / new_key).parent.mkdir(parents=True, exist_ok=True)
        (shutil.move if move else shutil.copy2)(folder / key, folder / new_key)

    _, kept_key, duplicate = renamed_and_duplicated(console, "vault", put, sample_dump)
    check_addressing(console, "vault", kept_key, duplicate)


def test_renamed_and_duplicated_backups_on_s3_stay_addressable(rclone_s3, s3_target, sample_dump):
    console = Console()
    console.secrets = FakeSecrets()  # type: ignore[assignment]
    console.add_target(s3_target, {"secret_access_key": rclone_s3.secret_key})
    client, bucket = rclone_s3.client(), s3_target.options["bucket"]

    def put(key: str, new_key: str, move: bool) -> None:
        client.copy_object(Bucket=bucket, Key=new_key, CopySource={"Bucket": bucket, "Key": key})
        if move:
            client.delete_object(Bucket=bucket, Key=key)

    _, kept_key, duplicate = renamed_and_duplicated(console, s3_target.name, put, sample_dump)
    check_addressing(console, s3_target.name, kept_key, duplicate)
