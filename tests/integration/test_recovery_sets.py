"""Recovery sets (#18) against real PostgreSQL: two databases on one server and one on another (PG15 + PG17) with a
vault folder, backed up as one set, listed as one entry, verified member by member; damage, failure, cancel and
kill -9 leave no set listed as restorable."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from recovery_console.cli.main import main
from recovery_console.engine.container.verify import read_stream
from recovery_console.engine.live_backup import backup_database
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_backup import backup_set, sweep_unfinished
from recovery_console.engine.sets.set_catalog import COMPLETE, DAMAGED, SetCatalog
from recovery_console.engine.sets.set_listing import find_set, list_sets, verify_set
from recovery_console.engine.sets.set_members import extract_folder_member
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.engine.vault.vault_extract import extract_vault
from recovery_console.errors import (
    Cancelled,
    DatabaseError,
    ExitCode,
    IntegrityError,
    QuotaExceededError,
    UsageError,
)
from recovery_console.models.profile import ConnectionMode
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.integration.test_s3 import FakeSecrets

pytestmark = pytest.mark.integration


def _small_db(server, name: str, rows: int) -> str:
    server.createdb(name)
    server.psql(f"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g "
                f"FROM generate_series(1, {rows}) g; CREATE TABLE ünïcode (x text); INSERT INTO ünïcode VALUES ('é')",
                db=name)
    return name


def _vault(root: Path) -> Path:
    vault = root / "vault"
    (vault / "docs" / "naïve café").mkdir(parents=True)
    (vault / "docs" / "naïve café" / "résumé ✓.txt").write_text("ünïcode content\n", "utf-8")
    (vault / "empty dir").mkdir()
    (vault / "zero.bin").write_bytes(b"")
    (vault / "data.bin").write_bytes(os.urandom(300_000))
    (vault / "link inside").symlink_to("docs/naïve café/résumé ✓.txt")
    (vault / "link outside").symlink_to("/etc/passwd")
    os.utime(vault / "zero.bin", (1_000_000_000, 1_000_000_000))
    return vault


@pytest.fixture
def set_profile(console, local_target, pg15, pg17, pg_server_factory, tmp_path):
    tag = uuid.uuid4().hex[:8]
    config = _small_db(pg15, f"config_{tag}", 500)
    results = _small_db(pg15, f"results_{tag}", 2000)
    remote = _small_db(pg17, f"remote_{tag}", 300)
    console.profiles.create("records", pg15.dsn(config), target=local_target,
                            tool_dirs=[str(pg_server_factory.bin_dir(15)), str(pg_server_factory.bin_dir(17))])
    console.profiles.set_mode("records", ConnectionMode.DIRECT, acknowledge_direct=True)
    members = ProfileMembers(console.profiles)
    members.add_database("records", "results", pg15.dsn(results), mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    members.add_database("records", "remote", pg17.dsn(remote), mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    members.add_folder("records", "vault", str(_vault(tmp_path)))
    return {"config": config, "results": results, "remote": remote, "vault": tmp_path / "vault"}


def _backup(console, **kwargs):
    return backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS, **kwargs)


def _set_files(target: Path) -> list[Path]:
    """Everything under the target's `sets/`: files, hidden ones too, and folders (a removed set leaves none)."""
    return sorted((target / "sets").rglob("*")) if (target / "sets").exists() else []


