"""Desktop entry point: `recovery-console gui` and `python -m recovery_console`.

One QApplication (reused if one exists), asyncio integrated through qasync, the light or dark
style that matches the system palette, the app icon, then the main window. An exception nobody
caught (in a slot, a flow, an event-loop callback) writes a crash report and shows one plain
dialog saying where it is (`crash_handler`); the window stays open. Cycles are collected on the GUI
thread only (`gc_policy`), never in a job's worker thread.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from recovery_console.engine.console import Console
    from recovery_console.ui.crash_handler import CrashHandler
    from recovery_console.ui.main_window import MainWindow

APP_NAME = "Recovery Console"
ORG_NAME = "Recovery Console"
DESKTOP_NAME = "recovery-console"


def application() -> QApplication:
    """The process's QApplication, created (with name, organisation, style and icon) on first use."""
    from recovery_console.ui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if not isinstance(app, QApplication):
        raise RuntimeError("This process already runs a QCoreApplication; the console needs a QApplication.")
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setDesktopFileName(DESKTOP_NAME)
    from recovery_console import __version__

    app.setApplicationVersion(__version__)
    theme.apply(app)
    app.setWindowIcon(theme.icon("app"))
    return app


def create_main_window(console: Console, profile: str | None = None) -> MainWindow:
    """The main window over `console` (not shown); `profile` is selected if given."""
    from recovery_console.ui.main_window import MainWindow

    application()
    return MainWindow(console, profile=profile)


def install_crash_handler(window: MainWindow, loop: asyncio.AbstractEventLoop) -> CrashHandler:
    """From now on an uncaught exception writes a crash report under the console's data folder and shows one
    dialog over `window`, which stays open."""
    from recovery_console.ui.crash_handler import CrashHandler

    return CrashHandler(window, window.console.paths).install(loop)


def start(profile: str | None = None, console: Console | None = None) -> tuple[QApplication, MainWindow | None]:
    """Everything `run` does before entering the event loop: the app and the shown window (None on error)."""
    from recovery_console.errors import RecoveryError
    from recovery_console.ui.error_dialog import show_error

    app = application()
    if console is None:
        from recovery_console.engine.console import Console

        try:
            console = Console()
        except RecoveryError as exc:
            show_error(None, "Recovery Console cannot start", exc)
            return app, None
    window = create_main_window(console, profile)
    window.show()
    return app, window


def run(profile: str | None = None, console: Console | None = None, backup_file: Path | None = None) -> int:
    """Open the console and run until its window closes; returns the process exit code. `backup_file` is
    opened as File › Open backup file does, once the event loop runs."""
    import qasync

    from recovery_console.ui.gc_policy import GuiThreadCollector

    app, window = start(profile, console)
    if window is None:
        return 1
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    crashes = install_crash_handler(window, loop)
    collector = GuiThreadCollector(app).install()
    closed = asyncio.Event()
    if backup_file is not None:
        QTimer.singleShot(0, lambda: window.controller.manage.open_backup_file(backup_file))
    app.aboutToQuit.connect(closed.set)
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: window.close())  # Ctrl+C in the terminal closes like the window does
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        collector.uninstall()
        crashes.uninstall()
        signal.signal(signal.SIGINT, previous)
        window.console.close()  # ends the storage connections the session opened
    return 0
