"""What the main window remembers between sessions, in gui.ini next to the console's settings.

Its geometry and toolbar state, the splitter between the panes, the backup table's columns and
sort order; the last selected profile is stored by the window itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, QSettings, QSize, QTimer
from PySide6.QtWidgets import QMainWindow, QSplitter, QTableView, QToolBar

from recovery_console.engine.console import Console

SETTINGS_FILE = "gui.ini"
DEFAULT_SIZE = (1280, 760)
# Left, top, right, bottom of a window manager's frame, assumed until the real one is known (after showing).
FRAME_GUESS = (4, 32, 4, 4)


def settings_path(console: Console) -> Path:
    return console.paths.config_dir / SETTINGS_FILE


def open_settings(console: Console) -> QSettings:
    return QSettings(str(settings_path(console)), QSettings.Format.IniFormat)


def fitted(wanted: QRect, available: QRect, minimum_width: int = 0) -> QRect:
    """`wanted` cut to the available screen area and moved inside it; at least `minimum_width` wide if that fits."""
    width = min(max(wanted.width(), minimum_width), available.width())
    height = min(wanted.height(), available.height())
    left = min(max(wanted.x(), available.left()), available.left() + available.width() - width)
    top = min(max(wanted.y(), available.top()), available.top() + available.height() - height)
    return QRect(left, top, width, height)


def fit_to_screen(window: QMainWindow, wanted: QRect) -> None:
    """Place the window's frame on the available part of its screen, as close to `wanted` as fits."""
    screen = window.screen()
    if screen is None:
        window.resize(wanted.size())
        return
    available = screen.availableGeometry()
    toolbar = max((bar.sizeHint().width() for bar in window.findChildren(QToolBar)), default=0)
    frame = window.frameGeometry()
    inner = window.geometry()
    margins = (inner.left() - frame.left(), inner.top() - frame.top(),
               frame.right() - inner.right(), frame.bottom() - inner.bottom())
    if frame == inner:
        margins = FRAME_GUESS
    inside = available.adjusted(margins[0], margins[1], -margins[2], -margins[3])
    window.setMinimumWidth(min(toolbar, inside.width()))
    window.setGeometry(fitted(wanted, inside, toolbar))


class _RefitWhenShown(QObject):
    """Fits the window again once it is shown, when the window frame's size is known."""

    def __init__(self, window: QMainWindow, wanted: QRect) -> None:
        super().__init__(window)
        self._window = window
        self._wanted = wanted
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Show:
            self._window.removeEventFilter(self)
            QTimer.singleShot(0, self._refit)
        return False

    def _refit(self) -> None:
        if not self._window.isMaximized() and not self._window.isFullScreen():
            fit_to_screen(self._window, QRect(self._window.geometry().topLeft(), self._wanted.size()))


def restore_layout(settings: QSettings, window: QMainWindow, splitter: QSplitter, table: QTableView) -> None:
    """The saved layout, or a default size, fitted to the screen the window opens on.

    A geometry saved on a larger screen is cut to this one (Qt alone may shrink it to two thirds
    of the screen), and the window stays wide enough for its whole toolbar when the screen allows.
    """
    geometry = settings.value("geometry")
    wanted = QRect(window.geometry().topLeft(), QSize(*DEFAULT_SIZE))
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
        saved = settings.value("size")
        wanted = QRect(window.geometry().topLeft(), saved if isinstance(saved, QSize) and saved.isValid()
                       else window.size())
    fit_to_screen(window, wanted)
    _RefitWhenShown(window, wanted)
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
    settings.setValue("size", window.normalGeometry().size() if window.isMaximized() else window.size())
    settings.setValue("windowState", window.saveState())
    settings.setValue("splitter", splitter.saveState())
    settings.setValue("tableHeader", table.horizontalHeader().saveState())
