"""A recovery set leaves nothing behind (#18): its folder goes with its files on a local folder, real SFTP (sshd) and
SMB3 (smbd), and S3 (rclone) has no folder to remove; after a delete, a failed or cancelled upload, and a SIGTERM of
`backup upload --as-set` on SFTP. A file the set did not write keeps its folder, and the result says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_catalog import DAMAGED, SetCatalog
from recovery_console.engine.sets.set_import import import_set
from recovery_console.engine.sets.set_listing import delete_set, list_sets
from recovery_console.engine.sets.set_pins import pin_set
from recovery_console.engine.sets.set_restore import refuse_damaged
from recovery_console.engine.sets.set_sweep import remove_folder
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.storage.base import Storage
from recovery_console.engine.storage.local import LocalStorage
from recovery_console.errors import Cancelled, ExitCode, IntegrityError, StorageError, UsageError
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import DATA, FAST_ITERATIONS, SECRET, cancel_at_verify
from tests.integration.test_s3 import FakeSecrets

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KINDS = ("local", "sftp", "smb", "s3")


@dataclass
class Place:
    """A console with the target 't' of one kind, and where that target's files are on this machine (None: S3)."""

    console: Console
    kind: str
    root: Path | None

    @property
    def storage(self) -> Storage:
        return self.console.storage("t")

    def listed(self) -> list[str]:
        """Every object the target lists (S3 included)."""
        return sorted(info.key for info in self.storage.list(""))

    def on_disk(self) -> list[str]:
        """Every file and folder under the target's root, hidden ones too (the set area `sets/` itself aside)."""
        assert self.root is not None
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p != self.root / "sets")


