"""Issue #14, points 3-8: outputs the console writes, inputs it reads, and text it prints.

Each test names the point it covers; each one fails on the code before the fix.
"""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.archive import pgarchive
from recovery_console.engine.console import Console
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.storage.local import LocalStorage
from recovery_console.errors import ExitCode, IntegrityError, UsageError
from recovery_console.models.backup import BackupMetadata
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import DATA, FAST_ITERATIONS, SECRET

SAMPLES = sorted(DATA.glob("sample-pg*.dump"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home() -> Console:
    """A console on the same home the CLI uses in these tests."""
    with Console(AppPaths.default()) as app:
        yield app


@pytest.fixture
def vault(home: Console, tmp_path: Path) -> Path:
    folder = tmp_path / "vault"
    folder.mkdir()
    home.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder)}))
    return folder


@pytest.fixture
def backup(home: Console, vault: Path):
    with open(DATA / "sample-pg17.dump", "rb") as stream:
        return home.create_backup(stream, "vault", SECRET, iterations=FAST_ITERATIONS, source_name="s.dump")


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n", "utf-8")
    return path


def _no_traceback(code: int, err: str) -> None:
    assert code not in (ExitCode.OK, ExitCode.ERROR, ExitCode.CRASH), err
    assert "Traceback" not in err and "Unexpected error" not in err, err


# --- 3. decrypt/download never replace special files, and never write over their input -------------------------

def _specials(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    real = tmp_path / "real.dump"
    real.write_bytes(b"keep me")
    link = tmp_path / "link"
    link.symlink_to(real)
    found = {"fifo": fifo, "symlink": link, "folder": tmp_path}
    device = tmp_path / "null-device"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        found["char device"] = device
    except PermissionError:
        pass
    return found


def test_point3_decrypt_force_refuses_devices_fifos_links_and_folders(capsys, backup, secret_file, tmp_path):
    for kind, path in _specials(tmp_path).items():
        before = os.lstat(path)
        code, _, err = run(capsys, "decrypt", backup.short_id, "-o", str(path), "--force",
                           "--secret-key-file", str(secret_file))
        assert code == ExitCode.USAGE, (kind, err)
        after = os.lstat(path)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino), kind
    assert (tmp_path / "real.dump").read_bytes() == b"keep me"
    assert not list(tmp_path.glob(".*.part"))


def test_point3_decrypt_refuses_to_overwrite_the_backup_it_reads(capsys, backup, vault, secret_file, tmp_path):
    enc = vault / backup.key
    original = enc.read_bytes()
    for target in (enc, tmp_path / "hardlink.enc"):
        if target != enc:
            os.link(enc, target)
        for ref in (backup.short_id, str(enc)):
            code, _, err = run(capsys, "decrypt", ref, "-o", str(target), "--force",
                               "--secret-key-file", str(secret_file))
            assert code == ExitCode.USAGE and "being read" in err, err
    assert enc.read_bytes() == original


def test_point3_download_refuses_special_outputs_and_its_own_source(capsys, backup, vault, tmp_path):
    for kind, path in _specials(tmp_path).items():
        if kind == "folder":
            continue  # a folder is where the download goes, by design
        code, _, err = run(capsys, "backup", "download", backup.short_id, "-o", str(path), "--force")
        assert code == ExitCode.USAGE, (kind, err)
    enc = vault / backup.key
    original = enc.read_bytes()
    for out in (enc, enc.parent):
        code, _, err = run(capsys, "backup", "download", backup.short_id, "-o", str(out), "--force")
        assert code == ExitCode.USAGE and "being read" in err, err
    assert enc.read_bytes() == original


# --- 4. a truncated pg_dump archive is never certified as restorable --------------------------------------------

