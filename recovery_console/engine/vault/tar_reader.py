"""A tar read forward from any stream, member by member, its content handed out as views of what was read.

`tarfile`'s stream mode reads in 10 KiB records through three layers and copies each record twice; its
header parsing alone took longer than `tar -x` took for a whole vault of small files. This reader parses
what vault tars and the tars people import hold: ustar and POSIX pax headers (extended and global,
the keywords a member's attributes come from, times to the nanosecond), GNU long names and links,
and base-256 numbers. Each member comes out as a `tarfile.TarInfo`, so the one safety rule
(`tarfile.data_filter`, engine/vault/vault_extract.py) judges it. A sparse file (GNU's old header, or its
pax forms 0.0, 0.1 and 1.0) comes with the regions its content fills; the archive must end with its two zero blocks:
a tar cut short, a damaged header or a truncated member raise `tarfile.ReadError` saying which.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from recovery_console.engine.io_protocols import ReadableStream

BLOCK = 512
READ_PIECE = 1 << 20
"""Bytes taken from the stream at once; a member's content is handed out in views of at most this size."""
MAX_HEADER_DATA = 1 << 20
"""A pax or GNU long-name header's own data above this is refused: no name or record needs it, and it is held
in memory."""
_NUMBER_KEYWORDS = ("size", "uid", "gid")


@dataclass
class TarMember:
    """One member: tarfile's view of it (a sparse file's `size` is its whole size), its modification time to the
    nanosecond, and for a sparse file the (offset, length) regions its stored content fills, in order."""

    info: tarfile.TarInfo
    mtime_ns: int
    regions: list[tuple[int, int]] | None = None