def test_a_set_is_made_listed_as_one_entry_and_verified_member_by_member(console, set_profile, tmp_path, pg15, pg17):
    seen = []
    record = _backup(console, description="nightly ✓", reporter=Reporter(sink=seen.append, min_interval=0))
    assert record.state == COMPLETE and record.problems == ()
    manifest = record.manifest
    assert [(m.name, m.kind, m.key) for m in manifest.members] == [
        ("main", "database", "01-database.enc"), ("results", "database", "02-database.enc"),
        ("remote", "database", "03-database.enc"), ("vault", "folder", "04-folder.enc")]
    assert [m.database for m in manifest.members[:3]] == [set_profile["config"], set_profile["results"],
                                                          set_profile["remote"]]
    assert manifest.members[2].server_version.startswith("17.") and manifest.members[0].server_version.startswith("15")
    assert manifest.consistency == "separate-snapshots" and manifest.description == "nightly ✓"
    assert seen and seen[-1].done >= sum(m.archive_length for m in manifest.members)  # progress across members

    sets, _ = list_sets(console)
    assert [s.set_id for s in sets] == [manifest.set_id] and sets[0].state == COMPLETE
    backups, _ = console.list_backups()
    assert backups == []  # members are not single backups
    assert find_set(console, record.short_id).folder == record.folder

    fresh = SetCatalog(console.catalog)  # a catalog that never decrypted the manifest names members by the sidecar
    with console.catalog.transaction() as db:
        db.execute("UPDATE sets SET manifest = NULL")
    assert fresh.records()[0].member_files == tuple(m.key for m in manifest.members)

    result = verify_set(console, find_set(console, record.short_id), SECRET)
    assert [v.member.name for v in result.members] == ["main", "results", "remote", "vault"]
    assert list_sets(console)[0][0].verify_result == "ok"
    actions = [e.action for e in console.audit.entries()]
    assert "backup.create-set" in actions and actions[-1] == "backup.verify-set"

    storage = console.storage("vault")  # the vault member decrypts to a tar that extracts the folder exactly
    sink = io.BytesIO()
    with storage.open_read(record.folder + "04-folder.enc") as stream:
        read_stream(stream, SECRET, sink=sink, require_archive=False)
    sink.seek(0)
    out = tmp_path / "restored"
    done = extract_vault(sink, out)
    assert [r.split(":")[0] for r in done.refused] == ["link outside"]
    source = set_profile["vault"]
    assert (out / "docs" / "naïve café" / "résumé ✓.txt").read_text("utf-8") == "ünïcode content\n"
    assert (out / "data.bin").read_bytes() == (source / "data.bin").read_bytes()
    assert (out / "empty dir").is_dir() and (out / "zero.bin").read_bytes() == b""
    assert os.readlink(out / "link inside") == "docs/naïve café/résumé ✓.txt"
    assert (out / "zero.bin").stat().st_mtime == 1_000_000_000

    alone = tmp_path / "target" / record.folder / "04-folder.enc"  # a member file by itself is what it holds
    checked = console.verify(console.locate(str(alone)), SECRET)  # a folder, not a damaged pg_dump archive
    assert checked.metadata.kind == "folder"
    assert console.extract_folder(console.locate(str(alone)), tmp_path / "alone", SECRET).files == done.files


def test_a_member_deleted_or_changed_on_the_target_shows_the_set_damaged(console, set_profile, local_target,
                                                                          tmp_path):
    record = _backup(console)
    folder = tmp_path / "target" / record.folder
    (folder / "02-database.enc").unlink()
    listed = list_sets(console)[0][0]
    assert listed.state == DAMAGED and "member file 02-database.enc is missing" in listed.problems
    with pytest.raises(IntegrityError, match="missing"):
        verify_set(console, listed, SECRET)

    other = _backup(console)
    with open(tmp_path / "target" / other.folder / "04-folder.enc", "ab") as f:
        f.write(b"x")
    states = {s.folder: s for s in list_sets(console)[0]}
    assert states[other.folder].state == DAMAGED
    assert "04-folder.enc is" in " ".join(states[other.folder].problems)

    flipped = _backup(console)  # a byte changed inside a member: the error names the member and its file
    with open(tmp_path / "target" / flipped.folder / "02-database.enc", "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(IntegrityError, match=r"^Member 'results' \(02-database.enc\): "):
        verify_set(console, find_set(console, flipped.short_id), SECRET)


def test_a_failed_member_leaves_no_set_and_no_files(console, set_profile, pg15, local_target, tmp_path, monkeypatch,
                                                    capsys):
    with pytest.raises(UsageError, match="recovery set"):  # a single backup of a set's profile: refused, not partial
        backup_database(console, "records", secret=SECRET)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["profile", "test", "records"]) == ExitCode.OK  # every member reached as the set backup reaches it
    out = capsys.readouterr().out
    assert "Member     remote (database): OK: PostgreSQL 17." in out and "Member     vault (folder): OK" in out
    pg15.dropdb(set_profile["results"])
    assert main(["profile", "test", "records"]) == ExitCode.DATABASE  # its own database fine, a member not
    assert "Member     results (database): FAILED: " in capsys.readouterr().out
    with pytest.raises(DatabaseError, match=r"^Member 'results': "):  # which of the set's databases failed
        _backup(console)
    assert list_sets(console)[0] == [] and _set_files(tmp_path / "target") == []
    assert [e.result for e in console.audit.entries() if e.action == "backup.create-set"] == ["failed"]


