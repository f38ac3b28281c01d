"""A profile's recovery-set members (#18): the model, the engine's checks, the CLI and the audit, no server needed."""

from __future__ import annotations

import json

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.state.config_bundle import ConfigDocument, read_document, write_document
from recovery_console.engine.state.profile_members import ProfileMembers, member_password_name
from recovery_console.errors import ExitCode, NotFoundError, UsageError
from recovery_console.models.profile import ConnectionMode, MemberKind, Profile, ProfileMember

URL = "postgresql://app@db.internal:5432/app"


@pytest.fixture
def keyring_dict(console, monkeypatch) -> dict:
    stored: dict = {}
    monkeypatch.setattr(console.secrets, "put", lambda scope, name, value: stored.__setitem__((scope, name), value))
    monkeypatch.setattr(console.secrets, "get", lambda scope, name: stored.get((scope, name)))
    monkeypatch.setattr(console.secrets, "delete", lambda scope, name: stored.pop((scope, name), None))
    return stored


@pytest.fixture
def members(console, keyring_dict) -> ProfileMembers:
    console.profiles.create("records", URL)
    return ProfileMembers(console.profiles)


def test_a_profile_without_members_is_stored_as_before(console, keyring_dict):
    profile = console.profiles.create("plain", URL)
    assert "members" not in profile.to_dict() and not profile.has_members
    assert '"members"' not in console.profiles.store.file.read_text()
    assert Profile.from_dict(profile.to_dict()) == profile


def test_members_are_added_checked_stored_and_removed(console, members, keyring_dict, tmp_path):
    vault = tmp_path / "vault ✓"
    vault.mkdir()
    members.add_database("records", "results", "postgresql://bob:hunter2@db2:5433/results",
                         mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    profile = members.add_folder("records", "vault", str(vault))
    assert [(m.name, m.kind) for m in profile.members] == [("results", MemberKind.DATABASE),
                                                           ("vault", MemberKind.FOLDER)]
    text = console.profiles.store.file.read_text()
    assert "hunter2" not in text and keyring_dict[("profile:records", member_password_name("results"))] == "hunter2"
    reread = console.profiles.store.get("records")
    assert reread == profile and reread.members[0].database_url == "postgresql://bob@db2:5433/results"
    assert reread.member_connection(reread.members[0]).dump_url() == "postgresql://bob@db2:5433/results"
    assert members.password(reread, reread.members[0]) == "hunter2"

    removed = members.remove("records", "results")
    assert [m.name for m in removed.members] == ["vault"]
    assert ("profile:records", member_password_name("results")) not in keyring_dict
    assert member_password_name("results") not in removed.stored_secrets
    actions = [(e.action, e.object, e.result) for e in console.audit.entries()][-3:]
    assert actions == [("profile.member-add", "records/results", "ok"), ("profile.member-add", "records/vault", "ok"),
                       ("profile.member-remove", "records/results", "ok")]


def test_pool_mode_members_keep_their_direct_url(members):
    profile = members.add_database("records", "pooled", "postgresql://app@bouncer:6432/app", mode=ConnectionMode.POOL,
                                   direct_url="postgresql://app@db:5432/app")
    member = profile.members[0]
    assert profile.member_connection(member).dump_url() == "postgresql://app@db:5432/app"


@pytest.mark.parametrize("name", ["main", "a b", "", "..", "x" * 65, "a/b"])
def test_bad_or_taken_member_names_are_refused(members, tmp_path, name):
    with pytest.raises(UsageError):
        members.add_folder("records", name, str(tmp_path))


def test_refusals_say_why(members, tmp_path):
    members.add_folder("records", "vault", str(tmp_path))
    with pytest.raises(UsageError, match="already has a member"):
        members.add_folder("records", "vault", str(tmp_path / "x"))
    with pytest.raises(UsageError, match="overlaps"):
        (tmp_path / "inner").mkdir()
        members.add_folder("records", "inner", str(tmp_path / "inner"))
    with pytest.raises(NotFoundError):
        members.add_folder("records", "gone", str(tmp_path.parent / "does-not-exist"))
    (tmp_path.parent / "link").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="symbolic link"):
        members.add_folder("records", "linked", str(tmp_path.parent / "link"))
    with pytest.raises(UsageError, match="acknowledgement"):
        members.add_database("records", "db2", URL, mode=ConnectionMode.DIRECT)
    with pytest.raises(UsageError, match="Say how"):
        members.add_database("records", "db2", URL, mode=ConnectionMode.UNDECLARED)
    with pytest.raises(UsageError, match="own database"):
        members.remove("records", "main")
    with pytest.raises(NotFoundError):
        members.remove("records", "nobody")
    failed = [e for e in members.profiles.audited.__self__.audit.entries() if e.result == "failed"]
    assert len(failed) == 8


