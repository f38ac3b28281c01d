"""A tar read forward from any stream, member by member, its content handed out as views of what was read.

`tarfile`'s stream mode reads in 10 KiB records through three layers and copies each record twice; its
header parsing alone took longer than `tar -x` took for a whole vault of small files. This reader parses
what vault tars and the tars people import hold: ustar and POSIX pax headers (extended and global,
the keywords a member's attributes come from, times to the nanosecond), GNU long names and links,
and base-256 numbers. Each member comes out as a `tarfile.TarInfo`, so the one safety rule
(`tarfile.data_filter`, engine/vault/vault_extract.py) judges it. A sparse file is marked as such
(its content is skipped, never written wrong), and the archive must end with its two zero blocks:
a tar cut short, a damaged header or a truncated member raise `tarfile.ReadError` saying which.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from recovery_console.engine.io_protocols import ReadableStream

BLOCK = 512
READ_PIECE = 1 << 20
"""Bytes taken from the stream at once; a member's content is handed out in views of at most this size."""
MAX_HEADER_DATA = 1 << 20
"""A pax or GNU long-name header's own data above this is refused: no name or record needs it, and it is held
in memory."""
_NUMBER_KEYWORDS = ("size", "uid", "gid")
_SPARSE_KEYWORDS = ("GNU.sparse.map", "GNU.sparse.major", "GNU.sparse.offset", "GNU.sparse.numblocks",
                    "GNU.sparse.name")


@dataclass
class TarMember:
    """One member: tarfile's view of it, its modification time to the nanosecond, and whether it is a sparse file
    (whose content this reader does not rebuild)."""

    info: tarfile.TarInfo
    mtime_ns: int
    sparse: bool = False


class TarReader:
    """Iterate for the members; `content()` gives the current member's bytes, else they are skipped."""

    def __init__(self, stream: ReadableStream) -> None:
        self._stream = stream
        self._buffer = b""
        self._at = 0  # where in self._buffer the next unread byte is
        self.offset = 0  # bytes of the tar consumed so far
        self._left = 0  # content bytes of the current member not yet read
        self._pad = 0
        self._globals: dict[str, str] = {}

    def __iter__(self) -> Iterator[TarMember]:
        while True:
            self._skip_content()
            member = self._next()
            if member is None:
                return
            yield member

    def content(self) -> Iterator[memoryview]:
        """The current member's content in views of the reader's buffer (each valid until the next is asked for)."""
        while self._left:
            piece = self._take(min(self._left, READ_PIECE), partial=True)
            if not piece:
                raise tarfile.ReadError(f"it ends inside a member's content ({self._left:,} bytes missing; cut short)")
            self._left -= len(piece)
            yield piece

    def _skip_content(self) -> None:
        for _ in self.content():
            pass
        while self._pad:
            taken = len(self._take(self._pad, partial=True))
            if not taken:
                raise tarfile.ReadError("it ends inside a member's padding (cut short)")
            self._pad -= taken

    def _next(self) -> TarMember | None:
        """The next member with the pax and GNU long-name headers before it applied; None at the end marker."""
        records: dict[str, str] = {}
        long_name = long_link = None
        while True:
            start = self.offset
            block = bytes(self._take(BLOCK))
            if len(block) < BLOCK:
                raise tarfile.ReadError("it ends before its end-of-archive marker (cut short)")
            if block == bytes(BLOCK):
                if bytes(self._take(BLOCK)) != bytes(BLOCK):
                    raise tarfile.ReadError("its end-of-archive marker is not two zero blocks (damaged or cut short)")
                return None
            info = _parse_header(block, start)
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                data = self._header_data(info.size, start)
                if info.type == tarfile.XHDTYPE:
                    records.update(_pax_records(data, start))
                elif info.type == tarfile.XGLTYPE:
                    self._globals.update(_pax_records(data, start))
                elif info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = _text(data.split(b"\0", 1)[0])
                else:
                    long_link = _text(data.split(b"\0", 1)[0])
                continue
            return self._member(info, block, {**self._globals, **records}, long_name, long_link)

    def _member(self, info: tarfile.TarInfo, block: bytes, records: dict[str, str], long_name: str | None,
                long_link: str | None) -> TarMember:
        sparse = info.type == tarfile.GNUTYPE_SPARSE or any(key in records for key in _SPARSE_KEYWORDS)
        if info.type == tarfile.GNUTYPE_SPARSE and block[482]:  # old GNU sparse: extension blocks follow
            while True:
                extension = bytes(self._take(BLOCK))
                if len(extension) < BLOCK:
                    raise tarfile.ReadError("it ends inside a sparse file's header (cut short)")
                if not extension[504]:
                    break
        info.name = long_name if long_name is not None else info.name
        info.linkname = long_link if long_link is not None else info.linkname
        mtime_ns = int(info.mtime) * 1_000_000_000
        for keyword, value in records.items():
            try:
                if keyword == ("GNU.sparse.name" if "GNU.sparse.name" in records else "path"):
                    info.name = value  # a sparse file's path names a stand-in; its own name is GNU.sparse.name
                elif keyword == "linkpath":
                    info.linkname = value
                elif keyword in _NUMBER_KEYWORDS:
                    setattr(info, keyword, int(value))
                elif keyword == "mtime":
                    mtime_ns = _decimal_ns(value)
                    info.mtime = mtime_ns / 1e9
                elif keyword in ("uname", "gname"):
                    setattr(info, keyword, value)
            except ValueError:
                raise tarfile.ReadError(f"the pax record {keyword}={value!r} of the member at byte "
                                        f"{self.offset - BLOCK:,} is not valid") from None
        if info.type == tarfile.AREGTYPE and info.name.endswith("/"):
            info.type = tarfile.DIRTYPE  # the old tar's way of writing a folder (a pre-POSIX "file" ending in "/")
        if info.isdir():
            info.name = info.name.rstrip("/")
        if info.size < 0:
            raise tarfile.ReadError(f"the member at byte {self.offset - BLOCK:,} has a negative size")
        if info.type in tarfile.REGULAR_TYPES or info.type not in tarfile.SUPPORTED_TYPES:
            self._left, self._pad = info.size, -info.size % BLOCK
        info.offset_data = self.offset
        return TarMember(info, mtime_ns, sparse)

    def _header_data(self, size: int, start: int) -> bytes:
        """A pax or long-name header's own data, with its padding read past."""
        if size > MAX_HEADER_DATA:
            raise tarfile.ReadError(f"the extended header at byte {start:,} holds {size:,} bytes (more than "
                                    f"{MAX_HEADER_DATA:,}): not a tar this console reads")
        data = bytes(self._take(size + -size % BLOCK))
        if len(data) < size + -size % BLOCK:
            raise tarfile.ReadError("it ends inside an extended header (cut short)")
        return data[:size]

    def _take(self, size: int, *, partial: bool = False) -> memoryview:
        """Up to `size` bytes (fewer only at the stream's end, or when `partial`, what the buffer holds if anything)."""
        held = len(self._buffer) - self._at
        if held < size and not (partial and held):
            pieces = [self._buffer[self._at:]]
            while held < size:
                more = self._stream.read(max(READ_PIECE, size - held))
                if not more:
                    break
                pieces.append(more)
                held += len(more)
                if partial:
                    break
            self._buffer, self._at = (pieces[-1] if len(pieces) == 2 and not pieces[0] else b"".join(pieces)), 0
        taken = memoryview(self._buffer)[self._at:self._at + size]
        self._at += len(taken)
        self.offset += len(taken)
        return taken


