"""Rotating a profile's instance secret against a REAL Secret Service and PostgreSQL: backups made before and
after open with no secret given, the list says which secret opens which, and a needed secret stays unless a
forced removal names it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.pinning import pin, unpin
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.keyring_store import INSECURE_ENV, SecretStore, profile_scope
from recovery_console.engine.state.paths import AppPaths
from recovery_console.errors import UsageError
from recovery_console.models.policy import Policy
from recovery_console.models.retention import RetentionRules
from tests.fixtures.console import FAST_ITERATIONS, SECRET

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INSECURE_ENV, raising=False)


def test_two_secrets_open_old_and_new_backups_and_a_needed_one_is_kept(
        secret_service, pg15, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    def opens_with() -> dict[str, str | None]:
        code, out, err = run("backup", "list", "--json")
        assert code == 0, err
        return {b["short_id"]: (b["opens_with"] or {}).get("label") for b in json.loads(out)["backups"]}

    vault = tmp_path / "vault"
    vault.mkdir()
    first = tmp_path / "first.txt"
    first.write_text("the first instance secret\n", "utf-8")
    pg15.createdb("rotation")
    pg15.psql("CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 50) g", db="rotation")
    monkeypatch.setenv("RC_URL", pg15.dsn("rotation"))
    assert run("target", "add", "local", "vault", str(vault))[0] == 0
    assert run("profile", "create", "prod", "--database-url-env", "RC_URL", "--target", "vault",
               "--secret-key-file", str(first))[0] == 0
    assert run("profile", "set-mode", "prod", "direct", "--not-a-pooler")[0] == 0

    code, out, err = run("backup", "create", "--profile", "prod", "--json")
    assert code == 0, err
    old = json.loads(out)["short_id"]
    code, out, err = run("profile", "secret", "add", "prod", "--label", "2026-12 key", "--json")
    assert code == 0, err
    new_secret = json.loads(out)["secret"]
    assert SecretStore().get(profile_scope("prod"), json.loads(out)["entry"]) == new_secret  # in gnome-keyring
    code, out, err = run("backup", "create", "--profile", "prod", "--json")
    assert code == 0, err
    new = json.loads(out)["short_id"]

    code, out, _ = run("profile", "secret", "list", "prod", "--json")
    assert [s["label"] for s in json.loads(out)["secrets"]] == ["2026-12 key", "original key"]
    assert opens_with() == {old: "original key", new: "2026-12 key"}  # recorded as each backup was made
    profiles_json = (AppPaths.default().config_dir / "profiles.json").read_text("utf-8")
    assert new_secret not in profiles_json and "the first instance secret" not in profiles_json

    assert run("catalog", "rebuild")[0] == 0  # forgets what opened what: found again by trying
    assert opens_with() == {old: None, new: None}
    code, _, err = run("backup", "verify", old, "--quick")
    assert code == 0, err
    out_dump = tmp_path / "new.dump"
    code, _, err = run("decrypt", new, "-o", str(out_dump))
    assert code == 0, err
    assert out_dump.read_bytes().startswith(b"PGDMP")
    code, out, _ = run("backup", "list")
    assert "opens with: original key (prod)" in out and "opens with: 2026-12 key (prod)" in out

    code, _, err = run("profile", "secret", "remove", "prod", "original key")
    assert code == 2 and old in err and new not in err and "Nothing was removed" in err
    code, _, err = run("profile", "secret", "remove", "prod", "original key", "--force", "--confirm", "original")
    assert code == 2 and "does not match" in err
    assert run("profile", "secret", "list", "prod", "--json")[1].count("original key") == 1
    code, _, err = run("profile", "secret", "remove", "prod", "original key", "--force", "--confirm", "original key")
    assert code == 0, err
    assert SecretStore().get(profile_scope("prod"), "instance_secret") is None
    code, _, err = run("backup", "verify", old, "--quick")
    assert code != 0 and "'2026-12 key' (prod)" in err  # says which secrets it tried
    assert run("backup", "verify", new, "--quick")[0] == 0

    code, _, err = run("profile", "secret", "add", "prod", "--label", "bad\nlabel")
    assert code == 2 and "printable" in err
    typed = tmp_path / "typed.txt"  # the same secret again, as typed from its sheet: no rotation at all
    typed.write_text(new_secret.replace("-", " ").lower() + "\n", "utf-8")
    code, _, err = run("profile", "secret", "add", "prod", "--from-file", str(typed))
    assert code == 2 and "already the profile's '2026-12 key'" in err and new_secret not in err
    code, _, err = run("profile", "secret", "remove", "prod", "2026-12 key", "--confirm", "2026-12 key")
    assert code == 2 and "--confirm goes with --force" in err

    removals = [e for e in AuditLog.at(AppPaths.default()).entries() if e.action == "profile.secret-remove"]
    assert [e.result for e in removals] == ["failed", "failed", "ok"]
    assert removals[-1].detail["force"] is True and removals[-1].detail["needed_by"] == [old]


def test_only_kept_backups_hold_a_secret_back_and_a_pin_counts(secret_service, console, local_target, make_backup,
                                                             sample_dump: Path) -> None:
    console.profiles.create("prod", "postgresql://app@127.0.0.1:1/prod", target=local_target, instance_secret=SECRET)
    older = make_backup(now=lambda: datetime(2026, 11, 1, tzinfo=UTC))  # with the original key, nothing on record
    rotation = SecretRotation(console)
    newest = rotation.add("prod", "2026-12 key").generated
    assert newest is not None
    with open(sample_dump, "rb") as stream:
        made = console.create_backup(stream, local_target, newest, iterations=FAST_ITERATIONS,
                                     now=lambda: datetime(2026, 12, 2, tzinfo=UTC))
    rotation.record_made(made, "prod", newest)
    console.profiles.set_policy("prod", Policy(retention=RetentionRules(keep_last=1)))
    assert rotation.needed_by("prod", "original key") == []  # retention keeps only the newest backup

    pin(console, older.short_id, "incident 42")
    assert [r.key for r in rotation.needed_by("prod", "original key")] == [older.key]  # tried once, now on record
    assert console.catalog.opened_with()[(older.target, older.key)].label == "original key"
    with pytest.raises(UsageError, match=older.short_id):
        rotation.remove("prod", "original key")
    unpin(console, older.short_id)
    assert rotation.remove("prod", "original key").label == "original key"
    assert [s.label for s in rotation.secrets("prod")] == ["2026-12 key"]
    with pytest.raises(UsageError, match=made.short_id):  # the newest backup, kept, needs the newest secret
        rotation.remove("prod", "2026-12 key")
