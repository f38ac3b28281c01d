"""`backup upload --as-set NAME FILE…` (#18): real pg_dump -Fc archives from PostgreSQL and a vault's tar.gz
encrypted into one recovery set, every member pinned by the manifest and verified on the target; refusals,
a cancel and kill -9 leave no listed set; the same on the rclone S3 server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.sets.set_catalog import COMPLETE, DAMAGED
from recovery_console.engine.sets.set_import import import_set
from recovery_console.engine.sets.set_listing import find_set, list_sets, verify_set
from recovery_console.engine.sets.set_members import decrypt_database_member, extract_folder_member
from recovery_console.errors import Cancelled, ExitCode, IntegrityError, UsageError
from recovery_console.models.profile import ConnectionMode
from tests.fixtures.console import FAST_ITERATIONS, SECRET, cancel_at_verify
from tests.integration.test_s3 import FakeSecrets

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def nightly(pg15, tmp_path) -> dict[str, Path]:
    """What a cron job leaves: two databases' pg_dump -Fc files and a vault's tar.gz."""
    tag = uuid.uuid4().hex[:8]
    files = {}
    for name, rows in (("config", 300), ("results", 3000)):
        db = pg15.createdb(f"{name}_{tag}")
        pg15.psql(f"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'Zürich ' || g "
                  f"FROM generate_series(1, {rows}) g", db=db)
        files[name] = tmp_path / f"{name}.dump"
        pg15.run("pg_dump", "-Fc", "-f", str(files[name]), *pg15.conn_args(db))
    vault = tmp_path / "vault"
    (vault / "naïve café").mkdir(parents=True)
    (vault / "naïve café" / "résumé ✓.txt").write_text("ünïcode\n", "utf-8")
    (vault / "big.bin").write_bytes(os.urandom(300_000))
    (vault / "empty").mkdir()
    (vault / "link").symlink_to("naïve café/résumé ✓.txt")
    files["vault"] = tmp_path / "vault.tar.gz"
    subprocess.run(["tar", "-czf", str(files["vault"]), "-C", str(vault), "."], check=True)
    os.utime(files["config"], (1_700_000_000, 1_700_000_000))
    return files


def _target_files(target: Path) -> list[Path]:
    return sorted(p for p in target.rglob("*") if p.is_file())


def test_several_files_become_one_set_each_member_pinned_and_verified(console, local_target, nightly, tmp_path,
                                                                      monkeypatch, capsys, secret_file):
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    before = {name: (_sha(p), p.stat().st_mtime_ns) for name, p in nightly.items()}
    assert main(["backup", "upload", "--as-set", "nightly ✓", str(nightly["config"]), str(nightly["results"]),
                 str(nightly["vault"]), "--target", "vault", "--secret-key-file", str(secret_file), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["state"] == COMPLETE and made["verify_result"] == "ok" and made["verify_detail"] == "full"
    manifest = made["manifest"]
    assert manifest["description"] == "nightly ✓" and manifest["source"] == "imported files"
    assert manifest["consistency"] == "separate-snapshots" and "imported from files" in manifest["consistency_note"]
    members = manifest["members"]
    assert [(m["name"], m["kind"], m["key"]) for m in members] == [
        ("config", "database", "01-database.enc"), ("results", "database", "02-database.enc"),
        ("vault", "folder", "03-folder.enc")]
    assert members[0]["database"].startswith("config_") and members[0]["server_version"].startswith("15.")
    assert members[2]["database"] is None and members[2]["folder"] is None  # its folder is not known
    assert members[0]["started_at"] == members[0]["finished_at"] == "2023-11-14T22:13:20.000Z"  # the file's time
    assert members[1]["started_at"] == _stamp(nightly["results"])
    folder = tmp_path / "target" / made["folder"]
    for member in members:  # the manifest pins each member file on the target by size and SHA-256
        stored = folder / member["key"]
        assert stored.stat().st_size == member["size"] and _sha(stored) == member["sha256"]
    assert [(i["member"], i["sha256"], i["size"]) for i in manifest["imported_from"]] == [
        (name, before[name][0], nightly[name].stat().st_size) for name in ("config", "results", "vault")]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [m["key"] for m in members] + [m["key"] + ".sha256" for m in members] + ["manifest.enc",
                                                                                 "manifest.enc.sha256"])
    assert {name: (_sha(p), p.stat().st_mtime_ns) for name, p in nightly.items()} == before  # only read
    assert console.list_backups()[0] == []  # members are not single backups

    record = find_set(console, made["short_id"])
    assert len(verify_set(console, record, SECRET).members) == 3
    out = tmp_path / "config.out"  # a database member decrypts to the very dump imported
    decrypt_database_member(console, record, "config", out, SECRET)
    assert _sha(out) == before["config"][0]
    extracted = extract_folder_member(console, record, "vault", SECRET, into=tmp_path / "vault.out").extracted
    assert (tmp_path / "vault.out" / "naïve café" / "résumé ✓.txt").read_text("utf-8") == "ünïcode\n"
    assert (tmp_path / "vault.out" / "big.bin").read_bytes() == (tmp_path / "vault" / "big.bin").read_bytes()
    assert os.readlink(tmp_path / "vault.out" / "link") == "naïve café/résumé ✓.txt" and extracted.refused == []
    with pytest.raises(UsageError, match="cannot be restored in place"):  # no folder to swap: refused, not '.'
        extract_folder_member(console, record, "vault", SECRET, in_place=True)
    entry = [e for e in console.audit.entries() if e.action == "backup.upload-set"][-1]
    assert entry.result == "ok" and entry.detail["members"] == 3 and entry.detail["name"] == "nightly ✓"


def test_a_profile_gives_target_secret_and_owner(console, local_target, nightly, monkeypatch):
    console.profiles.create("prod", "postgresql://backup@db.internal:5432/config", target=local_target)
    monkeypatch.setattr(console.profiles, "instance_secret", lambda name: SECRET if name == "prod" else "")
    made = import_set(console, [nightly["config"]], "one", None, None, profile="prod", iterations=FAST_ITERATIONS)
    assert made.target == local_target and made.manifest.profile == "prod" and made.state == COMPLETE


def _crafted(path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        data = b"escape"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_refusals_store_nothing(console, local_target, nightly, tmp_path, monkeypatch, capsys, secret_file):
    target = tmp_path / "target"
    bad = _crafted(tmp_path / "bad.tar")
    with pytest.raises(IntegrityError, match=r"\.\./outside\.txt"):  # checked before anything is stored
        import_set(console, [nightly["config"], bad], "n", "vault", SECRET, iterations=FAST_ITERATIONS)
    with pytest.raises(UsageError, match="both be the set's member 'config'"):
        other = tmp_path / "other"
        other.mkdir()
        (other / "config.dump").write_bytes(nightly["config"].read_bytes())
        import_set(console, [nightly["config"], other / "config.dump"], "n", "vault", SECRET)
    with pytest.raises(UsageError, match="given twice"):
        import_set(console, [nightly["config"], nightly["config"]], "n", "vault", SECRET)
    single = console.upload(nightly["config"], "vault", SECRET)  # a backup file is not a member
    backup_file = target / single.key
    with pytest.raises(UsageError, match="already a backup"):
        import_set(console, [backup_file, nightly["results"]], "n", "vault", SECRET)
    assert list_sets(console)[0] == [] and not (target / "sets").exists()
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["backup", "upload", str(nightly["config"]), str(nightly["results"]), "--target", "vault",
                 "--secret-key-file", str(secret_file)]) == ExitCode.USAGE
    assert "--as-set" in capsys.readouterr().err


def test_a_cancel_while_verifying_the_second_member_leaves_nothing(console, local_target, nightly, tmp_path):
    reporter, verifies = cancel_at_verify(2)
    with pytest.raises(Cancelled):
        import_set(console, [nightly["config"], nightly["vault"]], "n", "vault", SECRET,
                   reporter=reporter, iterations=FAST_ITERATIONS)
    assert list_sets(console)[0] == [] and _target_files(tmp_path / "target") == []
    assert list((tmp_path / "target" / "sets").iterdir()) == []  # not even the set's empty folder
    assert [e.result for e in console.audit.entries() if e.action == "backup.upload-set"] == ["cancelled"]


def test_kill_9_during_an_as_set_upload_leaves_no_listed_set(console, local_target, nightly, tmp_path, secret_file):
    big = tmp_path / "big"
    big.mkdir()
    (big / "noise.bin").write_bytes(os.urandom(48 << 20))
    made = tmp_path / "big.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(big), "."], check=True)
    target = tmp_path / "target"
    argv = [sys.executable, "-m", "recovery_console.cli.main", "backup", "upload", "--as-set", "nightly",
            str(nightly["config"]), str(made), "--target", local_target, "--secret-key-file", str(secret_file)]
    upload = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and upload.poll() is None:
        if list(target.glob("sets/*/01-database.enc.sha256")) and \
                [p for p in target.rglob(".rc-part-*") if p.stat().st_size > (1 << 20)]:
            break  # the first member stored and verified; the second being encrypted into a temporary file
        time.sleep(0.002)
    assert upload.poll() is None, "the upload ended before it was seen writing its second member"
    os.kill(upload.pid, signal.SIGKILL)
    upload.wait(timeout=30)
    sets, synced = list_sets(console)
    assert sets == [] and not list(target.rglob("manifest.enc"))
    [unfinished] = synced[0].unfinished
    assert any(k.endswith("01-database.enc") for k in unfinished.keys)


def test_a_set_uploaded_to_s3_verifies_and_a_missing_member_shows_it_damaged(console, rclone_s3, s3_target,
                                                                            nightly):
    console.secrets = FakeSecrets()
    console.add_target(s3_target, {"secret_access_key": rclone_s3.secret_key})
    made = import_set(console, [nightly["config"], nightly["results"], nightly["vault"]], "nightly",
                      s3_target.name, SECRET, iterations=FAST_ITERATIONS)
    assert made.state == COMPLETE and len(verify_set(console, made, SECRET).members) == 3
    console.storage(s3_target.name).delete(made.folder + "02-database.enc")
    [listed] = list_sets(console, [s3_target.name])[0]
    assert listed.state == DAMAGED and listed.problems == ("member file 02-database.enc is missing",)


def test_an_imported_folder_member_is_restored_into_a_new_folder_never_over_the_working_directory(
        console, local_target, nightly, tmp_path, monkeypatch, capsys, secret_file):
    console.profiles.create("prod", "postgresql://backup@db.internal:5432/config", target=local_target)
    made = import_set(console, [nightly["vault"]], "vault only", None, SECRET, profile="prod",
                      iterations=FAST_ITERATIONS)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)  # an unknown folder must not become '.': the working directory is not swapped
    common = ["--profile", "prod", "--secret-key-file", str(secret_file)]
    assert main(["restore", "preflight", made.short_id, *common]) == ExitCode.VERIFY_FAILED
    out = capsys.readouterr().out
    assert "FAIL  folder vault: imported from a tar file, the folder it came from is unknown" in out
    assert main(["restore", "preflight", made.short_id, *common, "--new-folder", str(tmp_path / "back")]) == 0
    assert "PASS  folder vault: extracted into the new folder" in capsys.readouterr().out
    assert main(["restore", "run", made.short_id, *common, "--yes"]) == ExitCode.VERIFY_FAILED
    out = capsys.readouterr().out
    assert "FAIL  folder vault: imported from a tar file" in out and "NOT restored: member vault" in out
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"] and not list(tmp_path.glob("cwd.pre_restore_*"))
    assert main(["restore", "run", made.short_id, *common, "--new-folder", str(tmp_path / "back"), "--yes"]) == 0
    assert (tmp_path / "back" / "naïve café" / "résumé ✓.txt").read_text("utf-8") == "ünïcode\n"


def test_a_set_of_a_database_and_an_imported_folder_is_refused_before_the_database_is_touched(
        console, local_target, nightly, pg15, tmp_path, monkeypatch, capsys, secret_file):
    live = pg15.createdb(f"live_{uuid.uuid4().hex[:8]}")
    pg15.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'today')", db=live)
    console.profiles.create("prod", pg15.dsn(live), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    made = import_set(console, [nightly["config"], nightly["vault"]], "nightly", None, SECRET, profile="prod",
                      iterations=FAST_ITERATIONS)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # '.' is a folder here: the imported folder must still not pass as in place
    databases = pg15.databases()
    assert main(["contents", made.short_id, "--secret-key-file", str(secret_file)]) == ExitCode.OK
    assert "(imported from a tar file; its folder unknown)" in capsys.readouterr().out
    common = ["--profile", "prod", "--as-profile", "config=prod", "--secret-key-file", str(secret_file),
              "--allow-other-database"]
    assert main(["restore", "run", made.short_id, *common, "--yes"]) == ExitCode.VERIFY_FAILED
    out = capsys.readouterr().out
    assert "FAIL  folder vault: imported from a tar file" in out and "nothing was changed" in out
    assert pg15.psql("SELECT v FROM t", db=live) == "today" and pg15.databases() == databases
    assert main(["restore", "run", made.short_id, *common, "--new-folder", str(tmp_path / "back"), "--yes"]) == 0
    assert pg15.psql("SELECT count(*) FROM t", db=live) == "300" and (tmp_path / "back" / "big.bin").stat().st_size


def test_a_set_uploaded_with_a_target_only_restores_through_any_profile_but_a_missing_one(
        console, local_target, nightly, tmp_path, monkeypatch, capsys, secret_file):
    """An attacker's find: a set imported with --target only recorded profile '' and could be restored only by
    `--profile ''`, which wrote its set restore into `set-restores/.json`."""
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["backup", "upload", "--as-set", "loose", str(nightly["vault"]), "--target", local_target,
                 "--secret-key-file", str(secret_file), "--json"]) == ExitCode.OK
    made = json.loads(capsys.readouterr().out)
    assert made["manifest"]["profile"] == ""
    console.profiles.create("prod", "postgresql://backup@db.internal:5432/config", target=local_target)
    common = ["--secret-key-file", str(secret_file), "--new-folder", str(tmp_path / "back")]
    assert main(["restore", "preflight", made["short_id"], "--profile", "prod", *common]) == ExitCode.OK
    assert main(["restore", "preflight", made["short_id"], "--profile", "", *common]) == ExitCode.NOT_FOUND
    assert "No profile named ''" in capsys.readouterr().err
    assert main(["restore", "run", made["short_id"], "--profile", "prod", "--yes", *common]) == ExitCode.OK
    assert (tmp_path / "back" / "big.bin").stat().st_size == 300_000
    assert not list((tmp_path / "data").rglob("set-restores/.json"))
    assert main(["catalog", "rebuild"]) == ExitCode.OK  # the rebuilt catalog lists the set again, and says so
    assert f"{local_target}: 0 backups, 1 recovery set\n" in capsys.readouterr().out