def _parse_header(block: bytes, start: int) -> tarfile.TarInfo:
    stored = block[148:156]
    unsigned = sum(block) - sum(stored) + 8 * 32
    try:
        expected = _number(stored)
    except ValueError:
        expected = -1
    if expected != unsigned and expected != unsigned - 256 * sum(b > 127 for b in block[:148] + block[156:]):
        raise tarfile.ReadError(f"the header at byte {start:,} is damaged (its checksum does not match)")
    info = tarfile.TarInfo()
    try:
        info.mode = _number(block[100:108])
        info.uid, info.gid = _number(block[108:116]), _number(block[116:124])
        info.size, info.mtime = _number(block[124:136]), _number(block[136:148])
        info.devmajor, info.devminor = _number(block[329:337]), _number(block[337:345])
    except ValueError:
        raise tarfile.ReadError(f"the header at byte {start:,} has a number that is not one (damaged)") from None
    info.type = block[156:157]
    info.name = _text(block[0:100].split(b"\0", 1)[0])
    info.linkname = _text(block[157:257].split(b"\0", 1)[0])
    info.uname = _text(block[265:297].split(b"\0", 1)[0])
    info.gname = _text(block[297:329].split(b"\0", 1)[0])
    prefix = block[345:500].split(b"\0", 1)[0]
    if block[257:265] == b"ustar\x0000" and prefix and info.type not in tarfile.GNU_TYPES:
        info.name = f"{_text(prefix)}/{info.name}"
    return info


def _number(field: bytes) -> int:
    """An octal field, or GNU's base-256 for numbers too large for it."""
    if field[0] in (0o200, 0o377):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] == 0o377 else value
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _pax_records(data: bytes, start: int) -> dict[str, str]:
    """`"%d %s=%s\\n"` records; a record whose length or form is wrong makes the tar damaged."""
    records: dict[str, str] = {}
    at = 0
    while at < len(data) and data[at] != 0:
        space = data.find(b" ", at)
        try:
            length = int(data[at:space])
        except ValueError:
            length = 0
        record = data[at:at + length]
        equals = record.find(b"=")
        if space < 0 or length <= space - at or not record.endswith(b"\n") or equals < 0:
            raise tarfile.ReadError(f"the pax header at byte {start:,} is damaged")
        records[_text(record[space - at + 1:equals])] = _text(record[equals + 1:-1])
        at += length
    return records


def _decimal_ns(text: str) -> int:
    """A pax time (`-1.5`, `1733600000.123456789`) in nanoseconds, exactly."""
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("-").partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise ValueError(text)
    return sign * (int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9]))


def _text(data: bytes) -> str:
    """Names as UTF-8, bytes that are not kept as they are (surrogates), as tarfile and the writer do."""
    return data.decode("utf-8", "surrogateescape")
