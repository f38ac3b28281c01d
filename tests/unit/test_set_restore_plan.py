"""The set restore's plan and folder checks (engine/sets/set_restore.py): what is refused before anything is read or
changed, with the names the user needs (no server: the plan is pure; the folder checks look at real folders)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from recovery_console.engine.sets.manifest import ManifestMember, SetManifest
from recovery_console.engine.sets.set_catalog import COMPLETE, DAMAGED, SetRecord
from recovery_console.engine.sets.set_restore import (
    NO_ROUTE,
    MemberPreflight,
    folder_check,
    plan_set_restore,
    preflight_set_restore,
    run_set_restore,
)
from recovery_console.errors import IntegrityError, NotFoundError, UsageError


def _member(index: int, kind: str, name: str, **where: str) -> ManifestMember:
    return ManifestMember(index, kind, name, f"{index:02d}-{kind}.enc", f"id-{index}", 100, "0" * 64, 300, "0" * 64,
                          "2026-12-07T02:00:01Z", "2026-12-07T02:00:09Z", **where)


def _set(vault: Path, state: str = COMPLETE) -> SetRecord:
    members = (_member(1, "database", "main", database="records"), _member(2, "database", "results",
                                                                           database="results"),
               _member(3, "folder", "vault", folder=str(vault)))
    manifest = SetManifest("5d0c2a91-7b43-4f0e-9c1d-2e8f6a4b7c30", "2026-12-07T02:00:00Z", "2026-12-07T02:00:41Z",
                           "0.1.0", "manual", "records", members=members)
    return SetRecord("vault", "sets/x/", "5d0c2a91", "2026-12-07T02:00:00Z", "0.1.0", "manual",
                     {m.key: m.size for m in members}, None, manifest, state=state,
                     problems=("member file 02-database.enc is missing",) if state == DAMAGED else ())


def test_a_damaged_set_is_refused_before_anything_else(tmp_path):
    record = _set(tmp_path / "vault", DAMAGED)
    assert record.manifest is not None
    with pytest.raises(IntegrityError, match="02-database.enc is missing.*never restored") as caught:
        plan_set_restore(record, record.manifest, "records", members=["main"])
    assert "--" not in caught.value.hint and "--member" in caught.value.hint_for_cli()


def test_the_choices_are_checked_with_the_names_the_user_needs(tmp_path):
    record = _set(tmp_path / "vault")
    manifest = record.manifest
    assert manifest is not None
    with pytest.raises(UsageError, match="made from profile 'records', not 'other'"):
        plan_set_restore(record, manifest, "other")
    with pytest.raises(UsageError, match="database members results;") as caught:
        plan_set_restore(record, manifest, "records")
    assert "--" not in caught.value.hint and "--as-profile" in caught.value.hint_for_cli()
    with pytest.raises(NotFoundError, match="no member 'nope'"):
        plan_set_restore(record, manifest, "records", members=["nope"])
    with pytest.raises(UsageError, match="No member"):
        plan_set_restore(record, manifest, "records", members=[])
    with pytest.raises(UsageError, match="'vault' is not a chosen folder member"):
        plan_set_restore(record, manifest, "records", members=["main"], new_folders={"vault": tmp_path / "n"})
    plan = plan_set_restore(record, manifest, "records", through={"results": "results-db", "main": "ignored"},
                            members=["vault", "results", "main"])
    assert dict(plan.through) == {"results": "results-db", "main": "records"}  # main goes through the set's profile
    assert [m.name for m in plan.databases] == ["results", "main"] and [m.name for m in plan.folders] == ["vault"]


def test_folder_checks_refuse_a_taken_new_folder_and_a_missing_in_place_one(tmp_path):
    vault = tmp_path / "vault"
    record = _set(vault)
    assert record.manifest is not None
    in_place = plan_set_restore(record, record.manifest, "records", members=["vault"])
    member = in_place.folders[0]
    assert folder_check(in_place, member).status == "fail"  # not there: nothing to swap
    vault.mkdir()
    assert folder_check(in_place, member).status == "pass"
    (tmp_path / "link").symlink_to(vault)
    linked = dataclasses.replace(record, manifest=dataclasses.replace(
        record.manifest, members=(dataclasses.replace(member, folder=str(tmp_path / "link")),)))
    assert linked.manifest is not None
    via_link = plan_set_restore(linked, linked.manifest, "records")
    assert folder_check(via_link, via_link.folders[0]).status == "fail"  # a link is never swapped
    taken = plan_set_restore(record, record.manifest, "records", members=["vault"], new_folders={"vault": vault})
    assert "already exists" in folder_check(taken, member).detail
    nowhere = plan_set_restore(record, record.manifest, "records", members=["vault"],
                               new_folders={"vault": tmp_path / "no such" / "new"})
    assert folder_check(nowhere, member).status == "fail"


def test_the_run_refuses_members_without_a_passed_pre_flight(console, tmp_path):
    record = _set(tmp_path / "vault")
    assert record.manifest is not None
    plan = plan_set_restore(record, record.manifest, "records", members=["main"])
    with pytest.raises(UsageError, match="main did not pass"):
        run_set_restore(console, plan, [], "secret")


def test_a_folder_imported_from_a_tar_goes_only_into_a_new_folder(tmp_path, monkeypatch):
    record = _set(tmp_path / "vault")
    assert record.manifest is not None
    imported = dataclasses.replace(record.manifest.members[2], folder=None)
    record = dataclasses.replace(record, manifest=dataclasses.replace(record.manifest, members=(imported,)))
    assert record.manifest is not None
    monkeypatch.chdir(tmp_path)  # an unknown folder is never '.', which is a folder here
    in_place = plan_set_restore(record, record.manifest, "records")
    check = folder_check(in_place, imported)
    assert check.status == "fail" and "imported from a tar file" in check.detail
    into = plan_set_restore(record, record.manifest, "records", new_folders={"vault": tmp_path / "back"})
    assert folder_check(into, imported).status == "pass"


def test_a_database_member_with_no_profile_fails_its_pre_flight_when_routes_are_not_required(console, tmp_path):
    record = _set(tmp_path / "vault")
    assert record.manifest is not None
    plan = plan_set_restore(record, record.manifest, "records", members=["results", "vault"], require_routes=False)
    assert dict(plan.through) == {}
    checked = preflight_set_restore(console, plan, "secret", stop_at_failure=False)
    assert [(c.member.name, c.ready) for c in checked] == [("results", False), ("vault", False)]
    assert checked[0].checks[0].detail == NO_ROUTE
    first_only = preflight_set_restore(console, plan, "secret")
    assert [c.member.name for c in first_only] == ["results"]


def test_a_damaged_record_of_set_restores_stops_the_checks_and_the_run_before_any_change(console, tmp_path):
    """An attacker's find: with the file truncated, a set restore swapped the folder, then warned it could not be
    recorded and that 'nothing was changed'."""
    from recovery_console.engine.sets.set_restores import restores_file
    from recovery_console.errors import CatalogError

    record = _set(tmp_path / "vault")
    assert record.manifest is not None
    (tmp_path / "vault").mkdir()
    plan = plan_set_restore(record, record.manifest, "records", members=["vault"])
    damaged = restores_file(console.paths, "records")
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_text('{"version": 1, "restores": [1')
    with pytest.raises(CatalogError, match="is damaged: it is not valid JSON. Nothing was changed") as caught:
        preflight_set_restore(console, plan, "secret")
    assert "Move records.json aside" in caught.value.hint
    damaged.write_text('{"version": 1, "restores": 5}')
    checked = [MemberPreflight(plan.members[0], checks=[folder_check(plan, plan.members[0])])]
    with pytest.raises(CatalogError, match="does not hold the list of set restores"):
        run_set_restore(console, plan, checked, "secret")
    assert not [e for e in console.audit.entries() if e.action == "set.restore"]  # refused before it began
