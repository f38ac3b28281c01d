"""Icons and the light/dark style, loaded from the package's own `resources/` folder.

The files live inside the package (``recovery_console/resources/icons/*.svg`` and
``recovery_console/resources/style/{light,dark}.qss``) so they are found the same way from a
source checkout, an installed wheel and a frozen build. The style follows the system palette:
dark when the palette's window colour is dark, light otherwise, and again when the system
colour scheme changes while the console runs, unless the user chose light or dark (View › Theme).
PASS / WARN / FAIL text takes its colour from `STATUS_COLORS`, one set per style, each meeting
WCAG AA (4.5:1) on that style's backgrounds.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

ICON_NAMES = ("app", "backup", "verify", "download", "upload", "restore", "delete", "extract", "refresh",
              "profile", "target", "audit")
STYLES = ("light", "dark")
BADGE_COLORS = {"green": "#2a9d5c", "amber": "#e0a100", "red": "#d03b3b", "unknown": "#8a94a0"}
STATUS_COLORS = {
    "light": {"pass": "#17703a", "warn": "#8a4b00", "fail": "#a32020"},
    "dark": {"pass": "#6fd39a", "warn": "#f0b45a", "fail": "#ff8f8f"},
}
CHOICES = ("system", "light", "dark")
CHOICE_KEY = "theme"
_PROPERTY = "recoveryConsoleTheme"


def resource_dir() -> Path:
    """The package's resources folder (a real directory: the package is never zipped)."""
    return Path(str(resources.files("recovery_console") / "resources"))


def icon_path(name: str) -> Path:
    return resource_dir() / "icons" / f"{name}.svg"


@cache
def icon(name: str) -> QIcon:
    """The named SVG icon (an empty icon if the file is missing, never an exception)."""
    path = icon_path(name)
    return QIcon(str(path)) if path.is_file() else QIcon()


def badge_icon(badge: str, size: int = 12) -> QIcon:
    """A filled dot in the badge's colour, for the targets list."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(BADGE_COLORS.get(badge, BADGE_COLORS["unknown"])))
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


def stylesheet(name: str) -> str:
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}")
    return (resource_dir() / "style" / f"{name}.qss").read_text("utf-8")


def is_dark(palette: QPalette) -> bool:
    """Dark when the window colour's lightness is under half."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def status_colors(palette: QPalette) -> dict[str, str]:
    """The pass / warn / fail text colours that read well on `palette`."""
    return STATUS_COLORS["dark" if is_dark(palette) else "light"]


def system_style(app: QApplication) -> str:
    return "dark" if is_dark(app.palette()) else "light"


def dark_palette() -> QPalette:
    """The palette used when the dark style is forced on a light system (e.g. for screenshots)."""
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#1e2329", QPalette.ColorRole.WindowText: "#dfe5ec",
        QPalette.ColorRole.Base: "#161a1f", QPalette.ColorRole.AlternateBase: "#1c2127",
        QPalette.ColorRole.Text: "#dfe5ec", QPalette.ColorRole.Button: "#2a323b",
        QPalette.ColorRole.ButtonText: "#dfe5ec", QPalette.ColorRole.Highlight: "#2f6fb8",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#262d35",
        QPalette.ColorRole.ToolTipText: "#dfe5ec", QPalette.ColorRole.PlaceholderText: "#7d8794",
        QPalette.ColorRole.Link: "#5aa2f0", QPalette.ColorRole.Mid: "#353e49", QPalette.ColorRole.Dark: "#12161a",
        QPalette.ColorRole.Light: "#3a4450", QPalette.ColorRole.Midlight: "#2f3944",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6c7784"))
    return palette


def apply(app: QApplication, name: str | None = None, *, follow_system: bool = True) -> str:
    """Apply the light or dark style (default: the one matching the system palette); returns its name.

    Forcing a style the system palette does not match also sets a matching palette.
    """
    chosen = name or system_style(app)
    if name is not None:
        if name == "dark" and not is_dark(app.palette()):
            app.setProperty(_PROPERTY + "Forced", True)
            app.setPalette(dark_palette())
        elif name == "light" and app.property(_PROPERTY + "Forced"):
            app.setProperty(_PROPERTY + "Forced", False)
            app.setPalette(app.style().standardPalette())
    app.setStyleSheet(stylesheet(chosen))
    app.setProperty(_PROPERTY, chosen)
    if follow_system and name is None and not app.property(_PROPERTY + "Following"):
        app.setProperty(_PROPERTY + "Following", True)
        hints = app.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: _reapply(app))
    return chosen


def _reapply(app: QApplication) -> None:
    # The palette follows the scheme once Qt has processed the change; apply what it now says.
    chosen = system_style(app)
    if app.property(_PROPERTY) != chosen:
        app.setStyleSheet(stylesheet(chosen))
        app.setProperty(_PROPERTY, chosen)


def apply_choice(app: QApplication, choice: str) -> str:
    """Apply a View › Theme choice ("system", "light" or "dark"); returns the style now in use."""
    if choice not in CHOICES:
        raise ValueError(f"unknown theme {choice!r}")
    if choice != "system":
        return apply(app, choice)
    if app.property(_PROPERTY + "Forced"):
        app.setProperty(_PROPERTY + "Forced", False)
        app.setPalette(QPalette())  # back to the platform's own palette
    return apply(app)


def current(app: QApplication) -> str | None:
    value = app.property(_PROPERTY)
    return str(value) if value else None
