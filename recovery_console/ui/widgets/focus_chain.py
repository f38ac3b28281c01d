"""Keyboard focus that starts at the toolbar: its buttons take Tab focus and come before the window's views."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QToolBar, QWidget


class _FocusOnFirstShow(QObject):
    """Gives `target` the focus when its window is first shown (Qt would pick the first view created)."""

    def __init__(self, window: QWidget, target: QWidget) -> None:
        super().__init__(window)
        self._target = target
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show:
            watched.removeEventFilter(self)
            if self._target.isEnabled():
                self._target.setFocus(Qt.FocusReason.ActiveWindowFocusReason)
        return False


def toolbar_first(toolbar: QToolBar, first_view: QWidget) -> None:
    """Make the toolbar's buttons Tab stops, in their order, followed by `first_view`; the window opens on the first.

    Qt leaves toolbar buttons out of the Tab chain, so a keyboard user could reach the actions
    only through menus and shortcuts.
    """
    buttons = [toolbar.widgetForAction(action) for action in toolbar.actions() if not action.isSeparator()]
    chain: list[QWidget] = [button for button in buttons if button is not None]
    for button in chain:
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    for first, second in zip([*chain], [*chain[1:], first_view], strict=True):
        QWidget.setTabOrder(first, second)
    if chain:
        _FocusOnFirstShow(toolbar.window(), chain[0])
