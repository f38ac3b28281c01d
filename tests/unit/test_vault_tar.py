"""File vaults (#18): a folder as a streamed tar and back, byte for byte, and crafted tars that try to escape."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recovery_console.engine.vault.folder_tar import write_folder_tar
from recovery_console.engine.vault.vault_extract import extract_vault, restore_in_place
from recovery_console.errors import Cancelled, IntegrityError, UsageError


class OneWay(io.RawIOBase):
    """A forward-only stream (no seek, no tell), as a decrypting pipe is."""

    def __init__(self, data: bytes = b"") -> None:
        self.buffer = bytearray()
        self._data = io.BytesIO(data)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        return self._data.read(size)


def make_vault(root: Path) -> Path:
    vault = root / "vault"
    (vault / "docs" / "ünïcødé 中文").mkdir(parents=True)
    (vault / "empty dir").mkdir()
    (vault / "docs" / "a.txt").write_text("alpha\n")
    (vault / "docs" / "ünïcødé 中文" / "ß.bin").write_bytes(bytes(range(256)) * 4)
    (vault / "zero").write_bytes(b"")
    (vault / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024))
    (vault / "secret.key").write_bytes(b"k")
    os.chmod(vault / "secret.key", 0o600)
    os.chmod(vault / "docs" / "a.txt", 0o640)
    os.symlink("docs/a.txt", vault / "inside-link")
    (root / "outside.txt").write_text("not in the vault\n")
    os.symlink("../outside.txt", vault / "outside-link")
    os.utime(vault / "docs" / "a.txt", (1_600_000_000, 1_600_000_000))
    return vault


def tree(root: Path) -> dict[str, tuple]:
    """Every entry below root: kind, mode, content or link target (and the mtime of files)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        name = path.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[name] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[name] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[name] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime), path.read_bytes())
    return out


def test_a_folder_round_trips_through_a_one_way_stream(tmp_path):
    vault = make_vault(tmp_path)
    sink = OneWay()
    summary = write_folder_tar(vault, sink)
    assert (summary.files, summary.links, summary.directories) == (5, 2, 3) and not summary.skipped
    assert summary.content_bytes == sum(len(v[3]) for v in tree(vault).values() if v[0] == "file")
    out = tmp_path / "restored"
    done = extract_vault(OneWay(bytes(sink.buffer)), out)
    assert [r.split(":")[0] for r in done.refused] == ["outside-link"] and "outside" in done.refused[0]
    expected = {k: v for k, v in tree(vault).items() if k != "outside-link"}
    assert tree(out) == expected
    assert not (tmp_path / "restored" / "outside-link").exists()


def test_a_fifo_is_skipped_and_named(tmp_path):
    vault = tmp_path / "v"
    vault.mkdir()
    os.mkfifo(vault / "pipe")
    (vault / "f").write_text("x")
    summary = write_folder_tar(vault, OneWay())
    assert summary.files == 1 and summary.skipped == ["pipe: not a file, folder or link (a socket, FIFO or device)"]


def test_a_tar_whose_end_marker_crosses_a_record_boundary_is_whole(tmp_path):
    """The end marker's second zero block may lie in a 10 KiB record `tarfile` never reads: it is read for the check."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.size, info.mtime = 18 * tarfile.BLOCKSIZE, 1_600_000_000
        tar.addfile(info, io.BytesIO(b"x" * info.size))
    tar_bytes = data.getvalue()
    assert tar_bytes[19 * tarfile.BLOCKSIZE:] == bytes(len(tar_bytes) - 19 * tarfile.BLOCKSIZE)  # marker at block 19
    done = extract_vault(OneWay(tar_bytes), tmp_path / "out")
    assert done.files == 1 and (tmp_path / "out" / "f").read_bytes() == b"x" * 18 * tarfile.BLOCKSIZE
    with pytest.raises(IntegrityError):
        extract_vault(OneWay(tar_bytes[:20 * tarfile.BLOCKSIZE]), tmp_path / "cut")


def test_a_socket_is_skipped_and_named(tmp_path):
    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "f").write_text("x")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(vault / "sock"))
        summary = write_folder_tar(vault, OneWay())
    assert summary.files == 1 and summary.skipped == ["sock: not a file, folder or link (a socket, FIFO or device)"]


def crafted(*members: tuple[str, str, str]) -> bytes:
    """A tar of (name, kind, content-or-link-target) members, as an attacker would make it."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value.encode()))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, value
                tar.addfile(info)
            elif kind == "dev":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
                tar.addfile(info)
    return data.getvalue()


def test_escaping_members_are_refused_by_name_and_nothing_is_written_outside(tmp_path):
    dest = tmp_path / "box" / "restored"
    dest.parent.mkdir()
    before = set(tmp_path.rglob("*"))
    data = crafted(("ok.txt", "file", "fine"), ("../escape.txt", "file", "out"), ("/etc/absolute.txt", "file", "x"),
                   ("abs-link", "sym", "/etc/passwd"), ("up-link", "sym", "../../x"), ("dir/../../climb", "file", "y"),
                   ("hard", "hard", "../../etc/passwd"), ("null", "dev", ""), ("via", "sym", "sub"),
                   ("sub/inner.txt", "file", "z"))
    done = extract_vault(OneWay(data), dest)
    refused = [entry.split(":")[0] for entry in done.refused]
    assert refused == ["../escape.txt", "/etc/absolute.txt", "abs-link", "up-link", "dir/../../climb", "hard", "null"]
    assert (dest / "ok.txt").read_text() == "fine" and (dest / "sub" / "inner.txt").read_text() == "z"
    assert set(tmp_path.rglob("*")) - before == {dest, dest / "ok.txt", dest / "via", dest / "sub",
                                                 dest / "sub" / "inner.txt"}


def test_an_existing_folder_is_never_extracted_into_and_a_damaged_tar_says_so(tmp_path):
    (tmp_path / "there").mkdir()
    with pytest.raises(UsageError, match="already exists"):
        extract_vault(OneWay(crafted(("a", "file", "1"))), tmp_path / "there")
    data = crafted(("a", "file", "1" * 5000))
    with pytest.raises(IntegrityError, match="damaged"):
        extract_vault(OneWay(data[:1200]), tmp_path / "cut")


def test_in_place_keeps_the_previous_folder_and_a_failure_leaves_it_untouched(tmp_path):
    vault = make_vault(tmp_path)
    sink = OneWay()
    write_folder_tar(vault, sink)
    original = tree(vault)
    (vault / "docs" / "a.txt").write_text("changed after the backup\n")
    (vault / "new.txt").write_text("added after the backup\n")
    changed = tree(vault)
    when = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)
    with pytest.raises(IntegrityError):
        restore_in_place(OneWay(bytes(sink.buffer)[:4000]), vault, now=when)
    assert tree(vault) == changed and sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "vault"]
    done = restore_in_place(OneWay(bytes(sink.buffer)), vault, now=when)
    assert done.kept_previous == tmp_path / "vault.pre_restore_20261207T063000Z"
    assert tree(done.kept_previous) == changed
    assert tree(vault) == {k: v for k, v in original.items() if k != "outside-link"}


def test_cancel_stops_the_tar_and_leaves_no_folder_half_written_in_place(tmp_path):
    from recovery_console.engine.progress import CancelToken, Reporter

    vault = make_vault(tmp_path)
    sink = OneWay()
    write_folder_tar(vault, sink)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        restore_in_place(OneWay(bytes(sink.buffer)), vault, Reporter(token=token))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "vault"]
