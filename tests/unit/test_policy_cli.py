"""The #16 commands end to end without a database: set-policy/show, run-due with nothing due, history, health,
schedule install/status/uninstall, and the space guard's quota measure on a real local target."""

from __future__ import annotations

import json
import os

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.os_schedule.installer import UNIT_DIR_ENV
from recovery_console.engine.space_guard import shortfall
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.engine.storage.local import LocalStorage
from recovery_console.models.policy import MB


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.fixture
def prod(tmp_path, capsys, monkeypatch):
    for name in ("vault", "offsite"):
        (tmp_path / name).mkdir()
        assert run(capsys, "target", "add", "local", name, str(tmp_path / name))[0] == 0
    monkeypatch.setenv("PROD_URL", "postgresql://backup@db.internal/app")
    assert run(capsys, "profile", "create", "prod", "--database-url-env", "PROD_URL", "--target", "vault")[0] == 0
    return "prod"


def test_set_policy_then_show_gives_the_summary_and_the_next_run(capsys, prod):
    code, data = run(capsys, "profile", "set-policy", "prod", "--schedule", "weekly", "--weekday", "sun",
                     "--at", "02:30", "--timezone", "Europe/Berlin", "--keep-daily", "14", "--keep-weekly", "8",
                     "--copy-to", "offsite", "--min-free", "1GB", "--rpo", "2d")
    assert code == 0
    assert data["policy_summary"] == ("Weekly on Sunday at 02:30 Europe/Berlin · keep 14 daily, 8 weekly · "
                                      "copy to offsite · min 1 GB free")
    code, shown = run(capsys, "profile", "show", "prod")
    assert code == 0 and shown["policy"]["rpo_hours"] == 48 and shown["next_run"].endswith("+00:00")
    assert main(["profile", "show", "prod"]) == 0
    text = capsys.readouterr().out
    assert "Policy    Weekly on Sunday at 02:30 Europe/Berlin" in text and "Next run  " in text
    code, data = run(capsys, "profile", "set-policy", "prod", "--keep-daily", "0", "--no-copy", "--disable")
    assert data["policy_summary"].startswith("Paused (weekly on Sunday at 02:30 Europe/Berlin) · keep 8 weekly · "
                                             "min 1 GB free")


@pytest.mark.parametrize(("argv", "message"), [
    (("--at", "24:00"), "is not a time of day"), (("--timezone", "Moon/Base"), "Unknown time zone"),
    (("--copy-to", "vault"), "the profile's own target"), (("--copy-to", "nowhere"), "nowhere"),
])
def test_set_policy_refuses_with_a_plain_error(capsys, prod, argv, message):
    code, data = run(capsys, "profile", "set-policy", "prod", "--schedule", "daily", *argv)
    assert code != 0 and message in data["error"]["message"]


def test_run_due_history_health_and_schedule_without_anything_due(capsys, prod, tmp_path, monkeypatch):
    monkeypatch.setenv(UNIT_DIR_ENV, str(tmp_path / "units"))
    run(capsys, "profile", "set-policy", "prod", "--schedule", "daily", "--at", "02:00")
    code, data = run(capsys, "run-due")
    assert code == 0 and [(r["profile"], r["result"]) for r in data["runs"]] == [("prod", "not due")]
    assert run(capsys, "history")[1] == {"runs": []}
    code, data = run(capsys, "health")
    assert code == 0 and data["profiles"][0]["status"] == "red" and data["profiles"][0]["next_run"]
    code, data = run(capsys, "schedule", "install")
    assert code == 0 and data["installed"][0]["scheduler"] == "systemd"
    assert sorted(os.listdir(tmp_path / "units")) == ["recovery-console-run-due-prod.service",
                                                      "recovery-console-run-due-prod.timer"]
    code, data = run(capsys, "schedule", "status", "--profile", "prod")
    status = data["schedules"][0]
    assert (status["installed"], status["current"]) == (True, True) and status["next_elapse"]
    assert run(capsys, "schedule", "uninstall")[0] == 0 and os.listdir(tmp_path / "units") == []
    code, data = run(capsys, "run-due", "--profile", "nobody")
    assert code == 5 and "nobody" in data["error"]["message"]


def test_the_space_guard_measures_what_is_left_of_a_quota(tmp_path):
    storage = LocalStorage("vault", tmp_path, quota=600 * MB)
    (tmp_path / "backups").mkdir()
    with open(tmp_path / "backups" / "old.enc", "wb") as sparse:
        sparse.truncate(200 * MB)  # counted at its size, stored as a hole
    reason = shortfall(storage, estimate=10 * MB, minimum=500 * MB)
    assert reason == "400 MB left of the 600 MB quota < 500 MB minimum"
    reason = shortfall(storage, estimate=150 * MB, minimum=300 * MB)
    assert reason == ("400 MB left of the 600 MB quota, a backup of about 150 MB would leave 250 MB "
                      "< 300 MB minimum")
    assert shortfall(storage, estimate=50 * MB, minimum=300 * MB) is None


def test_history_lists_every_run_with_its_trigger_result_and_reason(capsys, prod, tmp_path):
    history = RunHistory(AppPaths.default())
    skipped = RunRecord.start("scheduled", "prod", "vault", "2026-12-02T02:00:01Z", "2026-12-02T02:00:00Z")
    history.append(skipped)
    history.append(skipped.finished("skipped", 0.4, reason="312 MB free < 500 MB minimum"))
    copied = RunRecord.start("replication", "prod", "offsite", "2026-12-03T02:01:10Z", None)
    history.append(copied.finished("ok", 3.2, bytes=12_345_678, backup_id="b" * 32))
    history.append(RunRecord.start("prune", "other", "vault", "2026-12-03T02:02:00Z", None).finished("ok", 0.1))
    code, data = run(capsys, "history", "--profile", "prod")
    assert code == 0
    assert [(r["trigger"], r["target"], r["started"], r["result"], r["bytes"], r["reason"], r["duration"])
            for r in data["runs"]] == [
        ("scheduled", "vault", "2026-12-02T02:00:01Z", "skipped", 0, "312 MB free < 500 MB minimum", 0.4),
        ("replication", "offsite", "2026-12-03T02:01:10Z", "ok", 12_345_678, "", 3.2)]
    assert len(run(capsys, "history")[1]["runs"]) == 3
    assert main(["history", "--last", "1"]) == 0
    out = capsys.readouterr().out
    assert "prune" in out and "other" in out and "skipped" not in out
    assert main(["history", "--profile", "prod"]) == 0
    assert "skipped: 312 MB free < 500 MB minimum" in capsys.readouterr().out


def test_show_says_when_a_missed_run_is_due_now(capsys, prod):
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from recovery_console.cli.common import console

    assert run(capsys, "profile", "set-policy", "prod", "--schedule", "hourly", "--at", "0")[0] == 0
    assert run(capsys, "profile", "show", "prod")[1]["due_now"] is None  # slots before the policy are not missed
    store = console().profiles.store
    profiles = store.load()
    earlier = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    profile = profiles["prod"]
    profiles["prod"] = dataclasses.replace(profile, policy=dataclasses.replace(profile.policy, since=earlier))
    store.save(profiles)
    shown = run(capsys, "profile", "show", "prod")[1]
    assert shown["due_now"] is not None and shown["due_now"] < shown["next_run"]
    assert main(["profile", "show", "prod"]) == 0
    assert "the next run-due makes it up" in capsys.readouterr().out
