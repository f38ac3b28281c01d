"""The remembered server versions: a hint file that may be missing, damaged or unwritable."""

from __future__ import annotations

from pathlib import Path

import pytest

from recovery_console.engine.pg.server_versions import FILE_NAME, ServerVersions

URL = "postgresql://app@db.internal:5432/shop"


def test_remembered_per_url_and_kept_across_instances(tmp_path: Path) -> None:
    versions = ServerVersions(tmp_path / "data")
    assert versions.get(URL) is None
    versions.remember(URL, "15.18 (Debian 15.18-0+deb12u1)")
    versions.remember(URL + "2", "17.2")
    again = ServerVersions(tmp_path / "data")
    assert again.get(URL) == "15.18 (Debian 15.18-0+deb12u1)" and again.get(URL + "2") == "17.2"
    again.remember(URL, "16.1")
    assert ServerVersions(tmp_path / "data").get(URL) == "16.1"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [FILE_NAME]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"postgresql://x/y": 15}'])
def test_a_damaged_file_is_no_hint_and_is_rewritten(tmp_path: Path, content: str) -> None:
    (tmp_path / FILE_NAME).write_text(content)
    versions = ServerVersions(tmp_path)
    assert versions.get("postgresql://x/y") is None
    versions.remember(URL, "15.1")
    assert versions.get(URL) == "15.1"


def test_a_folder_that_cannot_be_made_only_loses_the_hint(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    versions = ServerVersions(tmp_path / "data")
    versions.remember(URL, "15.1")
    assert versions.get(URL) is None
