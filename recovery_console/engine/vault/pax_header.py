"""The header blocks of one tar member in POSIX.1-2001 pax format, built directly (docs/FORMAT.md 19.3).

`tarfile` builds a header through a dict, a deep copy and per-field encoders (~150 µs a member); a vault of
small files spent most of its backup there. Here a member's ustar block is one `struct.pack`, and a pax
extended header is added only when a field does not fit it: a name or link target longer than 100
bytes or not ASCII, a size of 8 GiB or more, a large id, or a modification time with a fraction of a
second (kept to the nanosecond). Any pax reader (tarfile, GNU tar, bsdtar) reads the result.
"""

from __future__ import annotations

import struct

BLOCK = 512
RECORD = 20 * BLOCK  # tar pads the archive's end to whole records of 10 KiB
REGULAR, LINK, SYMLINK, DIRECTORY, PAX = b"0", b"1", b"2", b"5", b"x"
_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12s")
_CHECKSUM_AT = 148
_NAME_BYTES = 100
_MAX_SIZE = 8 ** 11  # 12-byte field: 11 octal digits
_MAX_ID = 8 ** 7  # 8-byte fields: 7 octal digits


def member_header(name: str, kind: bytes, *, mode: int, uid: int, gid: int, mtime_ns: int, size: int = 0,
                  linkname: str = "") -> bytes:
    """The blocks that precede a member's content: a pax extended header when needed, then its ustar block.

    `name` is relative, with "/" between parts (a directory's gets its trailing "/" here); names and link
    targets are UTF-8, and bytes that are not (a file name a system made of other bytes) are kept as they are."""
    if kind == DIRECTORY and not name.endswith("/"):
        name += "/"
    records: list[tuple[bytes, bytes]] = []
    binary = False
    name_field, binary = _text_field("path", name, records, binary)
    link_field, binary = _text_field("linkpath", linkname, records, binary)
    seconds, fraction = divmod(mtime_ns, 1_000_000_000)
    if fraction or not 0 <= seconds < _MAX_SIZE:
        records.append((b"mtime", _pax_time(mtime_ns)))
    numbers = []
    for keyword, value, limit in ((b"uid", uid, _MAX_ID), (b"gid", gid, _MAX_ID), (b"size", size, _MAX_SIZE)):
        if 0 <= value < limit:
            numbers.append(value)
        else:
            records.append((keyword, str(value).encode()))
            numbers.append(0)
    mtime_field = seconds if 0 <= seconds < _MAX_SIZE else 0
    block = _ustar(name_field, kind, mode & 0o7777, numbers[0], numbers[1], numbers[2], mtime_field, link_field)
    if not records:
        return block
    if binary:
        records.insert(0, (b"hdrcharset", b"BINARY"))
    payload = b"".join(_pax_record(keyword, value) for keyword, value in records)
    pax = _ustar(b"././@PaxHeader", PAX, 0, 0, 0, len(payload), 0, b"")
    return pax + payload + bytes(-len(payload) % BLOCK) + block


def padding(size: int) -> bytes:
    """The zero bytes that follow `size` bytes of content to the next block."""
    return bytes(-size % BLOCK)


def end_of_archive(written: int) -> bytes:
    """Two zero blocks, then zeros to the end of the record, for an archive of `written` bytes so far."""
    total = written + 2 * BLOCK
    return bytes(2 * BLOCK + -total % RECORD)


def _text_field(keyword: str, text: str, records: list[tuple[bytes, bytes]], binary: bool) -> tuple[bytes, bool]:
    """The ustar field's bytes for a name; the whole name goes into a pax record when the field cannot hold it."""
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name, carried as surrogates
        encoded, binary = text.encode("utf-8", "surrogateescape"), True
    if len(encoded) > _NAME_BYTES or not encoded.isascii():
        records.append((keyword.encode(), encoded))
    return encoded[:_NAME_BYTES], binary


def _pax_time(ns: int) -> bytes:
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = f"{sign}{seconds}.{fraction:09d}".rstrip("0").rstrip(".")
    return text.encode()


def _pax_record(keyword: bytes, value: bytes) -> bytes:
    """`"%d %s=%s\\n"`, the leading length counting its own digits."""
    body = len(keyword) + len(value) + 3  # " ", "=", "\n"
    length = body + len(str(body))
    if len(str(length)) != len(str(body)):
        length += 1
    return b"%d %s=%s\n" % (length, keyword, value)


def _ustar(name: bytes, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, linkname: bytes) -> bytes:
    block = bytearray(_USTAR.pack(name, b"%07o" % mode, b"%07o" % uid, b"%07o" % gid, b"%011o" % size,
                                  b"%011o" % mtime, b" " * 8, kind, linkname, b"ustar\x00", b"00", b"", b"",
                                  b"", b"", b"", b""))
    block[_CHECKSUM_AT:_CHECKSUM_AT + 7] = b"%06o\x00" % sum(block)
    return bytes(block)
