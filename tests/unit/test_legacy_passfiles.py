"""Passfile folders an older release left in the temp folder are removed when a console starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recovery_console.engine.state.runtime_dir import sweep_legacy_passfiles


def test_this_users_leftover_passfiles_go_and_nothing_else(tmp_path: Path) -> None:
    leaked = tmp_path / "rc-pgpass-k2j3"
    leaked.mkdir()
    (leaked / "pgpass").write_text("*:*:*:*:hunter2\n")
    unrelated = tmp_path / "rc-other"
    unrelated.mkdir()
    bait = tmp_path / "bait"
    bait.mkdir()
    (bait / "keep").write_text("x")
    (tmp_path / "rc-pgpass-link").symlink_to(bait)
    assert sweep_legacy_passfiles(tmp_path) == [leaked]
    assert not leaked.exists() and unrelated.exists() and (bait / "keep").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a folder another user owns")
def test_another_users_folder_is_left_alone(tmp_path: Path) -> None:
    theirs = tmp_path / "rc-pgpass-theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    assert sweep_legacy_passfiles(tmp_path) == [] and theirs.exists()
