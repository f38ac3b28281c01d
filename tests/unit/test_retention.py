"""Retention planning (engine/retention.py) over a hand-computed 40-day series: restic's bucket semantics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from recovery_console.engine.retention import PlanLine, plan_prune
from recovery_console.engine.sets.set_catalog import COMPLETE, SetRecord
from recovery_console.models.backup import BackupRecord
from recovery_console.models.retention import RetentionRules


def record(when: datetime, **extra: object) -> BackupRecord:
    stamp = when.strftime("%Y%m%d-%H-%M-%S")
    short = f"{int(when.timestamp()) % 16**8:08x}"
    return BackupRecord(short_id=short, target="vault", key=f"backups/rc_backup_{stamp}-0.1.0-scheduled-{short}.enc",
                        size=1, mtime=0.0, created=when.isoformat().replace("+00:00", "Z"), **extra)  # type: ignore[arg-type]


def at(day: str, hour: int = 2) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def series() -> list[BackupRecord]:
    """One backup a day at 02:00 from 2026-10-23 to 2026-12-01 (40 days), none on Nov 25 and 26, and two extra
    (Nov 29 20:00, Dec 1 14:00): 40 backups."""
    days = [at("2026-10-23") + timedelta(days=n) for n in range(40)]
    days = [d for d in days if d.day not in (25, 26) or d.month != 11]
    return [record(d) for d in days + [at("2026-11-29", 20), at("2026-12-01", 14)]]


# Hand-computed: Dec 1 2026 is a Tuesday, so ISO week 49 is Nov 30 - Dec 6, W48 Nov 23-29, W47 Nov 16-22.
# The five days with backups, newest first, are Dec 1, Nov 30, 29, 28, 27 (25 and 26 have none and do not count).
EXPECTED_KEPT = {
    "2026-12-01T14:00:00Z": "keep (last 3, daily 2026-12-01, weekly 2026-W49, monthly 2026-12)",
    "2026-12-01T02:00:00Z": "keep (last 3)",
    "2026-11-30T02:00:00Z": "keep (last 3, daily 2026-11-30, monthly 2026-11)",
    "2026-11-29T20:00:00Z": "keep (daily 2026-11-29, weekly 2026-W48)",
    "2026-11-28T02:00:00Z": "keep (daily 2026-11-28)",
    "2026-11-27T02:00:00Z": "keep (daily 2026-11-27)",
    "2026-11-22T02:00:00Z": "keep (weekly 2026-W47)",
    "2026-10-31T02:00:00Z": "keep (monthly 2026-10)",
}


def test_hand_computed_table_over_forty_days() -> None:
    rules = RetentionRules(keep_last=3, keep_daily=5, keep_weekly=3, keep_monthly=3)
    plan = plan_prune("vault", series(), rules)
    assert len(plan.lines) == 40
    assert [line.record.created for line in plan.lines] == sorted((r.created for r in series()), reverse=True)
    verdicts = {line.record.created: line.text for line in plan.lines}
    assert {when: text for when, text in verdicts.items() if text != "delete"} == EXPECTED_KEPT
    assert len(plan.deleted) == 32 and all(line.text == "delete" for line in plan.deleted)


def test_within_counts_from_the_newest_backup_not_from_now() -> None:
    plan = plan_prune("vault", series(), RetentionRules(keep_within_days=3))
    kept = [line.record.created for line in plan.kept]
    assert kept == ["2026-12-01T14:00:00Z", "2026-12-01T02:00:00Z", "2026-11-30T02:00:00Z",
                    "2026-11-29T20:00:00Z", "2026-11-29T02:00:00Z"]  # the limit is Nov 28 14:00
    assert plan.kept[0].text == "keep (within 3 days)"


def test_pinned_and_newest_fully_verified_survive_any_rule() -> None:
    records = series()
    oldest, verified_old, verified_new = records[0], records[5], records[9]
    records[5] = record(at("2026-10-28"), verify_result="ok", verify_detail="full")
    records[9] = record(at("2026-11-01"), verify_result="ok", verify_detail="full")
    records[12] = record(at("2026-11-04"), verify_result="ok", verify_detail="quick")
    records[13] = record(at("2026-11-05"), verify_result="ok", verify_detail="full", verify_changed=True)
    plan = plan_prune("vault", records, RetentionRules(keep_last=1), pinned={oldest.key: "case 4711"})
    verdicts = {line.record.key: line.text for line in plan.lines}
    assert verdicts[oldest.key] == "keep (pinned: case 4711)"
    assert verdicts[verified_new.key] == "keep (newest fully verified)"
    assert verdicts[verified_old.key] == "delete"
    assert verdicts[records[12].key] == verdicts[records[13].key] == "delete"  # quick, or changed since
    assert len(plan.kept) == 3


def test_no_rule_keeps_everything_and_an_undated_backup_is_kept() -> None:
    undated = BackupRecord(short_id="deadbeef", target="vault", key="backups/foreign.enc", size=1, mtime=0.0)
    plan = plan_prune("vault", [*series(), undated], RetentionRules())
    assert not plan.deleted and plan.lines[-1].text == "keep (creation time unknown)"
    assert plan.lines[0].text == "keep (no retention rule)"
    assert plan_prune("vault", [undated], RetentionRules(keep_last=1)).lines[0].keep


def test_planning_ten_thousand_backups_takes_under_a_second() -> None:
    start = at("2000-01-01")
    records = [record(start + timedelta(hours=7 * n)) for n in range(10_000)]
    began = time.perf_counter()
    plan = plan_prune("vault", records, RetentionRules(keep_last=7, keep_daily=14, keep_weekly=8, keep_monthly=24))
    assert time.perf_counter() - began < 1.0
    assert all(line.keep for line in plan.lines[:7])
    assert len(plan.kept) <= 7 + 14 + 8 + 24 and len(plan.deleted) >= 10_000 - 53


def _set(when: datetime, short: str, **extra: object) -> SetRecord:
    """A recovery set of four members as the catalog lists it: one unit, its key its folder."""
    folder = f"sets/rc_set_{when.strftime('%Y%m%d-%H-%M-%S')}-0.1.0-scheduled-{short}/"
    files = {f"0{i}-database.enc": 100 for i in range(1, 5)}
    return SetRecord("vault", folder, short, when.isoformat().replace("+00:00", "Z"), "0.1.0", "scheduled", files,
                     tuple(files), None, state=COMPLETE, **extra)  # type: ignore[arg-type]


def test_a_set_is_one_unit_among_backups_pinned_and_verified_by_its_folder() -> None:
    newest = _set(at("2026-12-03"), "5e7a0001")
    verified = _set(at("2026-12-01"), "5e7a0002", verify_result="ok", verify_detail="full")
    held = _set(at("2026-11-20"), "5e7a0003")
    units = [newest, record(at("2026-12-02")), verified, record(at("2026-11-30")), held]
    plan = plan_prune("vault", units, RetentionRules(keep_last=2), {held.key: "case 7"})
    assert [(line.record.key, line.text) for line in plan.lines] == [
        (newest.folder, "keep set (last 2)"),  # four member files, still one of the two kept
        (units[1].key, "keep (last 2)"),
        (verified.folder, "keep set (newest fully verified)"),
        (units[3].key, "delete"),
        (held.folder, "keep set (pinned: case 7)")]
    gone = PlanLine(_set(at("2026-11-01"), "5e7a0004"), note="unfinished: no manifest")
    assert not gone.keep and gone.text == "delete set (unfinished: no manifest)"


def test_what_the_pruning_run_just_made_is_kept_even_when_the_rules_would_not() -> None:
    later = [record(at("2026-12-10")), record(at("2026-12-09"))]
    made = record(at("2026-12-01"))  # the run's clock behind the target's newest backups
    plan = plan_prune("vault", [*later, made], RetentionRules(keep_last=1), made=made.key)
    assert [(line.record.key, line.text) for line in plan.lines] == [
        (later[0].key, "keep (last 1)"), (later[1].key, "delete"), (made.key, "keep (made by this run)")]
