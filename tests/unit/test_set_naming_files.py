"""Which names are a set's own files and which folder is a set's (FORMAT.md 19.2): only those are ever removed."""

from __future__ import annotations

import pytest

from recovery_console.engine.sets.set_naming import is_set_file, is_set_folder

FOLDER = "sets/rc_set_20261207-15-00-00-1.2.0-manual-0123abcd/"


@pytest.mark.parametrize("name", ["01-database.enc", "01-database.enc.sha256", "12-folder.enc", "103-folder.enc",
                                  "manifest.enc", "manifest.enc.sha256"])
def test_a_sets_own_names(name):
    assert is_set_file(name)


@pytest.mark.parametrize("name", ["notes.txt", ".DS_Store", ".rc-part-0123", "1-database.enc", "01-other.enc",
                                  "manifest.enc.bak", "sub/01-database.enc", "01-database.enc.sha256.sha256", ""])
def test_names_a_set_never_writes(name):
    assert not is_set_file(name)


def test_only_a_sets_own_folder_is_a_set_folder():
    assert is_set_folder(FOLDER)
    for other in ("sets/", "backups/", FOLDER.rstrip("/"), FOLDER + "sub/", "sets/rc_set_x/", "other/" + FOLDER,
                  FOLDER.replace("manual", "nightly")):
        assert not is_set_folder(other), other
