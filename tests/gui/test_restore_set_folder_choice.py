"""A folder member's choice in the set restore wizard: in place where the set knows the folder, only a new folder for
one imported from a tar file (its folder unknown: never the working directory)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from recovery_console.engine.sets.manifest import ManifestMember
from recovery_console.ui.wizards.restore_set_pages import FolderChoice

pytestmark = pytest.mark.gui


class _Page:
    """What a FolderChoice calls back: the members page's re-check of the choices."""

    def __init__(self) -> None:
        self.changes = 0

    def choices_changed(self) -> None:
        self.changes += 1


def _member(folder: str | None) -> ManifestMember:
    return ManifestMember(3, "folder", "vault", "03-folder.enc", "id-3", 100, "0" * 64, 300, "0" * 64,
                          "2026-12-07T02:00:01Z", "2026-12-07T02:00:09Z", folder=folder)


def test_a_known_folder_is_restored_in_place_by_default(qtbot, tmp_path):
    choice = FolderChoice(_Page(), _member(str(tmp_path / "vault")))  # type: ignore[arg-type]
    qtbot.addWidget(choice)
    assert choice.in_place.isEnabled() and choice.in_place.isChecked() and choice.destination() is None
    assert str(tmp_path / "vault") in choice.in_place.text()


def test_an_imported_folder_offers_only_a_new_folder(qtbot, tmp_path):
    page = _Page()
    choice = FolderChoice(page, _member(None))  # type: ignore[arg-type]
    qtbot.addWidget(choice)
    choice.show()
    choice.sync()
    assert not choice.in_place.isEnabled() and choice.new_folder.isChecked()
    assert "Not possible" in choice.in_place_note.text() and "vault_restored" in choice.path_edit.placeholderText()
    qtbot.mouseClick(choice.in_place, Qt.MouseButton.LeftButton)  # a disabled button takes no click
    assert choice.new_folder.isChecked()
    choice.setEnabled(False)  # the page greys a member left out, then brings it back
    choice.setEnabled(True)
    assert not choice.in_place.isEnabled()
    qtbot.keyClicks(choice.path_edit, str(tmp_path / "back"))
    assert choice.destination() == tmp_path / "back" and page.changes > 0
