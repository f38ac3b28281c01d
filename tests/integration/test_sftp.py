"""The SFTP target against a REAL OpenSSH sshd (tests/fixtures/sftp.py): trust on first use, both
authentication methods, every failure a user can meet, atomic writes, faults and out-of-band files."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from recovery_console.cli.main import main
from recovery_console.engine.console import Console
from recovery_console.engine.state import keyring_store
from recovery_console.engine.state.targets import target_scope
from recovery_console.engine.storage import sftp as sftp_mod
from recovery_console.engine.storage import sftp_transfer
from recovery_console.engine.storage.base import TEMP_PREFIX
from recovery_console.engine.storage.round_trip import round_trip
from recovery_console.engine.storage.sftp import AuthenticationFailedError, SftpStorage
from recovery_console.engine.storage.sftp_hostkeys import (
    HostKeyChangedError,
    HostKeyInfo,
    HostKeyUntrustedError,
    fetch_host_key,
)
from recovery_console.engine.storage.sftp_keys import PrivateKeyError, private_key_needs_passphrase
from recovery_console.errors import NotFoundError, QuotaExceededError, SecretUnavailableError, StorageError, UsageError
from recovery_console.models.target import TargetConfig

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE = DATA / "sample-pg15.dump"
SECRET = "correct horse battery staple ✓"
ITERATIONS = 1000


def _visible_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class DictSecrets:
    """Stands in for the keyring layer (someone else's work): scope → {name: value}."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {}

    def put(self, scope: str, name: str, value: str) -> None:
        self.values.setdefault(scope, {})[name] = value

    def get(self, scope: str, name: str) -> str | None:
        return self.values.get(scope, {}).get(name)

    def delete(self, scope: str, name: str) -> bool:
        return self.values.get(scope, {}).pop(name, None) is not None

    def lookup(self, scope: str):
        return lambda name: self.get(scope, name)


@pytest.fixture
def sftp_console(tmp_path: Path, sftp_server, sftp_users, sftp_dir) -> Iterator[Console]:
    """A Console with one SFTP target 'offsite' (password login, pinned host key)."""
    from recovery_console.engine.state.paths import AppPaths

    console = Console(AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data"))
    console.secrets = DictSecrets()

    def add(name: str = "offsite", server=None, quota: int | None = None) -> str:
        server = server or sftp_server
        user = sftp_users.password_user
        console.add_target(TargetConfig(name=name, kind="sftp", options=server.options(user, sftp_dir), quota=quota),
                           user.secrets())
        return name

    console.add_sftp_target = add  # type: ignore[attr-defined]
    with console:
        yield console


def _create(console: Console, target: str, source=None, **kwargs):
    with (source or open(SAMPLE, "rb")) as stream:
        return console.create_backup(stream, target, SECRET, iterations=ITERATIONS, source_name=SAMPLE.name, **kwargs)


# --- trust on first use ----------------------------------------------------------------------------


def test_fetch_host_key_matches_ssh_keygen(sftp_server):
    info = fetch_host_key(sftp_server.host, sftp_server.port, timeout=5)
    printed = subprocess.run(["ssh-keygen", "-lf", str(sftp_server.host_key_path)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert isinstance(info, HostKeyInfo)
    assert info.fingerprint_sha256 == printed[1]
    assert info.key_type == "ssh-ed25519" and printed[-1] == "(ED25519)"
    assert info.key_base64 == sftp_server.host_key_path.with_suffix(".pub").read_text().split()[1]


def test_unpinned_target_refuses_with_fingerprint(sftp_server, sftp_users, sftp_dir):
    storage = sftp_server.storage(sftp_users.password_user, sftp_dir, pin=False)
    with pytest.raises(HostKeyUntrustedError) as caught:
        list(storage.list("backups/"))
    assert sftp_server.fingerprint in caught.value.message
    assert "confirm" in caught.value.hint
    assert f"--accept-host-key {sftp_server.fingerprint}" in caught.value.hint_for_cli()
    assert caught.value.host_key.fingerprint_sha256 == sftp_server.fingerprint
    report = round_trip(storage)
    assert not report.ok and report.steps[0].step == "list" and sftp_server.fingerprint in report.steps[0].message


def test_rotated_host_key_is_refused_showing_both(sftp_fault_server, sftp_users, sftp_dir):
    old = sftp_fault_server.fingerprint
    assert round_trip(sftp_fault_server.storage(sftp_users.password_user, sftp_dir)).ok
    storage = sftp_fault_server.storage(sftp_users.password_user, sftp_dir)  # pinned to the old key
    new = sftp_fault_server.rotate_host_key()
    assert new != old
    with pytest.raises(HostKeyChangedError) as caught:
        storage.stat("backups/x.enc")
    assert old in caught.value.message and new in caught.value.message
    assert "removing the target" in caught.value.hint and "adding it again" in caught.value.hint
    assert "recreat" in caught.value.hint_for_cli() and "target remove" in caught.value.hint_for_cli()
    assert caught.value.expected == old and caught.value.actual.fingerprint_sha256 == new
    assert not _visible_files(sftp_dir)


# --- authentication ---------------------------------------------------------------------------------


def test_round_trip_with_password(sftp_server, sftp_users, sftp_dir):
    with sftp_server.storage(sftp_users.password_user, sftp_dir) as storage:
        report = round_trip(storage)
    assert report.ok, report.steps
    assert [s.step for s in report.steps] == ["list", "write", "read", "delete"]
    assert not _visible_files(sftp_dir)


@pytest.mark.parametrize("key", ["ed25519", "rsa"])
def test_round_trip_with_private_key(sftp_server, sftp_users, sftp_dir, key):
    user = sftp_users.key_user
    if key == "rsa":
        assert private_key_needs_passphrase(user.rsa_key)
    with sftp_server.storage(user, sftp_dir, auth="key", key=key) as storage:
        report = round_trip(storage)
    assert report.ok, report.steps


def test_wrong_password_is_an_authentication_error(sftp_server, sftp_users, sftp_dir):
    wrong = "not-the-password-" + sftp_users.password_user.password[:4]
    storage = sftp_server.storage(sftp_users.password_user, sftp_dir, secrets={"password": wrong})
    with pytest.raises(AuthenticationFailedError) as caught:
        list(storage.list("backups/"))
    error = caught.value
    assert "refused the password" in error.message and sftp_users.password_user.name in error.message
    assert wrong not in error.message + error.hint + error.detail


def test_wrong_and_missing_passphrase(sftp_server, sftp_users, sftp_dir):
    user = sftp_users.key_user
    wrong = "wrong-passphrase-xyz"
    storage = sftp_server.storage(user, sftp_dir, auth="key",
                                  secrets={"private_key": user.rsa_key, "passphrase": wrong})
    with pytest.raises(PrivateKeyError) as caught:
        storage.stat("backups/x.enc")
    assert caught.value.wrong_passphrase and "wrong passphrase" in caught.value.message
    assert wrong not in caught.value.message + caught.value.hint
    storage = sftp_server.storage(user, sftp_dir, auth="key", secrets={"private_key": user.rsa_key})
    with pytest.raises(PrivateKeyError, match="no passphrase was given"):
        storage.stat("backups/x.enc")
    report = round_trip(sftp_server.storage(user, sftp_dir, auth="key", secrets={"private_key": "not a key"}))
    assert not report.ok and "not an OpenSSH or PEM private key" in report.steps[0].message


# --- reachability and the directory -------------------------------------------------------------------


def test_connection_refused_and_unknown_host(sftp_server, sftp_users, sftp_dir):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(StorageError, match="refused the connection"):
        fetch_host_key("127.0.0.1", closed_port, timeout=3)
    storage = SftpStorage("t", "127.0.0.1", "nobody", "/", port=closed_port,
                          host_key_fingerprint=sftp_server.fingerprint,
                          secrets={"password": "x"}.get)
    report = round_trip(storage)
    assert not report.ok and "refused the connection" in report.steps[0].message
    with pytest.raises(StorageError, match="could not be resolved"):
        fetch_host_key("no-such-host.invalid", 22, timeout=3)


def test_missing_directory(sftp_server, sftp_users, sftp_dir):
    missing = sftp_dir / "not-there"
    report = round_trip(sftp_server.storage(sftp_users.password_user, missing))
    assert not report.ok
    assert report.steps[0].step == "list"
    assert f"The directory {missing} does not exist" in report.steps[0].message
    assert "Create it" in report.steps[0].hint


def test_permission_denied_names_write_read_and_delete(sftp_server, sftp_users, sftp_dir):
    backups = sftp_dir / "backups"
    backups.mkdir()
    os.chown(backups, os.stat(sftp_dir).st_uid, os.stat(sftp_dir).st_gid)
    storage = sftp_server.storage(sftp_users.password_user, sftp_dir)
    storage.put_bytes("backups/kept.enc", b"data")
    backups.chmod(0o555)  # read-only folder
    try:
        report = round_trip(storage)
        assert not report.ok and report.steps[-1].step == "write"
        assert "Permission denied while writing" in report.steps[-1].message
        assert "write permission" in report.steps[-1].hint
        with pytest.raises(StorageError, match="Permission denied while deleting"):
            storage.delete("backups/kept.enc")
        (backups / "kept.enc").chmod(0o000)
        with pytest.raises(StorageError, match="Permission denied while reading"):
            storage.get_bytes("backups/kept.enc")
    finally:
        backups.chmod(0o2775)
    assert _visible_files(sftp_dir) == ["backups/kept.enc"]


# --- atomic writes and reads ----------------------------------------------------------------------------


def test_abort_leaves_no_temp_file_and_half_written_is_never_listed(sftp_server, sftp_users, sftp_dir):
    storage = sftp_server.storage(sftp_users.password_user, sftp_dir)
    upload = storage.open_upload("backups/a/b/partial.enc")
    upload.write(b"x" * 100_000)
    assert list(storage.list("backups/")) == []
    with pytest.raises(NotFoundError):
        storage.stat("backups/a/b/partial.enc")
    temp = [p.name for p in (sftp_dir / "backups/a/b").iterdir()]
    assert len(temp) == 1 and temp[0].startswith(TEMP_PREFIX)
    upload.abort()
    assert list((sftp_dir / "backups/a/b").iterdir()) == []

    upload = storage.open_upload("backups/whole.enc")
    upload.write(b"y" * 70_000)
    assert [i.key for i in storage.list("backups/")] == []
    upload.commit()
    assert [(i.key, i.size) for i in storage.list("backups/")] == [("backups/whole.enc", 70_000)]
    assert storage.stat("backups/whole.enc").size == 70_000
    assert [p.name for p in (sftp_dir / "backups").iterdir() if p.is_file()] == ["whole.enc"]


# odd sizes with many requests in flight; reads larger than the server answers (short replies)
@pytest.mark.parametrize("read_block, write_block", [(7000, 7000), (300_000, 32768)])
def test_pipelined_writes_and_ranged_reads(sftp_server, sftp_users, sftp_dir, monkeypatch, read_block, write_block):
    monkeypatch.setattr(sftp_mod, "server_limits", lambda sftp: (read_block, write_block))
    monkeypatch.setattr(sftp_transfer, "READ_AHEAD", 5 * read_block)
    monkeypatch.setattr(sftp_transfer, "WRITE_AHEAD", 5 * write_block)
    data = os.urandom(700_003)
    storage = sftp_server.storage(sftp_users.password_user, sftp_dir)
    storage.put_bytes("backups/r.bin", data)
    assert storage.get_bytes("backups/r.bin") == data
    for start, end in ((0, 1), (5, 200_000), (123_457, None), (699_000, 900_000), (700_003, None)):
        with storage.open_read("backups/r.bin", start, end) as stream:
            buf = bytearray(50_000)
            got = bytearray()
            while n := stream.readinto(memoryview(buf)):
                got += buf[:n]
        assert bytes(got) == data[start:end]
    with pytest.raises(NotFoundError):
        storage.open_read("backups/nope.bin")


# --- faults ---------------------------------------------------------------------------------------


class _KillOnFirstRead(io.RawIOBase):
    """A source that kills the server once the upload has started (header already written)."""

    def __init__(self, file: io.BufferedReader, server) -> None:
        self.file = file
        self.server = server

    def read(self, size: int = -1) -> bytes:
        if self.server.running:
            self.server.kill()
        return self.file.read(size)

    def close(self) -> None:
        self.file.close()
        super().close()


def test_server_killed_mid_upload(sftp_console, sftp_fault_server, sftp_dir):
    target = sftp_console.add_sftp_target("fragile", server=sftp_fault_server)
    with open(SAMPLE, "rb") as sample, pytest.raises(StorageError) as caught:
        _create(sftp_console, target, source=_KillOnFirstRead(sample, sftp_fault_server))
    assert "connection" in caught.value.message and "lost" in caught.value.message
    assert sftp_console.catalog.records() == []
    sftp_fault_server.start()
    records, _ = sftp_console.list_backups([target])
    assert records == []
    assert [i.key for i in sftp_console.storage(target).list("backups/")] == []
    leftovers = [p.name for p in (sftp_dir / "backups").iterdir()]
    assert all(name.startswith(".") for name in leftovers)  # at most a hidden temp file the dead session left


def test_server_killed_mid_download(sftp_console, sftp_fault_server, tmp_path, monkeypatch):
    target = sftp_console.add_sftp_target("fragile", server=sftp_fault_server)
    record = _create(sftp_console, target)
    sftp_console.close()  # the next connection reads the small READ size below
    monkeypatch.setattr(sftp_mod, "server_limits", lambda sftp: (512, 32768))
    monkeypatch.setattr(sftp_transfer, "READ_AHEAD", 1024)
    blocks = []
    original = sftp_transfer.SftpReader._next_block

    def next_block(self):
        blocks.append(1)
        if len(blocks) == 3:
            sftp_fault_server.kill()
        return original(self)

    monkeypatch.setattr(sftp_transfer.SftpReader, "_next_block", next_block)
    ref = sftp_console.locate(record.short_id, target)
    out = tmp_path / "copy.enc"
    with pytest.raises(StorageError) as caught:
        sftp_console.download(ref, out)
    assert "connection" in caught.value.message and "lost while reading" in caught.value.message
    assert not out.exists() and list(tmp_path.glob("copy.enc*")) == []
    sftp_fault_server.start()
    monkeypatch.setattr(sftp_transfer.SftpReader, "_next_block", original)
    assert sftp_console.download(sftp_console.locate(record.short_id, target), out).sha256 == record.sha256


def test_quota_full_is_refused_before_upload(sftp_console, sftp_dir, monkeypatch):
    size = SAMPLE.stat().st_size
    target = sftp_console.add_sftp_target("small", quota=size + 1000)
    _create(sftp_console, target, source_size=size)
    uploads = []
    original = SftpStorage.open_upload
    monkeypatch.setattr(SftpStorage, "open_upload", lambda self, key: uploads.append(key) or original(self, key))
    with pytest.raises(QuotaExceededError) as caught:
        _create(sftp_console, target, source_size=size)
    assert "quota" in caught.value.message and uploads == []
    records, _ = sftp_console.list_backups([target])
    assert len(records) == 1
    assert len(_visible_files(sftp_dir)) == 2  # the first backup and its sidecar, no temp file


def test_disk_full_while_writing(sftp_server, sftp_users, sftp_small_disk):
    storage = sftp_server.storage(sftp_users.password_user, sftp_small_disk)
    free = storage.free_space()
    assert free is not None and 0 < free <= 1 << 20
    with pytest.raises(QuotaExceededError, match="check_room|free"):
        storage.check_room(2 << 20)  # what Console.create_backup does before uploading
    with pytest.raises(QuotaExceededError) as caught:
        storage.put_bytes("backups/too-big.enc", os.urandom(2 << 20))
    assert "is full while writing" in caught.value.message and "Free space" in caught.value.hint
    assert list((sftp_small_disk / "backups").iterdir()) == []  # the temp file was removed too


# --- Console level -----------------------------------------------------------------------------------


def test_console_create_list_verify_download_delete(sftp_console, sftp_dir, tmp_path):
    target = sftp_console.add_sftp_target()
    record = _create(sftp_console, target, description="sftp round trip")
    assert record.target == target and record.key.startswith("backups/rc_backup_")
    assert (sftp_dir / record.key).is_file() and (sftp_dir / (record.key + ".sha256")).is_file()

    records, syncs = sftp_console.list_backups([target])
    assert [r.key for r in records] == [record.key] and syncs[0].target == target

    ref = sftp_console.locate(record.short_id, target)
    assert ref.location.startswith("sftp://") and ref.location.endswith(record.key)
    result = sftp_console.verify(ref, SECRET)
    assert result.sidecar_sha256 == result.ciphertext_sha256 == record.sha256
    assert result.archive_sha256 == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()

    out = tmp_path / "downloads"
    out.mkdir()
    copy = sftp_console.download(ref, out)
    assert copy.sha256 == record.sha256 and copy.path.read_bytes() == (sftp_dir / record.key).read_bytes()

    sftp_console.delete(ref)
    assert sftp_console.list_backups([target])[0] == []
    assert _visible_files(sftp_dir) == []


def test_out_of_band_files_appear_and_disappear(sftp_console, sftp_server, sftp_dir, tmp_path):
    target = sftp_console.add_sftp_target()
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    sftp_console.add_target(TargetConfig(name="here", kind="local", options={"path": str(folder)}))
    made = _create(sftp_console, "here")
    assert sftp_console.list_backups([target])[0] == []

    with sftp_server.client() as client:  # another SFTP client copies the backup over
        with contextlib.suppress(OSError):  # it may be there already
            client.mkdir(f"{sftp_dir}/backups")
        for suffix in ("", ".sha256"):
            client.put(str(folder / (made.key + suffix)), f"{sftp_dir}/{made.key}{suffix}")
    records, _ = sftp_console.list_backups([target])
    assert [r.key for r in records] == [made.key]
    ref = sftp_console.locate(made.short_id, target)
    verified = sftp_console.verify(ref, SECRET)
    assert verified.sidecar_sha256 == verified.ciphertext_sha256 == made.sha256

    with sftp_server.client() as client:
        client.remove(f"{sftp_dir}/{made.key}")
    assert sftp_console.list_backups([target])[0] == []


# --- CLI: target add sftp ----------------------------------------------------------------------------


class MemoryKeyring(KeyringBackend):
    """Test-only in-memory keyring, so `finish_add` never touches (or needs) a real OS keyring."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@pytest.fixture
def memory_keyring(monkeypatch) -> MemoryKeyring:
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    name = f"{MemoryKeyring.__module__}.{MemoryKeyring.__qualname__}"
    if hasattr(keyring_store, "SECURE_BACKENDS"):  # treat the test backend as a secure one
        monkeypatch.setattr(keyring_store, "SECURE_BACKENDS", frozenset(keyring_store.SECURE_BACKENDS) | {name})
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no prompts
    return backend


def _add_args(server, user, directory, password_file: Path, *extra: str) -> list[str]:
    return ["target", "add", "sftp", "offsite", "--host", server.host, "--port", str(server.port), "--username",
            user.name, "--directory", str(directory), "--password-file", str(password_file), *extra]


def test_cli_target_add_sftp(sftp_server, sftp_users, sftp_dir, tmp_path, memory_keyring, capsys):
    user = sftp_users.password_user
    password_file = tmp_path / "pw.txt"
    password_file.write_text(user.password + "\n")
    home = Path(os.environ["RECOVERY_CONSOLE_HOME"])

    # No fingerprint and no terminal: refused, with the exact option to pass.
    assert main(_add_args(sftp_server, user, sftp_dir, password_file)) != 0
    err = capsys.readouterr().err
    assert f"--accept-host-key {sftp_server.fingerprint}" in err

    # A different fingerprint: refused, showing both.
    other = "SHA256:" + "A" * 43
    assert main(_add_args(sftp_server, user, sftp_dir, password_file, "--accept-host-key", other)) != 0
    err = capsys.readouterr().err
    assert other in err and sftp_server.fingerprint in err and "not added" in err
    assert not (home / "config" / "targets.json").exists() and memory_keyring.entries == {}

    # The right fingerprint: pinned, round trip passes, target saved, password only in the keyring.
    right = sftp_server.fingerprint
    assert main(_add_args(sftp_server, user, sftp_dir, password_file, "--accept-host-key", right)) == 0
    assert "Target added" in capsys.readouterr().out
    saved = (home / "config" / "targets.json").read_text()
    assert sftp_server.fingerprint in saved and '"auth": "password"' in saved and user.password not in saved
    assert memory_keyring.entries[(keyring_store.service_name(target_scope("offsite")), "password")] == user.password
    assert main(["target", "test", "offsite"]) == 0
    assert _visible_files(sftp_dir) == []


def test_cli_target_add_sftp_with_key(sftp_server, sftp_users, sftp_dir, tmp_path, memory_keyring, capsys):
    user = sftp_users.key_user
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(user.rsa_passphrase)
    args = ["target", "add", "sftp", "bykey", "--host", sftp_server.host, "--port", str(sftp_server.port),
            "--username", user.name, "--directory", str(sftp_dir), "--private-key-file", str(user.key_files["rsa"]),
            "--accept-host-key", sftp_server.fingerprint]
    assert main(args) == int(SecretUnavailableError.exit_code)
    assert "--passphrase-file" in capsys.readouterr().err
    assert main(args + ["--passphrase-file", str(phrase)]) == 0
    scope = keyring_store.service_name(target_scope("bykey"))
    assert memory_keyring.entries[(scope, "private_key")] == user.rsa_key
    assert memory_keyring.entries[(scope, "passphrase")] == user.rsa_passphrase
    saved = (Path(os.environ["RECOVERY_CONSOLE_HOME"]) / "config" / "targets.json").read_text()
    assert '"auth": "key"' in saved and "PRIVATE KEY" not in saved and user.rsa_passphrase not in saved


def test_cli_target_add_sftp_confirms_at_a_terminal(sftp_server, sftp_users, sftp_dir, tmp_path, memory_keyring,
                                                     monkeypatch, capsys):
    from recovery_console.cli.target_kinds import sftp as sftp_kind

    user = sftp_users.password_user
    password_file = tmp_path / "pw.txt"
    password_file.write_text(user.password)
    monkeypatch.setattr(sftp_kind, "_interactive", lambda: True)
    answers = iter(["no", "yes"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(_add_args(sftp_server, user, sftp_dir, password_file)) == int(UsageError.exit_code)
    err = capsys.readouterr().err
    assert sftp_server.fingerprint in err and "not confirmed" in err
    assert main(_add_args(sftp_server, user, sftp_dir, password_file)) == 0
    assert sftp_server.fingerprint in capsys.readouterr().err
    assert (keyring_store.service_name(target_scope("offsite")), "password") in memory_keyring.entries


# --- one connection per target, closed with the console --------------------------------------------


def _sshd_lines(server, needle: str) -> list[str]:
    return [line for line in server.log_path.read_text(errors="replace").splitlines() if needle in line]


def test_the_console_reuses_one_ssh_connection_and_ends_it_on_close(sftp_console, sftp_server, sftp_users,
                                                                     tmp_path):
    user = sftp_users.password_user.name
    logins_before = len(_sshd_lines(sftp_server, f"Accepted password for {user} "))
    target = sftp_console.add_sftp_target()
    record = _create(sftp_console, target)
    sftp_console.list_backups([target])
    ref = sftp_console.locate(record.short_id)
    sftp_console.verify(ref, SECRET)
    sftp_console.download(ref, tmp_path / "copy.enc")
    sftp_console.contents(sftp_console.locate(record.backup_id), lambda: SECRET)
    storage = sftp_console.storage(target)
    assert isinstance(storage, SftpStorage) and ref.storage is storage
    logins = _sshd_lines(sftp_server, f"Accepted password for {user} ")[logins_before:]
    assert len(logins) == 1, logins  # seven operations, one SSH login
    transport = storage._sftp(reconnect=False).get_channel().get_transport()
    port = transport.sock.getsockname()[1]
    assert f"port {port} " in logins[0]

    sftp_console.close()
    assert not transport.is_active()
    deadline = time.monotonic() + 10
    while not _sshd_lines(sftp_server, f"Close session: user {user} from 127.0.0.1 port {port} "):
        assert time.monotonic() < deadline, sftp_server.log_text()
        time.sleep(0.05)
