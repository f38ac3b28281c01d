"""Collects the start of an archive byte stream until its header and TOC parse (or clearly fail)."""

from __future__ import annotations

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.archive.cursor import ArchiveIncomplete
from recovery_console.errors import RecoveryError

TOC_PREFIX_CAP = 256 << 20


class TocCollector:
    """Feed archive bytes in order; `archive` or `error` is set as soon as the TOC is decided."""

    def __init__(self) -> None:
        self._prefix: bytearray | None = bytearray()
        self.archive: pgarchive.Archive | None = None
        self.error: RecoveryError | None = None

    @property
    def done(self) -> bool:
        return self._prefix is None

    def feed(self, data: bytes | memoryview) -> None:
        if self._prefix is None:
            return
        self._prefix += data
        try:
            self.archive = pgarchive.parse_archive(self._prefix)
        except ArchiveIncomplete as exc:
            if len(self._prefix) < TOC_PREFIX_CAP:
                return
            self.error = exc
        except RecoveryError as exc:
            self.error = exc
        self._prefix = None

    def finish(self) -> None:
        """At end of stream an undecided TOC becomes the parser's verdict on what arrived."""
        if self._prefix is None:
            return
        try:
            self.archive = pgarchive.parse_archive(self._prefix)
        except RecoveryError as exc:
            self.error = exc
        self._prefix = None