@dataclass
class _Sparse:
    """A sparse file's description, from an old GNU header or GNU's pax records (0.0, 0.1 and 1.0)."""

    found: bool = False
    regions: list[tuple[int, int]] = field(default_factory=list)
    real_size: int = 0
    name: str = ""
    map_in_data: bool = False
    _offset: int | None = None

    @classmethod
    def old_gnu(cls, block: bytes, extensions: Callable[[], Iterator[bytes]]) -> _Sparse:
        sparse = cls(found=True, real_size=_number(block[483:495]))
        sparse._entries(block[386:482])
        if block[482]:
            for extension in extensions():
                sparse._entries(extension[:504])
        return sparse

    def _entries(self, area: bytes) -> None:
        for at in range(0, len(area), 24):
            offset, length = _number(area[at:at + 12]), _number(area[at + 12:at + 24])
            if length:
                self.regions.append((offset, length))

    def record(self, keyword: str, value: str, info: tarfile.TarInfo) -> None:
        self.found = True
        if keyword == "GNU.sparse.name":
            self.name = info.name = value
        elif keyword in ("GNU.sparse.size", "GNU.sparse.realsize"):
            self.real_size = int(value)
        elif keyword == "GNU.sparse.major":
            self.map_in_data = value == "1"
        elif keyword == "GNU.sparse.offset":  # 0.0: offset and numbytes records, pair by pair
            self._offset = int(value)
        elif keyword == "GNU.sparse.numbytes" and self._offset is not None:
            self.regions.append((self._offset, int(value)))
            self._offset = None
        elif keyword == "GNU.sparse.map":  # 0.1: offset,size,offset,size...
            numbers = [int(n) for n in value.split(",")] if value else []
            self.regions = list(zip(numbers[::2], numbers[1::2], strict=True))

    def check(self, stored: int, start: int) -> list[tuple[int, int]]:
        """The regions, once they agree with the bytes stored and the file's size."""
        regions = [(offset, length) for offset, length in self.regions if length]
        end = 0
        for offset, length in regions:
            if offset < end or length < 0:
                raise tarfile.ReadError(f"the sparse map of the member at byte {start:,} is damaged")
            end = offset + length
        if sum(length for _, length in regions) != stored or end > self.real_size:
            raise tarfile.ReadError(f"the sparse map of the member at byte {start:,} does not match its content")
        return regions


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
        records: list[tuple[str, str]] = []
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
                    records += _pax_records(data, start)
                elif info.type == tarfile.XGLTYPE:
                    self._globals.update(_pax_records(data, start))
                elif info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = _text(data.split(b"\0", 1)[0])
                else:
                    long_link = _text(data.split(b"\0", 1)[0])
                continue
            return self._member(info, block, [*self._globals.items(), *records], long_name, long_link)

    def _member(self, info: tarfile.TarInfo, block: bytes, records: list[tuple[str, str]], long_name: str | None,
                long_link: str | None) -> TarMember:
        start = self.offset - BLOCK
        info.name = long_name if long_name is not None else info.name
        info.linkname = long_link if long_link is not None else info.linkname
        mtime_ns = int(info.mtime) * 1_000_000_000
        try:
            sparse = (_Sparse.old_gnu(block, self._extension_blocks) if info.type == tarfile.GNUTYPE_SPARSE
                      else _Sparse())
        except ValueError:
            raise tarfile.ReadError(f"the sparse map of the member at byte {start:,} is damaged") from None
        for keyword, value in records:
            try:
                if keyword == "path" and not sparse.name:
                    info.name = value
                elif keyword == "linkpath":
                    info.linkname = value
                elif keyword in _NUMBER_KEYWORDS:
                    setattr(info, keyword, int(value))
                elif keyword == "mtime":
                    mtime_ns = _decimal_ns(value)
                    info.mtime = mtime_ns / 1e9
                elif keyword in ("uname", "gname"):
                    setattr(info, keyword, value)
                elif keyword.startswith("GNU.sparse."):
                    sparse.record(keyword, value, info)
            except ValueError:
                raise tarfile.ReadError(f"the pax record {keyword}={value!r} of the member at byte {start:,} "
                                        "is not valid") from None
        if info.type == tarfile.AREGTYPE and info.name.endswith("/"):
            info.type = tarfile.DIRTYPE  # the old tar's way of writing a folder (a pre-POSIX "file" ending in "/")
        if info.isdir():
            info.name = info.name.rstrip("/")
        if info.size < 0:
            raise tarfile.ReadError(f"the member at byte {start:,} has a negative size")
        if info.type in tarfile.REGULAR_TYPES or info.type not in tarfile.SUPPORTED_TYPES:
            self._left, self._pad = info.size, -info.size % BLOCK
        if sparse.map_in_data:
            sparse.regions = self._data_map(start)
        regions = sparse.check(self._left, start) if sparse.found else None
        if regions is not None:
            info.size = sparse.real_size  # as tarfile has it: the file's size, not the bytes stored
        return TarMember(info, mtime_ns, regions)

    def _extension_blocks(self) -> Iterator[bytes]:
        """Old GNU sparse headers' extension blocks, while each says another follows (as many as MAX_HEADER_DATA
        holds: the map is kept in memory)."""
        for _ in range(MAX_HEADER_DATA // BLOCK):
            extension = bytes(self._take(BLOCK))
            if len(extension) < BLOCK:
                raise tarfile.ReadError("it ends inside a sparse file's header (cut short)")
            yield extension
            if not extension[504]:
                return
        raise tarfile.ReadError(f"a sparse file's map runs past {MAX_HEADER_DATA:,} bytes: not a tar this reads")

    def _data_map(self, start: int) -> list[tuple[int, int]]:
        """A pax 1.0 sparse file's map, at the start of its content: decimal lines (count, then offset and size
        pairs) in whole blocks."""
        text = b""
        while True:
            if self._left < BLOCK:
                raise tarfile.ReadError(f"the sparse map of the member at byte {start:,} is cut short")
            text += bytes(self._take(BLOCK))
            self._left -= BLOCK
            lines = text.split(b"\n")
            try:
                numbers = [int(line) for line in lines[:-1]]
            except ValueError:
                raise tarfile.ReadError(f"the sparse map of the member at byte {start:,} is damaged") from None
            if numbers and len(numbers) >= 1 + 2 * numbers[0]:
                pairs = numbers[1:1 + 2 * numbers[0]]
                return list(zip(pairs[::2], pairs[1::2], strict=True))
            if len(text) > MAX_HEADER_DATA:
                raise tarfile.ReadError(f"the sparse map of the member at byte {start:,} is too long")

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


def _pax_records(data: bytes, start: int) -> list[tuple[str, str]]:
    """`"%d %s=%s\\n"` records in order; a record whose length or form is wrong makes the tar damaged."""
    records: list[tuple[str, str]] = []
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
        records.append((_text(record[space - at + 1:equals]), _text(record[equals + 1:-1])))
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
