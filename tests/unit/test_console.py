"""Console operations against a real local folder target: create, list/sync, verify, move, delete."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from recovery_console import __version__
from recovery_console.engine.archive.toc_collector import TocCollector
from recovery_console.engine.container.verify import read_toc
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.progress import CancelToken, Reporter
from recovery_console.errors import (
    Cancelled,
    IntegrityError,
    NotFoundError,
    QuotaExceededError,
    UsageError,
    WrongKeyError,
)
from recovery_console.models.backup import BackupMetadata
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET


def target_dir(console, name="vault") -> Path:
    return Path(console.targets.get(name).options["path"])


def stored_files(folder: Path) -> list[Path]:
    backups = folder / "backups"
    return sorted(backups.iterdir()) if backups.exists() else []


def test_create_writes_named_backup_and_sidecar(console, make_backup, sample_dump):
    record = make_backup(description="before upgrade")
    path = target_dir(console) / record.key
    assert record.key.startswith("backups/rc_backup_") and record.key.endswith(f"-manual-{record.short_id}.enc")
    sidecar = path.with_name(path.name + ".sha256").read_text()
    assert sidecar == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
    assert record.metadata.description == "before upgrade"
    assert record.metadata.compression == "zstd"
    assert record.metadata.source_name == sample_dump.name
    assert b"PGDMP" not in path.read_bytes()


def test_create_refuses_a_source_that_is_not_an_archive(console, local_target, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_bytes(b"not an archive at all\n" * 1000)
    with open(bogus, "rb") as stream, pytest.raises(IntegrityError, match="not a pg_dump custom-format archive"):
        console.create_backup(stream, local_target, SECRET, iterations=FAST_ITERATIONS)
    assert stored_files(target_dir(console)) == []
    assert console.list_backups()[0] == []


def test_list_syncs_added_removed_and_changed_files(console, make_backup):
    first, second = make_backup(), make_backup()
    records, synced = console.list_backups()
    assert {r.key for r in records} == {first.key, second.key}
    assert synced[0].unchanged == 2
    folder = target_dir(console)
    copied = folder / "backups" / "rc_backup_20200101-00-00-00-0.0.1-scheduled-deadbeef.enc"
    shutil.copy(folder / first.key, copied)
    (folder / second.key).unlink()
    records, synced = console.list_backups()
    assert {r.key for r in records} == {first.key, "backups/" + copied.name}
    assert (synced[0].added, synced[0].removed) == (1, 1)
    oob = next(r for r in records if r.short_id == "deadbeef")
    assert (oob.mode, oob.app_version, oob.metadata) == ("scheduled", "0.0.1", None)
    cached = next(r for r in records if r.key == first.key)
    assert cached.metadata is not None and cached.metadata.backup_id == first.backup_id
    copied.write_bytes(copied.read_bytes() + b"x")
    os.utime(copied, (1, 1))
    records, synced = console.list_backups()
    assert synced[0].changed == 1


def test_list_never_derives_keys(console, make_backup, monkeypatch):
    make_backup()
    calls = []
    import recovery_console.engine.container.format as fmt
    monkeypatch.setattr(fmt, "_pbkdf2", lambda *a: calls.append(a))
    console.list_backups()
    console.list_backups(sync=False)
    assert calls == []


def test_no_sync_shows_the_catalog_as_it_was(console, make_backup):
    record = make_backup()
    (target_dir(console) / record.key).unlink()
    assert [r.key for r in console.list_backups(sync=False)[0]] == [record.key]
    assert console.list_backups()[0] == []


def test_verify_full_reports_archive_facts_and_records_result(console, make_backup):
    record = make_backup()
    result = console.verify(console.locate(record.short_id), SECRET)
    assert result.mode == "full"
    assert result.archive_version == "1.14" and result.dumped_from.startswith("15.")
    assert result.object_counts["TABLE"] == 5
    assert result.sidecar_sha256 == result.ciphertext_sha256 == record.sha256
    sample = Path(__file__).parents[1] / "data/sample-pg15.dump"
    assert result.archive_sha256 == hashlib.sha256(sample.read_bytes()).hexdigest()
    assert console.catalog.get(record.target, record.key).verify_result == "ok"


def test_verify_detects_tamper_and_records_failure(console, make_backup):
    record = make_backup()
    path = target_dir(console) / record.key
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, (record.mtime, record.mtime))
    with pytest.raises(IntegrityError, match="failed authentication"):
        console.verify(console.locate(record.short_id), SECRET)
    stored = console.catalog.get(record.target, record.key)
    assert stored.verify_result == "failed" and "authentication" in stored.verify_detail
    with pytest.raises(IntegrityError, match="does not match its sidecar"):
        console.verify_without_key(console.locate(record.short_id))


def test_verify_fails_when_sidecar_disagrees(console, make_backup):
    record = make_backup()
    sidecar = target_dir(console) / (record.key + ".sha256")
    sidecar.write_text("0" * 64 + "  x.enc\n")
    with pytest.raises(IntegrityError, match="sidecar"):
        console.verify(console.locate(record.short_id), SECRET)


def test_wrong_secret_is_its_own_error(console, make_backup):
    record = make_backup()
    with pytest.raises(WrongKeyError):
        console.verify(console.locate(record.short_id), "not the secret")


def test_quick_verify_skips_archive_but_proves_chunks(console, make_backup):
    record = make_backup()
    result = console.verify(console.locate(record.short_id), SECRET, quick=True)
    assert result.mode == "quick" and result.archive_sha256 is None and result.chunk_count == 3


def test_a_full_verify_is_on_record_only_for_the_same_unchanged_object(console, make_backup, tmp_path):
    record = make_backup()
    ref = console.locate(record.short_id)
    assert console.full_verify_on_record(ref) is None
    console.verify(ref, SECRET, quick=True)
    assert console.full_verify_on_record(ref) is None
    console.verify(ref, SECRET)
    assert console.full_verify_on_record(ref) == console.catalog.get(record.target, record.key).verified_at
    path = target_dir(console) / record.key
    os.utime(path, (record.mtime + 1, record.mtime + 1))
    assert console.full_verify_on_record(ref) is None
    os.utime(path, (record.mtime, record.mtime))
    assert console.full_verify_on_record(ref) is not None
    with path.open("ab") as fh:
        fh.write(b"x")
    os.utime(path, (record.mtime, record.mtime))
    assert console.full_verify_on_record(ref) is None
    plain = tmp_path / "copy.enc"
    shutil.copy(path, plain)
    assert console.full_verify_on_record(console.locate(str(plain))) is None


def test_decrypt_yields_the_original_archive(console, make_backup, sample_dump, tmp_path):
    record = make_backup()
    out = tmp_path / "restored.dump"
    result = console.decrypt(console.locate(record.short_id), out, SECRET)
    assert out.read_bytes() == sample_dump.read_bytes()
    assert result.sha256 == hashlib.sha256(sample_dump.read_bytes()).hexdigest()
    assert oct(out.stat().st_mode & 0o777) == oct(0o600)


def test_decrypt_leaves_nothing_on_failure(console, make_backup, tmp_path):
    record = make_backup()
    path = target_dir(console) / record.key
    path.write_bytes(path.read_bytes()[:-30])
    out = tmp_path / "out" / "restored.dump"
    out.parent.mkdir()
    with pytest.raises(IntegrityError, match="truncated"):
        console.decrypt(console.locate(record.short_id), out, SECRET)
    assert list(out.parent.iterdir()) == []


def test_decrypt_does_not_overwrite_without_force(console, make_backup, tmp_path):
    record = make_backup()
    out = tmp_path / "existing.dump"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="already exists"):
        console.decrypt(console.locate(record.short_id), out, SECRET)
    assert out.read_bytes() == b"keep me"


def test_download_copies_backup_and_sidecar(console, make_backup, tmp_path):
    record = make_backup()
    result = console.download(console.locate(record.short_id), tmp_path)
    assert result.path == tmp_path / record.file_name
    assert result.sha256 == record.sha256
    assert (tmp_path / (record.file_name + ".sha256")).read_text().startswith(record.sha256)


def test_download_refuses_a_copy_that_does_not_match_the_sidecar(console, make_backup, tmp_path):
    record = make_backup()
    path = target_dir(console) / record.key
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # a last byte of 0 left it unchanged
    out = tmp_path / "dl"
    out.mkdir()
    with pytest.raises(IntegrityError, match="does not match the sidecar"):
        console.download(console.locate(record.short_id), out)
    assert list(out.iterdir()) == []


def test_upload_imports_a_verified_file(console, make_backup, tmp_path):
    record = make_backup()
    local = console.download(console.locate(record.short_id), tmp_path).path
    other = tmp_path / "other"
    other.mkdir()
    console.add_target(TargetConfig(name="offsite", kind="local", options={"path": str(other)}))
    uploaded = console.upload(local, "offsite", SECRET)
    assert uploaded.key == record.key and uploaded.target == "offsite"
    assert (other / record.key).read_bytes() == local.read_bytes()
    with pytest.raises(UsageError, match="already holds"):
        console.upload(local, "offsite", SECRET)


def _damaged_copies(path: Path, tmp_path: Path) -> dict[str, Path]:
    data = path.read_bytes()
    variants = {
        "truncated": data[: len(data) // 2],
        "bit-flipped": data[:300] + bytes([data[300] ^ 0x80]) + data[301:],
        "header-modified": data[:20] + bytes([data[20] ^ 0x01]) + data[21:],
        "appended": data + b"\0" * 8,
    }
    out = {}
    for name, content in variants.items():
        p = tmp_path / f"{name}.enc"
        p.write_bytes(content)
        out[name] = p
    return out


def test_upload_refuses_damaged_or_foreign_files_and_records_nothing(console, make_backup, tmp_path):
    record = make_backup()
    original = target_dir(console) / record.key
    other = tmp_path / "other"
    other.mkdir()
    console.add_target(TargetConfig(name="offsite", kind="local", options={"path": str(other)}))
    expected = {"truncated": IntegrityError, "bit-flipped": IntegrityError,
                "header-modified": WrongKeyError, "appended": IntegrityError}
    for name, path in _damaged_copies(original, tmp_path).items():
        with pytest.raises(expected[name]):
            console.upload(path, "offsite", SECRET)
    with pytest.raises(WrongKeyError):
        console.upload(original, "offsite", "another deployment's secret")
    assert stored_files(other) == []
    assert console.list_backups(["offsite"])[0] == []


def test_delete_removes_file_sidecar_and_record(console, make_backup):
    record = make_backup()
    console.delete(console.locate(record.short_id))
    assert not (target_dir(console) / record.key).exists()
    assert not (target_dir(console) / (record.key + ".sha256")).exists()
    with pytest.raises(NotFoundError):
        console.locate(record.short_id)


def test_quota_refuses_before_writing(console, tmp_path, sample_dump):
    folder = tmp_path / "small"
    folder.mkdir()
    console.add_target(TargetConfig(name="small", kind="local", options={"path": str(folder)}, quota=1000))
    with open(sample_dump, "rb") as stream, pytest.raises(QuotaExceededError, match="quota"):
        console.create_backup(stream, "small", SECRET, source_size=sample_dump.stat().st_size,
                              iterations=FAST_ITERATIONS)
    assert not (folder / "backups").exists()


def test_cancel_removes_the_partial_backup(console, local_target, sample_dump):
    token = CancelToken()
    seen = []

    def sink(progress):
        seen.append(progress)
        if progress.done > 0:
            token.cancel()

    with open(sample_dump, "rb") as stream, pytest.raises(Cancelled):
        console.create_backup(stream, local_target, SECRET, iterations=FAST_ITERATIONS, compression="none",
                              reporter=Reporter(sink=sink, token=token, min_interval=0))
    assert stored_files(target_dir(console)) == []
    assert console.list_backups()[0] == []
    entries = list(console.audit.entries())
    assert entries[-1].action == "backup.create" and entries[-1].result == "cancelled"


def test_every_action_is_audited_and_chain_verifies(console, make_backup, tmp_path):
    record = make_backup()
    ref = console.locate(record.short_id)
    console.verify(ref, SECRET)
    with pytest.raises(WrongKeyError):
        console.verify(ref, "wrong")
    console.decrypt(ref, tmp_path / "x.dump", SECRET)
    console.delete(ref)
    actions = [(e.action, e.result) for e in console.audit.entries()]
    assert actions == [("target.add", "ok"), ("backup.create", "ok"), ("backup.verify", "ok"),
                       ("backup.verify", "failed"), ("decrypt", "ok"), ("backup.delete", "ok")]
    assert console.audit.verify().ok
    assert SECRET not in console.paths.audit_file.read_text("utf-8")


def test_contents_from_dump_and_from_backup(console, make_backup, sample_dump):
    record = make_backup()
    asked = []
    metadata, archive = console.contents(console.locate(str(sample_dump)), lambda: asked.append(1) or SECRET)
    assert metadata is None and asked == [] and len(archive.toc) == 33
    metadata, archive = console.contents(console.locate(record.short_id), lambda: SECRET)
    assert metadata.backup_id == record.backup_id and len(archive.toc) == 33


def test_reading_the_toc_decompresses_little_more_than_the_toc(tmp_path, monkeypatch):
    """One 8 MiB chunk of zeros-like data holds GBs once decompressed; listing contents must not inflate it all."""
    head = (Path(__file__).parents[1] / "data/sample-pg18-none.dump").read_bytes()
    source = io.BytesIO(head + bytes(512 << 20))
    metadata = BackupMetadata(backup_id="00000000-0000-4000-8000-000000000600", created_at="2026-01-01T00:00:00Z",
                              app_version=__version__, compression="zstd", source="file", source_name="zeros.dump")
    backup = tmp_path / "zeros.enc"
    with backup.open("wb") as sink:
        encrypt_stream(source, sink, SECRET, metadata, iterations=FAST_ITERATIONS)
    written = []
    original = TocCollector.feed
    monkeypatch.setattr(TocCollector, "feed", lambda self, data: written.append(len(data)) or original(self, data))
    with backup.open("rb") as stream:
        _, archive = read_toc(stream, SECRET)
    assert archive.toc and sum(written) < 64 << 20


def test_id_prefix_and_full_id_resolve(console, make_backup):
    record = make_backup()
    assert console.locate(record.backup_id).record.key == record.key
    assert console.locate(record.backup_id[:6]).record.key == record.key
    with pytest.raises(UsageError, match="at least 4"):
        console.locate("ab")


def test_catalog_and_config_hold_no_secret(console, make_backup):
    make_backup()
    for path in (console.paths.catalog_file, console.targets.file, console.paths.audit_file):
        assert SECRET.encode() not in path.read_bytes()
    assert json.loads(console.targets.file.read_text())["targets"][0]["name"] == "vault"


def test_renamed_backup_fails_verify(console, make_backup):
    old, new = make_backup(), make_backup()
    folder = target_dir(console)
    (folder / new.key).write_bytes((folder / old.key).read_bytes())
    (folder / (new.key + ".sha256")).write_text((folder / (old.key + ".sha256")).read_text())
    console.list_backups()
    with pytest.raises(IntegrityError, match="holds backup"):
        console.verify(console.locate(new.short_id), SECRET)


def test_targets_remember_when_they_last_worked(console, make_backup, tmp_path):
    assert console.health.badge("vault") == "unknown"
    report = console.test_target("vault")
    assert report.ok and console.health.badge("vault") == "green"
    assert console.health.get("vault").message == "list ok, write ok, read ok, delete ok"
    record = make_backup()
    assert console.health.get("vault").message == "backup upload ok"
    console.download(console.locate(record.short_id), tmp_path)
    assert console.health.get("vault").message == "download ok"
    gone = tmp_path / "unplugged"
    gone.mkdir()
    console.add_target(TargetConfig(name="usb", kind="local", options={"path": str(gone)}))
    gone.rmdir()
    assert not console.test_target("usb").ok
    assert console.health.badge("usb") == "red"


def test_a_corrupt_file_does_not_mark_the_target_failed(console, make_backup, tmp_path):
    record = make_backup()
    path = target_dir(console) / record.key
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # a last byte of 0 left it unchanged
    with pytest.raises(IntegrityError):
        console.download(console.locate(record.short_id), tmp_path)
    assert console.health.get("vault").message == "backup upload ok"


class _CountingOpener:
    """Wraps the console's storage opener: counts opens and records which storages were closed."""

    def __init__(self, console, monkeypatch) -> None:
        self.opened: list = []
        self.closed: list = []
        real_open = console._open

        def open_(config):
            storage = real_open(config)
            real_close = storage.close
            monkeypatch.setattr(storage, "close", lambda: (self.closed.append(storage), real_close()))
            self.opened.append(storage)
            return storage

        monkeypatch.setattr(console, "_open", open_)


