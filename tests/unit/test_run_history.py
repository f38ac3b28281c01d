"""The run history (engine/state/run_history.py): latest state per run, torn lines, interrupted runs."""

from __future__ import annotations

import subprocess
import sys

from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.run_history import RunHistory, RunRecord


def _history(tmp_path) -> RunHistory:
    return RunHistory(AppPaths(tmp_path / "config", tmp_path / "data"))


def test_a_run_is_read_in_its_last_state_and_each_profile_apart(tmp_path):
    history = _history(tmp_path)
    first = RunRecord.start("scheduled", "prod", "vault", "2026-12-01T02:00:00Z", "2026-12-01T02:00:00Z")
    history.append(first)
    history.append(RunRecord.start("manual", "test", "vault", "2026-12-01T03:00:00Z", None))
    history.append(first.finished("skipped", 0.4, reason="312 MB free < 500 MB minimum"))
    runs = history.records()
    assert [(r.profile, r.result) for r in runs] == [("prod", "skipped"), ("test", "running")]
    assert history.records("prod")[0].reason == "312 MB free < 500 MB minimum"
    assert (tmp_path / "data" / "runs.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_torn_last_line_is_skipped_and_the_next_line_starts_clean(tmp_path):
    history = _history(tmp_path)
    history.append(RunRecord.start("scheduled", "prod", "vault", "2026-12-01T02:00:00Z", None).finished("ok", 3))
    with open(history.file, "ab") as handle:
        handle.write(b'{"run_id": "torn", "trig')  # a crash in the middle of a write
    history.append(RunRecord.start("prune", "prod", "vault", "2026-12-02T02:00:00Z", None).finished("ok", 1))
    assert [r.trigger for r in history.records()] == ["scheduled", "prune"]


def test_a_running_entry_of_a_process_that_is_gone_reads_as_interrupted(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    history = _history(tmp_path)
    record = RunRecord.start("scheduled", "prod", "vault", "2026-12-01T02:00:00Z", None)
    history.append(record.__class__(**{**record.as_dict(), "pid": int(dead.stdout)}))
    history.append(RunRecord.start("scheduled", "live", "vault", "2026-12-01T02:00:01Z", None))
    assert [(r.profile, r.result) for r in history.records()] == [("prod", "interrupted"), ("live", "running")]
