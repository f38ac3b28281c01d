"""Health per profile: last success, last failure and why, next run, and the newest fully verified backup
against the recovery-point objective — green within it, amber past it, red past twice it or with no
verified backup at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from recovery_console.engine.console import Console
from recovery_console.engine.container.naming import parse_created_at
from recovery_console.engine.schedule_times import next_run
from recovery_console.engine.sets.set_catalog import COMPLETE, SetCatalog, SetRecord
from recovery_console.engine.state.locks import database_identity
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.errors import RecoveryError
from recovery_console.models.backup import BackupRecord
from recovery_console.models.policy import DEFAULT_RPO_HOURS
from recovery_console.models.profile import Profile

FAILED = ("failed", "skipped", "interrupted", "busy")


@dataclass(frozen=True)
class ProfileHealth:
    profile: str
    policy: str | None
    status: str
    last_success: RunRecord | None
    last_failure: RunRecord | None
    next_run: datetime | None
    verified_at: datetime | None
    """Creation time of the newest backup of the database that passed a full verify (on any of its targets)."""
    rpo_hours: int

    def age_at(self, now: datetime) -> float | None:
        return None if self.verified_at is None else (now - self.verified_at).total_seconds() / 3600

    def as_dict(self, now: datetime) -> dict[str, object]:
        return {"profile": self.profile, "policy": self.policy, "status": self.status,
                "last_success": self.last_success.as_dict() if self.last_success else None,
                "last_failure": self.last_failure.as_dict() if self.last_failure else None,
                "next_run": self.next_run.isoformat() if self.next_run else None,
                "newest_verified_backup": self.verified_at.isoformat() if self.verified_at else None,
                "verified_age_hours": None if self.verified_at is None else round(self.age_at(now) or 0, 2),
                "rpo_hours": self.rpo_hours}


def rpo_status(age_hours: float | None, rpo_hours: int) -> str:
    if age_hours is None or age_hours > 2 * rpo_hours:
        return "red"
    return "green" if age_hours <= rpo_hours else "amber"


def profile_health(console: Console, profile: Profile, history: list[RunRecord], now: datetime) -> ProfileHealth:
    policy = profile.policy
    rpo = policy.rpo_hours if policy else DEFAULT_RPO_HOURS
    verified = _newest_verified(console, profile)
    age = None if verified is None else (now - verified).total_seconds() / 3600
    return ProfileHealth(
        profile=profile.name, policy=policy.summary() if policy else None, status=rpo_status(age, rpo),
        last_success=next((r for r in reversed(history) if r.result == "ok"), None),
        last_failure=next((r for r in reversed(history) if r.result in FAILED), None),
        next_run=next_run(policy.schedule, now) if policy and policy.scheduled else None,
        verified_at=verified, rpo_hours=rpo)


def health(console: Console, now: datetime | None = None) -> list[ProfileHealth]:
    """Every profile's health, from the run history and the catalog (no target is contacted)."""
    now = now or datetime.now(UTC)
    records = RunHistory(console.paths).records()
    return [profile_health(console, profile, [r for r in records if r.profile == profile.name], now)
            for profile in console.profiles.store.load().values()]


def failures_since(console: Console, since: datetime) -> list[RunRecord]:
    """Runs that ended badly after `since` (what the desktop console points out when it opens)."""
    return [r for r in RunHistory(console.paths).records()
            if r.result in FAILED and parse_created_at(r.started) > since]


def _newest_verified(console: Console, profile: Profile) -> datetime | None:
    targets = [t for t in (profile.target, *(profile.policy.secondary_targets if profile.policy else ())) if t]
    try:
        database = database_identity(profile.direct_url or profile.database_url).split("/", 1)[-1]
        names = [console.targets.resolve(t).name for t in targets]
        backups = console.catalog.records(names)
    except RecoveryError:
        return None
    times = [_created(b) for b in backups if _fully_verified(b) and b.metadata and b.metadata.database == database]
    if profile.has_members:  # its backups are recovery sets
        times += [_set_created(s) for s in SetCatalog(console.catalog).records(names) if s.state == COMPLETE and
                  s.verify_result == "ok" and s.verify_detail == "full" and s.manifest and
                  s.manifest.profile == profile.name]
    return max((t for t in times if t is not None), default=None)


def _set_created(record: SetRecord) -> datetime | None:
    try:
        return parse_created_at(record.manifest.created_at) if record.manifest else None
    except RecoveryError:
        return None


def _fully_verified(backup: BackupRecord) -> bool:
    return backup.verify_result == "ok" and backup.verify_detail == "full" and not backup.verify_changed


def _created(backup: BackupRecord) -> datetime | None:
    text = backup.metadata.created_at if backup.metadata else backup.created
    try:
        return parse_created_at(text) if text else None
    except RecoveryError:
        return None