def test_the_cli_adds_lists_shows_and_removes_members(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RC_TEST_URL", URL)
    assert main(["profile", "create", "records", "--database-url-env", "RC_TEST_URL"]) == ExitCode.OK
    vault = tmp_path / "vault"
    vault.mkdir()
    assert main(["profile", "member", "add", "records", "--folder", "vault", "--path", str(vault)]) == ExitCode.OK
    assert main(["profile", "member", "add", "records", "--database", "results", "--url",
                 "postgresql://app@db2/results", "--mode", "direct", "--not-a-pooler"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["profile", "show", "records"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "main" in out and f"vault            folder    {vault}" in out and "results          database" in out
    assert main(["profile", "member", "add", "records", "--database", "x", "--url",
                 "postgresql://app:pw@db2/results", "--mode", "direct", "--not-a-pooler"]) == ExitCode.USAGE
    assert "environment variable" in capsys.readouterr().err
    assert main(["profile", "member", "remove", "records", "vault", "--json"]) == ExitCode.OK
    assert [m["name"] for m in json.loads(capsys.readouterr().out)["members"]] == ["results"]
    assert main(["profile", "member", "list", "records", "--json"]) == ExitCode.OK
    assert [m["name"] for m in json.loads(capsys.readouterr().out)["members"]] == ["results"]


def test_members_and_their_passwords_travel_in_a_sealed_configuration_document(tmp_path):
    profile = Profile("records", URL, stored_secrets=(member_password_name("results"),), members=(
        ProfileMember("results", MemberKind.DATABASE, database_url="postgresql://app@db2/results",
                      mode=ConnectionMode.DIRECT, direct_acknowledged=True),
        ProfileMember("vault", MemberKind.FOLDER, path="/srv/app/vault ✓")))
    secrets = {"profile:records": {member_password_name("results"): "hunter2"}}
    document = ConfigDocument(targets=[], profiles=[profile], secrets=secrets, exported_at="2026-12-07T05:00:00Z",
                              exported_by="ops@a", sealed=True)
    path = tmp_path / "config.rcx"
    write_document(document, path, "lantern orbit 42 velvet-crane", iterations=1000)
    back = read_document(path, "lantern orbit 42 velvet-crane")
    assert back.profiles[0].members == profile.members and back.secrets == secrets


def test_a_database_already_in_the_set_is_refused_however_its_url_is_written(console, members):
    """An attacker's find: the profile's own database added again as a member; the set's rollback then rolled one
    database back twice and left the backup's data in place while saying 'back as it was'."""
    with pytest.raises(UsageError, match="'again' is the same database as member 'main' .the profile's own"):
        members.add_database("records", "again", "postgresql://other-user:pw@DB.internal/app?sslmode=require",
                             mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    console.profiles.create("local", "postgresql://app@localhost/app")
    with pytest.raises(UsageError, match="same database as member 'main'"):
        members.add_database("local", "again", "host=127.0.0.1 port=5432 dbname=app", mode=ConnectionMode.DIRECT,
                             acknowledge_direct=True)
    members.add_database("records", "results", "postgresql://app@db.internal:5432/results",
                         mode=ConnectionMode.DIRECT, acknowledge_direct=True)
    with pytest.raises(UsageError, match="same database as member 'results'"):
        members.add_database("records", "pooled", "postgresql://app@bouncer:6432/results", mode=ConnectionMode.POOL,
                             direct_url="postgresql://app@db.internal/results")
    members.add_database("records", "other-port", "postgresql://app@db.internal:5433/app", mode=ConnectionMode.DIRECT,
                         acknowledge_direct=True)  # another server on the same host: another database


def test_a_folder_holding_the_profiles_local_target_or_inside_it_is_refused(console, members, tmp_path):
    from recovery_console.models.target import TargetConfig

    vault = tmp_path / "vault"
    (vault / "backups").mkdir(parents=True)
    console.add_target(TargetConfig(name="inside", kind="local", options={"path": str(vault / "backups")}))
    console.profiles.create("nested", URL, target="inside")
    with pytest.raises(UsageError, match="overlaps the profile's target 'inside'"):
        members.add_folder("nested", "vault", str(vault))
    with pytest.raises(UsageError, match="overlaps the profile's target"):
        members.add_folder("nested", "sets", str(vault / "backups"))
    (tmp_path / "elsewhere").mkdir()
    members.add_folder("nested", "elsewhere", str(tmp_path / "elsewhere"))
