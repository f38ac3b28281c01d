"""What Test connection shows, the same in the setup wizard's target page and in the target dialog: the SSH host key
question and the round trip's steps with its verdict."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QMessageBox, QTreeWidget, QTreeWidgetItem, QWidget

from recovery_console.engine.storage.round_trip import CheckReport
from recovery_console.errors import RecoveryError
from recovery_console.ui.jobs import answered
from recovery_console.ui.widgets.status import FAIL_COLOR, PASS_COLOR, colored, set_status_item

if TYPE_CHECKING:
    from recovery_console.engine.storage.sftp_hostkeys import HostKeyInfo

NOT_CONFIRMED = "The host key was not confirmed; nothing was sent to the server."


async def host_key_trusted(parent: QWidget, host: str, port: int, info: HostKeyInfo, label: QLabel,
                           shown: Callable[[QMessageBox | None], None]) -> bool:
    """Ask whether to trust the server's host key (read without logging in); `shown` gets the open question, then
    None. The label says what happens meanwhile and after."""
    box = QMessageBox(QMessageBox.Icon.Question, "Confirm the SSH host key",
                      f"The server {host}:{port} presents this host key:\n\n{info.key_type}\n{info.fingerprint_sha256}",
                      parent=parent)
    box.setInformativeText(
        "Compare it with the fingerprint the server's administrator gives you (on the server: "
        "ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Trust it only if they match; nothing has been sent "
        "to the server yet.")
    box.setAccessibleName("Confirm the SSH host key")
    box.setAccessibleDescription(f"{info.key_type} {info.fingerprint_sha256}")
    trust = box.addButton("&Trust this host key", QMessageBox.ButtonRole.AcceptRole)
    trust.setAccessibleName("Trust this host key")
    refuse = box.addButton("&Do not trust", QMessageBox.ButtonRole.RejectRole)
    refuse.setAccessibleName("Do not trust this host key")
    box.setDefaultButton(refuse)
    shown(box)
    label.setText(html.escape("Waiting for you to confirm the host key…"))
    try:
        await answered(box)
    finally:
        shown(None)
    if box.clickedButton() is not trust:
        label.setText(colored(NOT_CONFIRMED, FAIL_COLOR, True))
        return False
    return True


def show_problem(label: QLabel, error: RecoveryError) -> None:
    """Why the test could not run, in the engine's words: what is wrong and what to change."""
    hint = f" What to do: {error.hint}" if error.hint else ""
    label.setText(colored("✘ " + error.message + hint, FAIL_COLOR, True))


def show_report(label: QLabel, steps: QTreeWidget, report: CheckReport) -> None:
    """Each step of the round trip with its result, and the verdict naming the first step that failed."""
    steps.clear()
    for step in report.steps:
        why = step.message + (f" What to do: {step.hint}" if step.hint else "")
        item = QTreeWidgetItem([step.step, "", why or "ok"])
        set_status_item(item, 1, "pass" if step.ok else "fail")
        item.setToolTip(2, why)
        steps.addTopLevelItem(item)
    if report.ok:
        label.setText(colored(f"✔ Target '{report.target}' works.", PASS_COLOR, True))
    else:
        failed = next((s for s in report.steps if not s.ok), None)
        cause = f" The {failed.step} step failed: {failed.message}" if failed else ""
        label.setText(colored(f"✘ Target '{report.target}' does NOT work.{cause}", FAIL_COLOR, True))
