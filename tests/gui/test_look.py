"""How the main window looks and answers the keyboard: geometry on a small screen, column order, shortcuts,
Tab order, contrast of PASS / WARN / FAIL, the theme switch, and wording.

Run with QT_QPA_PLATFORM=offscreen (its screen is 800 pixels wide: smaller than the default window).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QToolButton, QWidget

from recovery_console.engine.state.audit_entry import AuditEntry
from recovery_console.ui import theme
from recovery_console.ui.app import create_main_window
from recovery_console.ui.backup_table import COL_DATABASE, COL_VERIFY, COLUMNS
from recovery_console.ui.main_window import MainWindow
from recovery_console.ui.views.audit_view import AuditModel
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored, status_color
from recovery_console.ui.window_state import fitted, save_layout
from tests.fixtures.console import SECRET

pytestmark = pytest.mark.gui

UI = Path(__file__).resolve().parents[2] / "recovery_console" / "ui"
STYLE = Path(theme.resource_dir()) / "style"
JOB_TIMEOUT = 60_000

# What each StandardKey the window may use expands to on the platform themes Qt ships (X11/KDE,
# GNOME, Windows, macOS): the offscreen platform knows only some of them.
STANDARD_KEY_EXPANSIONS: dict[QKeySequence.StandardKey, tuple[str, ...]] = {
    QKeySequence.StandardKey.Refresh: ("F5", "Ctrl+R"),
    QKeySequence.StandardKey.Find: ("Ctrl+F",),
    QKeySequence.StandardKey.Delete: ("Del", "Meta+D"),
    QKeySequence.StandardKey.Quit: ("Ctrl+Q",),
    QKeySequence.StandardKey.Copy: ("Ctrl+C", "Ctrl+Ins", "F16"),
    QKeySequence.StandardKey.Open: ("Ctrl+O",),
    QKeySequence.StandardKey.Save: ("Ctrl+S",),
    QKeySequence.StandardKey.Close: ("Ctrl+W", "Ctrl+F4"),
}


@pytest.fixture
def open_window(qtbot, console):
    """`open_window(settings=None) -> MainWindow`, shown and active, its first listing done."""
    windows: list[MainWindow] = []

    def open_(settings: QSettings | None = None) -> MainWindow:
        create_main_window(console)  # the application object first
        window = MainWindow(console, settings=settings) if settings is not None else create_main_window(console)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
            window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        qtbot.waitUntil(lambda: not window.runner.running, timeout=JOB_TIMEOUT)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.runner.cancel_all()
        qtbot.waitUntil(lambda w=window: not w.runner.running, timeout=JOB_TIMEOUT)


@pytest.fixture
def restore_theme(qapp):
    yield
    theme.apply_choice(qapp, "system")


def toolbar_buttons(window: MainWindow) -> dict[str, QWidget | None]:
    return {action.iconText(): window.toolbar.widgetForAction(action)
            for action in window.toolbar.actions() if not action.isSeparator()}


# ------------------------------------------------------------------------------------ geometry


def test_geometry_saved_on_a_larger_screen_fits_this_one_with_the_whole_toolbar(qtbot, open_window, tmp_path):
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    big = open_window(settings)
    big.setGeometry(40, 40, 1800, 1100)  # as saved on a 1920×1200 screen
    save_layout(settings, big, big.splitter, big.browser.table)
    settings.sync()
    big.close()

    window = open_window(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat))
    available = window.screen().availableGeometry()
    qtbot.waitUntil(lambda: available.contains(window.frameGeometry()), timeout=2000)
    assert window.width() >= available.width() * 0.9  # cut to the screen, not shrunk to two thirds of it
    hidden = [text for text, button in toolbar_buttons(window).items() if button is None or not button.isVisible()]
    assert hidden == []


def test_a_geometry_qt_shrank_is_grown_back_to_the_screen():
    screen = QRect(0, 0, 1024, 740)
    # Qt restored 682×512 from a geometry saved at 1800×1100 on a bigger screen: the saved size wins, cut to fit.
    assert fitted(QRect(300, 200, 1800, 1100), screen) == screen
    assert fitted(QRect(100, 50, 900, 600), screen) == QRect(100, 50, 900, 600)
    assert fitted(QRect(500, 400, 900, 600), screen) == QRect(124, 140, 900, 600)  # moved back onto the screen
    assert fitted(QRect(0, 0, 682, 512), screen, minimum_width=780).size() == QSize(780, 512)


# ------------------------------------------------------------------------------------ columns


def test_created_size_last_verify_and_database_come_first(open_window, make_backup, console):
    record = make_backup()
    console.verify(console.locate(record.backup_id, record.target), SECRET)
    window = open_window()
    assert COLUMNS[:4] == ("Created", "Size", "Last verify", "Database")
    header = window.browser.table.horizontalHeader()
    shown = [COLUMNS[header.logicalIndex(v)] for v in range(header.count()) if not header.isSectionHidden(
        header.logicalIndex(v))]
    assert shown[:4] == ["Created", "Size", "Last verify", "Database"]
    model = window.browser.model
    assert model.rowCount() == 1
    assert model.data(model.index(0, COL_DATABASE)) == (record.metadata.database or "")
    table = window.browser.table
    clipped = {COLUMNS[c]: (header.sectionSize(c), table.sizeHintForColumn(c)) for c in range(4)
               if header.sectionSize(c) < max(table.sizeHintForColumn(c), header.sectionSizeHint(c))}
    assert clipped == {}


# ------------------------------------------------------------------------------------ keyboard


def window_actions(window: MainWindow) -> list[QAction]:
    """Every QAction of the window, its menus and toolbar (widget-scoped ones, like a label's Copy, excepted)."""
    found: dict[int, QAction] = {}
    for owner in [window, *window.findChildren(QWidget), *window.findChildren(QMenu)]:
        for action in owner.actions():
            found[id(action)] = action
    for action in window.findChildren(QAction):
        found[id(action)] = action
    return [a for a in found.values() if a.shortcutContext() in (Qt.ShortcutContext.WindowShortcut,
                                                                  Qt.ShortcutContext.ApplicationShortcut)]


def bindings(action: QAction) -> set[str]:
    """The action's shortcuts as text, with what its StandardKey means on every platform theme."""
    keys = {k.toString() for k in action.shortcuts() if not k.isEmpty()}
    for standard, expansions in STANDARD_KEY_EXPANSIONS.items():
        here = {k.toString() for k in QKeySequence.keyBindings(standard)}
        if here and here == keys:
            keys |= set(expansions)
    return keys


def test_every_shortcut_belongs_to_one_action(open_window):
    window = open_window()
    owners: dict[str, list[str]] = {}
    for action in window_actions(window):
        for key in bindings(action):
            owners.setdefault(key, []).append(action.text().replace("&", ""))
    shared = {key: names for key, names in owners.items() if len(set(names)) > 1}
    assert shared == {}
    assert window.controller.actions["refresh"].shortcut() == QKeySequence("F5")
    assert "Ctrl+R" in owners and owners["Ctrl+R"] == ["Restore…"]


def test_tab_starts_at_the_toolbar_and_stops_only_where_it_can_be_seen(qtbot, open_window, make_backup):
    make_backup()
    window = open_window()
    first = QApplication.focusWidget()
    assert isinstance(first, QToolButton) and first.parent() is window.toolbar
    window.browser.table.selectRow(0)  # the details pane's buttons too
    first.setFocus()
    chain: list[QWidget] = []
    invisible: list[str] = []  # judged while the widget has the focus: a scroll area brings it into view then
    for _ in range(40):
        widget = QApplication.focusWidget()
        assert widget is not None
        if widget in chain:
            break
        chain.append(widget)
        if not widget.isVisible() or widget.visibleRegion().isEmpty() or widget.width() < 2 or widget.height() < 2:
            invisible.append(f"{type(widget).__name__} {widget.accessibleName()!r}")
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    assert invisible == []
    kinds = [isinstance(w, QToolButton) and w.parent() is window.toolbar for w in chain]
    assert kinds == sorted(kinds, reverse=True), "the toolbar's buttons come first, together"
    assert window.sidebar.profiles_list in chain and window.browser.table in chain


# ------------------------------------------------------------------------------------ colours


def luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(first: QColor, second: QColor) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def style_backgrounds(style: str) -> set[str]:
    """The opaque backgrounds the style sheet puts behind text (buttons, menus and selections excepted)."""
    skip = re.compile(r"hover|pressed|selected|chunk|verdict|Overlay|Menu|ToolTip|PushButton|Splitter|Scroll|"
                      r"Header|Corner|ProgressBar|StatusBar|ToolBar|::")
    found: set[str] = set()
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", (STYLE / f"{style}.qss").read_text("utf-8")):
        if not skip.search(selector):
            found |= set(re.findall(r"(?<![\w-])(?:alternate-)?background(?:-color)?:\s*(#[0-9a-fA-F]{6})", body))
    return found


@pytest.mark.parametrize("style", ["light", "dark"])
def test_pass_warn_fail_meet_wcag_aa_on_the_palette_in_use(qapp, restore_theme, open_window, make_backup,
                                                           console, style):
    record = make_backup()
    console.verify(console.locate(record.backup_id, record.target), SECRET)
    theme.apply_choice(qapp, style)
    palette = qapp.palette()
    assert theme.is_dark(palette) == (style == "dark")
    backgrounds = [QColor(c) for c in sorted(style_backgrounds(style))]
    backgrounds += [palette.color(role) for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base,
                                                     QPalette.ColorRole.AlternateBase)]
    window = open_window()
    model = window.browser.model
    table_color = model.data(model.index(0, COL_VERIFY), Qt.ItemDataRole.ForegroundRole).color()
    used = {status: QColor(status_color(status)) for status in ("pass", "warn", "fail")}
    used["table verdict"] = table_color
    for name in (PASS_COLOR, WARN_COLOR, FAIL_COLOR):
        used[f"rich text {name}"] = QColor(re.search(r"color:(#[0-9a-f]{6})", colored("x", name)).group(1))
    audit = AuditModel()
    audit.set_entries([AuditEntry(seq, "2026-12-07T00:00:00Z", "u", "h", "backup.verify", "b", result, {}, "0" * 64)
                       for seq, result in enumerate(("ok", "failed", "cancelled"), 1)])
    for row in range(audit.rowCount()):
        entry = audit.entries[row]
        used[f"audit {entry.result}"] = audit.data(audit.index(row, 4), Qt.ItemDataRole.ForegroundRole).color()
    too_low = {(name, background.name()): round(contrast(color, background), 2)
               for name, color in used.items() for background in backgrounds
               if contrast(color, background) < 4.5}
    assert too_low == {}


