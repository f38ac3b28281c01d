"""The extraction wizard's pages for a downloaded recovery set's folder: its members as the manifest lists them
(damaged ones named), and one member taken out: a database to a .dump or into the tables and workbench, a folder
into a new folder. The engine (engine/sets/local_set.py) does every check."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from recovery_console.engine.sets.local_set import (
    DAMAGED_HINT,
    LocalMember,
    LocalSet,
    decrypt_local_member,
    extract_local_member,
    prove_member_file,
)
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.errors import Cancelled, RecoveryError, UsageError
from recovery_console.formatting import format_bytes
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.widgets.form_labels import buddy_label, wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, WARN_COLOR, colored
from recovery_console.ui.widgets.times import local_time, utc_hover
from recovery_console.ui.wizards.extract_pages import extracted_counts, refused_count, save_as

if TYPE_CHECKING:
    from recovery_console.ui.wizards.extract import ExtractWizard

MEMBER_HEADERS = ("Member", "Kind", "Size", "Database or folder", "Started", "Finished", "State")
DUMP, TABLES, FOLDER = "dump", "tables", "folder"


class MembersPage(QWizardPage):
    """The set's members as its manifest lists them, and what to do with the chosen one."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Recovery set members")
        self.setSubTitle("The set's manifest, opened with the secret: each member with its size and when it was "
                         "dumped. Choose one member to take out.")
        self.opened: LocalSet | None = None
        self.summary = wrap_label("", "About the set", rich=True)
        self.note = wrap_label("", "Members are separate snapshots")
        self.damage = wrap_label("", "Damaged members", rich=True)
        self.table = QTableWidget(0, len(MEMBER_HEADERS))
        self.table.setHorizontalHeaderLabels(MEMBER_HEADERS)
        self.table.setAccessibleName("Members of the recovery set")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)
        self.dump_radio = QRadioButton("Decrypt the database to a .dump &file (pg_dump custom format)")
        self.dump_radio.setAccessibleName("Decrypt the database member to a .dump file")
        self.tables_radio = QRadioButton("Browse the database's &tables (and open them in the workbench)")
        self.tables_radio.setAccessibleName("Browse the database member's tables")
        self.folder_radio = QRadioButton("E&xtract the folder into a new folder")
        self.folder_radio.setAccessibleName("Extract the folder member into a new folder")
        self.action_group = QButtonGroup(self)
        for radio in (self.dump_radio, self.tables_radio, self.folder_radio):
            self.action_group.addButton(radio)
        output = save_as("the member")
        self.out_edit, self.out_browse, self.overwrite_check, out_form = (output.edit, output.browse,
                                                                          output.overwrite, output.form)
        self.out_browse.clicked.connect(self._browse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.note)
        layout.addWidget(self.damage)
        layout.addWidget(self.table, 1)
        for radio in (self.dump_radio, self.tables_radio, self.folder_radio):
            layout.addWidget(radio)
        layout.addLayout(out_form)
        self.table.itemSelectionChanged.connect(self._selected_changed)
        for radio in (self.dump_radio, self.tables_radio, self.folder_radio):
            radio.toggled.connect(self._changed)
        self.out_edit.textChanged.connect(self._changed)
        self._changed()

    def initializePage(self) -> None:
        opened = self.wiz.secret_page.local_set
        if opened is not None and opened is not self.opened:
            self.show_set(opened)

    def show_set(self, opened: LocalSet) -> None:
        self.opened = opened
        manifest = opened.manifest
        self.summary.setText(html.escape(
            f"Recovery set {manifest.set_id[:8]} of profile {manifest.profile}, made {local_time(manifest.created_at)}"
            f" ({manifest.mode}); {len(manifest.members)} members, read from {opened.folder}."))
        self.note.setText("Members are separate snapshots: " + manifest.consistency_note)
        if opened.damaged:
            self.damage.setText(colored("✘ This copy of the set is damaged. ", FAIL_COLOR, True) + "<br>".join(
                html.escape(f"Member '{m.member.name}': {m.problem}.", quote=False) for m in opened.damaged)
                + "<br>" + html.escape(DAMAGED_HINT, quote=False))
        else:
            self.damage.setText(colored("✔ Every member file is present with the size the manifest pins; each one's "
                                        "SHA-256 is checked when it is taken out.", PASS_COLOR))
        self.table.setRowCount(len(opened.members))
        for row, found in enumerate(opened.members):
            self._fill_row(row, found)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        intact = [row for row, found in enumerate(opened.members) if found.problem is None]
        if intact:
            self.table.selectRow(intact[0])
        self._selected_changed()

    def _fill_row(self, row: int, found: LocalMember) -> None:
        member = found.member
        cells = (member.name, member.kind, format_bytes(member.size), member.taken_from,
                 local_time(member.started_at), local_time(member.finished_at),
                 "damaged" if found.problem else "present")
        hovers = {4: utc_hover(member.started_at), 5: utc_hover(member.finished_at), 6: found.problem or "present"}
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(hovers.get(column, text))
            if column == 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)

    def selected(self) -> LocalMember | None:
        rows = self.table.selectionModel().selectedRows()
        if self.opened is None or not rows:
            return None
        return self.opened.members[rows[0].row()]

    def action(self) -> str | None:
        for radio, action in ((self.dump_radio, DUMP), (self.tables_radio, TABLES), (self.folder_radio, FOLDER)):
            if radio.isChecked() and radio.isEnabled():
                return action
        return None

    def _selected_changed(self) -> None:
        found = self.selected()
        usable = found is not None and found.problem is None
        database = usable and found is not None and found.member.kind == "database"
        self.dump_radio.setEnabled(database)
        self.tables_radio.setEnabled(database)
        self.folder_radio.setEnabled(usable and not database)
        if found is not None and usable:
            (self.dump_radio if database else self.folder_radio).setChecked(True)
            self.out_edit.setText(str(self.default_output(found)))
        elif found is not None:
            self.out_edit.clear()
        self._changed()

    def default_output(self, found: LocalMember) -> Path:
        """Beside the set's folder: <member>.dump for a database, a new folder named after the member otherwise."""
        assert self.opened is not None
        base = self.opened.folder.absolute().parent / "".join(c if c.isalnum() or c in "-_." else "_"
                                                               for c in found.member.name)
        return base.with_name(base.name + ".dump") if found.member.kind == "database" else base

    def _browse(self) -> None:
        if self.action() == FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Choose the folder to create the new one in",
                                                    str(self.output().parent))
            if path:
                self.out_edit.setText(str(Path(path) / self.output().name))
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the .dump as", self.out_edit.text(),
                                              "pg_dump archives (*.dump);;All files (*)")
        if path:
            self.out_edit.setText(path)

    def _changed(self) -> None:
        action = self.action()
        self.out_edit.setEnabled(action in (DUMP, FOLDER))
        self.out_browse.setEnabled(action in (DUMP, FOLDER))
        self.overwrite_check.setVisible(action == DUMP)
        self.completeChanged.emit()

    def output(self) -> Path:
        return Path(self.out_edit.text().strip()).expanduser()

    def isComplete(self) -> bool:
        found = self.selected()
        action = self.action()
        return found is not None and found.problem is None and action is not None and \
            (action == TABLES or bool(self.out_edit.text().strip()))

    def validatePage(self) -> bool:
        action, out = self.action(), self.output()
        try:
            if action == DUMP and out.exists() and not self.overwrite_check.isChecked():
                raise UsageError(f"{out} already exists.",
                                 hint="Choose another name, or tick 'Overwrite an existing file'.")
            if action == FOLDER and out.exists():
                raise UsageError(f"{out} already exists; a folder member is extracted into a new folder.",
                                 hint="Choose a name that does not exist yet.")
            if action != TABLES and not out.parent.is_dir():
                raise UsageError(f"The folder {out.parent} does not exist.", hint="Choose an existing folder.")
        except RecoveryError as exc:
            self.wiz.show_error("Recovery set member", exc)
            return False
        return True

    def nextId(self) -> int:
        return self.wiz.MEMBER_RUN


