"""The window's error dialog shows each engine hint as written for the window, never the CLI's phrasing."""

from __future__ import annotations

import pytest

from recovery_console.errors import NotFoundError, RecoveryError
from recovery_console.ui.error_dialog import error_box
from tests.unit.test_gui_hints import names_the_cli, shown_texts

pytestmark = pytest.mark.gui


def test_the_dialog_shows_the_plain_hint_and_never_the_cli_one(qtbot) -> None:
    error = NotFoundError("Target 'vault' holds no backup 1234.", hint="Refresh the backup list of target 'vault'.",
                          cli_hint="`backup list --target vault` shows its backups and their keys.")
    box = error_box(None, "Verify", error)
    assert "Refresh the backup list" in box.informativeText() and "backup list --target" not in box.informativeText()


def test_every_engine_hint_as_the_dialog_renders_it_names_no_cli_command(qtbot) -> None:
    texts = {text for _, text in shown_texts()}
    assert len(texts) > 100  # the walk reached the engine's hints
    rendered = [error_box(None, "Action", RecoveryError("What happened.", hint=text)).informativeText()
                for text in texts]
    assert [text for text in rendered if names_the_cli(text)] == []
