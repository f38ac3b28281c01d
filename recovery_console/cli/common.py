"""What every CLI command shares: output (human or --json), secret options, progress and cancel."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from recovery_console.engine.progress import CancelToken, Progress, Reporter
from recovery_console.engine.state.secret_sources import SecretRequest, obtain_secret
from recovery_console.errors import Cancelled
from recovery_console.formatting import format_bytes, format_duration

if TYPE_CHECKING:  # imported on first use: a command that needs no console (run-due with nothing due) starts faster
    from recovery_console.engine.backup_ref import BackupRef
    from recovery_console.engine.console import Console


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document for scripts")


def add_secret_options(parser: argparse.ArgumentParser, *, profile: bool = False) -> None:
    """The secret's sources; with `profile`, also `--profile NAME` whose instance secrets are tried (newest first)."""
    group = parser.add_argument_group("instance secret (never on the command line)")
    if profile:
        group.add_argument("--profile", metavar="NAME", help="try this profile's instance secrets (default: the "
                                                             "profiles whose targets hold the backup)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--secret-key-file", type=Path, metavar="FILE", help="read the secret from FILE")
    source.add_argument("--secret-key-env", metavar="VAR", help="read the secret from environment variable VAR")
    source.add_argument("--secret-keyring", metavar="NAME", help="read the secret stored in the OS keyring under NAME")


def secret_from(args: argparse.Namespace) -> str:
    return obtain_secret(SecretRequest(file=args.secret_key_file, env=args.secret_key_env,
                                       keyring_name=args.secret_keyring))


def secret_to_open(args: argparse.Namespace, app: Console, ref: BackupRef, reporter: Reporter | None = None) -> str:
    """The secret given (file, variable, keyring name); else the one of the profile's secrets (`--profile`, or the
    profiles whose targets hold the backup) that opens it, tried newest first; else asked for."""
    if args.secret_key_file or args.secret_key_env or args.secret_keyring:
        return secret_from(args)
    from recovery_console.engine.secret_rotation import SecretRotation

    rotation = SecretRotation(app)
    profile = getattr(args, "profile", None)
    profiles = [profile] if profile else rotation.candidate_profiles(ref)
    if not any(rotation.secrets(name) for name in profiles):  # none to try: asked for, as without profiles
        return secret_from(args)
    return rotation.open_secret(ref, profiles, reporter).value


_opened: list[Console] = []


def console() -> Console:
    """A console for this command; `command_ended()` (main's exit) ends its storage connections."""
    from recovery_console.engine.console import Console

    app = Console()
    _opened.append(app)
    return app


def command_ended() -> None:
    """Main's exit: end the consoles' storage connections, and forget a stop no job acted on (main may be called
    again in this process)."""
    while _opened:
        _opened.pop().close()
    _unheeded.clear()


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _unsafe(char: str) -> bool:
    """Control characters (incl. ESC, C1 and bidi overrides), line separators and lone surrogates."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") and char != "\u200d"


def printable(text: str) -> str:
    """Text from outside (object names, descriptions, TOC tags) safe for a terminal: one line, no escapes.

    Control characters, format characters and lone surrogates become backslash escapes.
    """
    return "".join(_escaped(c) if _unsafe(c) else c for c in text)


def emit(args: argparse.Namespace, data: Any, human: str | list[str], out: TextIO | None = None) -> None:
    """Print `data` as JSON with --json, else the human lines, each made `printable`."""
    out = out or sys.stdout
    if getattr(args, "json", False):
        json.dump(data, out, indent=2, sort_keys=True, default=str)
        out.write("\n")
    else:
        lines = human.split("\n") if isinstance(human, str) else human
        out.write("\n".join(printable(line) for line in lines) + "\n")


class TerminalProgress:
    """Renders engine progress on one stderr line: phase, percent, rate, ETA."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, progress: Progress) -> None:
        pct = f"{progress.fraction * 100:5.1f}%" if progress.fraction is not None else "      "
        line = (f"\r{progress.phase.value:<10} {pct} {format_bytes(progress.done):>10} "
                f"{format_bytes(progress.rate)}/s  ETA {format_duration(progress.eta)}")
        self.stream.write(line)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


class _SeenToken(CancelToken):
    """A cancel token that knows when the job has seen the cancel and started cleaning up."""

    honoured = False

    def raise_if_cancelled(self) -> None:
        self.honoured = self.cancelled
        super().raise_if_cancelled()


_unheeded: list[int] = []
"""The signal a job ended without acting on (it came as the job finished): no later job of this command starts."""


def stop_if_asked() -> None:
    """Cancelled, if a job of this command ended with a stop it did not act on: nothing more is asked or done."""
    if _unheeded:
        raise Cancelled("Cancelled by the user before the next step began; nothing more was done.")


@contextmanager
def job(args: argparse.Namespace) -> Iterator[Reporter]:
    """A reporter for one long job: progress on a terminal, and Ctrl-C or SIGTERM as a clean cancel.

    The first Ctrl-C or SIGTERM (`timeout`, systemd, a container runtime) asks the job to stop at the
    next chunk (partial output is removed); a second one interrupts a job that has not noticed yet
    (stuck waiting). Once the job is cleaning up, and until the process ends, further Ctrl-C and
    SIGTERM are ignored so the cleanup finishes. A job that finishes without noticing the request (a
    pre-flight, a secret's check) stands as done, and the command's next job does not start.
    """
    stop_if_asked()
    show = sys.stderr.isatty() and not getattr(args, "quiet", False)
    sink = TerminalProgress(sys.stderr) if show else None
    token = _SeenToken()

    def on_interrupt(signum: int, frame: object) -> None:
        if token.cancelled:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if not token.honoured:
                raise KeyboardInterrupt
        token.cancel()
        _unheeded.append(signum)  # cleared when the job acts on it

    previous = signal.signal(signal.SIGINT, on_interrupt)
    previous_term = signal.signal(signal.SIGTERM, on_interrupt)
    finished = False
    try:
        yield Reporter(sink=sink, token=token)
        finished = True
    finally:
        unheeded = finished and token.cancelled and not token.honoured
        if not unheeded:
            _unheeded.clear()
        cleaning_up = token.cancelled and not unheeded
        signal.signal(signal.SIGINT, signal.SIG_IGN if cleaning_up else previous)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if cleaning_up else previous_term)
        if sink is not None:
            sink.close()
