"""The --jobs restore's TOC keeper: the archive passes on unchanged, and only its header and TOC reach the disk."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from recovery_console.engine.archive.pgarchive import parse_archive
from recovery_console.engine.restore_jobs import TocKeeper
from recovery_console.errors import RecoveryError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-pg18-none.dump"


class Pipe(io.BytesIO):
    flushed = False

    def flush(self) -> None:
        self.flushed = True


@pytest.mark.parametrize("piece", [7, 4096, 1 << 30])
def test_the_archive_passes_on_whole_and_only_its_toc_is_kept(tmp_path: Path, piece: int) -> None:
    data = SAMPLE.read_bytes()
    toc_end = parse_archive(data).toc_end
    assert toc_end < len(data)
    out = Pipe()
    keeper = TocKeeper(out, tmp_path / "toc.dump")
    for start in range(0, len(data), piece):
        assert keeper.write(memoryview(data)[start:start + piece]) == len(data[start:start + piece])
    keeper.flush()
    assert out.getvalue() == data and out.flushed
    assert keeper.written
    kept = tmp_path / "toc.dump"
    assert kept.read_bytes() == data[:toc_end]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert parse_archive(kept.read_bytes()).toc == parse_archive(data).toc


def test_bytes_that_are_no_archive_leave_no_file(tmp_path: Path) -> None:
    out = Pipe()
    keeper = TocKeeper(out, tmp_path / "toc.dump")
    keeper.write(b"not an archive at all, but long enough to be refused" * 10)
    assert not keeper.written
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "toc.dump").write_bytes(b"someone else's")
    keeper = TocKeeper(Pipe(), tmp_path / "toc.dump")
    with pytest.raises(RecoveryError) as raised:
        keeper.write(SAMPLE.read_bytes())
    assert "toc.dump" in str(raised.value)
    assert (tmp_path / "toc.dump").read_bytes() == b"someone else's"
