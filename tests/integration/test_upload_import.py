"""`backup upload` of files that are not backups yet (#18): a plain pg_dump -Fc archive from a real server, restored
row for row; a vault's tar checked by the vault's rules, stored as a folder backup and extracted back; and
the files it must refuse, with nothing left on the target."""

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
from pathlib import Path

import pytest

from recovery_console.engine.progress import CancelToken, Phase, Reporter
from recovery_console.engine.restore import Restorer
from recovery_console.engine.sets.set_import import import_set
from recovery_console.errors import Cancelled, FolderBackupError, IntegrityError, UnsupportedError, UsageError
from recovery_console.models.profile import ConnectionMode
from tests.fixtures.console import FAST_ITERATIONS, SECRET

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
ROWS_SQL = """
CREATE TABLE notes (id int PRIMARY KEY, body text, at timestamptz);
INSERT INTO notes SELECT g, 'Zürich ✓ ' || g, '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 500) g;
CREATE TABLE empty_one (x int);
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "recovery_console.cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "RECOVERY_CONSOLE_HOME": str(home)})
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _nothing_stored(console, target_folder: Path) -> None:
    """Nothing listed, and no file (not even a partial one) left in the target's folder."""
    assert console.list_backups()[0] == []
    assert [p for p in target_folder.rglob("*") if p.is_file()] == []


@pytest.fixture
def source_db(pg15) -> str:
    name = pg15.createdb(f"imp_{uuid.uuid4().hex[:8]}")
    pg15.psql(ROWS_SQL, db=name)
    return name


@pytest.fixture
def secret_path(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, "utf-8")
    return path


def test_a_pg_dump_file_is_imported_and_restores_row_for_row(console, local_target, pg15, source_db, tmp_path,
                                                             secret_path, table_fingerprints):
    dump = tmp_path / "nightly.dump"
    pg15.run("pg_dump", "-Fc", "-f", str(dump), *pg15.conn_args(source_db))
    before = (_sha(dump), dump.stat().st_mtime_ns)
    console.profiles.create("prod", pg15.dsn(source_db), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    home = console.paths.config_dir.parent  # the console fixture's folders, as RECOVERY_CONSOLE_HOME lays them out

    uploaded = json.loads(_cli(home, "backup", "upload", str(dump), "--target", local_target,
                               "--secret-key-file", str(secret_path), "--json").stdout)
    md = uploaded["metadata"]
    assert (md["database"], md["source"], md["source_name"]) == (source_db, "file", "nightly.dump")
    assert md["server_version"].startswith("15.") and md["pg_dump_version"].startswith("15.")
    assert md["dumped_at_local"][:4] == time.strftime("%Y")
    assert md["imported_from"]["sha256"] == before[0] and md["imported_from"]["size"] == dump.stat().st_size
    assert uploaded["verify_result"] == "ok"  # read back from the target and fully verified there
    assert (_sha(dump), dump.stat().st_mtime_ns) == before  # the input is only read

    copy = f"{source_db}_copy"
    _cli(home, "restore", "run", uploaded["backup_id"], "--profile", "prod", "--new-database", copy, "--yes",
         "--secret-key-file", str(secret_path))
    assert table_fingerprints(pg15, copy) == table_fingerprints(pg15, source_db)
    uploads = [e for e in console.audit.entries() if e.action == "backup.upload"]
    assert [(e.result, e.detail["imported"], e.detail["file_sha256"]) for e in uploads] == [("ok", "pg_dump",
                                                                                             before[0])]


def test_dumps_that_cannot_be_imported_are_refused_by_name(console, local_target, pg15, source_db, tmp_path):
    target_folder = tmp_path / "target"
    plain = tmp_path / "plain.sql"
    pg15.run("pg_dump", "-f", str(plain), *pg15.conn_args(source_db))
    with pytest.raises(UnsupportedError, match="plain-SQL dump") as caught:
        console.upload(plain, local_target, SECRET)
    assert "psql" in caught.value.hint
    tar_format = tmp_path / "tar-format.tar"
    pg15.run("pg_dump", "-Ft", "-f", str(tar_format), *pg15.conn_args(source_db))
    with pytest.raises(UnsupportedError, match=r"pg_dump tar-format archive \(pg_dump -Ft\)"):
        console.upload(tar_format, local_target, SECRET)
    directory = tmp_path / "dir-format"
    pg15.run("pg_dump", "-Fd", "-f", str(directory), *pg15.conn_args(source_db))
    with pytest.raises(UnsupportedError, match="directory-format"):
        console.upload(directory, local_target, SECRET)

    whole = tmp_path / "whole.dump"
    pg15.run("pg_dump", "-Fc", "-f", str(whole), *pg15.conn_args(source_db))
    cut = tmp_path / "cut.dump"
    cut.write_bytes(whole.read_bytes()[:-200])  # the TOC is whole; the last data block is not
    with pytest.raises(IntegrityError, match="not a whole pg_dump archive"):
        console.upload(cut, local_target, SECRET)
    _nothing_stored(console, target_folder)
    failed = [e for e in console.audit.entries() if e.action == "backup.upload"]
    assert [e.result for e in failed] == ["failed"] * 4


def _vault(root: Path) -> Path:
    """A small vault: non-ASCII names, a link inside, an empty folder, a 0-byte file."""
    (root / "déjà vu" / "empty").mkdir(parents=True)
    (root / "déjà vu" / "naïve.txt").write_text("résumé ✓\n", "utf-8")
    (root / "zero").write_bytes(b"")
    (root / "data.bin").write_bytes(os.urandom(70_000))
    os.symlink("déjà vu/naïve.txt", root / "link")
    return root


def _tree(root: Path) -> dict[str, object]:
    seen: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        seen[name] = (("link", os.readlink(path)) if path.is_symlink() else
                      ("dir",) if path.is_dir() else ("file", path.read_bytes()))
    return seen


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst", ".tar"])
def test_a_vault_tar_is_stored_as_a_folder_backup_and_extracted_back(console, local_target, tmp_path, suffix):
    vault = _vault(tmp_path / "vault")
    plain = tmp_path / "vault.tar"
    subprocess.run(["tar", "-cf", str(plain), "-C", str(vault), "."], check=True)
    made = plain if suffix == ".tar" else tmp_path / f"nightly{suffix}"
    if suffix == ".tar.gz":
        subprocess.run(["tar", "-czf", str(made), "-C", str(vault), "."], check=True)
    elif suffix == ".tar.zst":
        import zstandard

        made.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    seen: list[Phase] = []
    reporter = Reporter(sink=lambda p: seen.append(p.phase) if not seen or seen[-1] != p.phase else None)
    record = console.upload(made, local_target, SECRET, reporter=reporter)
    assert seen[:3] == [Phase.READ, Phase.ENCRYPT, Phase.DERIVE_KEY] and Phase.VERIFY in seen
    md = record.metadata
    assert md.kind == "folder" and md.compression == "zstd" and md.database is None
    assert md.extra["folder"] == {"files": 3, "directories": 3, "links": 1, "content_bytes": 70_000 + 13}
    assert md.extra["imported_from"]["sha256"] == _sha(made) and record.verify_result == "ok"

    with pytest.raises(UsageError, match=f"already holds this file, imported as backup {record.short_id}"):
        console.upload(made, local_target, SECRET)
    ref = console.locate(record.short_id)
    assert console.verify(ref, SECRET).mode == "full"  # a full verify passes on a tar payload
    out = tmp_path / "back.tar"
    result = console.decrypt(ref, out, SECRET)
    assert result.sha256 == _sha(plain)  # decrypt gives back the tar, byte for byte
    names = [m.name for m in console.folder_contents(ref, SECRET).members]
    assert "./déjà vu/empty" in names and "./link" in names
    restored = tmp_path / "restored"
    done = console.extract_folder(ref, restored, SECRET)
    assert done.refused == [] and _tree(restored) == _tree(vault)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".restored")) == []
    with pytest.raises(FolderBackupError, match="holds a folder") as caught:
        console.contents(ref, lambda: SECRET)
    assert "--extract" in caught.value.hint_for_cli()


