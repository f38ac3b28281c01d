"""pg_dump as a byte stream: its stdout feeds the encryption engine directly, so no plaintext hits disk."""

from __future__ import annotations

import contextlib
import fcntl
import io
import subprocess
import tempfile
from contextlib import ExitStack

from recovery_console.engine.archive.cursor import ArchiveIncomplete
from recovery_console.engine.archive.pgarchive import ArchiveHeader, parse_header
from recovery_console.engine.pg.pgtools import PgTool
from recovery_console.engine.pg.pipe_ahead import PipeAhead
from recovery_console.engine.pg.postgres import describe, for_child, libpq_env
from recovery_console.engine.pg.process_group import stop_group
from recovery_console.errors import DatabaseError

PIECE = 64 << 10
PIPE_SIZE = 1 << 20
DUMP_COMPRESSIONS = ("zstd", "pg_dump", "none")


def dump_arguments(tool: PgTool, url: str, compression: str) -> list[str]:
    """pg_dump's argv: custom format to stdout; no password ever appears here."""
    args = [str(tool.path), "--format=custom", f"--dbname={url}"]
    if compression in ("zstd", "none"):
        args.append("--compress=0")
    return args


def _widen(pipe: int) -> None:
    """Let pg_dump run up to PIPE_SIZE ahead of its reader (Linux; elsewhere the default pipe): it keeps
    dumping while the first chunk waits for the key derivation, instead of stopping at 64 KiB."""
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is not None:
        with contextlib.suppress(OSError):  # over /proc/sys/fs/pipe-max-size: the default pipe is fine
            fcntl.fcntl(pipe, setter, PIPE_SIZE)


class DumpStream:
    """A running pg_dump whose stdout is read like a file; at EOF a failed pg_dump raises.

    Raising at EOF matters: the writer only seals a backup after the source reports its end,
    so a pg_dump that dies half way can never produce a backup that looks complete.
    """

    def __init__(self, tool: PgTool, url: str, password: str | None, compression: str = "zstd") -> None:
        self.tool = tool
        self.url, password = for_child(url, password)
        self.argv = dump_arguments(tool, self.url, compression)
        self._stack = ExitStack()
        env = self._stack.enter_context(libpq_env(password))
        self._stderr = self._stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by _stack
        try:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self._stack.close()
            raise DatabaseError(f"Could not start {tool.path}: {exc.strerror or exc}.") from exc
        assert isinstance(self.process.stdout, io.BufferedReader)  # a pipe with Popen's default buffering
        self._stdout: io.BufferedReader | PipeAhead = self.process.stdout
        _widen(self.process.stdout.fileno())
        self._head = b""
        self.bytes_read = 0

    def read_ahead(self) -> None:
        """From now on pg_dump's output is read on a thread into memory (pipe_ahead.py), before anyone reads it
        here; call it before the first read."""
        assert isinstance(self._stdout, io.BufferedReader) and not self._head and not self.bytes_read
        self._stdout = PipeAhead(self._stdout)

    def narrow(self, pieces: int) -> None:
        """A read ahead (if any) keeps at most `pieces` MiB waiting from now on: less once the backup reads."""
        if isinstance(self._stdout, PipeAhead):
            self._stdout.narrow(pieces)

    def archive_header(self) -> ArchiveHeader:
        """The header pg_dump writes once it has read the catalogs: which server and database it dumps.

        Its bytes are kept and read again first, so the stream is unchanged. A pg_dump that fails
        before writing it (cannot connect, server too new) raises DatabaseError with its message.
        """
        while True:
            try:
                return parse_header(self._head)
            except ArchiveIncomplete:
                pass
            more = self._stdout.read1(PIECE)
            if not more:
                self._check_exit()
                raise DatabaseError(f"pg_dump {self.tool.version} ended without writing an archive header.")
            self._head += more

    def read(self, size: int = -1) -> bytes:
        if self._head:
            cut = len(self._head) if size < 0 else size
            data, self._head = self._head[:cut], self._head[cut:]
        else:
            data = self._stdout.read(size)
        self.bytes_read += len(data)
        if not data:
            self._check_exit()
        return data

    def _check_exit(self) -> None:
        code = self.process.wait()
        if code != 0:
            raise DatabaseError(f"pg_dump {self.tool.version} failed on {describe(self.url)} (exit code {code}): "
                                f"{self.stderr_tail() or 'no message'}",
                                hint="Nothing was stored. Fix the cause pg_dump names and run the backup again.")

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what pg_dump printed, its lines joined by " / " so that a one-line error keeps them apart."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").splitlines()
        return " / ".join(line.strip() for line in lines if line.strip())[-limit:]

    def terminate(self) -> None:
        """Stop pg_dump: SIGTERM to its process group, SIGKILL if it lingers."""
        stop_group(self.process)

    def close(self) -> None:
        self.terminate()
        self._stdout.close()
        self._stack.close()

    def __enter__(self) -> DumpStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