def _place(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Place:
    console = Console(AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data"))
    console.secrets = FakeSecrets()  # type: ignore[assignment]
    if kind == "local":
        root = tmp_path / "target"
        root.mkdir()
        console.add_target(TargetConfig(name="t", kind="local", options={"path": str(root)}))
        return Place(console, kind, root)
    if kind == "sftp":
        server, users = request.getfixturevalue("sftp_server"), request.getfixturevalue("sftp_users")
        folder = request.getfixturevalue("sftp_dir")
        user = users.password_user
        console.add_target(TargetConfig(name="t", kind="sftp", options=server.options(user, folder)), user.secrets())
        return Place(console, kind, folder)
    if kind == "smb":
        spot = request.getfixturevalue("smb_dir")
        console.add_target(TargetConfig(name="t", kind="smb", options=spot.options()),
                           {"password": spot.server.password})
        return Place(console, kind, spot.path)
    rclone = request.getfixturevalue("rclone_s3")
    console.add_target(TargetConfig(name="t", kind="s3", options=rclone.target_options(rclone.make_bucket())),
                       {"secret_access_key": rclone.secret_key})
    return Place(console, kind, None)


@pytest.fixture(params=KINDS)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    made = _place(request.param, tmp_path, request)
    with made.console:
        yield made


@pytest.fixture
def vault_tar(tmp_path: Path) -> Path:
    """A vault's tar, as a nightly job leaves it."""
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "a.txt").write_text("attachment ✓\n", "utf-8")
    (folder / "b.bin").write_bytes(os.urandom(100_000))
    made = tmp_path / "vault.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(folder), "."], check=True)
    return made


def _upload(place: Place, *files: Path):
    return import_set(place.console, list(files), "nightly", "t", SECRET, iterations=FAST_ITERATIONS)


def test_remove_empty_folder_removes_only_an_empty_folder_on_each_backend(place):
    storage = place.storage
    storage.put_bytes("sets/x/a.enc", b"member")
    if place.root is not None:
        (place.root / "sets" / "x" / ".hidden").write_bytes(b"not listed, still there")
        with pytest.raises(StorageError, match=r"is not empty: it holds \.hidden, a\.enc\.$"):  # the listing
            storage.remove_empty_folder("sets/x/")  # hides that name; the folder still keeps it
        (place.root / "sets" / "x" / ".hidden").unlink()
        with pytest.raises(StorageError, match=r"x/? is not empty: it holds a\.enc\.$"):
            storage.remove_empty_folder("sets/x/")
        assert (place.root / "sets" / "x" / "a.enc").read_bytes() == b"member"
    else:
        storage.remove_empty_folder("sets/x/")  # S3 has no folders: nothing happens, the object stays
        assert place.listed() == ["sets/x/a.enc"]
    storage.delete("sets/x/a.enc")
    storage.remove_empty_folder("sets/x/")
    storage.remove_empty_folder("sets/x/")  # already gone: fine
    storage.remove_empty_folder("sets/never/")
    assert place.listed() == []
    if place.root is not None:
        assert not (place.root / "sets" / "x").exists() and (place.root / "sets").is_dir()


def test_a_deleted_set_leaves_no_folder(place, vault_tar):
    made = _upload(place, DATA / "sample-pg15.dump", vault_tar)
    removed = delete_set(place.console, made)
    assert removed.files == 6 and removed.folder_kept is None
    assert place.listed() == [] and list_sets(place.console)[0] == []
    if place.root is not None:
        assert place.on_disk() == []
    entry = [e for e in place.console.audit.entries() if e.action == "backup.delete-set"][-1]
    assert entry.result == "ok" and entry.detail["files"] == 6 and "folder_kept" not in entry.detail


def test_a_cancelled_upload_leaves_no_folder(place, vault_tar):
    reporter, verifies = cancel_at_verify(2)
    with pytest.raises(Cancelled):
        import_set(place.console, [DATA / "sample-pg15.dump", vault_tar], "n", "t", SECRET,
                   reporter=reporter, iterations=FAST_ITERATIONS)
    assert len(verifies) == 2 and place.listed() == []
    if place.root is not None:
        assert place.on_disk() == []


@pytest.mark.parametrize("kind", ["local", "sftp", "smb"])
def test_a_file_the_set_did_not_write_keeps_its_folder_and_the_result_says_why(kind, tmp_path, request,
                                                                               vault_tar, monkeypatch, capsys):
    place = _place(kind, tmp_path, request)
    with place.console:
        made = _upload(place, DATA / "sample-pg15.dump", vault_tar)
        assert place.root is not None
        stray = place.root / made.folder / "notes ✓.txt"
        stray.write_text("an operator's note\n", "utf-8")
        removed = delete_set(place.console, made)
        assert removed.files == 6 and removed.folder_kept is not None
        assert "stays: it holds 1 file the set did not write (notes ✓.txt), left as it is" in removed.folder_kept
        assert place.on_disk() == [made.folder.rstrip("/"), made.folder + "notes ✓.txt"]
        assert stray.read_text("utf-8") == "an operator's note\n"
        entry = [e for e in place.console.audit.entries() if e.action == "backup.delete-set"][-1]
        assert entry.result == "ok" and entry.detail["folder_kept"] == removed.folder_kept
        sets, synced = list_sets(place.console)
        assert sets == [] and synced[0].unfinished == ()  # not an unfinished set: nothing of a set is in it

        again = _upload(place, vault_tar)  # through the CLI: the warning is printed, and is in --json
        (place.root / again.folder / "sub").mkdir()
        (place.root / again.folder / "sub" / "x").write_bytes(b"x")
        monkeypatch.setattr("recovery_console.cli.backup_cmd.console", lambda: place.console)
        assert main(["backup", "delete", again.short_id, "--yes"]) == ExitCode.OK
        out = capsys.readouterr().out
        assert "Deleted recovery set" in out and "Warning: The set's folder" in out and "(sub/x)" in out
        assert sorted(place.on_disk()) == sorted([made.folder.rstrip("/"), made.folder + "notes ✓.txt",
                                                  again.folder.rstrip("/"), again.folder + "sub",
                                                  again.folder + "sub/x"])


def test_only_a_sets_own_folder_is_ever_removed(tmp_path):
    root = tmp_path / "target"
    (root / "sets" / "mine").mkdir(parents=True)
    (root / "backups").mkdir()
    storage = LocalStorage("t", root)
    for folder in ("sets/mine/", "backups/", "sets/", "sets/rc_set_20261207-15-00-00-1.0-manual-0123abcd/sub/"):
        with pytest.raises(UsageError, match="not a recovery set's folder"):
            remove_folder(storage, folder)
    assert (root / "sets" / "mine").is_dir() and (root / "backups").is_dir()


@pytest.mark.slow
def test_sigterm_during_an_as_set_upload_to_sftp_leaves_nothing_there(tmp_path, sftp_server, sftp_users, sftp_dir,
                                                                     secret_service, vault_tar, secret_file):
    home = tmp_path / "home"
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    user = sftp_users.password_user
    console.add_target(TargetConfig(name="t", kind="sftp", options=sftp_server.options(user, sftp_dir)),
                       user.secrets())
    big = tmp_path / "big"
    big.mkdir()
    (big / "noise.bin").write_bytes(os.urandom(64 << 20))
    large = tmp_path / "big.tar"
    subprocess.run(["tar", "-cf", str(large), "-C", str(big), "."], check=True)
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "backup", "upload", "--as-set",
                             "nightly", str(vault_tar), str(large), "--target", "t", "--secret-key-file",
                             str(secret_file)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (list(sftp_dir.glob("sets/*/01-folder.enc.sha256"))
                   and [p for p in sftp_dir.rglob(".rc-part-*") if p.stat().st_size > (8 << 20)]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the upload was never seen writing its second member"
            time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitCode.CANCELLED, err
    assert sorted(str(p.relative_to(sftp_dir)) for p in sftp_dir.rglob("*")) == ["sets"]  # no folder, no temp
    with console:
        assert list_sets(console)[0] == []
        assert [e.result for e in console.audit.entries() if e.action == "backup.upload-set"] == ["cancelled"]


@pytest.mark.parametrize("kind", ["local", "sftp", "smb"])
def test_a_folder_that_cannot_be_removed_is_a_warning_of_a_delete_that_succeeded(kind, tmp_path, request,
                                                                                 vault_tar):
    place = _place(kind, tmp_path, request)
    with place.console:
        made = _upload(place, vault_tar)
        assert place.root is not None
        (place.root / made.folder / ".DS_Store").write_bytes(b"a file manager's")  # hidden: never listed
        removed = delete_set(place.console, made)
        assert removed.files == 4 and removed.folder_kept is not None
        assert removed.folder_kept.startswith("The set's files were removed, but its folder stays: ")
        assert removed.folder_kept.endswith(" is not empty: it holds .DS_Store.")
        assert place.on_disk() == [made.folder.rstrip("/"), made.folder + ".DS_Store"]
        assert list_sets(place.console)[0] == []
        assert [e.result for e in place.console.audit.entries() if e.action == "backup.delete-set"] == ["ok"]


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_a_killed_uploads_part_file_goes_at_a_listing_once_a_day_old_and_not_before(kind, tmp_path, request,
                                                                                     vault_tar):
    """A kill -9 mid-upload leaves the hidden part file on a remote target (nothing of the console runs to remove
    it); one unchanged for a day is a dead upload's, since a live one writes to it all the time."""
    place = _place(kind, tmp_path, request)
    with place.console:
        made = _upload(place, vault_tar)
        assert place.root is not None
        folder = place.root / made.folder
        dead, live = folder / ".rc-part-0123456789ab-01-folder.enc", place.root / ".rc-part-fedcba987654-x.enc"
        nearly = folder / ".rc-part-aaaaaaaaaaaa-02-folder.enc"
        owner = folder.stat()  # as if the target's own user wrote them (Samba lets only a writer delete a file)
        for part in (dead, live, nearly):
            part.write_bytes(b"half an upload")
            os.chown(part, owner.st_uid, owner.st_gid)
        day = 24 * 3600
        os.utime(dead, (time.time() - day - 120, time.time() - day - 120))
        os.utime(nearly, (time.time() - day + 600, time.time() - day + 600))
        before = place.listed()
        assert not dead.exists() and live.exists() and nearly.exists()
        assert place.listed() == before and all(".rc-part-" not in key for key in before)
        assert [s.short_id for s in list_sets(place.console)[0]] == [made.short_id]


def test_a_set_that_lost_its_manifest_is_damaged_never_swept(tmp_path, request, vault_tar):
    """An attacker's find: a complete, pinned set whose manifest went missing was taken for an unfinished one a day
    old and swept, members and all, by the next set backup to the target."""
    place = _place("local", tmp_path, request)
    assert place.root is not None
    kept = _upload(place, DATA / "sample-pg15.dump", vault_tar)
    loose = _upload(place, vault_tar)
    pin_set(place.console, [kept], "case 2026-117")
    for made in (kept, loose):
        folder = place.root / made.folder
        for name in ("manifest.enc", "manifest.enc.sha256"):
            (folder / name).rename(tmp_path / f"{made.short_id}-{name}")
        for path in folder.iterdir():
            os.utime(path, (time.time() - 2 * 86400,) * 2)
    listed = {record.folder: record for record in list_sets(place.console)[0]}
    assert listed[kept.folder].state == DAMAGED and listed[loose.folder].state == DAMAGED
    assert "its manifest file manifest.enc is missing" in listed[kept.folder].problems
    with pytest.raises(IntegrityError, match="damaged"):
        refuse_damaged(listed[kept.folder])
    _upload(place, vault_tar)  # a set backup sweeps the target's unfinished sets: these are not among them
    assert sorted(p.name for p in (place.root / kept.folder).iterdir()) == ["01-database.enc", "01-database.enc.sha256",
                                                                          "02-folder.enc", "02-folder.enc.sha256"]
    assert len(list((place.root / loose.folder).iterdir())) == 2

    fresh = Console(AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "new data"))  # catalog rebuilt:
    fresh.secrets = FakeSecrets()  # type: ignore[assignment]  # only the pin still protects
    with fresh:
        assert sorted(u.folder for u in SetCatalog(fresh.catalog).sync(fresh.storage("t")).unfinished) == \
            sorted([kept.folder, loose.folder])
        import_set(fresh, [vault_tar], "nightly", "t", SECRET, iterations=FAST_ITERATIONS)
    assert (place.root / kept.folder / "02-folder.enc").is_file() and not (place.root / loose.folder).exists()
