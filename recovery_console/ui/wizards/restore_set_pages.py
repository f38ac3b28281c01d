"""The restore wizard's page for a recovery set: its members, each to restore or not, the profile each database member
restores through, and where each folder member goes (in place by swap, or into a new folder)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QVBoxLayout,
    QWizardPage,
)

from recovery_console.engine.sets.manifest import ManifestMember, SetManifest
from recovery_console.engine.sets.set_restore import (
    SetRestorePlan,
    member_profile_choices,
    open_set,
    plan_set_restore,
)
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes
from recovery_console.models.profile import PRIMARY_MEMBER
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, colored
from recovery_console.ui.widgets.table_items import table_item

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard

CHOOSE_PROFILE = "(choose a profile of this database)"


class FolderChoice(QGroupBox):
    """One folder member: restored in place (the previous folder kept beside it) or into a new folder."""

    def __init__(self, page: SetMembersPage, member: ManifestMember) -> None:
        super().__init__(f"Folder member {member.name}")
        self.member = member
        place = Path(member.folder) if member.folder else None  # None: imported from a tar, its folder unknown
        self.in_place = QRadioButton(f"Restore &in place: {place}" if place is not None else "Restore &in place")
        self.in_place_note = wrap_label(
            f"The folder there now is kept beside it as {place.name}.pre_restore_<time>." if place is not None else
            "Not possible: imported from a tar file, the folder it came from is unknown.",
            f"Restoring folder member {member.name} in place")
        self.in_place_note.setIndent(self.in_place.iconSize().width() + 8)  # under the button's text, not its circle
        self.in_place.setAccessibleName(f"Restore folder member {member.name} in place")
        self.in_place.setEnabled(place is not None)
        self.new_folder = QRadioButton("Into a ne&w folder:")  # Alt+N is the wizard's Next
        self.new_folder.setAccessibleName(f"Restore folder member {member.name} into a new folder")
        group = QButtonGroup(self)
        group.addButton(self.in_place)
        group.addButton(self.new_folder)
        (self.in_place if place is not None else self.new_folder).setChecked(True)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(f"a folder that does not exist yet, e.g. {place or member.name}_restored")
        self.path_edit.setAccessibleName(f"New folder for member {member.name}")
        self.browse = QPushButton("C&hoose…")
        self.browse.setAccessibleName(f"Choose the parent of the new folder for member {member.name}")
        self.browse.clicked.connect(self._choose)
        row = QHBoxLayout()
        row.addWidget(self.new_folder)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse)
        box = QVBoxLayout(self)
        box.addWidget(self.in_place)
        box.addWidget(self.in_place_note)
        box.addLayout(row)
        for signal in (self.in_place.toggled, self.new_folder.toggled):
            signal.connect(page.choices_changed)
        self.path_edit.textChanged.connect(page.choices_changed)
        self.choose_dialog: QFileDialog | None = None

    def destination(self) -> Path | None:
        """The new folder chosen (None: in place)."""
        return Path(self.path_edit.text().strip()).expanduser() if self.new_folder.isChecked() else None

    def sync(self) -> None:
        self.path_edit.setEnabled(self.new_folder.isChecked())
        self.browse.setEnabled(self.new_folder.isChecked())

    def _choose(self) -> None:
        """A folder picker for the parent; the new folder is a name inside it (it must not exist yet)."""
        dialog = QFileDialog(self, f"Where the new folder for {self.member.name} goes")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self._chosen)
        self.choose_dialog = dialog
        dialog.open()

    def _chosen(self, parent: str) -> None:
        self.new_folder.setChecked(True)
        self.path_edit.setText(str(Path(parent) / f"{Path(self.member.folder or self.member.name).name}_restored"))


class SetMembersPage(QWizardPage):
    """The set's members (all chosen by default), each database member's profile, each folder member's place."""

    COLUMNS = ["Member", "Kind", "Size", "Database or folder", "Restores through"]

    def __init__(self, wizard: RestoreWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Choose the members")
        self.setSubTitle("A recovery set holds several databases and folders, each its own snapshot. Untick what "
                         "should stay as it is.")
        self.manifest: SetManifest | None = None
        self.plan: SetRestorePlan | None = None
        self.loading = False
        self.loaded_for: tuple[str, str] | None = None  # the set whose members are shown
        self.profile_combos: dict[str, QComboBox] = {}
        self.folder_choices: dict[str, FolderChoice] = {}
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setAccessibleName("Members of the set")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.setTabKeyNavigation(False)
        self.table.itemChanged.connect(lambda _item: self.choices_changed())
        self.folders_box = QVBoxLayout()
        self.status = wrap_label("", "Members status", rich=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(self.folders_box)
        layout.addWidget(self.status)

    def initializePage(self) -> None:
        record = self.wiz.backup_page.selected_set()
        if record is not None and self.loaded_for != (record.target, record.folder):
            self.wiz.start(self.load())

    async def load(self) -> None:
        """The set's manifest (decrypted once if the catalog has not seen it) and the profiles of each database."""
        record = self.wiz.backup_page.selected_set()
        secret = self.wiz.backup_page.secret or ""
        console = self.wiz.console
        if record is None:
            return
        self.loading = True
        self.status.setText(html.escape("Reading the set's manifest…"))
        self.completeChanged.emit()

        def job(_reporter: object) -> tuple[SetManifest, dict[str, list[str]]]:
            manifest = open_set(console, record, secret)
            return manifest, {m.name: member_profile_choices(console, m) for m in manifest.members
                              if m.kind == "database" and m.name != PRIMARY_MEMBER}

        try:
            manifest, choices = await self.wiz.run("Reading the set's manifest", job)
        except RecoveryError as exc:
            self.status.setText(colored("✘ " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("The recovery set", exc)
        else:
            self.loaded_for = (record.target, record.folder)
            self.show_members(manifest, choices)
        finally:
            self.loading = False
            self.completeChanged.emit()

    def show_members(self, manifest: SetManifest, choices: dict[str, list[str]]) -> None:
        """One row per member, every one ticked; a folder member's choice of place below the table."""
        self.manifest = manifest
        self.table.blockSignals(True)
        self.table.setRowCount(len(manifest.members))
        self.profile_combos.clear()
        for choice in self.folder_choices.values():
            choice.setParent(None)
        self.folder_choices.clear()
        profile = str(self.wiz.backup_page.profile_combo.currentData() or manifest.profile)
        for row, member in enumerate(manifest.members):
            name = table_item(member.name, member.name)
            name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(Qt.CheckState.Checked)
            name.setToolTip(f"Restore member {member.name}")
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, table_item(member.kind))
            self.table.setItem(row, 2, table_item(format_bytes(member.archive_length)))
            self.table.setItem(row, 3, table_item(member.taken_from))
            if member.kind == "folder":
                self.table.setItem(row, 4, table_item("— (its place below)"))
                choice = FolderChoice(self, member)
                self.folder_choices[member.name] = choice
                self.folders_box.addWidget(choice)
            elif member.name == PRIMARY_MEMBER:
                self.table.setItem(row, 4, table_item(f"profile {profile}"))
            else:
                combo = QComboBox()
                combo.setAccessibleName(f"Profile member {member.name} restores through")
                combo.addItem(CHOOSE_PROFILE, "")
                for option in choices.get(member.name, []):
                    combo.addItem(f"profile {option}", option)
                combo.setCurrentIndex(1 if combo.count() > 1 else 0)
                combo.currentIndexChanged.connect(lambda _i: self.choices_changed())
                self.profile_combos[member.name] = combo
                self.table.setCellWidget(row, 4, combo)
        self.table.blockSignals(False)
        self.table.resizeRowsToContents()
        self.choices_changed()

    def chosen(self) -> list[str]:
        names = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                names.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return names

    def set_chosen(self, name: str, chosen: bool) -> None:
        """Tick or untick one member (as a click on its box does)."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
                item.setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)

    def choices_changed(self) -> None:
        """The engine checks the choices (nothing is read or changed); its refusal is shown and holds Next."""
        for choice in self.folder_choices.values():
            choice.sync()
        record = self.wiz.backup_page.selected_set()
        self.plan = None
        if record is None or self.manifest is None:
            self.completeChanged.emit()
            return
        chosen = self.chosen()
        for name, choice in self.folder_choices.items():
            choice.setEnabled(name in chosen)
        new_folders = {name: place for name, choice in self.folder_choices.items()
                       if name in chosen and (place := choice.destination()) is not None}
        empty = [name for name, place in new_folders.items() if place == Path()]
        relative = [name for name, place in new_folders.items() if place != Path() and not place.is_absolute()]
        try:
            if empty:
                raise RecoveryError(f"Name the new folder for member {', '.join(empty)}.")
            if relative:  # relative to what the console was started in: never what the user means
                raise RecoveryError(f"Name the new folder for member {', '.join(relative)} by its full path.")
            self.plan = plan_set_restore(
                record, self.manifest, str(self.wiz.backup_page.profile_combo.currentData()), members=chosen,
                through={name: combo.currentData() for name, combo in self.profile_combos.items()},
                new_folders=new_folders)
        except RecoveryError as exc:
            self.status.setText(colored("✘ " + exc.message, FAIL_COLOR, True) +
                                (html.escape(" " + exc.hint) if exc.hint else ""))
        else:
            left_out = [m.name for m in self.manifest.members if m.name not in chosen]
            text = f"{len(self.plan.members)} of {len(self.manifest.members)} members will be restored"
            text += f"; left as they are: {', '.join(left_out)}." if left_out else "."
            self.status.setText(html.escape(text + " Databases first (each through its profile's pre-flight, "
                                                   "scratch copy, check and swap), then folders."))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not self.loading and self.plan is not None

    def nextId(self) -> int:
        return self.wiz.SET_PREFLIGHT

