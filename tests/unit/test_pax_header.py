"""The vault tar's own header builder (#18): the bytes tarfile would write, read back alike by tarfile and GNU tar."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from recovery_console.engine.vault import folder_tar
from recovery_console.engine.vault.folder_tar import write_folder_tar
from recovery_console.engine.vault.pax_header import DIRECTORY, REGULAR, SYMLINK, member_header
from recovery_console.errors import StorageError

GNU_TAR = shutil.which("tar")
ODD_BYTES_NAME = b"caf\xe9-latin1.txt"  # not UTF-8: a name some system made of other bytes


def tarfile_header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@pytest.mark.parametrize("mtime_ns", [1_600_000_000 * 10**9, 1_600_000_000_250_000_000])
def test_a_plain_member_header_is_byte_for_byte_tarfiles(mtime_ns):
    info = tarfile.TarInfo("docs/a.txt")
    info.size, info.mode, info.uid, info.gid, info.uname, info.gname = 6, 0o640, 1000, 1000, "", ""
    info.mtime = mtime_ns // 10**9 + (mtime_ns % 10**9 / 1e9 if mtime_ns % 10**9 else 0)
    ours = member_header("docs/a.txt", REGULAR, mode=0o100640, uid=1000, gid=1000, mtime_ns=mtime_ns, size=6)
    assert ours == tarfile_header(info)


def test_long_non_ascii_names_big_sizes_and_ids_go_into_pax_records_tarfile_reads():
    name = "ünïcødé/" + "x" * 150 + "/中文.bin"
    link = "../" * 40 + "target"
    blocks = (member_header(name, REGULAR, mode=0o644, uid=2**22, gid=7, mtime_ns=-1_500_000_000, size=9 * 2**30)
              + member_header("l", SYMLINK, mode=0o777, uid=0, gid=0, mtime_ns=0, linkname=link)
              + member_header("d", DIRECTORY, mode=0o755, uid=0, gid=0, mtime_ns=5 * 10**9))
    first = tarfile.TarInfo.frombuf(blocks[:512], "utf-8", "surrogateescape")
    assert first.type == tarfile.XHDTYPE
    with tarfile.open(fileobj=io.BytesIO(blocks), mode="r|") as tar:
        big = tar.next()
        assert big is not None and (big.name, big.size, big.uid, big.gid, big.mtime) == (
            name, 9 * 2**30, 2**22, 7, -1.5)
        tar.members = []  # the stream cannot skip 9 GiB of content; the next headers are read from their own bytes
    rest = blocks[blocks.index(member_header("l", SYMLINK, mode=0o777, uid=0, gid=0, mtime_ns=0, linkname=link)):]
    with tarfile.open(fileobj=io.BytesIO(rest + bytes(1024)), mode="r|") as tar:
        members = list(tar)
    assert [(m.name, m.type, m.linkname) for m in members] == [("l", tarfile.SYMTYPE, link), ("d", tarfile.DIRTYPE, "")]


def make_odd_folder(root: Path) -> Path:
    vault = root / "vault"
    deep = vault / ("d" * 90) / ("e" * 90) / "ünï 中文"
    deep.mkdir(parents=True)
    (deep / ("f" * 120 + ".txt")).write_bytes(b"deep and long\n")
    (vault / "empty").mkdir()
    (vault / "zero").write_bytes(b"")
    (vault / "exact-block").write_bytes(b"b" * 512)
    os.symlink("ünï/" + "t" * 130, vault / "long-link")
    (vault / "first").write_bytes(b"shared content\n")
    os.link(vault / "first", vault / "second")
    os.chmod(vault / "first", 0o754)
    odd = os.path.join(os.fsencode(vault), ODD_BYTES_NAME)
    with open(odd, "wb") as out:
        out.write(b"latin-1 name\n")
    os.utime(vault / "zero", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    return vault


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Every entry below `root` by its name's bytes: kind, mode, link target or content, and mtime to the ns."""
    out: dict[bytes, tuple] = {}
    base = os.fsencode(root)
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            key = os.path.relpath(path, base)
            if stat.S_ISLNK(info.st_mode):
                out[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                out[key] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                with open(path, "rb") as f:
                    out[key] = ("file", stat.S_IMODE(info.st_mode), info.st_mtime_ns, f.read())
    return out


@pytest.mark.skipif(GNU_TAR is None, reason="GNU tar is not installed")
def test_gnu_tar_extracts_the_same_tree_to_the_nanosecond(tmp_path):
    vault = make_odd_folder(tmp_path)
    archive = tmp_path / "vault.tar"
    with open(archive, "wb") as sink:
        summary = write_folder_tar(vault, sink)
    assert (summary.files, summary.links) == (5, 2)  # "second" is a hard link to "first", "long-link" a symlink
    assert archive.stat().st_size % (20 * 512) == 0
    out = tmp_path / "by-gnu-tar"
    out.mkdir()
    subprocess.run([GNU_TAR, "-xpf", str(archive), "-C", str(out)], check=True, capture_output=True)
    theirs, ours = snapshot(out), snapshot(vault)
    files = {k: v for k, v in ours.items() if v[0] != "dir"}  # a folder's mtime moves as tar fills it
    assert {k: v for k, v in theirs.items() if v[0] != "dir"} == files
    assert theirs.keys() == ours.keys() and ODD_BYTES_NAME in theirs
    assert os.stat(out / "first").st_ino == os.stat(out / "second").st_ino


def test_tarfile_reads_every_name_back(tmp_path):
    vault = make_odd_folder(tmp_path)
    sink = io.BytesIO()
    write_folder_tar(vault, sink)
    sink.seek(0)
    with tarfile.open(fileobj=sink, mode="r:", encoding="utf-8", errors="surrogateescape") as tar:
        names = {os.fsencode(m.name): m for m in tar}
    assert names.keys() == snapshot(vault).keys()
    linked = [m for m in (names[b"first"], names[b"second"]) if m.islnk()]  # the one written second
    assert len(linked) == 1 and linked[0].linkname in ("first", "second") and linked[0].linkname != linked[0].name
    assert names[b"zero"].mtime == pytest.approx(1_700_000_000.123456789)
    assert all(m.uname == m.gname == "" for m in names.values())


def test_a_file_cut_shorter_while_it_is_read_fails_plainly(tmp_path):
    path = tmp_path / "shrinking"
    path.write_bytes(b"x" * 1000)
    sink = folder_tar._Sink(io.BytesIO())
    with pytest.raises(StorageError, match="became shorter while it was read: 1,000 of its 2,000 bytes were gone"):
        folder_tar._copy_content(str(path), 2000, sink, folder_tar.Reporter())
