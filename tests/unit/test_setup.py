"""save_setup: the setup wizard's one engine call saves target, profile and mode under one audit entry, or nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.setup import SetupPlan, save_setup
from recovery_console.errors import UsageError
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.target import TargetConfig

URL = "postgresql://app:db-pw@db.internal:5432/app"


@pytest.fixture
def keyring(console: Console, monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    """The console's keyring as a dict, so the secrets saved and removed can be checked."""
    stored: dict[tuple[str, str], str] = {}
    monkeypatch.setattr(console.secrets, "put", lambda scope, name, value: stored.__setitem__((scope, name), value))
    monkeypatch.setattr(console.secrets, "get", lambda scope, name: stored.get((scope, name)))
    monkeypatch.setattr(console.secrets, "delete", lambda scope, name: stored.pop((scope, name), None) is not None)
    return stored


def plan(folder: Path, **changes: Any) -> SetupPlan:
    """A direct-mode profile 'prod' with a new local target 'vault', changed by `changes`."""
    return replace(SetupPlan(name="prod", database_url=URL, instance_secret="instance!", mode=ConnectionMode.DIRECT,
                             acknowledge_direct=True, target_name="vault",
                             new_target=TargetConfig(name="vault", kind="local", options={"path": str(folder)})),
                   **changes)


def test_saves_target_profile_mode_and_secrets_under_one_setup_entry(console, keyring, tmp_path):
    profile = save_setup(console, plan(tmp_path))
    assert profile.mode is ConnectionMode.DIRECT and profile.direct_acknowledged and profile.target == "vault"
    assert console.profiles.store.get("prod").declared
    assert console.targets.get("vault").options == {"path": str(tmp_path)}
    assert keyring == {("profile:prod", "instance_secret"): "instance!", ("profile:prod", "db_password"): "db-pw"}
    entry = [e for e in console.audit.entries() if e.action == "profile.setup"]
    assert [(e.object, e.result, e.detail) for e in entry] == [("prod", "ok", {"target": "vault", "mode": "direct"})]
    assert [(e.action, e.result) for e in console.audit.entries() if e.action != "profile.setup"] == [
        ("target.add", "ok"), ("profile.create", "ok"), ("profile.set-mode", "ok")]
    assert "instance!" not in console.paths.audit_file.read_text()


def test_a_failing_mode_undoes_the_profile_and_the_new_target(console, keyring, tmp_path):
    with pytest.raises(UsageError, match="acknowledge"):
        save_setup(console, plan(tmp_path, acknowledge_direct=False))
    assert console.profiles.store.load() == {}
    assert console.targets.load() == {}
    assert keyring == {}
    failed = [e for e in console.audit.entries() if e.action == "profile.setup"]
    assert [(e.object, e.result) for e in failed] == [("prod", "failed")]
    assert [e.result for e in console.audit.entries() if e.action == "profile.set-mode"] == ["failed"]
    assert "acknowledge" in failed[0].detail["error"]
    assert [e.result for e in console.audit.entries() if e.action == "target.remove"] == ["ok"]


def test_an_existing_target_is_kept_when_the_setup_fails(console, keyring, local_target, tmp_path):
    with pytest.raises(UsageError, match="same as the pooled"):
        save_setup(console, plan(tmp_path, target_name=local_target, new_target=None, mode=ConnectionMode.POOL,
                                 acknowledge_direct=False, direct_url=URL))
    assert console.profiles.store.load() == {}
    assert list(console.targets.load()) == [local_target]
    assert keyring == {}


def test_a_taken_name_saves_nothing(console, keyring, tmp_path):
    save_setup(console, plan(tmp_path / "first", new_target=None, target_name=""))
    with pytest.raises(UsageError, match="already exists"):
        save_setup(console, plan(tmp_path))
    assert console.targets.load() == {}
    assert [e.result for e in console.audit.entries() if e.action == "profile.setup"] == ["ok", "failed"]
