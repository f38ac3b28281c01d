"""SMB3 targets against a real Samba smbd (tests/fixtures/smb.py): encryption, errors, faults, out-of-band files."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import smbclient
from smbprotocol.transport import Tcp

from recovery_console.engine.console import Console
from recovery_console.engine.storage import smb as smb_storage
from recovery_console.engine.storage.round_trip import round_trip
from recovery_console.engine.storage.smb import SmbStorage, require_encryption
from recovery_console.engine.storage.smb_errors import SmbEncryptionUnavailableError
from recovery_console.engine.storage.smb_transfer import READ_DEPTH, READ_PIECE
from recovery_console.errors import ExitCode, NotFoundError, QuotaExceededError, StorageError
from recovery_console.models.target import TargetConfig
from tests.fixtures.smb import SmbServer, SmbSpot, fresh_spot

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-pg15.dump"
INSTANCE_SECRET = "smb-test instance secret: correct horse battery staple"
ITERATIONS = 1000


class DictSecrets:
    """Stands in for the keyring layer: lookup(scope) returns a getter over a dict."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def put(self, scope: str, name: str, value: str) -> None:
        self.values[(scope, name)] = value

    def get(self, scope: str, name: str) -> str | None:
        return self.values.get((scope, name))

    def delete(self, scope: str, name: str) -> None:
        self.values.pop((scope, name), None)

    def lookup(self, scope: str) -> Callable[[str], str | None]:
        return lambda name: self.values.get((scope, name))


@pytest.fixture
def app() -> Iterator[Console]:
    with Console() as console:
        console.secrets = DictSecrets()  # type: ignore[assignment]
        yield console


def storage_for(options: dict, password: str, name: str = "nas", quota: int | None = None) -> SmbStorage:
    config = TargetConfig(name=name, kind="smb", options=dict(options), quota=quota)
    return smb_storage.from_config(config, lambda secret: password if secret == "password" else None)


def add_target(app: Console, spot_or_server: SmbSpot | SmbServer, name: str = "nas", quota: int | None = None,
               password: str | None = None) -> str:
    server = spot_or_server.server if isinstance(spot_or_server, SmbSpot) else spot_or_server
    options = spot_or_server.options()
    app.add_target(TargetConfig(name=name, kind="smb", options=options, quota=quota),
                   {"password": password or server.password})
    return name


def create(app: Console, target: str, source: io.BufferedIOBase | None = None):
    data = SAMPLE.read_bytes()
    return app.create_backup(source or io.BytesIO(data), target, INSTANCE_SECRET, source_size=len(data),
                             source_name=SAMPLE.name, iterations=ITERATIONS)


def visible(spot: SmbSpot) -> list[str]:
    return [f for f in spot.files() if not any(part.startswith(".") for part in f.split("/"))]


def assert_no_secret(error: BaseException, password: str) -> None:
    text = f"{error} {getattr(error, 'hint', '')} {getattr(error, 'detail', '')}"
    assert password not in text


# -- connection test, encryption ------------------------------------------------------------------


def test_round_trip_passes(smb_dir: SmbSpot) -> None:
    storage = storage_for(smb_dir.options(), smb_dir.server.password)
    report = round_trip(storage)
    assert report.ok, report.steps
    assert [s.step for s in report.steps] == ["list", "write", "read", "delete"]
    assert smb_dir.files() == []  # the probe and its temp file are gone


