"""Property tests: whatever bytes arrive, the pg_dump archive reader raises only RecoveryError subclasses."""

from __future__ import annotations

import io
from contextlib import suppress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery_console.engine.archive import data_blocks, rowcount
from recovery_console.engine.archive import pgarchive as pa
from recovery_console.errors import RecoveryError

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = {path.stem: path.read_bytes() for path in sorted(DATA.glob("sample-*.dump"))}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Starts that get past the signature and version checks, so random bytes reach the deeper parser.
PREFIXES = st.sampled_from([b"", b"PGDMP", b"PGDMP\x01\x0e\x00\x04\x08\x01", b"PGDMP\x01\x0f\x00\x04\x08\x01",
                            b"PGDMP\x01\x10\x00\x04\x08\x01\x00", b"PGDMP\x01\x10\x00\x01\x01\x01\x03"])


def read_everything(data: bytes) -> None:
    """Every entry point over `data`; a RecoveryError is an accepted outcome, anything else escapes."""
    try:
        archive = pa.parse_archive(data)
    except RecoveryError:
        archive = None
    with suppress(RecoveryError):
        assert pa.read_archive(io.BytesIO(data)) == archive
    if archive is None:
        return
    assert pa.listing_lines(archive) is not None
    with suppress(RecoveryError):
        list(data_blocks.iter_data_blocks(io.BytesIO(data), archive))
    with suppress(RecoveryError):
        rowcount.count_copy_rows(io.BytesIO(data), archive)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    read_everything(data)


@FUZZ
@given(PREFIXES, st.binary(max_size=3000))
def test_arbitrary_bytes_after_a_plausible_header(prefix: bytes, rest: bytes) -> None:
    read_everything(prefix + rest)


@FUZZ
@given(
    st.sampled_from(sorted(SAMPLES)),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6),
)
def test_real_archives_with_flipped_bytes(name: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(SAMPLES[name])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    read_everything(bytes(data))


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.floats(0, 1), st.binary(max_size=40))
def test_real_archives_truncated_or_extended(name: str, cut: float, tail: bytes) -> None:
    data = SAMPLES[name]
    read_everything(data[: int(cut * len(data))] + tail)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.floats(0, 1, exclude_max=True), st.integers(1, 255))
def test_flipped_data_blocks_from_a_stream(name: str, where: float, mask: int) -> None:
    """A flip after the TOC: the blocks are walked from a pipe-like stream positioned at toc_end."""
    data = SAMPLES[name]
    archive = pa.parse_archive(data)
    body = bytearray(data[archive.toc_end :])
    body[int(where * len(body))] ^= mask
    with suppress(RecoveryError):
        list(data_blocks.iter_data_blocks(io.BufferedReader(_Pipe(bytes(body))), archive))


class _Pipe(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:
        return self._src.readinto(b)
