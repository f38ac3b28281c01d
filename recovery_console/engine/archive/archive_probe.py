"""A pass-through reader that refuses a backup source which is not a whole pg_dump custom-format archive."""

from __future__ import annotations

from recovery_console.engine.archive.completeness import BlockCheck
from recovery_console.engine.archive.toc_collector import TocCollector
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.errors import IntegrityError, RecoveryError


class ArchiveProbe:
    """Passes the source through unchanged while checking it is a pg_dump archive, whole to its last block.

    The TOC is checked as soon as it has arrived; the data blocks (framing, sizes, compressed
    streams) by `require_archive()` once the source has been read to its end. Call `close()`
    when giving up early.
    """

    def __init__(self, source: ReadableStream) -> None:
        self._source = source
        self._toc = TocCollector()
        self._blocks = BlockCheck()

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._blocks.write(data)
        if not self._toc.done:
            if data:
                self._toc.feed(data)
            else:
                self._toc.finish()
            if self._toc.error is not None:
                self._refuse()
        return data

    def require_archive(self) -> None:
        """After the whole source was read: raise unless it was a whole archive."""
        self._toc.finish()
        if self._toc.archive is None:
            self._refuse()
        try:
            self._blocks.result()
        except RecoveryError as exc:
            raise IntegrityError(f"The source is not a whole pg_dump archive: {exc.message}",
                                 hint="Make the dump again (`pg_dump -Fc`); nothing was stored.") from exc

    def close(self) -> None:
        self._blocks.close()

    def _refuse(self) -> None:
        self._blocks.close()
        cause = self._toc.error
        raise IntegrityError(
            "The source is not a pg_dump custom-format archive" + (f": {cause.message}" if cause else "."),
            hint="Make it with `pg_dump -Fc`; nothing was stored.",
        )