def test_one_storage_per_target_reused_until_the_console_closes(console, make_backup, monkeypatch):
    counter = _CountingOpener(console, monkeypatch)
    first, second = make_backup(), make_backup()
    storage = console.storage("vault")
    console.list_backups()
    assert console.locate(first.short_id).storage is storage
    assert console.locate(second.backup_id).storage is storage
    console.verify(console.locate(first.short_id), SECRET)
    assert counter.opened == [storage]
    console.close()
    assert counter.closed == [storage]
    assert console.storage("vault") is not storage  # a closed console opens anew when used again
    assert len(counter.opened) == 2


def test_with_block_closes_the_console_storages(console, local_target, monkeypatch):
    counter = _CountingOpener(console, monkeypatch)
    with console as app:
        storage = app.storage(local_target)
        assert app.storage(local_target) is storage
        assert counter.closed == []
    assert counter.closed == [storage]


def test_a_removed_or_edited_target_gets_a_new_storage(console, local_target, tmp_path, monkeypatch):
    counter = _CountingOpener(console, monkeypatch)
    before = console.storage(local_target)
    moved = tmp_path / "moved"
    moved.mkdir()
    console.targets.replace(TargetConfig(name=local_target, kind="local", options={"path": str(moved)}))
    after = console.storage(local_target)
    assert after is not before and counter.closed == [before]
    assert after.location("backups/x.enc") == str(moved / "backups" / "x.enc")
    console.remove_target(local_target)
    assert counter.closed == [before, after]
    console.add_target(TargetConfig(name=local_target, kind="local", options={"path": str(tmp_path / "target")}))
    assert console.storage(local_target) not in (before, after)


def test_each_thread_gets_its_own_storage(console, local_target, monkeypatch):
    import threading

    counter = _CountingOpener(console, monkeypatch)
    mine = console.storage(local_target)
    theirs: list = []
    worker = threading.Thread(target=lambda: theirs.extend([console.storage(local_target)] * 2))
    worker.start()
    worker.join()
    assert theirs[0] is theirs[1] and theirs[0] is not mine
    console.close()
    assert sorted(map(id, counter.closed)) == sorted([id(mine), id(theirs[0])])


def test_the_cli_closes_the_consoles_a_command_opened(tmp_path, monkeypatch, capsys):
    from recovery_console.cli.main import main
    from recovery_console.engine.console import Console

    closed: list = []
    real_close = Console.close
    monkeypatch.setattr(Console, "close", lambda self: (closed.append(self), real_close(self))[1])
    folder = tmp_path / "target"
    folder.mkdir()
    assert main(["backup", "list", "--target", str(folder)]) == 0
    assert len(closed) == 1
    assert main(["backup", "list", "--target", str(folder), "--target", "/no/such/folder"]) != 0  # failing too
    assert len(closed) == 2
