"""The primitives of a pg_dump custom-format archive, read from a buffer: Int, Str, byte and Offset.

Int = sign byte (0/1) + intSize bytes little-endian magnitude; Str = Int length + bytes, length -1
is NULL (None here) and 0 an empty string; Offset = flag byte (1 not set, 2 set, 3 no data) + offSize
bytes little-endian (src/bin/pg_dump/pg_backup_archiver.c ReadInt, ReadStr, ReadOffset).
"""

from __future__ import annotations

from typing import NoReturn

from recovery_console.errors import IntegrityError

TOC_LIMIT = 256 << 20
OFFSET_NOT_SET, OFFSET_SET, OFFSET_NO_DATA = 1, 2, 3


class ArchiveIncomplete(IntegrityError):
    """The buffer ends before the header and TOC do; `needed` is the least buffer length that gets further."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message, hint="Feed more of the archive, or check that the file is complete.")
        self.needed = needed


class Cursor:
    """Reads archive primitives from a buffer, raising ArchiveIncomplete where the buffer runs out."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.pos = 0
        self.limit = min(len(data), TOC_LIMIT)  # reads ending past this go to _short
        self.int_size = 4
        self.off_size = 8

    def _short(self, end: int, what: str) -> NoReturn:
        if end > TOC_LIMIT:
            raise IntegrityError(
                f"The archive's {what} at byte {self.pos} would end past {TOC_LIMIT >> 20} MiB: "
                "its table of contents is damaged or absurdly large.",
                hint="This is not a table of contents pg_dump would write; the archive is probably corrupt.",
            )
        raise ArchiveIncomplete(
            f"The archive ends at byte {len(self.data)}, inside its {what} (byte {self.pos}).", needed=end
        )

    def read_bytes(self, n: int, what: str) -> bytes:
        start, end = self.pos, self.pos + n
        if end > self.limit:
            self._short(end, what)
        self.pos = end
        return bytes(self.data[start:end])

    def read_byte(self, what: str) -> int:
        return self.read_bytes(1, what)[0]

    def read_int(self, what: str) -> int:
        start, end = self.pos, self.pos + 1 + self.int_size
        if end > self.limit:
            self._short(end, what)
        sign = self.data[start]
        if sign > 1:
            raise IntegrityError(f"The archive's {what} at byte {start} has an invalid sign byte ({sign}).")
        self.pos = end
        magnitude = int.from_bytes(self.data[start + 1 : end], "little")
        return -magnitude if sign else magnitude

    def read_str(self, what: str) -> str | None:
        """Str: length -1 is NULL (None); pg_restore reads any negative length as NULL, here only -1 passes."""
        length = self.read_int(what)
        if length == -1:
            return None
        if length < 0:
            raise IntegrityError(f"The archive's {what} before byte {self.pos} has a negative length ({length}).")
        start, end = self.pos, self.pos + length
        if end > self.limit:
            self._short(end, what)
        self.pos = end
        return self.data[start:end].decode("utf-8", "replace")

    def read_text(self, what: str) -> str:
        return self.read_str(what) or ""

    def read_offset(self, what: str) -> tuple[int, int]:
        start = self.pos
        state = self.read_byte(what)
        if state not in (OFFSET_NOT_SET, OFFSET_SET, OFFSET_NO_DATA):
            raise IntegrityError(f"The archive's {what} at byte {start} has an unknown data-offset flag ({state}).")
        return state, int.from_bytes(self.read_bytes(self.off_size, what), "little")
