"""Crash reports: private, complete, bounded in number, and never a second crash."""

from __future__ import annotations

from pathlib import Path

from recovery_console.engine.state import crash_reports
from recovery_console.engine.state.paths import AppPaths


def raised() -> BaseException:
    try:
        {}["missing"]
    except KeyError as exc:
        return exc
    raise AssertionError("unreachable")


def test_a_report_holds_the_traceback_privately(tmp_path: Path) -> None:
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    path = crash_reports.write_crash_report(raised(), "recovery-console gui", paths)
    assert path is not None and path.parent == tmp_path / "data" / "crash-reports"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    text = path.read_text("utf-8")
    assert "context   recovery-console gui" in text and "Traceback (most recent call last)" in text
    assert "KeyError: 'missing'" in text and "in raised" in text
    assert crash_reports.summary(raised()) == "KeyError: 'missing'"


def test_only_the_newest_reports_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(crash_reports, "KEEP", 3)
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    written = [crash_reports.write_crash_report(raised(), str(n), paths) for n in range(5)]
    assert sorted(crash_reports.crash_folder(paths).iterdir()) == written[-3:]


def test_an_unwritable_data_folder_gives_none(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    paths = AppPaths(config_dir=tmp_path / "config", data_dir=blocker)
    assert crash_reports.write_crash_report(raised(), "", paths) is None
