"""View › Theme: follow the system, or keep the light or the dark style; the choice is remembered in gui.ini."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from recovery_console.ui import theme

LABELS = {"system": "&System", "light": "&Light", "dark": "&Dark"}


def saved_choice(settings: QSettings) -> str:
    choice = settings.value(theme.CHOICE_KEY, "system", type=str)
    return choice if choice in theme.CHOICES else "system"


def theme_menu(parent: QWidget, settings: QSettings) -> QMenu:
    """The Theme submenu, its remembered choice ticked and applied."""
    menu = QMenu("&Theme", parent)
    menu.setObjectName("themeMenu")
    group = QActionGroup(menu)
    group.setExclusive(True)
    chosen = saved_choice(settings)
    for choice in theme.CHOICES:
        action = menu.addAction(LABELS[choice])
        action.setObjectName(f"theme_{choice}")
        action.setCheckable(True)
        action.setChecked(choice == chosen)
        action.setData(choice)
        group.addAction(action)
    group.triggered.connect(lambda action: choose(settings, str(action.data())))
    app = QApplication.instance()
    if chosen != "system" and isinstance(app, QApplication):
        theme.apply_choice(app, chosen)
    return menu


def choose(settings: QSettings, choice: str) -> None:
    """Apply `choice` to the application and remember it."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        theme.apply_choice(app, choice)
    settings.setValue(theme.CHOICE_KEY, choice)
    settings.sync()
