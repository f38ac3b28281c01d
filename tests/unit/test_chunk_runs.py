"""Bulk chunk-header stripping: exactly what a chunk-by-chunk walk of the same bytes gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recovery_console.engine.archive.copy_chunks import FRAMING_ONLY, strip_headers


def chunk(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "little") + payload


def walk(data: bytes, start: int, end: int) -> tuple[bytes, int]:
    """The reference: follow the lengths one chunk at a time, stopping where strip_headers must."""
    payload, pos = bytearray(), start
    while pos + 5 <= end and data[pos] == 0:
        length = int.from_bytes(data[pos + 1 : pos + 5], "little")
        if not length or pos + 5 + length > end:
            break
        payload += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return bytes(payload), pos - start


rows = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"") + b"\n")
payloads = st.one_of(
    rows,                                                             # pg_dump -Z0: one row per chunk
    st.lists(rows, min_size=2, max_size=4).map(b"".join),             # several rows in one chunk
    st.binary(min_size=1, max_size=30),                               # a piece of a row, or anything
    st.integers(2555, 2570).map(lambda n: b"r" * (n - 1) + b"\n"),    # lengths whose second byte is a newline
    st.integers(5, 12).map(lambda n: b"q" * (n - 1) + b"\n"),         # lengths whose first byte is a newline
)


@settings(max_examples=300, deadline=None)
@given(st.lists(payloads, max_size=30), st.binary(max_size=12), st.integers(0, 7), st.data())
def test_strip_headers_matches_a_chunk_by_chunk_walk(parts, tail, lead, data) -> None:
    body = b"".join(chunk(p) for p in parts)
    buf = b"J" * lead + body + data.draw(st.sampled_from([b"", b"\x00" * 5, b"\x01\x00\x07"])) + tail
    end = data.draw(st.integers(lead, len(buf)))
    run = strip_headers(buf, lead, end)
    assert (run.payload, run.consumed) == walk(buf, lead, end)
    framed = strip_headers(buf, lead, end, payload=False)  # a completeness check walks as far, keeping nothing
    assert framed.consumed == run.consumed
    assert framed.payload == (FRAMING_ONLY if run.consumed else b"")


def test_one_row_chunks_become_one_payload() -> None:
    rows_ = [b"%d\tname %d\t\\N\n" % (i, i) for i in range(5000)]
    data = b"".join(chunk(r) for r in rows_) + chunk(b"\\.\n\n\n") + b"\x00" * 5
    run = strip_headers(data, 0, len(data))
    assert run.payload == b"".join(rows_) + b"\\.\n\n\n"
    assert run.consumed == len(data) - 5


def test_a_guess_inside_a_header_that_happens_to_fit_is_never_taken() -> None:
    """A chunk of 0x08000A bytes has the length bytes 0A 00 08 00, the first a newline. Read from
    just after it, the bytes 00 | 08 00 p0 p1 look like a header too, and with a payload starting
    08 00 its length (0x080008) is exactly what a one-row chunk ending at the payload's newline
    would state. Only the chain of lengths from the first header may decide where chunks start."""
    length = 0x08000A
    payload = b"\x08\x00" + b"x" * (length - 3) + b"\n"
    data = chunk(payload) + chunk(b"after\n")
    assert data[1] == 0x0A and int.from_bytes(data[3:7], "little") == length - 2
    run = strip_headers(data, 0, len(data))
    assert run.payload == payload + b"after\n" and run.consumed == len(data)


def test_nothing_whole_before_end_gives_an_empty_run() -> None:
    data = chunk(b"a row\n")
    assert strip_headers(data, 0, len(data) - 1).consumed == 0
    assert strip_headers(data, 0, 3).consumed == 0
    assert strip_headers(b"\x01" + data[1:], 0, len(data)).consumed == 0