def test_view_theme_switches_the_style_and_is_remembered(qapp, restore_theme, open_window, tmp_path):
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    window = open_window(settings)
    menu = window.findChild(QMenu, "themeMenu")
    assert menu is not None
    assert [a.text().replace("&", "") for a in menu.actions()] == ["System", "Light", "Dark"]
    assert menu.findChild(QAction, "theme_system").isChecked()
    menu.findChild(QAction, "theme_dark").trigger()
    assert theme.current(qapp) == "dark" and theme.is_dark(qapp.palette())
    window.close()

    theme.apply_choice(qapp, "system")
    again = open_window(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat))
    assert theme.current(qapp) == "dark"
    assert again.findChild(QMenu, "themeMenu").findChild(QAction, "theme_dark").isChecked()
    again.findChild(QMenu, "themeMenu").findChild(QAction, "theme_light").trigger()
    assert theme.current(qapp) == "light" and not theme.is_dark(qapp.palette())


# ------------------------------------------------------------------------------------ wording


def test_one_backup_listed_is_singular(qtbot, open_window, make_backup):
    make_backup()
    window = open_window()
    with qtbot.waitSignal(window.controller.backups_refreshed, timeout=JOB_TIMEOUT):
        window.controller.actions["refresh"].trigger()
    assert window.statusBar().currentMessage() == "1 backup listed."