def test_a_cancelled_set_leaves_no_set_and_no_files(console, set_profile, tmp_path):
    reporter = Reporter(min_interval=0)
    reporter.sink = lambda p: reporter.token.cancel() if p.done > 0 else None
    with pytest.raises(Cancelled):
        _backup(console, reporter=reporter)
    assert list_sets(console)[0] == [] and _set_files(tmp_path / "target") == []


def test_a_cancel_stops_a_pg_dump_waiting_on_a_lock_and_leaves_nothing(console, set_profile, pg15, tmp_path):
    holder = psycopg.connect(pg15.dsn(set_profile["results"]), autocommit=False)
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # the results member's pg_dump waits for it
    reporter = Reporter()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            _backup(console, reporter=reporter)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not list((tmp_path / "target").glob("sets/*/01-database.enc.sha256")):
            assert time.monotonic() < deadline, "the first member was never stored"
            time.sleep(0.05)
        started = time.monotonic()
        reporter.token.cancel()
        worker.join(20)
        assert not worker.is_alive() and time.monotonic() - started < 10
    finally:
        holder.close()
        worker.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert list_sets(console)[0] == [] and _set_files(tmp_path / "target") == []


def test_kill_9_during_a_set_backup_leaves_no_listed_set_and_the_sweep_removes_its_files(
        console, set_profile, pg15, tmp_path, monkeypatch, capsys):
    """The second database is locked, so its pg_dump waits while the first member is already stored: the kill
    lands mid-set, deterministically."""
    target = tmp_path / "target"
    holder = psycopg.connect(pg15.dsn(set_profile["results"]), autocommit=False)
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from recovery_console.engine.console import Console
        from recovery_console.engine.sets.set_backup import backup_set
        from recovery_console.engine.state.paths import AppPaths
        console = Console(AppPaths(config_dir=Path({str(tmp_path / 'config')!r}),
                                   data_dir=Path({str(tmp_path / 'data')!r})))
        backup_set(console, "records", secret={SECRET!r}, iterations={FAST_ITERATIONS}, parallel=1)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 30
        while not list(target.glob("sets/*/01-database.enc.sha256")):
            assert child.poll() is None and time.monotonic() < deadline, "the set backup never stored its first member"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        holder.close()
        if child.poll() is None:
            child.kill()
    sets, synced = list_sets(console)
    assert sets == []
    unfinished = synced[0].unfinished
    assert len(unfinished) == 1 and any(k.endswith("01-database.enc") for k in unfinished[0].keys)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["backup", "list"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[:2] == [
        "No backups found.", "Not listed: 1 unfinished set (a set backup that failed or was killed); the next set "
        "backup to the target removes such sets once a day old."]
    assert sweep_unfinished(console, console.storage("vault"), unfinished) == 0  # too fresh to sweep
    assert sweep_unfinished(console, console.storage("vault"), unfinished, older_than=0) >= 2
    assert _set_files(target) == []


def test_the_cli_creates_lists_and_verifies_a_set_and_shows_it_damaged(console, set_profile, tmp_path, monkeypatch,
                                                                       capsys, secret_file):
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))  # the CLI's console is the fixture's
    secret = ["--secret-key-file", str(secret_file)]
    assert main(["backup", "create", "--profile", "records", "--json", *secret]) == ExitCode.OK
    made = json.loads(capsys.readouterr().out)
    assert made["state"] == "complete" and len(made["manifest"]["members"]) == 4
    assert main(["backup", "list", "--json"]) == ExitCode.OK
    listed = json.loads(capsys.readouterr().out)
    assert listed["backups"] == [] and [s["set_id"] for s in listed["sets"]] == [made["set_id"]]
    assert main(["backup", "verify", made["short_id"], *secret]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "VERDICT   PASSED" in out and "remote" in out and "its own snapshot" in out

    (tmp_path / "target" / made["folder"] / "03-database.enc").unlink()
    assert main(["backup", "list"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "DAMAGED — not restorable" in out and not out.startswith("ID ")
    assert "member file 03-database.enc is missing" in out
    assert main(["backup", "verify", made["short_id"], *secret]) == ExitCode.VERIFY_FAILED
    assert "is missing from the set" in capsys.readouterr().err
    assert main(["backup", "delete", made["short_id"], "--yes"]) == ExitCode.OK
    assert main(["backup", "list", "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["sets"] == []
    assert _set_files(tmp_path / "target") == []
    assert "backup.delete-set" in [e.action for e in console.audit.entries()][-3:]


def _tree(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry below `root`: files by content, mode and mtime, links by target, folders by name."""
    found: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = ("link", os.readlink(path))
        elif path.is_dir():
            found[name] = ("dir", "")
        else:
            found[name] = (f"{oct(path.stat().st_mode)} {int(path.stat().st_mtime)}", path.read_bytes())
    return found


def test_a_set_restores_its_database_and_vault_in_place_and_its_members_decrypt(
        console, set_profile, pg15, tmp_path, monkeypatch, capsys, secret_file):
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    secret = ["--secret-key-file", str(secret_file)]
    vault = set_profile["vault"]
    (vault / "big.bin").write_bytes(os.urandom(9 << 20))  # more than one 8 MiB record of the member file
    many = vault / "many"
    many.mkdir()
    for i in range(2000):
        (many / f"f{i:04d}-ü.txt").write_text(str(i))
    before = _tree(vault)
    assert main(["backup", "create", "--profile", "records", "--json", *secret]) == ExitCode.OK
    made = json.loads(capsys.readouterr().out)

    assert main(["contents", made["short_id"], *secret]) == ExitCode.OK
    assert "remote" in capsys.readouterr().out
    assert main(["contents", made["short_id"], "--member", "results", *secret]) == ExitCode.OK
    assert "TABLE public t" in capsys.readouterr().out
    dump = tmp_path / "results.dump"
    assert main(["decrypt", made["short_id"], "--member", "results", "-o", str(dump), *secret]) == ExitCode.OK
    assert dump.read_bytes()[:5] == b"PGDMP"
    copy = tmp_path / "vault copy"
    assert main(["decrypt", made["short_id"], "--member", "vault", "-o", str(copy), *secret]) == ExitCode.OK
    assert "REFUSED   link outside" in capsys.readouterr().out
    assert {k: v for k, v in before.items() if k != "link outside"} == _tree(copy)

    (vault / "data.bin").write_bytes(b"overwritten")
    (vault / "new file").write_text("added after the backup")
    pg15.psql("DELETE FROM t WHERE id > 10", db=set_profile["config"])
    capsys.readouterr()
    assert main(["restore", "preflight", made["short_id"], "--profile", "records", *secret]) == ExitCode.VERIFY_FAILED
    out = capsys.readouterr().out
    assert "FAIL  database results: no profile to restore it through; choose a profile of that database, or leave " \
           "the member out (--as-profile results=PROFILE)" in out and "PASS  folder vault" in out
    assert f"→ {set_profile['config']}, safe in-place" in out  # main's own pre-flight ran although results cannot
    assert main(["restore", "preflight", made["short_id"], "--profile", "records", "--member", "main",
                 "--member", "vault", *secret]) == ExitCode.OK
    assert capsys.readouterr().out.rstrip().endswith("Ready to restore.")
    pg15.psql("DELETE FROM t", db=set_profile["results"])
    console.profiles.create("results-db", pg15.dsn(set_profile["results"]), target="vault")
    console.profiles.set_mode("results-db", ConnectionMode.DIRECT, acknowledge_direct=True)
    assert main(["restore", "run", made["short_id"], "--profile", "records", "--member", "main", "--member", "vault",
                 "--member", "results", "--as-profile", "results=results-db", "--yes", *secret]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.count("Restored database") == 2 and "Restored folder" in out and "profile results-db" in out
    assert pg15.psql("SELECT count(*) FROM t", db=set_profile["config"]) == "500"
    assert pg15.psql("SELECT count(*) FROM t", db=set_profile["results"]) == "2000"
    assert main(["restore", "rollback", "--profile", "results-db", "--yes"]) == ExitCode.OK  # per member
    assert pg15.psql("SELECT count(*) FROM t", db=set_profile["results"]) == "0"
    assert {k: v for k, v in before.items() if k != "link outside"} == _tree(vault)
    kept = list(tmp_path.glob("vault.pre_restore_*"))
    assert len(kept) == 1 and (kept[0] / "new file").read_text() == "added after the backup"
    assert main(["restore", "run", made["short_id"], "--profile", "records", "--yes", *secret]) == ExitCode.USAGE
    assert "No profile to restore through for the database members results, remote" in capsys.readouterr().err


def test_a_member_swapped_for_another_sets_file_is_caught(console, set_profile, tmp_path, monkeypatch, capsys,
                                                          secret_file):
    first, second = _backup(console), _backup(console)
    target = tmp_path / "target"
    for name in ("04-folder.enc", "04-folder.enc.sha256"):  # a valid member of the same secret, moved across
        (target / second.folder / name).write_bytes((target / first.folder / name).read_bytes())
    record = find_set(console, second.short_id)
    with pytest.raises(IntegrityError, match="not the file the manifest pins|is .* bytes"):
        verify_set(console, record, SECRET)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    out = tmp_path / "out"
    assert main(["decrypt", second.short_id, "--member", "vault", "-o", str(out),
                 "--secret-key-file", str(secret_file)]) == ExitCode.VERIFY_FAILED
    assert not out.exists()

    vault = set_profile["vault"]  # a byte flipped near the member's end: the in-place restore must not swap
    before = _tree(vault)
    damaged = target / first.folder / "04-folder.enc"
    data = bytearray(damaged.read_bytes())
    data[-40] ^= 1
    damaged.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        extract_folder_member(console, find_set(console, first.short_id), "vault", SECRET, in_place=True)
    assert _tree(vault) == before and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("vault")) == [
        "vault"]


def test_a_set_on_s3_each_member_on_its_own_connection(console, set_profile, rclone_s3, s3_target):
    console.secrets = FakeSecrets()  # the keyring of the tests refuses to store; the members' storages ask this one
    console.add_target(s3_target, {"secret_access_key": rclone_s3.secret_key})
    console.profiles.set_target("records", s3_target.name)
    record = _backup(console)
    assert record.state == COMPLETE and record.target == s3_target.name
    assert len(verify_set(console, record, SECRET).members) == 4
    console.storage(s3_target.name).delete(record.folder + "04-folder.enc")
    [listed] = list_sets(console, [s3_target.name])[0]
    assert listed.state == DAMAGED and listed.problems == ("member file 04-folder.enc is missing",)


def test_a_set_over_its_targets_quota_is_refused_and_removed(console, set_profile, tmp_path):
    config = console.targets.get("vault")
    console.update_target(dataclasses.replace(config, quota=50_000))
    with pytest.raises(QuotaExceededError):
        _backup(console)
    assert list_sets(console)[0] == [] and _set_files(tmp_path / "target") == []
