"""Where views get a target's instance secret: the `SecretSource` protocol and its two implementations.

`SecretBroker` is the main window's: the profile's keyring entry (read in a job, off the GUI
thread), else a password prompt. `FixedSecret` answers with one known secret (tests, tools).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QInputDialog, QLineEdit, QWidget

from recovery_console.engine.console import Console
from recovery_console.engine.state import grouped_secret
from recovery_console.errors import RecoveryError
from recovery_console.ui.jobs import Job, JobRunner

SecretCallback = Callable[[str | None], None]


class SecretSource(Protocol):
    """Where views get the instance secret; `request` answers later (None: the user gave none)."""

    def request(self, target: str | None, callback: SecretCallback, why: str = "") -> None: ...

    def reject(self, target: str | None) -> None:
        """The secret given for `target` was wrong: forget it so the next request asks again."""


class FixedSecret:
    """A SecretSource that always answers with the same secret (tests, screenshots, offline tools)."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.rejected: list[str | None] = []

    def request(self, target: str | None, callback: SecretCallback, why: str = "") -> None:
        callback(self.secret)

    def reject(self, target: str | None) -> None:
        self.rejected.append(target)


class SecretBroker(QObject):
    """The instance secret for a target: its profile's keyring entry (read in a job), else a password prompt.

    Answers are kept in memory for this session only, per profile (or one typed secret for
    backups no profile points at). `reject` forgets a secret that turned out wrong.
    """

    TYPED = "\0typed"

    def __init__(self, console: Console, runner: JobRunner, parent: QWidget,
                 profile_for_target: Callable[[str | None], str | None]) -> None:
        super().__init__(parent)
        self.console = console
        self.runner = runner
        self.prompt_parent = parent
        self.profile_for_target = profile_for_target
        self._cache: dict[str, str] = {}
        self._waiting: dict[str, list[SecretCallback]] = {}
        self.prompt: QInputDialog | None = None

    def _key(self, target: str | None, profile: str | None) -> str:
        profile = profile or self.profile_for_target(target)
        return profile or self.TYPED

    def remember(self, secret: str, target: str | None = None, profile: str | None = None) -> None:
        """Keep a secret obtained elsewhere (e.g. a wizard) for this session."""
        self._cache[self._key(target, profile)] = secret

    def has_secret(self, target: str | None, profile: str | None = None) -> bool:
        return self._key(target, profile) in self._cache

    def forget_all(self) -> None:
        self._cache.clear()

    def reject(self, target: str | None, profile: str | None = None) -> None:
        self._cache.pop(self._key(target, profile), None)

    def request(self, target: str | None, callback: SecretCallback, why: str = "", profile: str | None = None) -> None:
        key = self._key(target, profile)
        if key in self._cache:
            callback(self._cache[key])
            return
        if key in self._waiting:
            self._waiting[key].append(callback)
            return
        self._waiting[key] = [callback]
        if key == self.TYPED:
            self._ask(key, why, "")
            return
        profiles = self.console.profiles
        job = Job("Reading the instance secret from the keyring", lambda reporter: profiles.instance_secret(key),
                  key="keyring")
        job.succeeded.connect(lambda secret: self._answer(key, secret))
        job.failed.connect(lambda error: self._keyring_failed(key, why, error))
        self.runner.submit(job)

    def _keyring_failed(self, key: str, why: str, error: RecoveryError) -> None:
        self._ask(key, why, error.message)

    def _ask(self, key: str, why: str, problem: str) -> None:
        dialog = QInputDialog(self.prompt_parent)
        dialog.setWindowTitle("Instance secret")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        whose = f"profile '{key}'" if key != self.TYPED else "these backups"
        text = f"Type the instance secret of {whose}"
        text += f" to {why}." if why else "."
        if problem:
            text = f"{problem}\n\n{text}"
        dialog.setLabelText(text)
        dialog.setOkButtonText("&Use secret")
        dialog.setAccessibleName("Instance secret prompt")
        dialog.setAccessibleDescription(text)
        line = dialog.findChild(QLineEdit)
        if line is not None:
            line.setAccessibleName("Instance secret")

        def finished(result: int) -> None:
            # Qt emits finished before textValueSelected: read the answer here, once.
            accepted = result == QDialog.DialogCode.Accepted
            if self.prompt is dialog:
                self.prompt = None
            dialog.deleteLater()
            value = dialog.textValue() if accepted else None
            if value:
                try:  # a grouped secret with a mistyped group is named and asked again, never tried
                    value = grouped_secret.canonical(value)
                except RecoveryError as exc:
                    self._ask(key, why, exc.message)
                    return
            self._answer(key, value)

        dialog.finished.connect(finished)
        self.prompt = dialog
        dialog.open()

    def _answer(self, key: str, secret: str | None) -> None:
        if secret:
            self._cache[key] = secret
        for callback in self._waiting.pop(key, []):
            callback(secret or None)
