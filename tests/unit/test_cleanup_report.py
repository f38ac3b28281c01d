"""A clean-up's report: whatever a journal recorded is reported, each outcome on its own."""

from __future__ import annotations

import pytest

from recovery_console.engine.restore_cleanup import CleanupReport


@pytest.mark.parametrize("report", [
    CleanupReport(dropped=["db__restore_1"]), CleanupReport(not_dropped=[("db__restore_1", "server unreachable")]),
    CleanupReport(moved=[("db__restore_1", "db", "db")]), CleanupReport(gone=["db__restore_1"]),
    CleanupReport(finished=["new_db"])], ids=["dropped", "not dropped", "moved", "gone", "finished"])
def test_each_outcome_alone_counts_as_found_and_has_its_line(report):
    assert report.found_any
    assert report.lines() != ["Nothing was left behind by earlier restores."]


def test_an_empty_report_says_nothing_was_left():
    assert not CleanupReport().found_any
    assert CleanupReport().lines() == ["Nothing was left behind by earlier restores."]


def test_a_copy_renamed_by_someone_else_is_left_alone_and_named():
    report = CleanupReport(moved=[("db__restore_1", "kept_by_hand", "db")])
    assert report.lines() == ["db__restore_1 is named kept_by_hand now; left alone."]
