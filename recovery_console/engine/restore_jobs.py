"""`restore --jobs N`: the data streams in as it is decrypted, then indexes and constraints are built N at a time.

pg_restore -j needs a seekable archive, and decrypting the whole backup to a file before it can
start costs a full serial pass. A restore by sections does the same work without that wait
(PostgreSQL's documentation of `--section`): the pre-data and data sections stream into one
pg_restore as the backup is decrypted, exactly as a single-job restore does, and the post-data
section (indexes, constraints, triggers: where a parallel restore spends its jobs on one table)
runs as `pg_restore --jobs N --section=post-data` on the archive's header and TOC alone, which is
all that section reads. So only those few kilobytes of plaintext touch the disk, in a claimed 0700
folder of the per-user runtime folder (engine/state/runtime_dir.py), removed when the restore ends
or swept by the next console if this process is killed. Every chunk is authenticated before its
bytes reach pg_restore, and the post-data step starts only once the whole backup has been proven.
Tables' data load one after another, in the archive's order, as they arrive.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from recovery_console.engine.archive.toc_collector import TocCollector
from recovery_console.engine.container.streams import widen_pipe
from recovery_console.engine.io_protocols import FlushableStream
from recovery_console.engine.pg.process_group import stop_group
from recovery_console.engine.progress import Phase, Reporter
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.engine.timing import span
from recovery_console.errors import DatabaseError, IntegrityError, RecoveryError, from_os_error

CANCEL_POLL = 0.2
TOC_FILE = "toc.dump"
STREAMED_SECTIONS = ["--section=pre-data", "--section=data"]
PARALLEL_SECTION = "--section=post-data"

Decrypt = Callable[[FlushableStream], dict[int, int]]
"""Writes the proven archive to the sink it is given; returns the archive's rows per TABLE DATA dump ID."""


class TocKeeper:
    """A sink passing the archive on unchanged, that writes the archive's header and TOC to `path` (0600, new)
    as soon as they have gone by."""

    def __init__(self, out: FlushableStream, path: Path) -> None:
        self._out = out
        self._path = path
        self._toc: TocCollector | None = TocCollector()
        self._seen = bytearray()
        self.written = False

    def write(self, data: bytes | memoryview) -> int:
        if self._toc is not None:
            self._seen += data
            self._toc.feed(data)
            if self._toc.done:
                self._keep(self._toc)
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def _keep(self, toc: TocCollector) -> None:
        self._toc = None
        if toc.archive is None:
            return  # not an archive: the row counter reports it, and pg_restore fails on it
        head = bytes(self._seen[:toc.archive.toc_end])
        self._seen = bytearray()
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(head)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            raise from_os_error("writing", str(self._path), exc) from exc
        self.written = True


def restore_parallel(runtime: RuntimeDir, jobs: int, argv: list[str], env: dict[str, str], decrypt: Decrypt,
                     reporter: Reporter) -> dict[int, int]:
    """Stream the pre-data and data sections into `argv` (pg_restore without an archive) while `decrypt` proves
    the backup, then build the post-data section with --jobs; returns the row counts `decrypt` took."""
    with runtime.private_folder("restore-") as folder:
        toc_path = folder / TOC_FILE
        with span("stream-data"):
            counts = _stream(argv + STREAMED_SECTIONS, env, decrypt, toc_path)
        reporter.start(Phase.RESTORE)
        with span("parallel-post-data"):
            _run(argv + [PARALLEL_SECTION, f"--jobs={jobs}", str(toc_path)], env, reporter)
        return counts


def _stream(argv: list[str], env: dict[str, str], decrypt: Decrypt, toc_path: Path) -> dict[int, int]:
    """Decrypted archive bytes go straight into pg_restore's stdin, the TOC also to `toc_path`."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=errors, stdout=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        assert proc.stdin is not None
        widen_pipe(proc.stdin.fileno())
        keeper = TocKeeper(proc.stdin, toc_path)
        failure: RecoveryError | None = None
        counts: dict[int, int] = {}
        try:
            counts = decrypt(keeper)
            proc.stdin.close()
        except RecoveryError as exc:
            failure = exc
        except BaseException:
            stop_group(proc)
            raise
        if failure is not None and proc.poll() is None:
            stop_group(proc)
            raise failure
        _check_exit(proc.wait(), errors)
        if failure is not None:
            raise failure
        if not keeper.written:
            raise IntegrityError("The backup's archive has no readable TOC, so its indexes cannot be built.")
        return counts


def _run(argv: list[str], env: dict[str, str], reporter: Reporter) -> None:
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors, env=env,
                                start_new_session=True)
        try:
            code = _wait_cancellable(proc, reporter)
        except BaseException:
            stop_group(proc)
            raise
        _check_exit(code, errors)


def _check_exit(code: int, errors: IO[bytes]) -> None:
    if code != 0:
        errors.seek(0)
        raise DatabaseError(f"pg_restore failed (exit code {code}): "
                            f"{errors.read().decode('utf-8', 'replace').strip()[-2000:]}")


def _wait_cancellable(proc: subprocess.Popen[bytes], reporter: Reporter) -> int:
    """Wait for `proc`, raising Cancelled as soon as the job is cancelled (Ctrl-C, SIGTERM)."""
    while True:
        try:
            return proc.wait(CANCEL_POLL)
        except subprocess.TimeoutExpired:
            reporter.check()