class MemberRunPage(QWizardPage):
    """The chosen member taken out: the .dump written and its SHA-256, the folder extracted (refused entries named),
    or the member's file proven against the manifest before its tables are read."""

    def __init__(self, wizard: ExtractWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Member")
        self.setSubTitle("The member is checked against the set's manifest; nothing is kept unless it is the member "
                         "the manifest pins.")
        self.task: asyncio.Task[None] | None = None
        self.running = False
        self.outcome: str | None = None  # "ok", "failed", "cancelled"
        self.refused: list[str] = []
        self.panel = ProgressPanel()
        self.status = wrap_label("", "Member result", rich=True)
        self.sha_edit = QLineEdit()
        self.sha_edit.setReadOnly(True)
        self.sha_edit.setAccessibleName("SHA-256 of the decrypted .dump")
        self.refused_list = QPlainTextEdit()
        self.refused_list.setReadOnly(True)
        self.refused_list.setAccessibleName("Entries refused (nothing written for them)")
        self.refused_list.setTabChangesFocus(True)
        self.refused_label = buddy_label("&Refused entries (nothing written for them):", self.refused_list,
                                         "Entries refused (nothing written for them)")
        self.sha_label = buddy_label("SHA-2&56:", self.sha_edit, "SHA-256 of the decrypted .dump")
        sha_row = QHBoxLayout()
        sha_row.addWidget(self.sha_label)
        sha_row.addWidget(self.sha_edit, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addWidget(self.status)
        layout.addLayout(sha_row)
        layout.addWidget(self.refused_label)
        layout.addWidget(self.refused_list, 1)

    def initializePage(self) -> None:
        previous = self.task
        self.running = True
        self.outcome = None
        self.setFinalPage(self.wiz.members_page.action() != TABLES)
        self.completeChanged.emit()
        self.task = self.wiz.start(self._run(previous))

    def cleanupPage(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self, previous: asyncio.Task[None] | None) -> None:
        page = self.wiz.members_page
        opened, found, action = page.opened, page.selected(), page.action()
        assert opened is not None and found is not None
        console, secret, out, name = self.wiz.console, self.wiz.secret_page.secret or "", page.output(), \
            found.member.name
        overwrite = page.overwrite_check.isChecked()
        self.sha_edit.clear()
        self.refused = []
        self.refused_list.clear()
        self.refused_label.setVisible(False)
        self.refused_list.setVisible(False)
        self.show_sha(action == DUMP)
        self.panel.setVisible(True)
        try:
            if previous is not None:  # the user went Back and Next again: the earlier run stops first
                await asyncio.wait([previous])
            if action == DUMP:
                self.status.setText(html.escape(f"Decrypting member '{name}' to {out}…"))
                result = await self.wiz.run("Decrypting the member", lambda r: decrypt_local_member(
                    console, opened, name, out, secret, overwrite=overwrite, reporter=r), panel=self.panel)
                self.sha_edit.setText(result.sha256)
                self.status.setText(colored(f"✔ Member '{name}' written to {result.path} "
                                            f"({format_bytes(result.size)}, {result.size:,} bytes); its SHA-256 "
                                            "matches the set's manifest.", PASS_COLOR, True))
            elif action == FOLDER:
                self.status.setText(html.escape(f"Extracting member '{name}' into {out}…"))
                done = (await self.wiz.run("Extracting the member", lambda r: extract_local_member(
                    console, opened, name, out, secret, r), panel=self.panel)).extracted
                self.show_extracted(name, done)
            else:
                self.status.setText(html.escape(f"Checking member '{name}' against the manifest…"))
                await self.wiz.run("Checking the member", lambda r: prove_member_file(opened, name, r),
                                   panel=self.panel)
                self.status.setText(colored(f"✔ Member '{name}' is the file the set's manifest pins. Next reads "
                                            "its tables.", PASS_COLOR, True))
            self.outcome = "ok"
        except Cancelled:
            self.outcome = "cancelled"
            self.status.setText(colored("Cancelled; nothing was kept.", WARN_COLOR, True))
        except RecoveryError as exc:
            self.outcome = "failed"
            self.status.setText(colored("✘ Nothing was kept: " + exc.message, FAIL_COLOR, True))
            self.wiz.show_error("Recovery set member", exc)
        finally:
            self.running = False
            self.panel.setVisible(False)
            self.setFinalPage(self.nextId() == -1)  # Next to the tables, or Finish; re-lays out the buttons
            self.completeChanged.emit()

    def show_sha(self, shown: bool) -> None:
        self.sha_label.setVisible(shown)
        self.sha_edit.setVisible(shown)

    def show_extracted(self, name: str, done: Extracted) -> None:
        """A folder member's extraction: what was written, and every refused entry by name."""
        self.refused = list(done.refused)
        text = (f"Member '{name}' extracted into {done.folder}: {extracted_counts(done)}; the archive is the one the "
                "set's manifest names.")
        if done.refused:
            refused, them = refused_count(done)
            self.status.setText(colored(f"⚠ {text} {refused} refused; nothing was written for {them}.", WARN_COLOR,
                                        True))
            self.refused_list.setPlainText("\n".join(done.refused))
        else:
            self.status.setText(colored("✔ " + text, PASS_COLOR, True))
        self.refused_label.setVisible(bool(done.refused))
        self.refused_list.setVisible(bool(done.refused))

    def source(self) -> Path | None:
        """The member file the tables are read from, once proven."""
        found = self.wiz.members_page.selected()
        return found.path if found is not None and self.outcome == "ok" else None

    def nextId(self) -> int:
        return self.wiz.TABLES if self.wiz.members_page.action() == TABLES and self.outcome == "ok" else -1

    def isComplete(self) -> bool:
        return not self.running and self.outcome is not None