def test_session_is_smb3_encrypted_on_the_wire(smb_dir: SmbSpot, monkeypatch: pytest.MonkeyPatch) -> None:
    smb_storage.close_all_connections()  # a fresh connection, so negotiate and logon are captured too
    frames: list[tuple[str, bytes]] = []
    send, recv = Tcp.send, Tcp.recv

    def spy_send(self: Tcp, data: object) -> None:
        frames.append(("out", data.pack() if hasattr(data, "pack") else bytes(data)))  # type: ignore[arg-type]
        return send(self, data)

    def spy_recv(self: Tcp, timeout: float) -> bytes:
        data = recv(self, timeout)
        if data:
            frames.append(("in", bytes(data)))
        return data

    monkeypatch.setattr(Tcp, "send", spy_send)
    monkeypatch.setattr(Tcp, "recv", spy_recv)

    storage = storage_for(smb_dir.options(), smb_dir.server.password)
    marker = b"PLAINTEXT-MARKER-" * 4096
    storage.put_bytes("backups/wire.enc", marker)
    assert storage.get_bytes("backups/wire.enc") == marker

    session = storage.session()
    connection = session.connection
    assert connection.dialect >= 0x0300 and connection.supports_encryption
    assert session.encrypt_data is True and session.encryption_key and session.decryption_key
    trees = list(session.tree_connect_table.values())
    assert trees and all(tree.encrypt_data for tree in trees)  # the share demands encryption too

    # On the wire: only NEGOTIATE (0) and SESSION_SETUP (1) travel as plain SMB2; everything else is an
    # encrypted transform (0xFD 'SMB'), and the payload never shows up in clear in either direction.
    assert frames
    plain_commands = {int.from_bytes(f[12:14], "little") for _, f in frames if f[:4] == b"\xfeSMB"}
    assert plain_commands <= {0, 1}, plain_commands
    assert all(f[:4] in (b"\xfeSMB", b"\xfdSMB") for _, f in frames)
    encrypted = [d for d, f in frames if f[:4] == b"\xfdSMB"]
    assert "out" in encrypted and "in" in encrypted
    assert not any(b"PLAINTEXT-MARKER-" in f for _, f in frames)


@pytest.mark.parametrize("variant", ["smb3-encrypt-off", "smb2-only"])
def test_server_without_encryption_is_refused(smb_unencrypted_servers: dict[str, SmbServer], variant: str) -> None:
    server = smb_unencrypted_servers[variant]
    storage = storage_for(server.options(), server.password)
    with pytest.raises(SmbEncryptionUnavailableError) as caught:
        storage.put_bytes("backups/never.enc", b"must not be sent")
    message = caught.value.message
    assert "could not negotiate SMB3 encryption" in message and "no data was sent" in message
    assert ("SMB 2.1" in message) if variant == "smb2-only" else ("SMB 3.1.1" in message)
    assert "server smb encrypt" in caught.value.hint and "EncryptData" in caught.value.hint
    assert caught.value.exit_code == ExitCode.STORAGE
    report = round_trip(storage)
    assert not report.ok and report.steps[0].step == "list"
    assert "could not negotiate SMB3 encryption" in report.steps[0].message
    assert list(server.share_path().rglob("*")) == []


def test_encryption_check_refuses_a_real_unencrypted_session(
        smb_unencrypted_servers: dict[str, SmbServer], smb_server: SmbServer) -> None:
    """smbprotocol refuses these servers itself when asked to encrypt; our own check must also hold on its own."""
    for server in smb_unencrypted_servers.values():
        cache: dict = {}
        try:
            session = smbclient.register_session(server.host, username=server.user, password=server.password,
                                                 port=server.port, encrypt=None, connection_cache=cache,
                                                 connection_timeout=5)
            assert not session.encrypt_data  # the server really did not encrypt this session
            with pytest.raises(SmbEncryptionUnavailableError, match="could not negotiate SMB3 encryption"):
                require_encryption(session, server.host, server.port)
        finally:
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)
    cache = {}
    try:
        session = smbclient.register_session(smb_server.host, username=smb_server.user, password=smb_server.password,
                                             port=smb_server.port, encrypt=True, connection_cache=cache,
                                             connection_timeout=5)
        require_encryption(session, smb_server.host, smb_server.port)
    finally:
        smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)


# -- errors a user can act on -----------------------------------------------------------------------


def test_wrong_password_is_an_authentication_error(smb_dir: SmbSpot) -> None:
    wrong = "Wrong-" + smb_dir.server.password
    storage = storage_for(smb_dir.options(), wrong)
    with pytest.raises(StorageError) as caught:
        list(storage.list("backups/"))
    assert "rejected the user name or password" in caught.value.message
    assert "WORKGROUP\\rcsmbtest" in caught.value.message
    assert_no_secret(caught.value, wrong)
    report = round_trip(storage)
    assert not report.ok and "rejected the user name or password" in report.steps[0].message
    # the good password still works: a failed logon must not poison the pool, nor the reverse
    assert round_trip(storage_for(smb_dir.options(), smb_dir.server.password)).ok
    with pytest.raises(StorageError, match="rejected the user name or password"):
        storage.stat("backups/x.enc")


