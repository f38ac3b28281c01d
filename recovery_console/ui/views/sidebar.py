"""The left column of the main window: the profiles, and the storage targets with their last-test badges."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from recovery_console.engine.state.target_health import HealthEntry, badge_for
from recovery_console.models.profile import Profile
from recovery_console.models.target import TargetConfig
from recovery_console.ui import theme
from recovery_console.ui.widgets.labels import pane_title
from recovery_console.ui.widgets.usage_delegate import USAGE_ROLE, UsageDelegate, usage_text

NAME_ROLE = Qt.ItemDataRole.UserRole
BADGE_ROLE = Qt.ItemDataRole.UserRole + 1
BADGE_WORDS = {"green": "passed recently", "amber": "passed today", "red": "failed or out of date",
               "unknown": "never tested"}


def ago(when: datetime, now: datetime) -> str:
    """How long before `now` something happened, in the largest unit that reads naturally."""
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _name(item: QListWidgetItem) -> Any:
    return item.data(NAME_ROLE)


class Sidebar(QWidget):
    """Profiles above, targets (and "All targets") below; selecting a profile selects its target.

    Shows what it is given (`show_lists`, `show_badges`); the main window reads the settings.
    """

    profile_changed = Signal()
    target_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.profiles: dict[str, Profile] = {}
        self.targets: dict[str, TargetConfig] = {}
        self.used: dict[str, int] = {}
        self.profiles_list = QListWidget()
        self.profiles_list.setAccessibleName("Profiles")
        self.profiles_list.setAccessibleDescription("The deployments this console backs up; the selection is "
                                                    "what the Back up … now button backs up.")
        self.profiles_list.itemSelectionChanged.connect(self._profile_selected)
        self.profiles_hint = QLabel("No profile yet. New profile sets up a database, its instance secret and "
                                    "its backup target.")
        self.profiles_hint.setObjectName("hint")
        self.profiles_hint.setWordWrap(True)
        self.profiles_hint.hide()
        self.new_profile_button = QPushButton(theme.icon("profile"), "&New profile…")
        self.new_profile_button.setAccessibleName("New profile")
        self.targets_list = QListWidget()
        self.targets_list.setAccessibleName("Storage targets")
        self.targets_list.setAccessibleDescription("Where backups are kept; the dot shows the last test: green "
                                                   "passed in the last 5 minutes, amber today, red failed or older.")
        self.targets_list.itemSelectionChanged.connect(self.target_changed)
        self.targets_list.setItemDelegate(UsageDelegate(self.targets_list))
        self.test_button = QPushButton(theme.icon("target"), "Te&st target")
        self.test_button.setAccessibleName("Test the selected target")
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 0, 4, 0)
        box.addWidget(pane_title("&Profiles", self.profiles_list))
        box.addWidget(self.profiles_list, 2)
        box.addWidget(self.profiles_hint)
        box.addWidget(self.new_profile_button)
        box.addWidget(pane_title("Tar&gets", self.targets_list))
        box.addWidget(self.targets_list, 3)
        box.addWidget(self.test_button)

    def show_lists(self, profiles: Mapping[str, Profile], targets: Mapping[str, TargetConfig]) -> None:
        """Rebuild both lists, keeping the selection where it still exists (no change signals)."""
        self.profiles = dict(profiles)
        self.targets = dict(targets)
        keep_profile = self.selected_profile()
        keep_target = self.selected_target()
        self.profiles_list.blockSignals(True)
        self.profiles_list.clear()
        for name, profile in sorted(self.profiles.items()):
            item = QListWidgetItem(theme.icon("profile"), name)
            item.setData(NAME_ROLE, name)
            mode = profile.mode.value
            target = profile.target or "no target"
            item.setToolTip(f"{profile.database_url}\nconnection: {mode} · backups to {target}")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"Profile {name}, backups to {target}")
            self.profiles_list.addItem(item)
            if name == keep_profile:
                item.setSelected(True)
        self.profiles_list.blockSignals(False)
        self.profiles_hint.setVisible(not self.profiles)
        self.targets_list.blockSignals(True)
        self.targets_list.clear()
        all_item = QListWidgetItem(theme.icon("target"), "All targets")
        all_item.setData(NAME_ROLE, None)
        all_item.setData(Qt.ItemDataRole.AccessibleTextRole, "All targets")
        self.targets_list.addItem(all_item)
        for name in sorted(self.targets):
            item = QListWidgetItem(name)
            item.setData(NAME_ROLE, name)
            self.targets_list.addItem(item)
        self.show_usage(self.used)
        selected = self.target_item(keep_target) or all_item
        selected.setSelected(True)
        self.targets_list.setCurrentItem(selected)
        self.targets_list.blockSignals(False)

    def show_badges(self, entries: Mapping[str, HealthEntry], now: datetime) -> None:
        """Each target's dot and tooltip from its last health check."""
        for row in range(self.targets_list.count()):
            item = self.targets_list.item(row)
            name = _name(item)
            if name is None:
                continue
            entry = entries.get(name)
            badge = badge_for(entry, now)
            item.setIcon(theme.badge_icon(badge))
            item.setData(BADGE_ROLE, badge)
            config = self.targets.get(name)
            kind = config.kind if config else "?"
            if entry is None:
                tip = f"{name} ({kind}): never tested here. Use Test target."
            else:
                verdict = "passed" if entry.ok else "FAILED"
                tip = f"{name} ({kind}): last check {verdict} {ago(entry.when, now)}"
                if entry.message:
                    tip += f"\n{entry.message}"
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"Target {name}, {BADGE_WORDS[badge]}")

    def show_usage(self, used: Mapping[str, int]) -> None:
        """Each target's usage against its quota, on a second line under its name."""
        self.used = dict(used)
        for row in range(self.targets_list.count()):
            item = self.targets_list.item(row)
            config = self.targets.get(_name(item))
            if config is not None:
                item.setData(USAGE_ROLE, usage_text(used.get(config.name, 0), config.quota))

    def target_item(self, name: str | None) -> QListWidgetItem | None:
        for row in range(self.targets_list.count()):
            item = self.targets_list.item(row)
            if _name(item) == name:
                return item
        return None

    def badge(self, target: str) -> str | None:
        item = self.target_item(target)
        return str(item.data(BADGE_ROLE)) if item is not None and item.data(BADGE_ROLE) else None

    def selected_profile(self) -> str | None:
        items = self.profiles_list.selectedItems()
        return str(_name(items[0])) if items else None

    def selected_target(self) -> str | None:
        items = self.targets_list.selectedItems()
        name = _name(items[0]) if items else None
        return str(name) if name is not None else None

    def select_profile(self, name: str | None) -> bool:
        for row in range(self.profiles_list.count()):
            item = self.profiles_list.item(row)
            if _name(item) == name:
                self.profiles_list.setCurrentItem(item)
                item.setSelected(True)
                return True
        self.profiles_list.clearSelection()
        return False

    def select_target(self, name: str | None) -> None:
        item = self.target_item(name)
        if item is not None:
            self.targets_list.setCurrentItem(item)
            item.setSelected(True)

    def profile_for_target(self, target: str | None) -> str | None:
        """Whose instance secret opens backups on `target`: the selected profile if it uses it, else the first."""
        selected = self.selected_profile()
        if target is None:
            return selected
        if selected and self.profiles.get(selected) and self.profiles[selected].target == target:
            return selected
        for name, profile in sorted(self.profiles.items()):
            if profile.target == target:
                return name
        return selected

    def set_context_actions(self, profile_actions: list[QAction], target_actions: list[QAction]) -> None:
        """Right-clicking a list offers what can be done to its items (the window's own actions)."""
        for view, actions in ((self.profiles_list, profile_actions), (self.targets_list, target_actions)):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
            view.addActions(actions)

    def set_buttons_enabled(self, new_profile: bool, test_target: bool) -> None:
        self.new_profile_button.setEnabled(new_profile)
        self.test_button.setEnabled(test_target)

    def _profile_selected(self) -> None:
        name = self.selected_profile()
        profile = self.profiles.get(name) if name else None
        if profile is not None and profile.target in self.targets:
            self.select_target(profile.target)
        self.profile_changed.emit()