def user_strings(path: Path) -> list[tuple[int, str]]:
    """String literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_cli_commands_in_gui_text():
    found = [f"{path.relative_to(UI)}:{line}: {text!r}"
             for path in sorted(UI.rglob("*.py")) for line, text in user_strings(path)
             if re.search(r"`[^`]+`|recovery-console ", text)]
    assert found == []


# ------------------------------------------------------------------------------------ wrapping


def test_verify_dialog_shows_the_objects_line_whole(qtbot, console, make_backup):
    from recovery_console.ui.dialogs.verify import VerifyDialog
    from recovery_console.ui.secrets import FixedSecret

    record = make_backup()
    dialog = VerifyDialog(console, record, secrets=FixedSecret(SECRET))
    qtbot.addWidget(dialog)
    dialog.resize(760, 640)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.verify_result is not None and not dialog.running, timeout=JOB_TIMEOUT)
    objects = dialog.fact_labels["objects"]
    assert objects.wordWrap() and objects.text().count(",") > 5
    qtbot.waitUntil(lambda: objects.height() >= objects.heightForWidth(objects.width())
                    and objects.mapTo(dialog, objects.rect().bottomLeft()).y() < dialog.height(), timeout=2000)
    assert dialog.width() == 760  # grown in height only


def test_check_lists_wrap_their_last_column(qtbot):
    from PySide6.QtWidgets import QTreeWidgetItem

    from recovery_console.ui.widgets.status import check_tree, set_status_item

    tree = check_tree(["Result", "Check", "Why"], "Checks")
    qtbot.addWidget(tree)
    tree.resize(420, 300)
    item = QTreeWidgetItem(["", "backup fully verified",
                            "full verify on record from 2026-11-22 05:00 UTC, file unchanged since; checked again "
                            "before the swap, and the archive's hash matched the sealed one"])
    set_status_item(item, 0, "pass")
    tree.addTopLevelItem(item)
    tree.show()
    qtbot.waitExposed(tree)
    header = tree.header()
    assert header.sectionPosition(2) + header.sectionSize(2) <= tree.viewport().width()
    assert tree.visualItemRect(item).height() > 2 * tree.fontMetrics().height()


# ------------------------------------------------------------------------------------ time zones


@pytest.fixture
def paris(monkeypatch):
    import time as time_module

    monkeypatch.setenv("TZ", "Europe/Paris")
    time_module.tzset()
    yield
    monkeypatch.undo()
    time_module.tzset()


def test_times_are_local_with_their_zone_and_utc_on_hover(paris, qtbot, console, make_backup):
    from recovery_console.ui.backup_table import COL_CREATED, BackupTableModel
    from recovery_console.ui.wizards.extract import ExtractWizard
    from recovery_console.ui.wizards.restore_backup_page import describe_backup

    record = make_backup()
    model = BackupTableModel()
    model.set_records([record.__class__(**{**record.__dict__, "created": "2026-11-22 04:53:23"})])
    index = model.index(0, COL_CREATED)
    assert model.data(index) == "2026-11-22 05:53:23 CET"
    assert model.data(index, Qt.ItemDataRole.ToolTipRole) == "UTC: 2026-11-22 04:53:23"
    assert "created 2026-11-22 05:53:23 CET" in describe_backup(model.record(0))

    wizard = ExtractWizard(console)
    qtbot.addWidget(wizard)
    page = next(p for p in (wizard.page(i) for i in wizard.pageIds()) if hasattr(p, "show_metadata"))
    page.show_metadata(record.metadata.__class__(**{**record.metadata.__dict__,
                                                    "created_at": "2026-07-01T10:00:00Z"}))
    assert page.values["created_at"].text() == "2026-07-01 12:00:00 CEST"
    assert page.values["created_at"].toolTip() == "UTC: 2026-07-01 10:00:00"
