"""What happens to an exception nobody caught in the desktop console: a crash report, one plain dialog, no exit.

Installed by `app.run` as `sys.excepthook` (an exception in a Qt slot, or in a flow started with
`jobs.start_task`) and as the asyncio loop's exception handler (a failing callback on the qasync
loop). The traceback goes to a private crash report file (`engine.state.crash_reports`, as for the
CLI); the user sees what happened and where that file is. The window stays open.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from recovery_console.engine.state.crash_reports import report_text, summary, write_crash_report
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import RecoveryError
from recovery_console.ui.error_dialog import error_box

TITLE = "Unexpected error"
log = logging.getLogger(__name__)


def crash_error(exc: BaseException, report: str | None) -> RecoveryError:
    """What the dialog says: what happened, that the console is still usable, where the crash report is."""
    where = (f"Please report it with the crash report {report}." if report
             else "No crash report could be saved; please report it with the details below.")
    return RecoveryError(f"An unexpected error occurred ({summary(exc)}). This is a bug: the console stays open, "
                         "but what you were doing may not have finished.", hint=where, detail=report_text(exc))


class CrashHandler:
    """Writes a crash report for each uncaught exception and shows one dialog at a time about it."""

    def __init__(self, parent: QWidget | None, paths: AppPaths | None = None) -> None:
        """`parent`: the main window (the dialog goes over whichever window is modal then); `paths`: the console's."""
        self.parent = parent
        self.paths = paths
        self.reports: list[str] = []  # every crash report written, newest last
        self.dialog: QMessageBox | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._previous: tuple[Callable[..., Any], Callable[..., Any] | None] | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> CrashHandler:
        """Become `sys.excepthook` and `loop`'s exception handler (until `uninstall`)."""
        self._previous = sys.excepthook, loop.get_exception_handler()
        sys.excepthook = self.excepthook
        loop.set_exception_handler(self.loop_exception)
        self.loop = loop
        return self

    def uninstall(self) -> None:
        """Put back the hook and handler that were there before `install`."""
        if self.loop is None or self._previous is None:
            return
        sys.excepthook, handler = self._previous
        self.loop.set_exception_handler(handler)
        self.loop = self._previous = None

    def excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            sys.__excepthook__(kind, exc, tb)
            return
        self.crashed(exc, "desktop console: an uncaught exception")

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, Exception):
            loop.default_exception_handler(context)  # a warning without an exception (or a KeyboardInterrupt)
            return
        self.crashed(exc, f"desktop console, event loop: {context.get('message', '')}")

    def crashed(self, exc: BaseException, context: str) -> None:
        """Save the report, then tell the user (on the GUI thread, whichever thread crashed)."""
        log.error("Unexpected error: %s", summary(exc), exc_info=exc)
        path = write_crash_report(exc, context, self.paths)
        report = str(path) if path is not None else None
        if report is not None:
            self.reports.append(report)
        if threading.current_thread() is threading.main_thread():
            self.tell_user(exc, report)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self.tell_user, exc, report)

    def tell_user(self, exc: BaseException, report: str | None) -> None:
        """The dialog, unless one is already open (each crash still has its report)."""
        if self.dialog is not None and self.dialog.isVisible():
            return
        parent = QApplication.activeModalWidget() or self.parent
        self.dialog = error_box(parent, TITLE, crash_error(exc, report))
        self.dialog.open()
