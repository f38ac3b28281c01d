"""A pass-through reader that refuses a backup source which is not a pg_dump custom-format archive."""

from __future__ import annotations

from recovery_console.engine.archive.toc_collector import TocCollector
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.errors import IntegrityError


class ArchiveProbe:
    """Passes the source through unchanged while checking it starts as a pg_dump archive."""

    def __init__(self, source: ReadableStream) -> None:
        self._source = source
        self._toc = TocCollector()

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if not self._toc.done:
            if data:
                self._toc.feed(data)
            else:
                self._toc.finish()
            if self._toc.error is not None:
                self._refuse()
        return data

    def require_archive(self) -> None:
        self._toc.finish()
        if self._toc.archive is None:
            self._refuse()

    def _refuse(self) -> None:
        cause = self._toc.error
        raise IntegrityError(
            "The source is not a pg_dump custom-format archive" + (f": {cause.message}" if cause else "."),
            hint="Make it with `pg_dump -Fc`; nothing was stored.",
        )
