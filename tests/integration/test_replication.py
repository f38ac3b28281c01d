"""Replication against real servers: local → S3 (rclone serve s3) and local → SFTP (sshd), and kill -9 mid-copy.

The console keeps the secondaries' secrets in a real keyring (gnome-keyring on a private bus), so the
killed copy is the real CLI in its own process.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.container.naming import backup_key
from recovery_console.engine.progress import CancelToken, Phase, Progress, Reporter
from recovery_console.engine.replicate import replicate
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import Cancelled, IntegrityError
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.fixtures.synthetic import make_large_backup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "sample-pg15.dump"
LARGE = int(os.environ.get("RC_TEST_COPY_SIZE", 160 << 20))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(home, secret_service, rclone_s3, sftp_server, sftp_users, sftp_dir, tmp_path,
        monkeypatch) -> Iterator[Console]:
    """A console with a local target 'vault' and two secondaries, 'offsite-s3' and 'offsite-sftp'."""
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(home))
    console = Console(AppPaths(config_dir=home / "config", data_dir=home / "data"))
    (tmp_path / "vault").mkdir()
    console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(tmp_path / "vault")}))
    console.add_target(TargetConfig(name="offsite-s3", kind="s3", options=rclone_s3.target_options(
        rclone_s3.make_bucket())), {"secret_access_key": rclone_s3.secret_key})
    user = sftp_users.password_user
    console.add_target(TargetConfig(name="offsite-sftp", kind="sftp", options=sftp_server.options(user, sftp_dir)),
                       user.secrets())
    with console:
        yield console


def backup_on_vault(console: Console):
    with open(SAMPLE, "rb") as stream:
        return console.create_backup(stream, "vault", SECRET, iterations=FAST_ITERATIONS, source_name=SAMPLE.name)


def listed(console: Console, target: str) -> list[str]:
    """Every object the target lists, sidecars included (hidden temporary names are never listed)."""
    return sorted(info.key for info in console.storage(target).list(""))


@pytest.mark.parametrize("secondary", ["offsite-s3", "offsite-sftp"])
def test_copy_sends_ciphertext_and_sidecar_as_they_are_and_checks_them_there(app, secondary, capsys):
    record = backup_on_vault(app)
    result = replicate(app, app.locate(record.short_id), secondary)
    assert (result.target, result.key, result.already) == (secondary, record.key, False)
    dest = app.storage(secondary)
    vault = Path(app.targets.get("vault").options["path"])
    assert dest.get_bytes(record.key) == (vault / record.key).read_bytes()
    assert dest.get_bytes(record.key + ".sha256") == (vault / (record.key + ".sha256")).read_bytes()
    assert result.sha256 == hashlib.sha256((vault / record.key).read_bytes()).hexdigest()
    assert listed(app, secondary) == [record.key, record.key + ".sha256"]
    entry = [e for e in app.audit.entries() if e.action == "backup.copy"][-1]
    assert entry.result == "ok" and entry.detail["to"] == secondary and entry.detail["sha256"] == result.sha256
    again = replicate(app, app.locate("vault:" + record.key), secondary)
    assert again.already and again.sha256 == result.sha256
    assert main(["backup", "list"]) == 0
    assert f"copies: {secondary}, vault" in capsys.readouterr().out


def test_a_source_that_does_not_match_its_sidecar_is_not_copied(app):
    record = backup_on_vault(app)
    path = Path(app.targets.get("vault").options["path"]) / record.key
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its .sha256 sidecar"):
        replicate(app, app.locate(record.short_id), "offsite-s3")
    assert listed(app, "offsite-s3") == []


def source_position(pid: int, source: Path) -> int:
    """How far the process has read `source` (its descriptor's offset), 0 before it opened it."""
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd) == str(source):
                fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                              .splitlines() if ":\t" in line)
                return int(fields["pos"])
        except OSError:
            continue
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("secondary", ["offsite-s3", "offsite-sftp"])
def test_kill_9_mid_copy_leaves_nothing_listed_and_a_second_copy_completes(app, home, secondary, tmp_path):
    folder = Path(app.targets.get("vault").options["path"]) / "backups"
    folder.mkdir()
    made = tmp_path / "large.enc"
    make_large_backup(made, LARGE, SECRET, FAST_ITERATIONS)
    with open(made, "rb") as stream:
        from recovery_console.engine.container.verify import read_metadata

        _, metadata = read_metadata(stream, SECRET)
    source = folder.parent / backup_key(metadata)
    made.rename(source)
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    source.with_name(source.name + ".sha256").write_text(f"{sha256}  {source.name}\n")
    app.sync("vault")
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    proc = subprocess.Popen([sys.executable, "-m", "recovery_console.cli.main", "backup", "copy",
                             "vault:" + backup_key(metadata), "--to", secondary], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while source_position(proc.pid, source) < source.stat().st_size // 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the copy never got a third of the way"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert listed(app, secondary) == []
    assert app.sync(secondary).added == 0
    result = replicate(app, app.locate("vault:" + backup_key(metadata)), secondary)
    assert not result.already and result.sha256 == sha256
    assert listed(app, secondary) == [backup_key(metadata), backup_key(metadata) + ".sha256"]


def large_backup_on_vault(app: Console, tmp_path: Path, size: int) -> tuple[str, str]:
    """A stored backup of `size` bytes on 'vault' with its sidecar: (key, SHA-256)."""
    from recovery_console.engine.container.verify import read_metadata

    folder = Path(app.targets.get("vault").options["path"]) / "backups"
    folder.mkdir(exist_ok=True)
    made = tmp_path / "large.enc"
    make_large_backup(made, size, SECRET, FAST_ITERATIONS)
    with open(made, "rb") as stream:
        _, metadata = read_metadata(stream, SECRET)
    source = folder.parent / backup_key(metadata)
    made.rename(source)
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    source.with_name(source.name + ".sha256").write_text(f"{sha256}  {source.name}\n")
    app.sync("vault")
    return backup_key(metadata), sha256


def test_s3_copy_progress_never_exceeds_parts_the_server_confirmed_and_cancel_leaves_nothing(
        app, rclone_s3, tmp_path):
    key, sha256 = large_backup_on_vault(app, tmp_path, 48 << 20)
    dest = app.storage("offsite-s3")
    confirmed = [0]

    def count(http_response, context, **_):
        if http_response.status_code == 200:
            confirmed[0] += context["rc_part_bytes"]

    dest.client.meta.events.register("before-call.s3.UploadPart",
                                     lambda params, context, **_: context.update(rc_part_bytes=len(params["body"])))
    dest.client.meta.events.register("after-call.s3.UploadPart", count)
    uploads: list[tuple[int, int]] = []
    token = CancelToken()

    def watch(progress: Progress, cancel_at: int | None) -> None:
        if progress.phase is Phase.UPLOAD:
            uploads.append((progress.done, confirmed[0]))
            if cancel_at is not None and progress.done >= cancel_at:
                token.cancel()

    with pytest.raises(Cancelled):
        replicate(app, app.locate("vault:" + key), "offsite-s3",
                  Reporter(sink=lambda p: watch(p, 20 << 20), token=token, min_interval=0))
    assert uploads and all(done <= acked for done, acked in uploads)
    assert 20 << 20 <= max(done for done, _ in uploads) < 48 << 20  # cancelled mid-copy
    bucket = app.targets.get("offsite-s3").options["bucket"]
    assert listed(app, "offsite-s3") == []
    raw = rclone_s3.client()
    assert raw.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # not even a hidden temporary object
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    uploads.clear()
    confirmed[0] = 0
    result = replicate(app, app.locate("vault:" + key), "offsite-s3",
                       Reporter(sink=lambda p: watch(p, None), min_interval=0))
    assert result.sha256 == sha256 and not result.already
    assert all(done <= acked for done, acked in uploads) and uploads[-1][0] == result.size
    assert listed(app, "offsite-s3") == [key, key + ".sha256"]
