"""Proves an archive whole: every data block its TOC promises is present and ends where it should.

A pg_dump archive cut after its TOC (or between or inside data blocks) still lists every table;
only walking the data to its end shows that pg_restore would fail. Each block's framing and sizes
are read (data_blocks.walk), and each block's compressed stream is decompressed (gzip/zlib, zstd)
or, for lz4, walked frame by frame to its end mark; an uncompressed block only needs its framing.
"""

from __future__ import annotations

import threading

from recovery_console.engine.archive.copy_chunks import before_numpy
from recovery_console.engine.archive.cursor import OFFSET_NO_DATA
from recovery_console.engine.archive.data_blocks import decompressed, walk
from recovery_console.engine.archive.lz4_stream import walk_frames
from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.rowcount import HANDOFF_PIECE, Handoff, split_at_toc
from recovery_console.engine.io_protocols import ReadableStream
from recovery_console.errors import IntegrityError, RecoveryError


def prepare() -> None:
    """Import what the walk of an uncompressed archive needs (numpy, ~0.1–0.3 s): a caller with idle time ahead
    of the archive's first bytes (a live backup waiting on pg_dump and the keyring) calls it then, so the walk
    does not import it with the stream waiting or, for a small database, at its end."""
    before_numpy()
    import numpy  # noqa: F401


def check_blocks(fp: ReadableStream, archive: Archive) -> None:
    """Walk every data block after the TOC to its end; raise IntegrityError for a short or damaged archive."""
    compression = archive.header.compression
    entries = {entry.dump_id: entry for entry in archive.toc}
    seen: set[int] = set()
    for dump_id, _block_type, pieces in walk(fp, archive, framing_only=True):  # an uncompressed block's bytes unread
        seen.add(dump_id)
        entry = entries[dump_id]
        what = f"the data of TOC entry {dump_id} ({entry.desc} {entry.tag})"
        if compression == "lz4":
            walk_frames(pieces, what)
        else:
            for _ in decompressed(pieces, compression, what):
                pass
    missing = [e.dump_id for e in archive.toc
               if e.had_dumper and e.data_state != OFFSET_NO_DATA and e.dump_id not in seen]
    if missing:
        raise IntegrityError(
            f"The archive is truncated: it ends without the data of {len(missing)} TOC entr"
            f"{'y' if len(missing) == 1 else 'ies'} (dump IDs {', '.join(map(str, missing[:10]))}"
            f"{', …' if len(missing) > 10 else ''}).",
            hint="The file was cut short (an interrupted copy, or a full disk while dumping); pg_restore would "
                 "fail on it. Make the dump again.",
        )


class BlockCheck:
    """A write-only sink: `write` a whole archive's bytes in order, then `result()` raises if it is not whole.

    The walk runs on a helper thread (bounded memory, through a Handoff); `close()` ends it early.
    """

    def __init__(self) -> None:
        self._stream = Handoff()
        self._error: RecoveryError | None = None
        self._thread = threading.Thread(target=self._run, name="rc-blockcheck", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            archive, _, rest = split_at_toc(self._stream)
            check_blocks(rest, archive)
        except RecoveryError as exc:
            self._error = exc
        finally:
            while self._stream.read(HANDOFF_PIECE):
                pass

    def write(self, data: bytes | memoryview) -> int:
        return self._stream.write(data) if len(data) else 0  # an empty piece would read as the end

    def close(self) -> None:
        self._stream.close()
        self._thread.join()

    def result(self) -> None:
        """Wait for the walk to finish; raise what it found wrong."""
        self.close()
        if self._error is not None:
            raise self._error
