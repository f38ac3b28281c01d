"""Portable configuration between two console homes, each with its own REAL gnome-keyring on its own D-Bus.

Every step runs the CLI as a separate process with that side's environment, as two machines would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.keyring import SecretServiceInfo, running_secret_service

pytestmark = pytest.mark.integration

SAMPLE_DUMP = Path(__file__).resolve().parents[1] / "data" / "sample-pg15.dump"
PASSPHRASE = "lantern orbit 42 velvet-crane"
INSTANCE = "instance secret of prod ✓"
DB_PASSWORD = "db-pass-4711"


@pytest.fixture(scope="module")
def two_keyrings() -> Iterator[tuple[SecretServiceInfo, SecretServiceInfo]]:
    with running_secret_service() as first, running_secret_service() as second:
        yield first, second


class Side:
    """One machine: a console home and a keyring on a D-Bus session of its own."""

    def __init__(self, root: Path, keyring: SecretServiceInfo) -> None:
        self.home = root
        self.env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(root), "DBUS_SESSION_BUS_ADDRESS": keyring.address,
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
                    "RC_PASSPHRASE": PASSPHRASE, "RC_INSTANCE": INSTANCE,
                    "RC_DB_URL": f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/app"}
        self.env.pop("RECOVERY_CONSOLE_ALLOW_INSECURE_KEYRING", None)

    def run(self, *argv: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "recovery_console.cli.main", *argv], env=self.env,
                              capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        assert done.returncode == expect, (argv, done.stdout, done.stderr)
        return done

    def secret(self, scope: str, name: str) -> str | None:
        code = ("import sys; from recovery_console.engine.state.keyring_store import SecretStore; "
                f"v = SecretStore().get({scope!r}, {name!r}); print(repr(v))")
        out = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                             timeout=60, check=True).stdout.strip()
        return eval(out)  # noqa: S307 - the repr of a str or None printed by the line above

    def audit(self) -> list[dict]:
        return json.loads(self.run("audit", "show", "--json").stdout)["entries"]


def test_a_sealed_export_gives_a_working_target_and_profile_on_another_machine(
        two_keyrings, tmp_path: Path, rclone_s3) -> None:
    first, second = two_keyrings
    a, b = Side(tmp_path / "a", first), Side(tmp_path / "b", second)
    vault = tmp_path / "vault"
    vault.mkdir()
    bucket = rclone_s3.make_bucket()
    a.env["RC_S3_KEY"] = rclone_s3.secret_key

    a.run("target", "add", "local", "vault", str(vault))
    a.run("target", "add", "s3", "offsite", "--bucket", bucket, "--endpoint-url", rclone_s3.endpoint_url,
          "--region", "us-east-1", "--access-key-id", rclone_s3.access_key, "--secret-access-key-env", "RC_S3_KEY",
          "--no-tls")
    a.run("profile", "create", "prod", "--database-url-env", "RC_DB_URL", "--target", "vault")
    a.run("profile", "set-policy", "prod", "--schedule", "daily", "--at", "02:00", "--copy-to", "offsite")
    a.run("keyring", "set-secret", "prod", "--from-env", "RC_INSTANCE")
    a.run("backup", "create", "--from", str(SAMPLE_DUMP), "--target", "vault", "--secret-keyring", "prod")

    plain = tmp_path / "config.json"
    a.run("config", "export", "-o", str(plain))
    text = plain.read_text("utf-8")
    document = json.loads(text)
    assert document["schema_version"] == 1 and {t["name"] for t in document["targets"]} == {"vault", "offsite"}
    assert document["profiles"][0]["policy"]["secondary_targets"] == ["offsite"]
    for secret in (INSTANCE, DB_PASSWORD, rclone_s3.secret_key):
        assert secret not in text
    assert plain.stat().st_mode & 0o777 == 0o600

    sealed = tmp_path / "config.rcx"
    out = a.run("config", "export", "--encrypted", "-o", str(sealed), "--passphrase-env", "RC_PASSPHRASE",
                "--json").stdout
    assert json.loads(out)["secrets"] == 3 and sealed.stat().st_mode & 0o777 == 0o600
    raw = sealed.read_bytes()
    for secret in (INSTANCE, DB_PASSWORD, rclone_s3.secret_key, "offsite"):
        assert secret.encode() not in raw

    # Machine B's keyring holds none of it yet.
    assert b.secret("profile:prod", "instance_secret") is None
    preview = json.loads(b.run("config", "import", str(sealed), "--dry-run", "--passphrase-env", "RC_PASSPHRASE",
                               "--json").stdout)
    assert {(c["kind"], c["name"], c["action"]) for c in preview["changes"]} == {
        ("target", "vault", "add"), ("target", "offsite", "add"), ("profile", "prod", "add")}
    assert not (b.home / "config" / "targets.json").exists()

    b.run("config", "import", str(sealed), "--passphrase-env", "RC_PASSPHRASE")
    assert b.secret("profile:prod", "instance_secret") == INSTANCE
    assert b.secret("profile:prod", "db_password") == DB_PASSWORD
    assert b.secret("target:offsite", "secret_access_key") == rclone_s3.secret_key
    imports = [e for e in b.audit() if e["action"] == "config.import"]
    assert sorted(e["object"] for e in imports) == ["profile:prod", "target:offsite", "target:vault"]

    assert json.loads(b.run("target", "test", "offsite", "--json").stdout)["ok"] is True  # the S3 login came along
    assert json.loads(b.run("target", "test", "vault", "--json").stdout)["ok"] is True
    listed = json.loads(b.run("backup", "list", "--json").stdout)["backups"]
    b.run("backup", "verify", listed[0]["backup_id"], "--secret-keyring", "prod")  # the profile's secret opens it

    # Importing again changes nothing; a changed record is a conflict settled by rename.
    again = json.loads(b.run("config", "import", str(sealed), "--passphrase-env", "RC_PASSPHRASE",
                             "--json").stdout)
    assert {c["action"] for c in again["changes"]} == {"unchanged"}
    b.run("target", "remove", "vault")
    b.run("target", "add", "local", "vault", str(tmp_path))
    renamed = json.loads(b.run("config", "import", str(sealed), "--passphrase-env", "RC_PASSPHRASE",
                               "--on-conflict", "rename", "--json").stdout)
    assert [(o["name"], o["result"], o["stored_as"]) for o in renamed["outcomes"] if o["result"] != "unchanged"] == [
        ("vault", "renamed", "vault-imported")]
    profiles = json.loads(b.run("profile", "list", "--json").stdout)
    assert any(p["name"] == "prod" for p in (profiles["profiles"] if isinstance(profiles, dict) else profiles))


def test_a_wrong_passphrase_and_a_tampered_export_import_nothing(two_keyrings, tmp_path: Path) -> None:
    first, second = two_keyrings  # shared with the test above: this one uses names of its own
    a, b = Side(tmp_path / "a", first), Side(tmp_path / "b", second)
    a.run("target", "add", "local", "vault", str(tmp_path))
    a.run("keyring", "set-secret", "other", "--from-env", "RC_INSTANCE", "--replace")
    a.env["RC_DB_URL"] = "postgresql://app@127.0.0.1:1/app"
    a.run("profile", "create", "other", "--database-url-env", "RC_DB_URL", "--target", "vault")
    sealed = tmp_path / "config.rcx"
    a.run("config", "export", "--encrypted", "-o", str(sealed), "--passphrase-env", "RC_PASSPHRASE")

    b.env["RC_PASSPHRASE"] = PASSPHRASE + "!"
    wrong = b.run("config", "import", str(sealed), "--passphrase-env", "RC_PASSPHRASE", expect=4)
    assert "passphrase does not open" in wrong.stderr

    tampered = tmp_path / "tampered.rcx"
    raw = bytearray(sealed.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))
    b.env["RC_PASSPHRASE"] = PASSPHRASE
    bad = b.run("config", "import", str(tampered), "--passphrase-env", "RC_PASSPHRASE", expect=3)
    assert "damaged or was altered" in bad.stderr

    cut = tmp_path / "cut.rcx"
    cut.write_bytes(sealed.read_bytes()[:-70])
    b.run("config", "import", str(cut), "--passphrase-env", "RC_PASSPHRASE", expect=3)

    assert not (b.home / "config" / "targets.json").exists() and not (b.home / "config" / "profiles.json").exists()
    assert b.secret("profile:other", "instance_secret") is None
    assert not [e for e in b.audit() if e["action"] == "config.import"]

    weak = a.run("config", "export", "--encrypted", "-o", str(tmp_path / "weak.rcx"), "--passphrase-env", "RC_WEAK",
                 expect=8)  # an empty variable is no passphrase
    assert "RC_WEAK" in weak.stderr
    a.env["RC_WEAK"] = "short1"
    weak = a.run("config", "export", "--encrypted", "-o", str(tmp_path / "weak.rcx"), "--passphrase-env", "RC_WEAK",
                 expect=2)
    assert "weak" in weak.stderr and not (tmp_path / "weak.rcx").exists()
    a.run("config", "export", "--encrypted", "-o", str(tmp_path / "weak.rcx"), "--passphrase-env", "RC_WEAK",
          "--allow-weak")


def test_the_imported_profile_backs_up_a_real_database_with_the_imported_secret(
        two_keyrings, tmp_path: Path, pg15) -> None:
    first, second = two_keyrings  # names of its own: the keyrings are shared with the tests above
    a, b = Side(tmp_path / "a", first), Side(tmp_path / "b", second)
    pg15.createdb("transfer_src")
    pg15.psql("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 50);",
              db="transfer_src")
    vault = tmp_path / "vault"
    vault.mkdir()
    for side in (a, b):
        side.env["RC_DB_URL"] = pg15.dsn("transfer_src").replace("postgres@", "postgres:pw-4711@")
    a.run("target", "add", "local", "live-vault", str(vault))
    a.run("profile", "create", "live", "--database-url-env", "RC_DB_URL", "--target", "live-vault")
    a.run("profile", "set-mode", "live", "direct", "--not-a-pooler")
    a.run("keyring", "generate-secret", "live")
    sealed = tmp_path / "config.rcx"
    a.run("config", "export", "--encrypted", "-o", str(sealed), "--passphrase-env", "RC_PASSPHRASE")

    b.run("config", "import", str(sealed), "--passphrase-env", "RC_PASSPHRASE")
    assert b.secret("profile:live", "db_password") == "pw-4711"
    created = json.loads(b.run("backup", "create", "--profile", "live", "--secret-keyring", "live",
                               "--json").stdout)
    b.run("backup", "verify", created["backup_id"], "--secret-keyring", "live")
    a.run("backup", "list")  # A learns of B's backup from the shared target
    a.run("backup", "verify", created["backup_id"], "--secret-keyring", "live")  # the same secret on both sides