def test_zero_padding_after_the_end_marker_is_stored_too(console, local_target, tmp_path):
    """tar pads to whole records, and a tar reader stops at the end marker: the check's hash covers the padding."""
    made = tmp_path / "padded.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(_vault(tmp_path / "vault")), "."], check=True)
    with made.open("ab") as out:
        out.write(bytes(200 * tarfile.BLOCKSIZE))
    record = console.upload(made, local_target, SECRET)
    assert console.decrypt(console.locate(record.short_id), tmp_path / "back.tar", SECRET).sha256 == _sha(made)


def test_a_folder_backup_is_refused_by_the_restore_preflight(console, local_target, pg15, source_db, tmp_path):
    vault = _vault(tmp_path / "vault")
    made = tmp_path / "v.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(vault), "."], check=True)
    record = console.upload(made, local_target, SECRET)
    console.profiles.create("prod", pg15.dsn(source_db), target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    plan = Restorer(console).preflight("prod", console.locate(record.short_id), SECRET, new_database="never")
    assert not plan.ready
    assert any("holds a folder" in check.detail for check in plan.checks), plan.checks
    assert "never" not in pg15.databases()


def _crafted(path: Path, *members: tuple[str, str]) -> Path:
    """A tar with a harmless file and members of the given (name, kind): "file", "symlink:TARGET", "device"."""
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tar.addfile(ok, fileobj=io.BytesIO(b"ok"))
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind.startswith("symlink:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind.split(":", 1)[1]
            elif kind == "device":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            tar.addfile(info, fileobj=io.BytesIO(b""))
    return path


def test_a_crafted_tar_is_refused_naming_each_member_and_nothing_is_stored(console, local_target, tmp_path):
    crafted = _crafted(tmp_path / "evil.tar.gz", ("../x", "file"), ("/etc/owned", "file"),
                       ("out", "symlink:../../outside"), ("null", "device"))
    before = _sha(crafted)
    with pytest.raises(IntegrityError) as caught:
        console.upload(crafted, local_target, SECRET)
    message = caught.value.message
    assert "holds 4 members a vault may not" in message and "Nothing was uploaded" in message
    for name in ("../x", "/etc/owned", "out", "null"):
        assert f"{name}: " in message
    assert "fine.txt" not in message
    _nothing_stored(console, tmp_path / "target")
    assert _sha(crafted) == before

    cut = tmp_path / "cut.tar"
    whole = tmp_path / "whole.tar"
    subprocess.run(["tar", "-cf", str(whole), "-C", str(_vault(tmp_path / "v")), "."], check=True)
    cut.write_bytes(whole.read_bytes()[:20_000])
    with pytest.raises(IntegrityError, match="damaged"):
        console.upload(cut, local_target, SECRET)
    _nothing_stored(console, tmp_path / "target")


def test_a_cancel_while_verifying_on_the_target_leaves_nothing_listed(console, local_target, tmp_path):
    made = tmp_path / "v.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(_vault(tmp_path / "vault")), "."], check=True)
    token = CancelToken()

    def cancel_at_verify(progress) -> None:
        if progress.phase is Phase.VERIFY:
            token.cancel()

    with pytest.raises(Cancelled):
        console.upload(made, local_target, SECRET, reporter=Reporter(sink=cancel_at_verify, token=token))
    _nothing_stored(console, tmp_path / "target")  # the backup was whole on the target, and deleted again
    assert [e.result for e in console.audit.entries() if e.action == "backup.upload"] == ["cancelled"]


def test_kill_9_during_an_import_leaves_nothing_listed(console, local_target, tmp_path, secret_path):
    big = tmp_path / "big"
    big.mkdir()
    (big / "noise.bin").write_bytes(os.urandom(48 << 20))
    made = tmp_path / "big.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(big), "."], check=True)
    target_folder = tmp_path / "target"
    home = console.paths.config_dir.parent
    argv = [sys.executable, "-m", "recovery_console.cli.main", "backup", "upload", str(made), "--target",
            local_target, "--secret-key-file", str(secret_path)]
    upload = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "RECOVERY_CONSOLE_HOME": str(home)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and upload.poll() is None:
        if [p for p in target_folder.rglob(".rc-part-*") if p.stat().st_size > (1 << 20)]:
            break  # encrypting into the target's temporary file, not yet committed
        time.sleep(0.002)
    assert upload.poll() is None, "the upload ended before it was seen writing"
    os.kill(upload.pid, signal.SIGKILL)
    upload.wait(timeout=30)
    assert console.list_backups()[0] == []
    assert not list(target_folder.rglob("*.enc"))


def test_a_profile_gives_the_target_and_the_secret(console, local_target, tmp_path, monkeypatch, sample_dump):
    console.profiles.create("prod", "postgresql://postgres@127.0.0.1:1/prod", target=local_target)
    monkeypatch.setattr(console.profiles, "instance_secret", lambda name: SECRET if name == "prod" else "")
    record = console.upload(sample_dump, None, profile="prod")
    assert record.target == local_target and record.metadata.database == "recovery_sample"
    assert console.verify(console.locate(record.short_id), SECRET).object_counts["TABLE"] > 0


@pytest.mark.parametrize("as_set", [False, True], ids=["folder backup", "set member"])
def test_kill_9_during_an_extraction_leaves_no_folder_after_the_next_start(console, local_target, tmp_path,
                                                                           secret_path, as_set):
    big = tmp_path / "big"
    big.mkdir()
    (big / "noise.bin").write_bytes(os.urandom(48 << 20))
    made = tmp_path / "big.tar"
    subprocess.run(["tar", "-cf", str(made), "-C", str(big), "."], check=True)
    out = tmp_path / "out"
    if as_set:  # a set's folder member into a new folder (`decrypt SET --member`; `restore run --new-folder` too)
        imported = import_set(console, [made], "nightly", local_target, SECRET, iterations=FAST_ITERATIONS)
        what = [imported.short_id, "--member", "big", "-o", str(out)]
    else:
        what = [console.upload(made, local_target, SECRET).short_id, "--extract", str(out)]
    argv = [sys.executable, "-m", "recovery_console.cli.main", "decrypt", *what, "--secret-key-file", str(secret_path)]
    home = console.paths.config_dir.parent
    extract = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "RECOVERY_CONSOLE_HOME": str(home)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and extract.poll() is None:
        if [p for p in tmp_path.glob(".out.extracting-*.part/noise.bin") if p.stat().st_size > (1 << 20)]:
            break  # writing the files under the temporary name
        time.sleep(0.002)
    assert extract.poll() is None, "the extraction ended before it was seen writing"
    os.kill(extract.pid, signal.SIGKILL)
    extract.wait(timeout=30)
    assert list(tmp_path.glob(".out.extracting-*")) and not out.exists()  # killed half way: only the hidden one
    type(console)(console.paths).close()  # the next start sweeps what the killed one claimed
    assert not list(tmp_path.glob(".out.extracting-*")) and not out.exists()
