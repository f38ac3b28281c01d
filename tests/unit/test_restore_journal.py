"""Restore journals: written at each step, kept only while they record something left to drop."""

from __future__ import annotations

import json

from recovery_console.engine.state import restore_journal
from recovery_console.engine.state.paths import AppPaths


def test_a_journal_is_kept_while_it_records_a_database_and_removed_when_nothing_is_left(tmp_path):
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    journal = restore_journal.begin(paths, "prod", "big", "server/big")
    assert journal.path.parent == restore_journal.journal_dir(paths) and journal.path.exists()
    journal.will_create("big__restore_1")
    assert json.loads(journal.path.read_text())["creating"] == "big__restore_1"
    journal.made("big__restore_1", 4242)
    journal.finish("failed", "server unreachable")
    [found] = restore_journal.pending(paths, "prod")
    assert found.created == {"big__restore_1": 4242} and found.creating is None
    assert (found.state, found.problem) == ("failed", "server unreachable")
    assert restore_journal.pending(paths, "other") == []
    found.handed_over("big__restore_1")
    found.finish("failed")
    assert not found.path.exists() and restore_journal.pending(paths) == []


def test_an_unconfirmed_creation_keeps_the_journal_and_an_unreadable_one_is_skipped(tmp_path):
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    journal = restore_journal.begin(paths, "prod", "big", "server/big")
    journal.will_create("big__restore_2")
    journal.finish("failed")
    assert [j.leftovers for j in restore_journal.pending(paths)] == [["big__restore_2"]]
    (restore_journal.journal_dir(paths) / "0-broken.json").write_text("{not json")
    assert len(restore_journal.pending(paths)) == 1
