"""Secret lifecycle against a REAL Secret Service: generate → escrow sheet → type it back → open the backups."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.state.keyring_store import INSECURE_ENV, INSTANCE_SECRET, SecretStore, profile_scope
from recovery_console.engine.state.paths import HOME_ENV

pytestmark = pytest.mark.integration

SAMPLE_DUMP = Path(__file__).resolve().parents[1] / "data" / "sample-pg15.dump"


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INSECURE_ENV, raising=False)


def _mistyped(secret: str, group: int) -> str:
    groups = secret.split("-")
    word = groups[group]
    groups[group] = word[:1] + ("B" if word[1] != "B" else "C") + word[2:]
    return " ".join(groups).lower()


def test_generate_sheet_and_type_the_secret_back_to_open_the_backups(
        secret_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    vault = tmp_path / "vault"
    vault.mkdir()

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    assert run("target", "add", "local", "vault", str(vault))[0] == 0
    code, out, _ = run("keyring", "generate-secret", "prod", "--sheet", str(tmp_path / "prod.html"), "--json")
    assert code == 0
    shown = json.loads(out)
    secret = shown["secret"]
    assert re.fullmatch(r"([A-Z2-7]{5}-){12}[A-Z2-7]{5}", secret) and len(shown["groups"]) == 13
    assert SecretStore().get(profile_scope("prod"), INSTANCE_SECRET) == secret  # really in gnome-keyring

    sheet = (tmp_path / "prod.html").read_text("utf-8")
    assert all(group in sheet for group in shown["groups"]) and "<svg" in sheet
    assert (tmp_path / "prod.html").stat().st_mode & 0o777 == 0o600

    code, out, _ = run("keyring", "generate-secret", "prod", "--sheet", str(tmp_path / "again.pdf"))
    assert code == 2 and not (tmp_path / "again.pdf").exists()  # never overwrites a stored secret by accident
    assert SecretStore().get(profile_scope("prod"), INSTANCE_SECRET) == secret

    assert run("backup", "create", "--from", str(SAMPLE_DUMP), "--target", "vault",
               "--secret-keyring", "prod")[0] == 0
    code, out, _ = run("backup", "list", "--json")
    backup_id = json.loads(out)["backups"][0]["backup_id"]

    typed = tmp_path / "typed.txt"  # what an operator copies from the sheet: lower case, spaces
    typed.write_text(secret.replace("-", " ").lower() + "\n", "utf-8")
    code, out, err = run("backup", "verify", backup_id, "--secret-key-file", str(typed))
    assert code == 0, err
    out_dump = tmp_path / "out.dump"
    assert run("decrypt", backup_id, "-o", str(out_dump), "--secret-key-file", str(typed))[0] == 0
    assert out_dump.read_bytes() == SAMPLE_DUMP.read_bytes()

    audit_before = (tmp_path / "home").rglob("audit*")
    typed.write_text(_mistyped(secret, 6) + "\n", "utf-8")
    code, out, err = run("backup", "verify", backup_id, "--secret-key-file", str(typed))
    assert code == 2 and "Group 7 of the secret" in err
    assert secret not in err and secret.lower() not in err
    assert list(audit_before) == list((tmp_path / "home").rglob("audit*"))


def test_a_pdf_sheet_and_a_typed_grouped_secret_for_set_secret(
        secret_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert main(["keyring", "generate-secret", "ops", "--sheet", str(tmp_path / "ops.pdf"), "--json"]) == 0
    secret = json.loads(capsys.readouterr().out)["secret"]
    pdf = (tmp_path / "ops.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/Image" in pdf.replace(b" ", b"")
    assert (tmp_path / "ops.pdf").stat().st_mode & 0o777 == 0o600

    typed = tmp_path / "typed.txt"
    typed.write_text(_mistyped(secret, 0), "utf-8")
    assert main(["keyring", "set-secret", "other", "--from-file", str(typed)]) == 2
    assert "Group 1 of the secret" in capsys.readouterr().err
    assert SecretStore().get(profile_scope("other"), INSTANCE_SECRET) is None
    typed.write_text(secret.replace("-", "").lower(), "utf-8")
    assert main(["keyring", "set-secret", "other", "--from-file", str(typed)]) == 0
    assert SecretStore().get(profile_scope("other"), INSTANCE_SECRET) == secret
