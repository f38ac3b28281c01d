"""The session settings pg_restore runs with (engine/pg/restore_session.py), and the timing spans."""

from __future__ import annotations

import logging

import pytest

from recovery_console.engine import timing
from recovery_console.engine.pg.restore_session import RESTORE_SORT_BUDGET_KB, session_options, with_session_options


def test_one_job_gets_the_whole_sort_budget_and_asynchronous_commits() -> None:
    expected = f"-c synchronous_commit=off -c maintenance_work_mem={RESTORE_SORT_BUDGET_KB}kB"
    assert session_options(64 * 1024, 1) == expected


def test_jobs_share_the_sort_budget() -> None:
    assert session_options(64 * 1024, 2).endswith(f"-c maintenance_work_mem={RESTORE_SORT_BUDGET_KB // 2}kB")


def test_a_server_giving_more_already_keeps_its_own_setting() -> None:
    assert session_options(1024 * 1024, 1) == "-c synchronous_commit=off"
    assert session_options(64 * 1024, 8) == "-c synchronous_commit=off"  # 32 MB each would be less than 64


def test_an_unknown_server_setting_is_left_alone() -> None:
    assert session_options(None, 1) == "-c synchronous_commit=off"


def test_the_users_pgoptions_come_last_so_they_win() -> None:
    env = with_session_options({"PGOPTIONS": " -c synchronous_commit=on ", "X": "1"}, "-c synchronous_commit=off")
    assert env == {"PGOPTIONS": "-c synchronous_commit=off -c synchronous_commit=on", "X": "1"}
    assert with_session_options({}, "-c a=b") == {"PGOPTIONS": "-c a=b"}


def test_a_span_logs_its_time_even_when_the_block_fails(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=timing.__name__)
    with pytest.raises(ValueError), timing.span("step"):
        raise ValueError
    (record,) = caplog.records
    assert record.getMessage().startswith("span step ")
    assert " cpu self=" in record.getMessage()


def test_timed_keeps_the_result_and_logs_nothing_unless_debugging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=timing.__name__)
    assert timing.timed("double")(lambda x: 2 * x)(21) == 42
    assert not caplog.records
