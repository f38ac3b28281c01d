"""Recovery sets act as a whole (#18): copy to real S3 (rclone serve s3), SFTP (sshd) and SMB3 (smbd) targets,
download into a folder and upload it back, pin and unpin, against real PostgreSQL. Attacks: kill -9 in the middle of
a set copy or download, a member missing or altered on the source, a member altered while it is being downloaded, a
wrong file an earlier copy left, a pinned set deleted."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_catalog import COMPLETE, DAMAGED
from recovery_console.engine.sets.set_copies import set_copies
from recovery_console.engine.sets.set_copy import copy_set, upload_set
from recovery_console.engine.sets.set_download import download_set
from recovery_console.engine.sets.set_listing import delete_set, find_set, list_sets, verify_set
from recovery_console.engine.sets.set_pins import pin_set, unpin_set
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import Cancelled, ExitCode, IntegrityError, UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.integration.test_replication import source_position

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(home, secret_service, rclone_s3, sftp_server, sftp_users, sftp_dir, pg15, pg_server_factory, tmp_path,
        monkeypatch) -> Iterator[Console]:
    """A console (the CLI's too) with a local target 'vault', secondaries 'offsite-s3' and 'offsite-sftp', and a
    profile 'records' whose set is a PG15 database and a vault folder."""
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(home))
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "vault").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "vault")}))
    console.add_target(TargetConfig(name="offsite-s3", kind="s3", options=rclone_s3.target_options(
        rclone_s3.make_bucket())), {"secret_access_key": rclone_s3.secret_key})
    user = sftp_users.password_user
    console.add_target(TargetConfig(name="offsite-sftp", kind="sftp", options=sftp_server.options(user, sftp_dir)),
                       user.secrets())
    db = f"keep_{uuid.uuid4().hex[:8]}"
    pg15.createdb(db)
    pg15.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g "
              "FROM generate_series(1, 3000) g", db=db)
    files = tmp_path / "files"
    (files / "naïve café").mkdir(parents=True)
    (files / "naïve café" / "résumé ✓.txt").write_text("ünïcode\n", "utf-8")
    (files / "data.bin").write_bytes(os.urandom(200_000))
    console.profiles.create("records", pg15.dsn(db), target="vault", tool_dirs=[str(pg_server_factory.bin_dir(15))])
    console.profiles.set_mode("records", ConnectionMode.DIRECT, acknowledge_direct=True)
    ProfileMembers(console.profiles).add_folder("records", "files", str(files))
    with console:
        yield console


def make_set(console: Console):
    return backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS)


def stored(console: Console, target: str, prefix: str = "") -> dict[str, bytes]:
    """Every object the target lists under `prefix`, by name, with its bytes (hidden temporary names never list)."""
    storage = console.storage(target)
    return {info.key: storage.get_bytes(info.key) for info in storage.list(prefix)}


def set_files(record) -> list[str]:
    names = [m.key for m in record.manifest.members] + ["manifest.enc"]
    return sorted(record.folder + n + s for n in names for s in ("", ".sha256"))


@pytest.mark.parametrize("secondary", ["offsite-s3", "offsite-sftp"])
def test_a_set_is_copied_whole_checked_there_and_listed_only_then(app, secondary):
    record = make_set(app)
    sent = copy_set(app, record, secondary)
    assert (sent.target, sent.folder, sent.files, sent.already) == (secondary, record.folder, 3, False)
    source, copy = stored(app, "vault", "sets/"), stored(app, secondary)
    assert sorted(copy) == set_files(record) and copy == source  # byte for byte, the sidecars too
    assert sent.manifest_sha256 == hashlib.sha256(copy[record.folder + "manifest.enc"]).hexdigest()
    [there] = list_sets(app, [secondary])[0]
    assert there.state == COMPLETE and there.manifest == record.manifest
    assert [v.member.name for v in verify_set(app, there, SECRET).members] == ["main", "files"]
    entry = [e for e in app.audit.entries() if e.action == "backup.copy-set"][-1]
    assert entry.result == "ok" and entry.detail["to"] == secondary and entry.detail["set_id"] == record.set_id

    again = copy_set(app, find_set(app, record.short_id, "vault"), secondary)  # only read back, nothing sent
    assert again.already and stored(app, secondary) == copy
    with pytest.raises(UsageError, match="already on target"):
        copy_set(app, there, secondary)
    assert [c.target for c in set_copies(app, record.short_id)] == sorted(["vault", secondary])

    app.storage(secondary).delete(record.folder + "02-folder.enc.sha256")  # that copy damaged: never "already there"
    with pytest.raises(IntegrityError, match=f"already on target '{secondary}' is damaged"):
        copy_set(app, find_set(app, record.short_id, "vault"), secondary)


def test_the_cli_copies_a_set_from_the_copy_not_on_the_destination(app, capsys, secret_file):
    record = make_set(app)
    assert main(["backup", "copy", record.short_id, "--to", "offsite-sftp"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"Recovery set {record.set_id} copied to target 'offsite-sftp' (3 files" in out
    assert "the manifest last" in out
    assert main(["backup", "copy", record.short_id, "--to", "offsite-s3", "--json"]) == ExitCode.OK
    done = json.loads(capsys.readouterr().out)
    assert done["target"] == "offsite-s3" and not done["already"] and done["set_id"] == record.set_id
    assert main(["backup", "copy", record.short_id, "--to", "vault", "--json"]) == ExitCode.OK  # it is there
    assert json.loads(capsys.readouterr().out)["already"]
    assert stored(app, "offsite-s3") == stored(app, "offsite-sftp") == stored(app, "vault", "sets/")
    capsys.readouterr()
    assert main(["backup", "verify", record.short_id, "--secret-key-file", str(secret_file)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"Recovery set {record.short_id} is on 3 targets: " in err and "--target" in err
    assert main(["backup", "verify", record.short_id, "--target", "offsite-s3",
                 "--secret-key-file", str(secret_file)]) == ExitCode.OK


@pytest.mark.slow
@pytest.mark.parametrize("secondary", ["offsite-s3", "offsite-sftp"])
def test_kill_9_mid_set_copy_lists_no_set_there_and_a_second_copy_completes_it(app, home, secondary, tmp_path):
    (tmp_path / "files" / "big.bin").write_bytes(os.urandom(96 << 20))  # the folder member: ~96 MiB
    record = make_set(app)
    member = tmp_path / "vault" / record.folder / "02-folder.enc"
    assert member.stat().st_size > 90 << 20
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "backup", "copy", record.short_id,
                             "--to", secondary], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while source_position(proc.pid, member) < member.stat().st_size // 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the copy never got a third of the way through the folder member"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    left = stored(app, secondary)
    assert record.folder + "01-database.enc" in left and record.folder + "manifest.enc" not in left
    assert record.folder + "02-folder.enc" not in left  # the member being sent when killed: not even partly
    sets, synced = list_sets(app, [secondary])
    assert sets == [] and [u.folder for u in synced[0].unfinished] == [record.folder]

    sent = copy_set(app, record, secondary)
    assert not sent.already and sorted(stored(app, secondary)) == set_files(record)
    [there] = list_sets(app, [secondary])[0]
    assert there.state == COMPLETE
    assert len(verify_set(app, there, SECRET).members) == 2


def test_a_member_missing_or_altered_on_the_source_is_not_copied_and_leaves_nothing(app, tmp_path):
    record = make_set(app)
    folder = tmp_path / "vault" / record.folder
    data = bytearray((folder / "02-folder.enc").read_bytes())
    data[len(data) // 2] ^= 1  # same size: only its hash tells
    (folder / "02-folder.enc").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its .sha256 sidecar"):
        copy_set(app, record, "offsite-s3")
    assert stored(app, "offsite-s3") == {}  # the member sent before it is removed again: no unfinished folder

    (folder / "01-database.enc").unlink()  # the catalog has not seen it go: the copy finds it missing itself
    assert find_set(app, record.short_id).state == COMPLETE
    with pytest.raises(IntegrityError, match="01-database.enc is missing"):
        copy_set(app, record, "offsite-sftp")
    assert stored(app, "offsite-sftp") == {}
    [listed] = list_sets(app, ["vault"])[0]
    assert listed.state == DAMAGED
    with pytest.raises(IntegrityError, match="damaged"):
        copy_set(app, listed, "offsite-sftp")
    failed = [e for e in app.audit.entries() if e.action == "backup.copy-set"]
    assert [e.result for e in failed] == ["failed"] * 3


def test_a_set_downloaded_into_a_folder_uploads_back_as_the_same_set(app, tmp_path, secret_file, capsys):
    record = make_set(app)
    out = tmp_path / "downloads"
    out.mkdir()
    got = download_set(app, record, out)
    assert got.folder == out / record.folder.split("/")[1] and got.checked_against == "manifest"
    source = stored(app, "vault", "sets/")
    assert {record.folder + p.name: p.read_bytes() for p in got.folder.iterdir()} == source
    assert [p.name for p in out.iterdir()] == [got.folder.name]  # no temporary folder left
    with pytest.raises(UsageError, match="already exists"):
        download_set(app, record, out)

    renamed = got.folder.rename(tmp_path / "set from the archive room")  # the folder's name does not matter
    sent, manifest = upload_set(app, renamed, "offsite-s3", SECRET)
    assert manifest.set_id == record.set_id and sent.folder == record.folder and not sent.already
    assert stored(app, "offsite-s3") == source
    [there] = list_sets(app, ["offsite-s3"])[0]
    assert there.state == COMPLETE and len(verify_set(app, there, SECRET).members) == 2
    with pytest.raises(UsageError, match="already holds recovery set"):
        upload_set(app, renamed, "offsite-s3", SECRET)

    assert main(["backup", "download", record.short_id, "--target", "vault", "-o", str(tmp_path / "cli copy"),
                 "--json"]) == ExitCode.OK
    done = json.loads(capsys.readouterr().out)
    assert done["files"] == 6 and done["checked_against"] == "manifest"
    assert main(["backup", "upload", str(tmp_path / "cli copy"), "--target", "offsite-sftp",
                 "--secret-key-file", str(secret_file)]) == ExitCode.OK
    assert "verified and uploaded to target 'offsite-sftp'" in capsys.readouterr().out
    assert stored(app, "offsite-sftp") == source
    actions = [e.action for e in app.audit.entries()]
    assert actions.count("backup.download-set") >= 2 and actions.count("backup.upload-set") >= 2

    copy = tmp_path / "cli copy"  # verified offline where it lies, every member read whole with the key
    assert main(["backup", "verify", str(copy), "--secret-key-file", str(secret_file)]) == ExitCode.OK
    assert f"PASSED (full verify): the set {record.set_id} in {copy} is whole" in capsys.readouterr().out
    member = next(copy.glob("02-*.enc"))
    data = bytearray(member.read_bytes())
    data[300] ^= 0x01
    member.write_bytes(bytes(data))
    assert main(["backup", "verify", str(copy), "--secret-key-file", str(secret_file)]) == ExitCode.VERIFY_FAILED
    assert "Member '" in capsys.readouterr().err


def test_a_member_altered_during_the_download_leaves_no_folder(app, tmp_path):
    record = make_set(app)
    member = tmp_path / "vault" / record.folder / "02-folder.enc"

    altered: list[int] = []

    def tamper(progress) -> None:  # the database member is arriving; the folder member is altered on the target
        if progress.done and not altered:
            data = bytearray(member.read_bytes())
            data[100] ^= 1
            member.write_bytes(bytes(data))
            altered.append(progress.done)

    out = tmp_path / "downloads"
    out.mkdir()
    with pytest.raises(IntegrityError, match="does not match the sidecar"):
        download_set(app, record, out, Reporter(sink=tamper, min_interval=0))
    assert altered and altered[0] <= record.manifest.members[0].size  # before the folder member was read
    assert list(out.iterdir()) == []  # no set folder, no hidden .part folder
    assert [e.result for e in app.audit.entries() if e.action == "backup.download-set"] == ["failed"]


def test_a_downloaded_set_with_an_altered_member_is_not_uploaded(app, tmp_path):
    record = make_set(app)
    got = download_set(app, record, tmp_path / "copy")
    name = "02-folder.enc"  # altered, and every sidecar re-made to match: only the manifest, read with the key, tells
    data = bytearray((got.folder / name).read_bytes())
    data[-40] ^= 1
    (got.folder / name).write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="Member 'files' .*Nothing was uploaded"):  # the key finds it
        upload_set(app, got.folder, "offsite-s3", SECRET)
    digest = hashlib.sha256(bytes(data)).hexdigest()
    (got.folder / (name + ".sha256")).write_text(f"{digest}  {name}\n")
    lines = (got.folder / "manifest.enc.sha256").read_text().splitlines()
    (got.folder / "manifest.enc.sha256").write_text("\n".join(lines[:2] + [f"{digest}  {name}"]) + "\n")
    with pytest.raises(IntegrityError, match="manifest"):
        upload_set(app, got.folder, "offsite-s3", SECRET)
    assert stored(app, "offsite-s3") == {}


def test_a_pinned_set_is_never_deleted_on_any_copy_until_unpinned(app, tmp_path, capsys):
    record = make_set(app)
    copy_set(app, record, "offsite-sftp")
    assert main(["backup", "pin", record.short_id, "--reason", "case 7 ✓"]) == ExitCode.OK
    assert capsys.readouterr().out.count("Pinned recovery set") == 2  # every copy
    assert {(p.target, p.key) for p in app.pins.all()} == {("vault", record.folder), ("offsite-sftp", record.folder)}
    assert app.pins.by_key("vault") == {record.folder: "case 7 ✓"}  # what a prune plan reads
    assert main(["backup", "list", "--json"]) == ExitCode.OK
    listed = json.loads(capsys.readouterr().out)
    assert {s["target"]: s["pin"]["reason"] for s in listed["sets"]} == {"vault": "case 7 ✓",
                                                                           "offsite-sftp": "case 7 ✓"}

    for target in ("vault", "offsite-sftp"):
        assert main(["backup", "delete", record.short_id, "--target", target, "--yes"]) == ExitCode.USAGE
        assert "is pinned (legal hold: case 7 ✓); it cannot be deleted" in capsys.readouterr().err
        with pytest.raises(UsageError, match="pinned"):
            delete_set(app, find_set(app, record.short_id, target))
    assert sorted(stored(app, "offsite-sftp")) == set_files(record)
    assert sorted(stored(app, "vault", "sets/")) == set_files(record)

    assert main(["backup", "unpin", record.short_id, "--target", "offsite-sftp"]) == ExitCode.OK
    assert delete_set(app, find_set(app, record.short_id, "offsite-sftp")).files == 6
    with pytest.raises(UsageError, match="pinned"):
        delete_set(app, find_set(app, record.short_id, "vault"))
    assert len(unpin_set(app, set_copies(app, record.short_id))) == 1
    with pytest.raises(UsageError, match="not pinned"):
        unpin_set(app, set_copies(app, record.short_id))
    with pytest.raises(UsageError, match="reason"):
        pin_set(app, set_copies(app, record.short_id), "   ")
    actions = [(e.action, e.result) for e in app.audit.entries() if "pin" in e.action or "delete-set" in e.action]
    assert actions.count(("backup.pin-set", "ok")) == 2 and actions.count(("backup.unpin-set", "ok")) == 2
    assert actions.count(("backup.delete-set", "failed")) == 5 and ("backup.delete-set", "ok") in actions


@pytest.mark.slow
def test_kill_9_mid_set_download_leaves_only_a_claimed_folder_that_the_next_start_removes(app, home, tmp_path):
    (tmp_path / "files" / "big.bin").write_bytes(os.urandom(64 << 20))
    record = make_set(app)
    copy_set(app, record, "offsite-sftp")
    out = tmp_path / "downloads"
    out.mkdir()
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "backup", "download", record.short_id,
                             "--target", "offsite-sftp", "-o", str(out)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while sum(p.stat().st_size for p in out.glob(".*.part/.02-folder.enc.*.part")) < 8 << 20:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the download never got 8 MiB into the folder member"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    [left] = list(out.iterdir())
    assert left.name.startswith(f".{record.folder.split('/')[1]}.") and left.name.endswith(".part")
    Console(AppPaths(config_dir=home / "config", data_dir=home / "data")).close()  # the next start sweeps it
    assert list(out.iterdir()) == []
    got = download_set(app, record, out)
    assert {record.folder + p.name: p.read_bytes() for p in got.folder.iterdir()} == stored(app, "vault", "sets/")


def test_a_set_backed_up_straight_to_sftp_is_listed_verified_and_deleted_there(app, sftp_dir):
    app.profiles.set_target("records", "offsite-sftp")
    record = make_set(app)
    assert record.target == "offsite-sftp" and record.state == COMPLETE
    assert len(verify_set(app, find_set(app, record.short_id), SECRET).members) == 2
    deleted = delete_set(app, find_set(app, record.short_id))
    assert deleted.files == 6 and deleted.folder_kept is None and stored(app, "offsite-sftp") == {}
    assert list((sftp_dir / "sets").iterdir()) == []  # the set's folder went with its files


def test_a_cancelled_set_copy_leaves_nothing_on_s3_not_even_an_open_upload(app, rclone_s3, tmp_path):
    (tmp_path / "files" / "big.bin").write_bytes(os.urandom(40 << 20))
    record = make_set(app)
    reporter = Reporter(min_interval=0)
    reporter.sink = lambda p: reporter.token.cancel() if p.done > 20 << 20 else None
    with pytest.raises(Cancelled):
        copy_set(app, record, "offsite-s3", reporter)
    bucket = app.targets.get("offsite-s3").options["bucket"]
    raw = rclone_s3.client()
    assert raw.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert [e.result for e in app.audit.entries() if e.action == "backup.copy-set"] == ["cancelled"]
    assert copy_set(app, record, "offsite-s3").files == 3 and list_sets(app, ["offsite-s3"])[0][0].state == COMPLETE


def test_a_wrong_file_an_earlier_copy_left_is_sent_again_before_the_manifest(app, tmp_path):
    record = make_set(app)
    dest = app.storage("offsite-sftp")
    good = (tmp_path / "vault" / record.folder / "01-database.enc").read_bytes()
    bad = bytearray(good)
    bad[-10] ^= 1
    dest.put_bytes(record.folder + "01-database.enc", bytes(bad))  # an unfinished copy's file, the right size
    assert list_sets(app, ["offsite-sftp"])[0] == []
    sent = copy_set(app, record, "offsite-sftp")
    assert not sent.already and stored(app, "offsite-sftp") == stored(app, "vault", "sets/")
    assert dest.get_bytes(record.folder + "01-database.enc") == good


def test_a_set_copied_to_smb_downloads_from_there_and_deletes_manifest_first(app, smb_dir, tmp_path):
    app.add_target(TargetConfig(name="offsite-smb", kind="smb", options=smb_dir.options()),
                   {"password": smb_dir.server.password})
    record = make_set(app)
    sent = copy_set(app, record, "offsite-smb")
    assert not sent.already and stored(app, "offsite-smb") == stored(app, "vault", "sets/")
    there = find_set(app, record.short_id, "offsite-smb")
    assert there.state == COMPLETE and len(verify_set(app, there, SECRET).members) == 2
    got = download_set(app, there, tmp_path / "from smb")
    assert {record.folder + p.name: p.read_bytes() for p in got.folder.iterdir()} == stored(app, "vault", "sets/")
    assert delete_set(app, there).files == 6 and stored(app, "offsite-smb") == {}
    assert list((smb_dir.path / "sets").iterdir()) == []  # the set's folder went with its files