def _cuts(data: bytes) -> list[int]:
    toc_end = pgarchive.parse_archive(data).toc_end
    return [toc_end, toc_end + 1, toc_end + 7, (toc_end + len(data)) // 2, len(data) - 1]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_point4_every_sample_walks_whole_and_every_cut_is_caught(sample: Path):
    from recovery_console.engine.archive.completeness import BlockCheck, check_blocks

    data = sample.read_bytes()
    archive = pgarchive.parse_archive(data)
    check_blocks(io.BytesIO(data), archive)
    for cut in _cuts(data):
        with pytest.raises(IntegrityError, match="truncated|ends early|unknown data block"):
            check_blocks(io.BytesIO(data[:cut]), archive)
        check = BlockCheck()
        for start in range(0, cut, 1000):
            check.write(data[start:min(cut, start + 1000)])
        with pytest.raises(IntegrityError):
            check.result()


def test_point4_a_damaged_compressed_stream_is_caught():
    from recovery_console.engine.archive.completeness import check_blocks

    for sample in ("sample-pg17.dump", "sample-pg17-zstd.dump"):
        data = bytearray((DATA / sample).read_bytes())
        archive = pgarchive.parse_archive(data)
        first = min(e.data_offset for e in archive.toc if e.data_offset)
        data[first + 20] ^= 0xFF  # inside the first block's compressed stream
        with pytest.raises(IntegrityError):
            check_blocks(io.BytesIO(bytes(data)), archive)


def _lz4_frame(payload: bytes, *, content_checksum: bool = False) -> bytes:
    flags = 0x60 | (0x04 if content_checksum else 0)
    out = (0x184D2204).to_bytes(4, "little") + bytes([flags, 0x40, 0x00])
    out += (len(payload) | 0x80000000).to_bytes(4, "little") + payload  # one stored (uncompressed) block
    return out + bytes(4) + (b"CSUM" if content_checksum else b"")


def test_point4_lz4_frames_are_walked_to_their_end_mark():
    from recovery_console.engine.archive.completeness import check_blocks
    from tests.unit.test_pgarchive import build, build_block, build_entry

    frames = _lz4_frame(b"1\tone\n") + _lz4_frame(b"2\ttwo\n", content_checksum=True)
    data = build([build_entry(1)], [build_block(1, [frames[:9], frames[9:]])], compression="lz4")
    archive = pgarchive.parse_archive(data)
    check_blocks(io.BytesIO(data), archive)
    cut_frames = frames[:-4]  # the second frame loses its content checksum
    short = build([build_entry(1)], [build_block(1, [cut_frames])], compression="lz4")
    with pytest.raises(IntegrityError, match="lz4"):
        check_blocks(io.BytesIO(short), pgarchive.parse_archive(short))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_point4_create_from_refuses_a_dump_cut_after_its_toc(capsys, sample, secret_file, tmp_path):
    data = sample.read_bytes()
    cut = tmp_path / "cut.dump"
    cut.write_bytes(data[:pgarchive.parse_archive(data).toc_end])
    target = tmp_path / "target"
    target.mkdir()
    code, _, err = run(capsys, "backup", "create", "--from", str(cut), "--target", str(target),
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.VERIFY_FAILED and "truncated" in err, err
    assert [p for p in target.rglob("*") if p.is_file()] == []
    assert not [t for t in threading.enumerate() if t.name == "rc-blockcheck"]  # the walk's thread ended too


def test_point4_verify_fails_a_backup_of_a_truncated_dump(capsys, home, vault, secret_file):
    data = (DATA / "sample-pg18.dump").read_bytes()
    metadata = BackupMetadata(backup_id="00000000-0000-4000-8000-000000000414", created_at="2026-01-01T00:00:00Z",
                              app_version="0", compression="zstd", source="file", source_name="cut.dump")
    path = vault / "old-backup-of-a-cut-dump.enc"
    with open(path, "wb") as sink:  # as an earlier release stored it, without looking past the TOC
        encrypt_stream(io.BytesIO(data[:pgarchive.parse_archive(data).toc_end]), sink, SECRET, metadata,
                       iterations=FAST_ITERATIONS)
    code, out, err = run(capsys, "backup", "verify", str(path), "--secret-key-file", str(secret_file))
    assert code == ExitCode.VERIFY_FAILED and "PASSED" not in out and "truncated" in err, err


# --- 5. the free-space check asks for what will be stored, not the size of the input ---------------------------

def test_point5_a_compressible_dump_is_not_refused_for_its_input_size(capsys, home, vault, secret_file, tmp_path,
                                                                       monkeypatch):
    big = tmp_path / "big.dump"
    _write_compressible_archive(big, 3 << 20)
    monkeypatch.setattr(LocalStorage, "free_space", lambda self: 2 << 20)  # less than the input, plenty for the backup
    code, out, err = run(capsys, "backup", "create", "--from", str(big), "--target", "vault",
                         "--secret-key-file", str(secret_file), "--json")
    assert code == ExitCode.OK, err
    assert json.loads(out)["size"] < 1 << 20
    code, _, err = run(capsys, "backup", "create", "--from", str(big), "--target", "vault", "--compression", "none",
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.NO_SPACE and "bytes free" in err, err


def test_point5_a_quota_is_checked_against_the_stored_size(capsys, home, secret_file, tmp_path):
    folder = tmp_path / "quota"
    folder.mkdir()
    home.add_target(TargetConfig(name="small", kind="local", options={"path": str(folder)}, quota=2 << 20))
    compressible, incompressible = tmp_path / "c.dump", tmp_path / "r.dump"
    _write_compressible_archive(compressible, 3 << 20)
    _write_compressible_archive(incompressible, 3 << 20, rows=os.urandom(3 << 20))
    code, _, err = run(capsys, "backup", "create", "--from", str(compressible), "--target", "small",
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.OK, err
    kept = sorted(p.name for p in folder.rglob("*"))
    code, _, err = run(capsys, "backup", "create", "--from", str(incompressible), "--target", "small",
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.NO_SPACE and "quota" in err, err
    assert sorted(p.name for p in folder.rglob("*")) == kept


def _write_compressible_archive(path: Path, size: int, rows: bytes | None = None) -> None:
    """A valid uncompressed archive: one table whose COPY data is `size` bytes of repetitive rows."""
    from tests.unit.test_pgarchive import build, build_block, build_entry

    rows = rows or b"".join(b"%d\tthe same text again and again\n" % i for i in range(size // 36))
    chunks = [rows[i:i + 65536] for i in range(0, len(rows), 65536)]
    path.write_bytes(build([build_entry(1)], [build_block(1, chunks)]))


# --- 6. bad input gives a plain error, never a traceback ------------------------------------------------------

def _settings_variants(kind: str, good: dict) -> list[object]:
    variants: list[object] = [[], "text", 7, None, {}, {"other": [good]}, {kind: {}}, {kind: "x"}, {kind: None},
                              {kind: [None]},
                              {kind: [[good]]}, {kind: [7]}]
    required = ("name", "kind", "database_url")
    for key in good:
        if key in required:
            variants.append({kind: [{k: v for k, v in good.items() if k != key}]})  # a key missing
        for wrong in (None, 7, [], {}, True, "x"):
            optional = wrong is None and key not in required
            if type(wrong) is not type(good[key]) and not optional:
                variants.append({kind: [{**good, key: wrong}]})
    variants.append({kind: [{**good, "name": "bad\nname"}]})
    variants.append({kind: [good, good]})
    return variants


@pytest.mark.parametrize("which", ["targets", "profiles"])
def test_point6_mistyped_settings_files_give_a_plain_error(capsys, tmp_path, which):
    good = ({"name": "vault", "kind": "local", "options": {"path": str(tmp_path)}, "quota": 1 << 30}
            if which == "targets" else
            {"name": "prod", "database_url": "postgresql://db/x", "mode": "pool", "direct_acknowledged": False,
             "direct_url": "postgresql://direct/x", "target": "vault", "tool_dirs": [], "stored_secrets": []})
    file = AppPaths.default().config_dir / f"{which}.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    variants = _settings_variants(which, good)
    if which == "targets":  # options of the wrong shape for their kind
        variants += [{which: [{**good, "options": options}]} for options in ({}, {"path": 5}, {"path": None})]
        variants += [{which: [{"name": "remote", "kind": kind, "options": options}]}
                     for kind, options in (("sftp", {"host": "h", "username": "u", "directory": "d", "port": "22"}),
                                           ("smb", {"host": 5, "share": "s", "username": "u"}),
                                           ("s3", {"bucket": "b", "use_tls": "yes"}))]
    assert len(variants) >= 20
    command = ["target", "list"] if which == "targets" else ["profile", "list"]
    for variant in variants:
        file.write_text(json.dumps(variant), "utf-8")
        code, _, err = run(capsys, *command)
        _no_traceback(code, err)
        assert str(file) in err and "What to do" in err, (variant, err)


def test_point6_a_non_utf8_description_is_refused_plainly(capsys, vault, secret_file):
    description = b"caf\xe9".decode("utf-8", "surrogateescape")  # how Python hands over a Latin-1 argv byte
    code, _, err = run(capsys, "backup", "create", "--from", str(DATA / "sample-pg17.dump"), "--target", "vault",
                       "--secret-key-file", str(secret_file), "--description", description)
    _no_traceback(code, err)
    assert "UTF-8" in err and [p for p in vault.rglob("*") if p.is_file()] == []


def test_point6_non_utf8_paths_are_refused_plainly(capsys, secret_file, tmp_path):
    """A folder name in Latin-1 reaches Python as lone surrogates; settings and the audit log cannot hold them."""
    name = b"caf\xe9".decode("utf-8", "surrogateescape")
    folder = tmp_path / name
    folder.mkdir()
    for argv in (["target", "add", "local", "latin", str(folder)],
                 ["backup", "create", "--from", str(DATA / "sample-pg17.dump"), "--target", str(folder),
                  "--secret-key-file", str(secret_file)]):
        code, _, err = run(capsys, *argv)
        _no_traceback(code, err)
        assert "UTF-8" in err
    assert list(folder.iterdir()) == []


def test_point6_download_of_a_300_character_name_says_what_to_do(home, backup, tmp_path):
    """An object name longer than a local file name can be (S3 allows 1024 bytes) is refused before any I/O."""
    from dataclasses import replace

    from recovery_console.engine.backup_ref import BackupRef
    from recovery_console.errors import RecoveryError

    long_name = replace(backup, key=f"backups/{'x' * 296}.enc")
    ref = BackupRef(location=f"vault:{long_name.key}", record=long_name, storage=home.storage("vault"))
    out = tmp_path / "downloads"
    out.mkdir()
    with pytest.raises(RecoveryError) as caught:
        home.download(ref, out)
    assert caught.value.exit_code == ExitCode.USAGE and "-o" in caught.value.hint
    assert list(out.iterdir()) == []
    assert '"backup.download"' in home.audit.path.read_text() and '"failed"' in home.audit.path.read_text()


def test_point6_secret_file_dev_zero_is_refused_plainly(capsys, backup, tmp_path):
    huge = tmp_path / "huge"
    huge.write_bytes(b"a" * 5000)
    for source in ("/dev/zero", str(huge)):
        code, _, err = run(capsys, "backup", "inspect", backup.short_id, "--secret-key-file", source)
        assert code == ExitCode.SECRET_UNAVAILABLE and "more than" in err, err


# --- 7. outside text is escaped on output, and names are validated to their very end ---------------------------

HOSTILE = "evil\n\x1b]0;owned\x07\x1b[2J\u202e.enc"


def test_point7_hostile_text_reaches_the_terminal_escaped(capsys, home, vault, secret_file):
    with open(DATA / "sample-pg17.dump", "rb") as stream:
        home.create_backup(stream, "vault", SECRET, iterations=FAST_ITERATIONS, description=HOSTILE)
    code, out, _ = run(capsys, "backup", "list")
    assert code == 0
    code, out, _ = run(capsys, "backup", "inspect", home.list_backups()[0][0].short_id,
                       "--secret-key-file", str(secret_file))
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "evil\\n\\x1b]0;owned" in out


def test_point7_hostile_object_names_reach_the_terminal_escaped(capsys, backup, vault, secret_file, tmp_path):
    hostile = tmp_path / "rc\n\x1b]0;retitled\x07.enc"
    hostile.write_bytes((vault / backup.key).read_bytes())
    code, out, _ = run(capsys, "backup", "verify", str(hostile), "--secret-key-file", str(secret_file))
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "rc\\n\\x1b]0;retitled\\x07.enc" in out


def test_point7_error_messages_escape_names(capsys):
    code, _, err = run(capsys, "backup", "verify", "id\x1b[31m\nX", "--without-key")
    assert code != 0 and "\x1b" not in err and "id\\x1b[31m\\nX" in err


def test_point7_names_with_a_trailing_newline_are_refused(home, tmp_path):
    from recovery_console.engine.container.naming import parse_backup_key
    from recovery_console.errors import UsageError

    with pytest.raises(UsageError):
        home.add_target(TargetConfig(name="vault\n", kind="local", options={"path": str(tmp_path)}))
    assert parse_backup_key("rc_backup_20260101-00-00-00-1.0-manual-0123abcd.enc\n").created is None


# --- 8. download says exactly what the copy was checked against -----------------------------------------------

def test_point8_download_without_a_sidecar_says_it_was_not_checked(capsys, home, vault, tmp_path):
    with open(DATA / "sample-pg17.dump", "rb") as stream:
        record = home.create_backup(stream, "vault", SECRET, iterations=FAST_ITERATIONS)
    code, out, _ = run(capsys, "backup", "download", record.short_id, "-o", str(tmp_path / "with.enc"))
    assert code == 0 and "matches the .sha256 sidecar" in out
    (vault / (record.key + ".sha256")).unlink()
    home.catalog.sync(home.storage("vault"))
    code, out, _ = run(capsys, "backup", "download", record.short_id, "-o", str(tmp_path / "without.enc"), "--json")
    assert code == 0 and json.loads(out)["checked_against"] != "sidecar"
    code, out, _ = run(capsys, "backup", "download", record.short_id, "-o", str(tmp_path / "again.enc"))
    assert code == 0 and "matches the sidecar" not in out and "no .sha256 sidecar" in out


def test_point8_an_empty_object_is_not_downloaded(capsys, home, vault, tmp_path):
    empty = vault / "backups" / "rc_backup_20260101-00-00-00-1.0.0-manual-0123abcd.enc"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(b"")
    assert run(capsys, "backup", "list")[0] == 0
    code, _, err = run(capsys, "backup", "download", "0123abcd", "-o", str(tmp_path / "x.enc"))
    assert code == ExitCode.VERIFY_FAILED and "empty" in err, err
    assert not (tmp_path / "x.enc").exists() and not (tmp_path / "x.enc.sha256").exists()
    assert AuditLog(AppPaths.default().audit_file).path.read_text().count('"failed"') >= 1


def test_point6_a_target_the_next_start_could_not_read_is_never_saved(tmp_path):
    """The load-time shape check also guards saving: an incomplete target is refused, the file stays readable."""
    from recovery_console.engine.state.paths import AppPaths
    from recovery_console.engine.state.targets import TargetStore
    from recovery_console.models.target import TargetConfig

    store = TargetStore(AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data"))
    with pytest.raises(UsageError, match="'username' of a sftp target is missing"):
        store.add(TargetConfig(name="box", kind="sftp", options={"host": "127.0.0.1"}))
    assert store.load() == {}
