"""Portable configuration without a keyring: the document, its seal, the preview and the import's choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.state.config_bundle import (
    ConfigDocument,
    passphrase_strength,
    read_document,
    write_document,
)
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import IntegrityError, UnsupportedError, UsageError, WrongKeyError
from recovery_console.models.policy import Policy
from recovery_console.models.profile import Profile
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS

PASSPHRASE = "lantern orbit 42 velvet-crane"


def _document(tmp_path: Path) -> ConfigDocument:
    return ConfigDocument(
        targets=[TargetConfig("vault", "local", {"path": str(tmp_path)})],
        profiles=[Profile("prod", "postgresql://app@db/app", target="vault", stored_secrets=("instance_secret",),
                          policy=Policy(secondary_targets=("vault",)))],
        secrets={"profile:prod": {"instance_secret": "s3cret ✓"}}, exported_at="2026-12-07T05:00:00Z",
        exported_by="ops@a", sealed=True)


def test_a_sealed_document_round_trips_and_refuses_a_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "config.rcx"
    write_document(_document(tmp_path), path, PASSPHRASE, iterations=FAST_ITERATIONS)
    assert b"s3cret" not in path.read_bytes() and path.stat().st_mode & 0o777 == 0o600
    back = read_document(path, PASSPHRASE)
    assert back.secrets == {"profile:prod": {"instance_secret": "s3cret ✓"}} and back.sealed
    assert back.profiles[0].policy is not None and back.profiles[0].policy.secondary_targets == ("vault",)
    with pytest.raises(WrongKeyError, match="passphrase does not open"):
        read_document(path, PASSPHRASE + " ")
    with pytest.raises(UsageError, match="needs the passphrase"):
        read_document(path, None)


def test_every_altered_byte_of_a_sealed_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.rcx"
    write_document(_document(tmp_path), path, PASSPHRASE, iterations=FAST_ITERATIONS)
    raw = path.read_bytes()
    for offset in range(64, len(raw), max(1, len(raw) // 40)):  # past the header: its bytes change the key
        altered = bytearray(raw)
        altered[offset] ^= 0x40
        path.write_bytes(bytes(altered))
        with pytest.raises((IntegrityError, WrongKeyError)):
            read_document(path, PASSPHRASE)
    path.write_bytes(raw[:-1])
    with pytest.raises(IntegrityError, match="damaged or was altered"):
        read_document(path, PASSPHRASE)


def test_a_plain_document_carries_no_secrets_and_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_document(_document(tmp_path), path, None)
    data = json.loads(path.read_text("utf-8"))
    assert data["format"] == "recovery-console-config" and data["schema_version"] == 1 and "secrets" not in data
    data["secrets"] = {"profile:prod": {"instance_secret": "x"}}
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(IntegrityError, match="secrets in the clear"):
        read_document(path, None)
    data.pop("secrets")
    data["schema_version"] = 2
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(UnsupportedError, match="schema version 2"):
        read_document(path, None)
    data["schema_version"] = 1
    data["targets"][0]["kind"] = "ftp"
    data["targets"][0]["options"] = {"path": 1}
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(IntegrityError, match="target #1"):
        read_document(path, None)


def test_a_backup_is_not_taken_for_a_configuration(tmp_path: Path, make_backup, console: Console) -> None:
    record = make_backup()
    with pytest.raises(IntegrityError, match="backup, not a configuration"):
        read_document(Path(console.storage(record.target).location(record.key)), "correct horse battery staple ✓")


@pytest.mark.parametrize(("passphrase", "level"), [
    ("short1", "weak"), ("password", "weak"), ("abcdefghijkl", "weak"), ("Abcdefgh1234", "fair"),
    (PASSPHRASE, "strong"), ("AAAQM-EAYE6-AUDAG-OCAJY-BIFQX-YDION-B4IBN", "strong"),
])
def test_passphrase_strength_from_length_and_kinds(passphrase: str, level: str) -> None:
    assert passphrase_strength(passphrase).level == level


def _second_console(tmp_path: Path) -> Console:
    return Console(AppPaths(config_dir=tmp_path / "b" / "config", data_dir=tmp_path / "b" / "data"))


def test_plain_export_preview_and_import_with_each_choice(console: Console, tmp_path: Path) -> None:
    console.add_target(TargetConfig("vault", "local", {"path": str(tmp_path)}))
    console.add_target(TargetConfig("copies", "local", {"path": str(tmp_path / "c")}))
    console.profiles.store.add(Profile("prod", "postgresql://app@db/app", target="vault",
                                       policy=Policy(secondary_targets=("copies",))))
    export = tmp_path / "config.json"
    summary = console.config_transfer().export(export)
    assert (summary.targets, summary.profiles, summary.secrets, summary.encrypted) == (2, 1, 0, False)
    with pytest.raises(UsageError, match="already exists"):
        console.config_transfer().export(export)

    other = _second_console(tmp_path)
    other.add_target(TargetConfig("copies", "local", {"path": "/elsewhere"}))
    transfer = other.config_transfer()
    plan = transfer.plan(export)
    assert [(c.kind, c.name, c.action, c.differences) for c in plan.changes] == [
        ("target", "vault", "add", ()), ("target", "copies", "conflict", ("options",)),
        ("profile", "prod", "add", ())]
    assert plan.changes[1].rename_to == "copies-imported"
    audit_before = len(list(other.audit.entries()))

    outcomes = transfer.apply(plan, {("target", "copies"): "rename"})
    assert [(o.name, o.result, o.stored_as) for o in outcomes] == [
        ("vault", "added", "vault"), ("copies", "renamed", "copies-imported"), ("prod", "added", "prod")]
    prod = other.profiles.store.get("prod")
    assert prod.policy is not None and prod.policy.secondary_targets == ("copies-imported",)  # followed the rename
    assert other.targets.get("copies").options == {"path": "/elsewhere"}  # ours, untouched
    entries = list(other.audit.entries())[audit_before:]
    assert [(e.action, e.object, e.result) for e in entries] == [
        ("config.import", "target:vault", "ok"), ("config.import", "target:copies-imported", "ok"),
        ("config.import", "profile:prod", "ok")]

    again = transfer.plan(export)
    assert [c.action for c in again.changes] == ["unchanged", "conflict", "conflict"]
    assert again.changes[1].rename_to == "copies-imported-2"
    kept = transfer.apply(again)  # keep is the default: nothing changes, nothing is recorded
    assert {o.result for o in kept} == {"unchanged", "kept"}
    assert len(list(other.audit.entries())) == audit_before + 3
    transfer.apply(again, {("target", "copies"): "replace"})
    assert other.targets.get("copies").options == {"path": str(tmp_path / "c")}
    with pytest.raises(UsageError, match="not a way to settle"):
        transfer.apply(again, default="merge")


def test_a_weak_passphrase_is_refused_before_anything_is_read(console: Console, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="weak"):
        console.config_transfer().export(tmp_path / "x.rcx", passphrase="short1")
    assert not (tmp_path / "x.rcx").exists()
    assert list(console.audit.entries())[-1].result == "failed"
