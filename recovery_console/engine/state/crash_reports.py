"""Crash reports: the traceback of an error nobody anticipated, kept in a private file for the bug report.

Both front ends use it: the CLI for an uncaught exception (exit code `ExitCode.CRASH`), the GUI
from `sys.excepthook`. A report is written atomically, mode 0600, under the data folder's
`crash-reports/`; only the newest `KEEP` are kept.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from recovery_console import __version__
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import RecoveryError

FOLDER = "crash-reports"
KEEP = 20

log = logging.getLogger(__name__)


def crash_folder(paths: AppPaths) -> Path:
    return paths.data_dir / FOLDER


def summary(exc: BaseException) -> str:
    """The exception on one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def report_text(exc: BaseException, context: str = "") -> str:
    """What a crash report holds: when, which release and platform, what was running, the traceback."""
    lines = [
        f"time      {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"version   recovery-console {__version__}",
        f"python    {sys.version.split()[0]} on {platform.platform()}",
        f"context   {context or '-'}",
        "",
    ]
    return "\n".join(lines) + "".join(traceback.format_exception(exc))


def write_crash_report(exc: BaseException, context: str = "", paths: AppPaths | None = None) -> Path | None:
    """Save the report and return its path; None if it could not be saved (the reason is logged)."""
    try:
        folder = crash_folder(paths or AppPaths.default())
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = folder / f"crash-{stamp}-{os.getpid()}.txt"
        with atomic_output(path) as handle:
            handle.write(report_text(exc, context).encode("utf-8", "replace"))
        _prune(folder)
    except (OSError, RecoveryError) as problem:
        log.warning("The crash report could not be saved: %s", problem)
        return None
    return path


def _prune(folder: Path) -> None:
    """Remove all but the newest `KEEP` reports (their names sort by time)."""
    for old in sorted(folder.glob("crash-*.txt"))[:-KEEP]:
        old.unlink(missing_ok=True)
