"""Rotating a profile's instance secret against a REAL Secret Service and PostgreSQL: backups made before and
after open with no secret given, the list says which secret opens which, and a needed secret stays unless a
forced removal names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.state.audit import AuditLog
from recovery_console.engine.state.keyring_store import INSECURE_ENV, SecretStore, profile_scope
from recovery_console.engine.state.paths import AppPaths

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

    removals = [e for e in AuditLog.at(AppPaths.default()).entries() if e.action == "profile.secret-remove"]
    assert [e.result for e in removals] == ["failed", "failed", "ok"]
    assert removals[-1].detail["force"] is True and removals[-1].detail["needed_by"] == [old]
