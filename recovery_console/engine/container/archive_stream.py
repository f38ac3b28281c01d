"""Turns decrypted payload chunks back into pg_dump archive bytes: decompress, hash, write, parse the TOC."""

from __future__ import annotations

import hashlib

import zstandard

from recovery_console.engine.archive import pgarchive
from recovery_console.engine.archive.toc_collector import TocCollector
from recovery_console.engine.container.zstd_frame import FrameWalker
from recovery_console.engine.io_protocols import WritableStream
from recovery_console.errors import IntegrityError, RecoveryError, from_os_error

DECOMPRESS_PIECE = 1 << 20
MAX_WINDOW = 1 << 27  # docs/FORMAT.md 10: a frame asking for a larger window is malformed


def undecompressable(exc: zstandard.ZstdError) -> IntegrityError:
    """The error for a payload whose (authenticated) bytes are not valid zstd: a faulty writer."""
    return IntegrityError("The backup's compressed payload does not decompress.", detail=str(exc))


class ArchiveStream:
    """Consumes payload chunks in order; measures length and SHA-256 and (optionally) parses the TOC.

    A zstd payload is decompressed in bounded pieces, so memory stays flat even for data that
    compresses a thousandfold. Completeness is proven by the sentinel's length and hash, which
    the caller compares with `length` and `sha256`.
    """

    def __init__(self, compression: str, sink: WritableStream | None = None, parse_toc: bool = True) -> None:
        self._sink = sink
        self._sha = hashlib.sha256()
        self.length = 0
        self.toc = TocCollector() if parse_toc else None
        self._zstd = (
            # zstandard's stub asks for an IO[bytes]; the writer only ever calls write() on it
            zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW).stream_writer(
                self, write_size=DECOMPRESS_PIECE, closefd=False)  # type: ignore[arg-type]
            if compression == "zstd"
            else None
        )
        self._frame = FrameWalker()

    def feed(self, chunk: memoryview) -> None:
        if self._zstd is None:
            self.write(chunk)
            return
        self._frame.feed(chunk)
        try:
            self._zstd.write(chunk)
        except zstandard.ZstdError as exc:
            raise undecompressable(exc) from exc

    def write(self, data: bytes | memoryview) -> int:
        """Receives archive bytes (directly, or from the zstd stream writer)."""
        self._sha.update(data)
        self.length += len(data)
        if self._sink is not None:
            try:
                self._sink.write(data)
            except OSError as exc:
                raise from_os_error("writing", "the decrypted archive", exc) from exc
        if self.toc is not None:
            self.toc.feed(data)
        return len(data)

    def finish(self) -> None:
        """Called after the last chunk: flush the decompressor and settle the TOC parse."""
        if self._zstd is not None:
            try:
                self._zstd.flush()  # type: ignore[no-untyped-call]  # unannotated in zstandard's stub
            except zstandard.ZstdError as exc:
                raise undecompressable(exc) from exc
            self._frame.finish()
        if self.toc is not None:
            self.toc.finish()

    @property
    def archive(self) -> pgarchive.Archive | None:
        return self.toc.archive if self.toc else None

    @property
    def archive_error(self) -> RecoveryError | None:
        return self.toc.error if self.toc else None

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()
