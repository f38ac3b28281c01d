"""Issue #14, points 5 and 6: a disk that fills up while writing gives exit 9, leaves nothing partial, and is audited.

Needs root for a small tmpfs (`mount -t tmpfs -o size=…`); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_members import ProfileMembers
from recovery_console.errors import ExitCode
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.unit.test_pgarchive import build, build_block, build_entry


def _mount_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system."""
    yield from _mount_tmpfs(tmp_path / "small", "1m")


@pytest.fixture
def two_mib_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _mount_tmpfs(tmp_path / "two", "2m")


@pytest.fixture
def random_dump(tmp_path: Path) -> Path:
    """A valid uncompressed pg_dump archive holding 3 MiB that no compressor can shrink."""
    payload = os.urandom(3 << 20)
    path = tmp_path / "random.dump"
    path.write_bytes(build([build_entry(1)], [build_block(1, [payload[i:i + 65536]
                                                               for i in range(0, len(payload), 65536)])]))
    return path


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n", "utf-8")
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _last_audit(app: Console) -> dict:
    return json.loads(app.audit.path.read_text("utf-8").splitlines()[-1])


def test_download_to_a_full_disk_exits_9_leaves_nothing_and_is_audited(capsys, tmp_path, small_disk, random_dump):
    vault = tmp_path / "vault"
    vault.mkdir()
    with Console(AppPaths.default()) as app:
        app.add_target(TargetConfig(name="vault", kind="local", options={"path": str(vault)}))
        with open(random_dump, "rb") as stream:
            record = app.create_backup(stream, "vault", SECRET, iterations=FAST_ITERATIONS)
    code, _, err = _run(capsys, "backup", "download", record.short_id, "-o", str(small_disk))
    assert code == ExitCode.NO_SPACE and "full" in err and "Traceback" not in err, err
    assert list(small_disk.iterdir()) == []
    with Console(AppPaths.default()) as app:
        entry = _last_audit(app)
    assert entry["action"] == "backup.download" and entry["result"] == "failed", entry


def test_decrypt_to_a_full_disk_exits_9_and_leaves_nothing(capsys, tmp_path, small_disk, random_dump, secret_file):
    vault = tmp_path / "vault"
    vault.mkdir()
    with Console(AppPaths.default()) as app, open(random_dump, "rb") as stream:
        record = app.create_backup(stream, str(vault), SECRET, iterations=FAST_ITERATIONS)
    code, _, err = _run(capsys, "decrypt", str(vault / record.key), "-o", str(small_disk / "out.dump"),
                        "--secret-key-file", str(secret_file))
    assert code == ExitCode.NO_SPACE and "Traceback" not in err, err
    assert list(small_disk.iterdir()) == []


def test_create_onto_a_disk_that_fills_up_midway_exits_9_and_keeps_nothing(capsys, two_mib_disk, random_dump,
                                                                           secret_file):
    """The up-front check lets a compressible-looking source start; the disk then fills up on the way."""
    code, _, err = _run(capsys, "backup", "create", "--from", str(random_dump), "--target", str(two_mib_disk),
                        "--secret-key-file", str(secret_file))
    assert code == ExitCode.NO_SPACE and "Traceback" not in err, err
    assert [p for p in two_mib_disk.rglob("*") if p.is_file()] == []


def test_extracting_a_folder_backup_onto_a_full_disk_says_the_disk_is_full_and_leaves_nothing(
        capsys, tmp_path, small_disk, secret_file):
    folder = tmp_path / "attachments"
    folder.mkdir()
    (folder / "scan.bin").write_bytes(os.urandom(3 << 20))
    tar = tmp_path / "nightly.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(folder), "."], check=True)
    vault = tmp_path / "vault"
    vault.mkdir()
    with Console(AppPaths.default()) as app:
        record = app.upload(tar, str(vault), SECRET)
    code, _, err = _run(capsys, "decrypt", str(vault / record.key), "--extract", str(small_disk / "out"),
                        "--secret-key-file", str(secret_file))
    # the extracting side's own error, not the decrypting side's "the reading side stopped"
    assert code == ExitCode.NO_SPACE and f"The disk holding {small_disk / 'out'} is full" in err, err
    assert "reading side" not in err and list(small_disk.iterdir()) == []


def test_a_set_restore_stopped_by_a_full_disk_says_which_members_it_had_already_replaced(
        capsys, tmp_path, two_mib_disk, secret_file, pg15):
    """An attacker's find: the database was swapped, then the folder filled the disk, and all that was said was the
    folder's 'nothing partial was kept'."""
    database = pg15.createdb(f"full_{uuid.uuid4().hex[:8]}")
    pg15.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)", db=database)
    vault = two_mib_disk / "vault"
    vault.mkdir()
    (vault / "scan.bin").write_bytes(os.urandom(1200 << 10))  # a second copy beside it does not fit in 2 MiB
    target = tmp_path / "target"
    target.mkdir()
    with Console(AppPaths.default()) as app:
        app.add_target(TargetConfig(name="t", kind="local", options={"path": str(target)}))
        app.profiles.create("p", pg15.dsn(database), target="t")
        app.profiles.set_mode("p", ConnectionMode.DIRECT, acknowledge_direct=True)
        ProfileMembers(app.profiles).add_folder("p", "vault", str(vault))
        record = backup_set(app, "p", secret=SECRET, iterations=FAST_ITERATIONS)
    pg15.psql("DELETE FROM t", db=database)
    code, out, err = _run(capsys, "restore", "run", record.short_id, "--profile", "p", "--yes",
                          "--secret-key-file", str(secret_file))
    assert code == ExitCode.NO_SPACE and "is full" in err and "Traceback" not in err, err
    assert f"Restored database {database} (member main)" in out
    assert "STOPPED at member vault: the members above were restored and stay so" in out
    assert "restore rollback --profile p --set" in out
    assert pg15.psql("SELECT count(*) FROM t", db=database) == "100"
    assert [p.name for p in two_mib_disk.iterdir()] == ["vault"] and (vault / "scan.bin").stat().st_size == 1200 << 10