def test_missing_share(smb_server: SmbServer) -> None:
    storage = storage_for(smb_server.options(share="no-such-share"), smb_server.password)
    with pytest.raises(StorageError) as caught:
        list(storage.list("backups/"))
    assert caught.value.message == (f"The share 'no-such-share' does not exist on the SMB server "
                                    f"127.0.0.1:{smb_server.port}.")
    assert "share's name" in caught.value.hint


def test_missing_directory(smb_dir: SmbSpot) -> None:
    storage = storage_for(smb_dir.options(directory=f"{smb_dir.directory}/not-there"), smb_dir.server.password)
    for action in (lambda: list(storage.list("backups/")), lambda: storage.put_bytes("backups/a.enc", b"x"),
                   lambda: storage.check_room(1)):
        with pytest.raises(StorageError) as caught:
            action()
        assert caught.value.message.startswith(f"The folder '{smb_dir.directory}\\not-there' does not exist")
        assert "Create it on the share" in caught.value.hint
    assert smb_dir.files() == []  # never created behind the user's back


def test_unreachable_server_refused_and_silent(smb_server: SmbServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    storage = storage_for(smb_server.options(port=closed_port), smb_server.password)
    with pytest.raises(StorageError, match="refused the connection"):
        list(storage.list(""))

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts TCP but never answers SMB
    try:
        storage = storage_for(smb_server.options(port=silent.getsockname()[1], timeout=1), smb_server.password)
        with pytest.raises(StorageError, match="did not answer within 1 s"):
            list(storage.list(""))
    finally:
        smb_storage.close_all_connections()
        silent.close()


def test_domain_backslash_user_is_rewritten(smb_dir: SmbSpot) -> None:
    storage = storage_for(smb_dir.options(username="EXAMPLE\\rcsmbtest"), smb_dir.server.password)
    assert (storage.domain, storage.username, storage.account) == ("EXAMPLE", "rcsmbtest", "EXAMPLE\\rcsmbtest")
    assert round_trip(storage).ok  # a standalone Samba accepts any domain for its own users
    assert storage.session().username == "EXAMPLE\\rcsmbtest"
    plain = storage_for(smb_dir.options(domain="CORP"), smb_dir.server.password)
    assert (plain.domain, plain.username) == ("CORP", "rcsmbtest")
    default = storage_for(smb_dir.options(), smb_dir.server.password)
    assert default.domain == "WORKGROUP"


def test_permission_denied_says_which(smb_server: SmbServer, smb_dir: SmbSpot) -> None:
    readonly = fresh_spot(smb_server, "readonly")
    storage = storage_for(readonly.options(), smb_server.password)
    with pytest.raises(StorageError) as caught:
        storage.put_bytes("backups/a.enc", b"x")
    assert caught.value.message.startswith("Permission denied while creating a file in")
    assert "permission to write" in caught.value.hint

    storage = storage_for(smb_dir.options(), smb_server.password)
    backups = smb_dir.path / "backups"
    backups.mkdir()
    secret_file = backups / "root-only.enc"
    secret_file.write_bytes(b"x" * 10)
    secret_file.chmod(0o600)  # owned by root: the share's user may see it but not read it
    with pytest.raises(StorageError) as caught:
        storage.get_bytes("backups/root-only.enc")
    assert caught.value.message.startswith("Permission denied while opening")
    assert "permission to read" in caught.value.hint
    secret_file.chmod(0o644)  # readable, but the folder (root's, 0755) forbids deleting
    with pytest.raises(StorageError) as caught:
        storage.delete("backups/root-only.enc")
    assert caught.value.message.startswith("Permission denied while deleting")
    assert "permission to delete" in caught.value.hint
    with pytest.raises(NotFoundError):
        storage.delete("backups/never-was.enc")


# -- atomic uploads -------------------------------------------------------------------------------


def test_abort_leaves_no_temp_file(smb_dir: SmbSpot) -> None:
    storage = storage_for(smb_dir.options(), smb_dir.server.password)
    upload = storage.open_upload("backups/aborted.enc")
    upload.write(os.urandom(3 << 20))
    assert len(smb_dir.files()) == 1 and smb_dir.files()[0].startswith("backups/.rc-part-")
    upload.abort()
    assert smb_dir.files() == []
    with pytest.raises(RuntimeError), storage.put("backups/raised.enc") as upload:
        upload.write(b"partial")
        raise RuntimeError("the producer failed")
    assert smb_dir.files() == []


def test_half_written_upload_is_never_listed(smb_dir: SmbSpot) -> None:
    storage = storage_for(smb_dir.options(), smb_dir.server.password)
    payload = os.urandom((2 << 20) + 12345)
    upload = storage.open_upload("backups/half.enc")
    upload.write(payload[: 2 << 20])  # on the server already, under a hidden temp name
    assert list(storage.list("backups/")) == []
    with pytest.raises(NotFoundError):
        storage.stat("backups/half.enc")
    upload.write(payload[2 << 20:])
    upload.commit()
    listed = list(storage.list("backups/"))
    assert [(i.key, i.size) for i in listed] == [("backups/half.enc", len(payload))]
    assert storage.stat("backups/half.enc") == listed[0]  # stat and list agree on the identity
    assert smb_dir.files() == ["backups/half.enc"]
    with storage.open_read("backups/half.enc", 1000, 1000 + (1 << 20) + 7) as stream:
        assert stream.read() == payload[1000: 1000 + (1 << 20) + 7]
    with storage.open_read("backups/half.enc", len(payload) - 10) as stream:
        buf = bytearray(64)
        assert stream.readinto(buf) == 10 and bytes(buf[:10]) == payload[-10:]


def test_reads_keep_several_requests_in_flight_and_honour_ranges(smb_dir: SmbSpot) -> None:
    storage = storage_for(smb_dir.options(), smb_dir.server.password)
    piece = READ_PIECE
    payload = os.urandom(7 * piece + piece // 2)
    storage.put_bytes("backups/wide.enc", payload)
    with storage.open_read("backups/wide.enc") as stream:
        buf = bytearray(1000)
        assert stream.readinto(buf) == 1000 and bytes(buf) == payload[:1000]
        assert len(stream._pending) == READ_DEPTH  # the next pieces are already asked for
        assert stream.read() == payload[1000:]
    size = len(payload)
    for start, end in ((0, 10), (piece - 3, piece + 5), (3 * piece + 1, None), (size - 7, size + 100),
                       (size, None), (size + 5, size + 10), (2 * piece, 2 * piece)):
        with storage.open_read("backups/wide.enc", start, end) as stream:
            assert stream.read() == payload[start:end], (start, end)
    with storage.open_read("backups/wide.enc", 5) as stream:
        stream.read(10)  # closed with reads still in flight: the connection is left owing nothing
    assert storage.get_bytes("backups/wide.enc") == payload


# -- faults ---------------------------------------------------------------------------------------


class KillingSource(io.RawIOBase):
    """The pg_dump stream; the server dies once the upload has started (its temp file exists)."""

    def __init__(self, data: bytes, kill: Callable[[], None]) -> None:
        self._data = io.BytesIO(data)
        self._kill = kill
        self.killed = False

    def read(self, size: int = -1) -> bytes:
        if not self.killed:
            self.killed = True
            self._kill()
        return self._data.read(size)


def test_kill_smbd_mid_upload_during_create_backup(app: Console, smb_fault_server: SmbServer) -> None:
    server = smb_fault_server
    spot = fresh_spot(server)
    target = add_target(app, spot)
    share_files: list[str] = []

    def kill() -> None:
        share_files.extend(spot.files())
        server.kill()

    with pytest.raises(StorageError) as caught:
        create(app, target, KillingSource(SAMPLE.read_bytes(), kill))
    assert any(f.startswith("backups/.rc-part-") for f in share_files)  # it really was mid-upload
    assert f"The connection to the SMB server 127.0.0.1:{server.port} was lost" in caught.value.message
    assert not isinstance(caught.value, QuotaExceededError)
    assert app.catalog.records([target]) == []

    server.start()
    records, _ = app.list_backups([target])
    assert records == []
    assert visible(spot) == []
    assert list(app.storage(target).list("backups/")) == []
    assert create(app, target).target == target  # and the target works again after the restart


def test_kill_smbd_mid_transfer_of_a_large_object(smb_fault_server: SmbServer) -> None:
    server = smb_fault_server
    spot = fresh_spot(server)
    storage = storage_for(spot.options(), server.password)
    with pytest.raises(StorageError) as caught, storage.put("backups/big.enc") as upload:
        for i in range(12):
            upload.write(os.urandom(1 << 20))
            if i == 2:
                server.kill()
    assert "was lost while writing" in caught.value.message
    assert "try" in caught.value.hint.lower()

    server.start()  # reconnects by itself: the old connection died with the server
    assert list(storage.list("backups/")) == []
    payload = os.urandom((READ_DEPTH + 4) * READ_PIECE)  # more than the reads in flight
    storage.put_bytes("backups/big.enc", payload)
    with storage.open_read("backups/big.enc") as stream:
        assert stream.read(1 << 20) == payload[: 1 << 20]
        server.kill()
        with pytest.raises(StorageError, match="was lost while reading"):
            stream.read()


def test_hung_server_fails_the_transfer(smb_fault_server: SmbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smb_storage, "IDLE_PROBE_SECONDS", 1)  # 60 s in production
    spot = fresh_spot(smb_fault_server)
    storage = storage_for(spot.options(), smb_fault_server.password)
    payload = os.urandom((READ_DEPTH + 4) * READ_PIECE)  # more than the reads in flight
    storage.put_bytes("backups/a.enc", payload)
    with storage.open_read("backups/a.enc") as stream:
        assert stream.read(1 << 20) == payload[: 1 << 20]
        smb_fault_server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(StorageError, match="was lost while reading"):
                stream.read()
            assert time.monotonic() - started < 10
        finally:
            smb_fault_server.resume()
    assert storage.get_bytes("backups/a.enc") == payload  # a new connection once the server answers again


def test_server_restart_between_calls_reconnects(smb_fault_server: SmbServer) -> None:
    spot = fresh_spot(smb_fault_server)
    storage = storage_for(spot.options(), smb_fault_server.password)
    storage.put_bytes("backups/a.enc", b"before")
    smb_fault_server.restart()
    assert [i.key for i in storage.list("backups/")] == ["backups/a.enc"]
    assert storage.get_bytes("backups/a.enc") == b"before"
    smb_fault_server.kill()
    with pytest.raises(StorageError, match="refused the connection"):
        storage.stat("backups/a.enc")


def test_disk_full_is_a_quota_error(smb_server: SmbServer) -> None:
    if not smb_server.tiny_is_limited:
        pytest.skip("could not mount a small tmpfs for the 'tiny' share on this machine")
    spot = fresh_spot(smb_server, "tiny")
    storage = storage_for(spot.options(), smb_server.password)
    with pytest.raises(QuotaExceededError) as caught:
        storage.check_room(4 << 20)  # the server's own free-space figure refuses before writing
    assert "bytes free" in caught.value.message
    with pytest.raises(QuotaExceededError) as caught:
        storage.put_bytes("backups/too-big.enc", os.urandom(3 << 20))  # STATUS_DISK_FULL mid-write
    assert "is full" in caught.value.message and "nothing partial was kept" in caught.value.hint
    assert caught.value.exit_code == ExitCode.NO_SPACE
    assert spot.files() == []


def test_quota_full_refused_before_upload(app: Console, smb_dir: SmbSpot) -> None:
    target = add_target(app, smb_dir, quota=4096)
    with pytest.raises(QuotaExceededError, match="would exceed its quota"):
        create(app, target)
    assert smb_dir.files() == []  # refused before anything was written
    assert app.catalog.records([target]) == []


# -- out-of-band files, and the whole backup cycle --------------------------------------------------


def smbclient_cli(server: SmbServer, spot: SmbSpot, commands: str, tmp_path: Path) -> None:
    auth = tmp_path / "smb-auth"
    auth.write_text(f"username = {server.user}\npassword = {server.password}\ndomain = WORKGROUP\n")
    auth.chmod(0o600)
    result = subprocess.run(
        ["smbclient", f"//{server.host}/{spot.share}", "-p", str(server.port), "-A", str(auth),
         "--client-protection=encrypt", "-m", "SMB3", "-D", spot.directory, "-c", commands],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "NT_STATUS" not in result.stdout, result.stdout + result.stderr


def test_out_of_band_file_appears_and_disappears(app: Console, smb_dir: SmbSpot, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    app.add_target(TargetConfig(name="disk", kind="local", options={"path": str(disk)}))
    made = create(app, "disk")
    local_file = disk / made.key
    target = add_target(app, smb_dir)
    assert app.list_backups([target])[0] == []

    name = made.key.rsplit("/", 1)[-1]
    smbclient_cli(smb_dir.server, smb_dir, f'mkdir backups; cd backups; put "{local_file}" "{name}"', tmp_path)
    records, results = app.list_backups([target])
    assert [r.key for r in records] == [made.key] and results[0].added == 1
    result = app.verify(app.locate(records[0].short_id, target), INSTANCE_SECRET)
    assert result.metadata and result.metadata.backup_id == made.backup_id

    smbclient_cli(smb_dir.server, smb_dir, f'cd backups; rm "{name}"', tmp_path)
    records, results = app.list_backups([target])
    assert records == [] and results[0].removed == 1


def test_console_create_list_verify_download_delete(app: Console, smb_dir: SmbSpot, tmp_path: Path) -> None:
    target = add_target(app, smb_dir)
    record = create(app, target)
    assert record.target == target and record.key.startswith("backups/")
    assert sorted(visible(smb_dir)) == [record.key, record.key + ".sha256"]

    records, _ = app.list_backups([target])
    assert [r.key for r in records] == [record.key]
    ref = app.locate(record.backup_id, target)
    assert ref.location == f"\\\\127.0.0.1\\backups\\{smb_dir.directory}\\" + record.key.replace("/", "\\")
    verified = app.verify(ref, INSTANCE_SECRET)
    assert verified.sidecar_sha256 == verified.ciphertext_sha256 == record.sha256
    got = app.download(ref, tmp_path / "copy.enc")
    assert got.size == record.size == (smb_dir.path / record.key).stat().st_size
    assert got.path.read_bytes() == (smb_dir.path / record.key).read_bytes()
    decrypted = app.decrypt(ref, tmp_path / "plain.dump", INSTANCE_SECRET)
    assert decrypted.path.read_bytes() == SAMPLE.read_bytes()

    app.delete(ref)
    assert visible(smb_dir) == []
    assert app.list_backups([target])[0] == []


def test_the_console_reuses_one_smb_connection_and_ends_it_on_close(
        app: Console, smb_dir: SmbSpot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smbprotocol.connection import Connection

    smb_storage.close_all_connections()  # no connection left over from another test
    opened: list[Connection] = []
    connect = Connection.connect
    monkeypatch.setattr(Connection, "connect", lambda self, *a, **k: (opened.append(self), connect(self, *a, **k))[1])
    target = add_target(app, smb_dir)
    record = create(app, target)
    app.list_backups([target])
    ref = app.locate(record.short_id)
    app.verify(ref, INSTANCE_SECRET)
    app.download(ref, tmp_path / "copy.enc")
    app.inspect(app.locate(record.backup_id), INSTANCE_SECRET)
    assert len(opened) == 1  # six operations, one SMB connection
    assert opened[0].transport.connected
    app.close()
    assert not opened[0].transport.connected
    assert not opened[0]._t_worker.is_alive()  # its receive thread ended with it



# -- CLI ------------------------------------------------------------------------------------------


def test_cli_target_add_smb(app: Console, smb_dir: SmbSpot, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from recovery_console.cli import target_cmd
    from recovery_console.cli.main import main

    monkeypatch.setattr(target_cmd, "console", lambda: app)
    server = smb_dir.server
    argv = ["target", "add", "smb", "nas", "--host", server.host, "--port", str(server.port), "--share", "backups",
            "--username", "EXAMPLE\\rcsmbtest", "--directory", smb_dir.directory, "--password-env", "RC_SMB_PW"]

    monkeypatch.setenv("RC_SMB_PW", "Wrong-" + server.password)
    assert main(argv) == ExitCode.STORAGE
    err = capsys.readouterr().err
    assert "was not saved" in err and "rejected the user name or password" in err and server.password not in err
    assert app.targets.load() == {}

    monkeypatch.setenv("RC_SMB_PW", server.password)
    assert main(argv) == ExitCode.OK
    config = app.targets.get("nas")
    assert config.options == {"host": server.host, "port": server.port, "share": "backups", "username": "rcsmbtest",
                              "domain": "EXAMPLE", "directory": smb_dir.directory}
    assert app.secrets.values[("target:nas", "password")] == server.password  # type: ignore[attr-defined]
    assert server.password not in app.targets.file.read_text()
    assert smb_dir.files() == []  # the probe was deleted

    monkeypatch.delenv("RC_SMB_PW")
    assert main(argv[:-2] + ["--password-env", "RC_SMB_PW"]) == ExitCode.SECRET_UNAVAILABLE
