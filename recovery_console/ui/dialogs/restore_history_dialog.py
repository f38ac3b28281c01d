"""A profile's restore history: each restore, how it ended, the previous database it kept and that database's size
now; Roll back and Drop act on the selected one. Below, the profile's recovery-set restores (set_restores_panel.py),
each rolled back whole by "Roll back whole set…". Everything shown is read from the engine (engine/restore_kept.py)
in a job, and read again after each action, so the list says what is true on the server now.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.restore import Restorer
from recovery_console.engine.restore_kept import (
    DROPPED,
    GONE,
    KEPT,
    LIVE,
    REPLACED,
    UNKNOWN,
    History,
    HistoryRow,
    drop_previous,
    history,
    rollback_entry,
)
from recovery_console.engine.sets.set_restores import ROLLED_BACK, SetRestore, restores
from recovery_console.engine.sets.set_rollback import rollback_set
from recovery_console.errors import RecoveryError
from recovery_console.formatting import format_bytes
from recovery_console.ui.dialogs.set_restores_panel import SetRestoresPanel, rollback_text, short_set
from recovery_console.ui.error_dialog import error_box
from recovery_console.ui.jobs import Job, JobRunner, answered, run_job, start_task
from recovery_console.ui.progress_panel import ProgressPanel
from recovery_console.ui.theme import icon
from recovery_console.ui.widgets.form_labels import wrap_label
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, colored
from recovery_console.ui.widgets.table_items import table_item
from recovery_console.ui.widgets.times import local_time, utc_hover
from recovery_console.ui.widgets.typed_confirmation import typed_confirmation

COLUMNS = ["Time", "Result", "Kept database", "Size now", "Backup", "Restored into"]
STATE_TEXT = {GONE: "gone", REPLACED: "gone (another database has its name)", LIVE: "live again (rolled back)",
              DROPPED: "dropped", UNKNOWN: "unknown"}


def previous_text(row: HistoryRow) -> tuple[str, str]:
    """(size column, its tooltip) for the database `row` keeps: its previous one, or the copy a rollback set aside."""
    if not row.kept:
        return "", "This restore kept no previous database." if row.state != LIVE else (
            "Rolled back: the previous database is live again.")
    if row.state == KEPT:
        if row.size is None:
            return "kept (size not readable)", "This role may not read the database's size."
        return format_bytes(row.size), f"{row.size:,} bytes, read from the server just now"
    tips = {GONE: "It no longer exists on the server: nothing to roll back to or drop.",
            REPLACED: "A database of that name exists, but it is not the one this restore kept.",
            LIVE: "Rolled back: the previous database is live again.", DROPPED: "Dropped from this console.",
            UNKNOWN: "The server could not be asked, or the profile points at another database now."}
    return STATE_TEXT.get(row.state, row.state), tips.get(row.state, "")


def short_backup(backup_id: str | None, key: str) -> str:
    """A backup as the backup list names it: the 8 hex digits its file name ends with."""
    if backup_id:
        return backup_id.replace("-", "")[:8]
    return key.rsplit("/", 1)[-1] or "—"


def drop_dialog(parent: QWidget, name: str, set_aside: bool = False) -> QInputDialog:
    """Drop asks for the database's name typed out; OK stays disabled until it matches. `set_aside`: the database is
    the restored copy a rollback put aside, not the one from before the restore."""
    what = "the restored copy a rollback set aside" if set_aside else "the database as it was before the restore"
    after = "" if set_aside else ": you can no longer roll back to it"
    return typed_confirmation(parent, "Drop kept database", name,
                              f"database name '{name}' to drop it.\n\nIt is {what}. Dropping it deletes it from "
                              f"the server for good{after}.", "Drop database")


class RestoreHistoryDialog(QDialog):
    """The restores of one profile, with Roll back and Drop. `changed` fires after an action changed the server."""

    changed = Signal()

    def __init__(self, console: Console, runner: JobRunner, profile: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.profile = profile
        self.rows: list[HistoryRow] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.acting = False
        self.confirm_box: QMessageBox | None = None
        self.drop_box: QInputDialog | None = None
        self.set_rollback_box: QInputDialog | None = None
        self.error_dialog: QMessageBox | None = None
        self.setWindowTitle(f"Restore history of {profile}")
        self.setWindowIcon(icon("restore"))
        self.setAccessibleName("Restore history")
        self.resize(980, 460)

        self.heading = wrap_label(f"Every restore of profile {profile}, newest first. A restore in place keeps the "
                                  "database as it was under another name until you drop it.", "About this list")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Restores")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self.update_buttons)
        self.sets = SetRestoresPanel()
        self.sets.table.itemSelectionChanged.connect(self.update_buttons)
        self.sets.rollback_button.clicked.connect(lambda: self.start(self.roll_back_set()))
        self.status = wrap_label("", "History status", rich=True)
        self.progress = ProgressPanel()
        self.progress.setAccessibleName("Progress of the action")
        self.progress.phase.setText("Reading the history…")
        self.progress.cancel_button.hide()  # a rename or drop is one transaction: nothing to stop halfway

        self.refresh_button = QPushButton(icon("refresh"), "Re&fresh")
        self.refresh_button.setAccessibleName("Read the history and the server again")
        self.refresh_button.clicked.connect(lambda: self.start(self.reload()))
        self.rollback_button = QPushButton(icon("restore"), "R&oll back…")
        self.rollback_button.setAccessibleName("Roll back the selected restore")
        self.rollback_button.clicked.connect(lambda: self.start(self.roll_back()))
        self.drop_button = QPushButton(icon("delete"), "&Drop kept database…")
        self.drop_button.setAccessibleName("Drop the database the selected restore keeps")
        self.drop_button.clicked.connect(lambda: self.start(self.drop()))
        self.swap_button = QPushButton(icon("restore"), "S&wap in a checked copy…")
        self.swap_button.setAccessibleName("Swap in the checked copy of a restore whose swap was blocked")
        self.swap_button.setToolTip("A restore whose swap was blocked by sessions it could not end keeps the copy it "
                                    "restored and checked: swap it in now, without restoring again.")
        self.swap_button.clicked.connect(lambda: self.start(self.swap_in()))
        self.close_button = QPushButton("C&lose")
        self.close_button.setAccessibleName("Close this window")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.swap_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rollback_button)
        buttons.addWidget(self.drop_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.sets)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.update_buttons()

    # ------------------------------------------------------------------ state

    @property
    def busy(self) -> bool:
        return bool(self.tasks)

    def selected_row(self) -> HistoryRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def update_buttons(self) -> None:
        row = self.selected_row()
        idle = not self.busy
        self.rollback_button.setEnabled(idle and row is not None and row.can_roll_back)
        self.drop_button.setEnabled(idle and row is not None and row.can_drop)
        self.refresh_button.setEnabled(idle)
        self.swap_button.setEnabled(idle)
        chosen = self.sets.selected()
        self.sets.rollback_button.setEnabled(idle and chosen is not None and chosen.state != ROLLED_BACK)

    def start(self, flow: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """Run one flow at a time; closing the dialog cancels it."""
        if self.busy:
            flow.close()
            return None
        task = start_task(flow)
        self.tasks.add(task)
        task.add_done_callback(self._ended)
        self.update_buttons()
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.update_buttons()

    async def _run(self, name: str, function: Callable[[Reporter], Any]) -> Any:
        job = Job(name, function, key=f"profile:{self.profile}")
        self.progress.attach(job)
        self.progress.cancel_button.hide()
        self.progress.phase.setText(f"{name}…")
        self.progress.bar.setRange(0, 0)
        return await run_job(self.runner, job)

    # ------------------------------------------------------------------ reading

    async def reload(self, select: str | None = None) -> None:
        """Read the history and the kept databases' state from the server again; keep the selection."""
        current = self.selected_row()
        select = select or (current.entry.id if current else None)
        chosen_set = self.sets.selected()
        console, profile = self.console, self.profile
        try:
            found: History
            set_restores: list[SetRestore]
            found, set_restores = await self._run(
                "Reading the history", lambda r: (history(console, profile), restores(console.paths, profile)))
        except RecoveryError as exc:
            self.status.setText(colored("✘ " + exc.message, FAIL_COLOR, True) + "<br>" + html.escape(exc.hint))
            self.show_rows([])
            self.sets.show_restores([])
            return
        self.sets.show_restores(set_restores, chosen_set.id if chosen_set else None)
        self.progress.show_end(f"{len(found.rows)} restore{'' if len(found.rows) == 1 else 's'} listed.",
                               complete=True)
        self.show_rows(found.rows, select)
        if found.server_error:
            self.status.setText(colored("⚠ The server could not be asked what is kept now: " + found.server_error,
                                        FAIL_COLOR, True))
        elif not found.rows:
            self.status.setText(html.escape(f"No restore of {self.profile} is recorded yet."))

    def show_rows(self, rows: list[HistoryRow], select: str | None = None) -> None:
        self.rows = rows
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            e = row.entry
            when = table_item(local_time(e.time), e.id)
            when.setToolTip(utc_hover(e.time))
            backup = table_item(short_backup(e.backup_id, e.backup_key))
            backup.setToolTip("\n".join(part for part in (e.backup_id, e.backup_key) if part))
            into = table_item(f"{e.database} ({e.mode})")
            result = table_item(e.result)
            changed = f"{e.result.capitalize()} at {local_time(e.changed)}" if e.changed else ""
            undone = f"The restored database is kept as {e.undone}." if e.undone else ""
            result.setToolTip("\n".join(part for part in (e.error, changed, undone) if part))
            size, tip = previous_text(row)
            previous = table_item(row.kept or "—")
            previous.setToolTip(tip)
            size_item = table_item(size)
            size_item.setToolTip(tip)
            for column, item in enumerate((when, result, previous, size_item, backup, into)):
                self.table.setItem(index, column, item)
            if select == e.id:
                self.table.selectRow(index)
        self.table.resizeColumnsToContents()
        if rows and not self.table.selectionModel().selectedRows():
            self.table.selectRow(0)
        self.status.setText("")
        self.update_buttons()

    # ------------------------------------------------------------------ actions

    async def roll_back(self) -> None:
        row = self.selected_row()
        if row is None or not row.can_roll_back:
            return
        e = row.entry
        if not await self._confirmed("Roll back the restore", f"Swap {e.previous} back in as {e.database}?",
                                     f"The restored database is kept under another name. Sessions connected to "
                                     f"{e.database} are disconnected.", "&Roll back", "&Keep the restored database"):
            return
        console, profile, entry_id = self.console, self.profile, e.id
        await self._act("Rolling back", f"Rolling back {e.database} …",
                        lambda r: rollback_entry(console, profile, entry_id),
                        lambda outcome: f"✔ Rolled back: {e.database} is the database from before the restore "
                                        f"again; the restored one is kept as {outcome[1]}.")

    async def drop(self) -> None:
        row = self.selected_row()
        if row is None or not row.can_drop or row.kept is None:
            return
        name = row.kept
        dialog = drop_dialog(self, name, set_aside=row.set_aside)
        self.drop_box = dialog
        if await self._answer(dialog) != QDialog.DialogCode.Accepted:
            return
        typed = dialog.textValue()
        console, profile, entry_id = self.console, self.profile, row.entry.id
        await self._act("Dropping", f"Dropping {name} …",
                        lambda r: drop_previous(console, profile, entry_id, confirm=typed),
                        lambda dropped: f"✔ Dropped {dropped}.")

    async def roll_back_set(self) -> None:
        """Every member of the selected set restore back as it was, in one engine call; its text says what was done,
        its error (a busy member, a kept copy gone) what was not."""
        chosen = self.sets.selected()
        if chosen is None or chosen.state == ROLLED_BACK:
            return
        name = short_set(chosen.set_id)
        members = ", ".join(m.name for m in chosen.members)
        dialog = typed_confirmation(
            self, "Roll back whole set", name,
            f"set's id '{name}' to roll back its restore of {local_time(chosen.time)}.\n\nEvery member it "
            f"replaced ({members}) gets its state from before the restore back; each restored database and folder "
            "is kept beside it. Sessions connected to those databases are disconnected.", "Roll back set")
        self.set_rollback_box = dialog
        if await self._answer(dialog) != QDialog.DialogCode.Accepted:
            return
        console, profile, restore_id = self.console, self.profile, chosen.id
        await self._act("Rolling back the set", f"Rolling back set {name} …",
                        lambda r: rollback_set(console, profile, restore_id),
                        lambda outcome: rollback_text(outcome, chosen))

    async def swap_in(self) -> None:
        """Finish a blocked restore: the engine finds its checked copy (or says there is none) and swaps it in."""
        if not await self._confirmed(
                "Swap in the checked copy", f"Swap the newest restored and checked copy in for profile {self.profile}?",
                "The current database is kept under another name, as a restore keeps it; sessions connected to it "
                "are disconnected. If no checked copy is waiting, nothing changes.", "&Swap in", "&Not now"):
            return
        console, profile = self.console, self.profile
        await self._act("Swapping in", "Swapping in the checked copy …",
                        lambda r: Restorer(console).swap(profile),
                        lambda outcome: f"✔ Swapped in {outcome[0]}; the previous database is kept as {outcome[1]}.")

    async def _act(self, name: str, blocking_text: str, function: Callable[[Reporter], Any],
                   done: Callable[[Any], str]) -> None:
        """Run an action with the main window blocked; show its error; read the true state again after, and put
        what the action did (`done(result)`) above whatever the new listing had to say."""
        self.acting = True
        self._block(True, blocking_text)
        try:
            outcome = await self._run(name, function)
        except RecoveryError as exc:
            self.show_error(f"{name} failed", exc)
            outcome = None
        finally:
            self.acting = False
            self._block(False)
        await self.reload()
        if outcome is not None:
            after = self.status.text()
            text = colored(done(outcome), PASS_COLOR, True).replace("\n", "<br>")
            self.status.setText(text + (f"<br>{after}" if after else ""))
            self.changed.emit()

    def _block(self, active: bool, text: str = "") -> None:
        setter = getattr(self.parentWidget(), "set_blocking", None)
        if callable(setter):
            setter(active, text)

    async def _confirmed(self, title: str, question: str, consequence: str, yes_text: str, no_text: str) -> bool:
        """Ask before a change on the server; the safe answer is the default."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, question, parent=self)
        box.setInformativeText(consequence)
        box.setAccessibleName(title)
        yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
        no = box.addButton(no_text, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(no)
        self.confirm_box = box
        await self._answer(box)
        return box.clickedButton() is yes

    async def _answer(self, dialog: QDialog) -> int:
        return await answered(dialog)

    def show_error(self, title: str, error: RecoveryError) -> None:
        box = error_box(self, title, error)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_dialog = box
        box.open()

    # ------------------------------------------------------------------ showing and closing

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.rows and not self.busy:
            self.start(self.reload())

    def done(self, result: int) -> None:
        """Closing never leaves an action half-watched: while one runs, the dialog stays open."""
        if self.acting:
            self.status.setText(html.escape("An action is running; the window closes when it has ended."))
            return
        for task in list(self.tasks):
            task.cancel()
        super().done(result)
