"""The vault's own tar reader (#18): what GNU tar writes in each of its formats reads as tarfile reads it, and damage
is named, never extracted half-read."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from recovery_console.engine.vault.tar_reader import MAX_HEADER_DATA, TarReader
from recovery_console.engine.vault.vault_extract import check_tar, extract_vault
from recovery_console.errors import IntegrityError
from tests.unit.test_pax_header import ODD_BYTES_NAME, make_odd_folder, snapshot

GNU_TAR = shutil.which("tar")
needs_gnu_tar = pytest.mark.skipif(GNU_TAR is None, reason="GNU tar is not installed")


def gnu_tar(folder: Path, fmt: str) -> bytes:
    made = subprocess.run([GNU_TAR, f"--format={fmt}", "-cf", "-", "-C", str(folder), "."], check=True,
                          capture_output=True)
    return made.stdout


def ours(data: bytes) -> list[tuple]:
    reader = TarReader(io.BytesIO(data))
    found = []
    for member in reader:
        m = member.info
        content = b"".join(bytes(piece) for piece in reader.content())
        found.append((m.name, m.type, m.linkname, m.size, m.mode, int(m.mtime), content))
    return found


def theirs(data: bytes) -> list[tuple]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
        for m in tar:
            content = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            found.append((m.name, m.type, m.linkname, m.size, m.mode, int(m.mtime), content))
    return found


@needs_gnu_tar
@pytest.mark.parametrize("fmt", ["gnu", "oldgnu", "pax", "posix", "ustar"])
def test_gnu_tars_of_every_format_read_as_tarfile_reads_them(tmp_path, fmt):
    vault = make_odd_folder(tmp_path)
    if fmt == "ustar":  # ustar cannot hold names this long: a folder it can
        shutil.rmtree(vault / ("d" * 90))
        os.unlink(vault / "long-link")
        (vault / ("p" * 80) / ("q" * 80)).mkdir(parents=True)  # a name over 100 bytes: ustar's prefix field
        (vault / ("p" * 80) / ("q" * 80) / "r.txt").write_text("prefixed\n")
    data = gnu_tar(vault, fmt)
    assert ours(data) == theirs(data)
    names = {os.fsencode(entry[0]) for entry in ours(data)}
    assert b"./" + ODD_BYTES_NAME in names


@needs_gnu_tar
def test_a_gnu_tar_extracts_to_the_same_tree_as_gnu_tar_makes(tmp_path):
    vault = make_odd_folder(tmp_path)
    data = gnu_tar(vault, "posix")
    done = extract_vault(io.BytesIO(data), tmp_path / "out")
    assert not done.refused and snapshot(tmp_path / "out").keys() == snapshot(vault).keys()


def test_a_global_pax_header_applies_to_the_members_after_it():
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"mtime": "1700000000.5"}) as tar:
        info = tarfile.TarInfo("f")
        info.size, info.mtime = 1, 5
        tar.addfile(info, io.BytesIO(b"x"))
    members = list(TarReader(io.BytesIO(data.getvalue())))
    assert [(m.info.name, m.mtime_ns) for m in members] == [("f", 1_700_000_000_500_000_000)]


@needs_gnu_tar
@pytest.mark.parametrize(("fmt", "version"), [("gnu", None), ("posix", "1.0"), ("posix", "0.1"), ("posix", "0.0")])
def test_a_sparse_file_comes_back_whole_with_its_holes(tmp_path, fmt, version):
    folder = tmp_path / "src"
    folder.mkdir()
    with open(folder / "holes.img", "wb") as f:
        f.truncate(64 << 20)
        for at in (0, 5 << 20, 40 << 20):
            f.seek(at)
            f.write(os.urandom(70_000))
    (folder / "after.txt").write_text("after the sparse file\n")
    extra = [f"--sparse-version={version}"] if version else []
    data = subprocess.run([GNU_TAR, f"--format={fmt}", "-S", *extra, "-cf", "-", "-C", str(folder), "holes.img",
                           "after.txt"], check=True, capture_output=True).stdout
    assert len(data) < 1 << 20  # stored sparse: the holes are not in the tar
    assert [(m.info.name, m.info.size) for m in TarReader(io.BytesIO(data))] == [
        ("holes.img", 64 << 20), ("after.txt", 22)]
    out = tmp_path / "out"
    done = extract_vault(io.BytesIO(data), out)
    assert not done.refused and sorted(p.name for p in out.iterdir()) == ["after.txt", "holes.img"]
    assert (out / "holes.img").read_bytes() == (folder / "holes.img").read_bytes()
    assert (out / "holes.img").stat().st_blocks * 512 < 8 << 20  # the holes stayed holes
    assert (out / "after.txt").read_text() == "after the sparse file\n"


def test_an_endless_old_gnu_sparse_map_is_refused_before_it_fills_memory():
    info = tarfile.TarInfo("holes.img")
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[482] = 1  # extension blocks follow, each saying another follows
    header[148:156] = b" " * 8
    header[148:155] = b"%06o\x00" % sum(header)
    extension = bytes(504) + b"\x01" + bytes(7)
    with pytest.raises(IntegrityError, match="map runs past 1,048,576 bytes"):
        check_tar(io.BytesIO(bytes(header) + extension * 3000))


def test_a_sparse_map_that_disagrees_with_its_content_is_damage(tmp_path):
    info = tarfile.TarInfo("holes.img")
    info.size = 512
    records = {"GNU.sparse.map": "0,100,4096,500", "GNU.sparse.size": "8192"}  # 600 bytes mapped, 512 stored
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info.pax_headers = records
        tar.addfile(info, io.BytesIO(b"s" * 512))
    with pytest.raises(IntegrityError, match="sparse map of the member at byte 1,024 does not match its content"):
        extract_vault(io.BytesIO(data.getvalue()), tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def plain_tar(*members: tuple[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), 1_600_000_000
            tar.addfile(info, io.BytesIO(content))
    return data.getvalue()


def test_damage_is_named_and_nothing_of_the_damaged_member_is_kept(tmp_path):
    data = plain_tar(("a.txt", b"a" * 700), ("b.txt", b"b" * 100))
    flipped = bytearray(data)
    flipped[1536 + 10] ^= 0x20  # the second member's name, under its checksum
    with pytest.raises(IntegrityError, match=r"header at byte 1,536 is damaged \(its checksum"):
        check_tar(io.BytesIO(bytes(flipped)))
    for cut, says in ((1000, "inside a member's content"), (1536 + 100, "end-of-archive marker"),
                      (2048 + 512 + 100, "end-of-archive marker"), (len(data) - 10240 + 2560, "end-of-archive")):
        with pytest.raises(IntegrityError, match=says):
            extract_vault(io.BytesIO(data[:cut]), tmp_path / f"cut-{cut}")
    not_a_tar = b"PGDMP" + bytes(1019)
    with pytest.raises(IntegrityError, match="checksum"):
        check_tar(io.BytesIO(not_a_tar))


def test_an_oversized_extended_header_and_a_nul_in_a_name_are_refused(tmp_path):
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, MAX_HEADER_DATA + 1
    with pytest.raises(IntegrityError, match="holds 1,048,577 bytes"):
        check_tar(io.BytesIO(header.tobuf(tarfile.USTAR_FORMAT) + bytes(2 * MAX_HEADER_DATA)))
    record = b"path=bad\x00name.txt\n"
    pax = b"%d %s" % (len(record) + 3, record)
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, len(pax)
    member = tarfile.TarInfo("placeholder")
    member.size = 2
    data = (info.tobuf(tarfile.USTAR_FORMAT) + pax + bytes(-len(pax) % 512) + member.tobuf(tarfile.USTAR_FORMAT)
            + b"ok" + bytes(510) + bytes(1024))
    done = extract_vault(io.BytesIO(data), tmp_path / "out")
    assert done.refused == ["bad\x00name.txt: a name with a NUL byte, which no file system allows"]
    assert list((tmp_path / "out").iterdir()) == []


def test_content_arrives_in_views_across_reads_of_any_size():
    content = os.urandom(3 * 1024 * 1024 + 7)
    data = plain_tar(("big", content), ("small", b"s"))

    class Dribble(io.RawIOBase):
        def __init__(self) -> None:
            self._data = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:  # type: ignore[override]
            return self._data.read(min(size, 777) if size >= 0 else 777)

    found = ours(data)
    reader = TarReader(Dribble())
    assert [(m.info.name, b"".join(bytes(p) for p in reader.content())) for m in reader] == [
        ("big", content), ("small", b"s")]
    assert [entry[0] for entry in found] == ["big", "small"]
