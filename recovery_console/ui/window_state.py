"""What the main window remembers between sessions, in gui.ini next to the console's settings.

Its geometry and toolbar state, the splitter between the panes, the backup table's columns and
sort order; the last selected profile is stored by the window itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter, QTableView

from recovery_console.engine.console import Console

SETTINGS_FILE = "gui.ini"
DEFAULT_SIZE = (1280, 760)


def settings_path(console: Console) -> Path:
    return console.paths.config_dir / SETTINGS_FILE


def open_settings(console: Console) -> QSettings:
    return QSettings(str(settings_path(console)), QSettings.Format.IniFormat)


def restore_layout(settings: QSettings, window: QMainWindow, splitter: QSplitter, table: QTableView) -> None:
    """The saved layout, or a default size that fits the screen."""
    geometry = settings.value("geometry")
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
    else:
        screen = window.screen().availableGeometry() if window.screen() else None
        width, height = DEFAULT_SIZE
        if screen is not None:
            width, height = min(width, int(screen.width() * 0.92)), min(height, int(screen.height() * 0.9))
        window.resize(width, height)
    header = table.horizontalHeader()
    restorers: tuple[tuple[str, Callable[[QByteArray], object]], ...] = (
        ("windowState", window.restoreState), ("splitter", splitter.restoreState),
        ("tableHeader", header.restoreState))
    for key, restore in restorers:
        value = settings.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            restore(value)
    if header.sortIndicatorSection() >= 0:
        table.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())


def save_layout(settings: QSettings, window: QMainWindow, splitter: QSplitter, table: QTableView) -> None:
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("windowState", window.saveState())
    settings.setValue("splitter", splitter.saveState())
    settings.setValue("tableHeader", table.horizontalHeader().saveState())
