"""Secrets in the OS keyring, against a REAL Secret Service (gnome-keyring on a private D-Bus bus).

Test-only requirement: PyPI `keyrings.alt` (its plaintext file backend must be refused);
.ci/install.d/20-keyring.sh installs it with the system packages (gnome-keyring, dbus).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import secrets as random_secrets
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import SecretService, chainer

from recovery_console.cli import keyring_cmd
from recovery_console.cli.main import build_parser
from recovery_console.engine.console import Console
from recovery_console.engine.state.keyring_store import (
    INSECURE_ENV,
    INSTANCE_SECRET,
    InsecureKeyringWarning,
    KeyringStatus,
    SecretStore,
    profile_scope,
    service_name,
)
from recovery_console.engine.state.secret_sources import SecretRequest, obtain_secret, store_instance_secret
from recovery_console.engine.state.targets import SECRET_NAMES, target_scope
from recovery_console.errors import ExitCode, SecretUnavailableError, UsageError
from recovery_console.models.target import TargetConfig

pytestmark = pytest.mark.integration

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
SAMPLE_DUMP = Path(__file__).resolve().parents[1] / "data" / "sample-pg15.dump"


def _token(prefix: str) -> str:
    return f"{prefix}-{random_secrets.token_urlsafe(24)}"


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's environment must not opt these tests in to insecure backends."""
    monkeypatch.delenv(INSECURE_ENV, raising=False)


@pytest.fixture
def plaintext_keyring(tmp_path: Path) -> Iterator[Any]:
    """keyrings.alt's PlaintextKeyring, writing to a file in the test's temp dir."""
    alt_file = pytest.importorskip("keyrings.alt.file")
    backend = alt_file.PlaintextKeyring()
    backend.file_path = str(tmp_path / "plaintext-keyring.cfg")
    previous = keyring.core._keyring_backend
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        if previous is None:
            keyring.core._keyring_backend = None
        else:
            keyring.set_keyring(previous)


def _stored_items(service: str) -> list[Any]:
    """Items really held by the Secret Service for a keyring service name (read with secretstorage)."""
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        return [(item.get_attributes(), item.get_secret().decode())
                for item in secretstorage.search_items(conn, {"service": service})]
    finally:
        conn.close()


def _in_plaintext_file(backend: Any, value: str) -> bool:
    """Whether keyrings.alt's plaintext file holds the value (it stores base64, not encryption)."""
    path = Path(backend.file_path)
    if not path.exists():
        return False
    text = path.read_text()
    return value in text or base64.b64encode(value.encode()).decode() in text


def _cli(argv: list[str]) -> argparse.Namespace:
    return build_parser(argv).parse_args(argv)


def _assert_no_secret_in_error(exc: BaseException, *values: str) -> None:
    texts = [str(exc), getattr(exc, "hint", ""), getattr(exc, "detail", ""), repr(exc.args)]
    for value in values:
        for text in texts:
            assert value not in text


# -- the real Secret Service ---------------------------------------------------------------------


def test_probe_reports_a_working_secure_secret_service(secret_service) -> None:
    status = SecretStore().probe()
    assert isinstance(status, KeyringStatus)
    assert status.backend == SECRET_SERVICE
    assert status.secure and status.usable
    assert status.warning is None
    assert "OS keyring" in status.message
    # The probe is a real round trip that cleans up after itself.
    assert _stored_items(service_name("probe")) == []


def test_put_get_delete_round_trip_lands_in_gnome_keyring(secret_service) -> None:
    store = SecretStore()
    value = _token("s3-secret")
    store.put("target:offsite", "secret_access_key", value)
    assert store.get("target:offsite", "secret_access_key") == value
    items = _stored_items(service_name("target:offsite"))
    assert len(items) == 1
    attributes, secret = items[0]
    assert attributes["username"] == "secret_access_key" and secret == value

    store.put("target:offsite", "secret_access_key", value + "-rotated")
    assert store.get("target:offsite", "secret_access_key") == value + "-rotated"
    assert store.lookup("target:offsite")("secret_access_key") == value + "-rotated"

    assert store.delete("target:offsite", "secret_access_key") is True
    assert store.get("target:offsite", "secret_access_key") is None
    assert store.delete("target:offsite", "secret_access_key") is False
    assert _stored_items(service_name("target:offsite")) == []


def test_forget_scope_removes_every_named_secret_and_nothing_else(secret_service) -> None:
    store = SecretStore()
    names = SECRET_NAMES["sftp"]
    for name in names[:2]:
        store.put("target:sftp-box", name, _token(name))
    keep = _token("other")
    store.put("target:other", "password", keep)

    assert store.forget_scope("target:sftp-box", names) == list(names[:2])
    assert all(store.get("target:sftp-box", name) is None for name in names)
    assert store.get("target:other", "password") == keep
    assert store.forget_scope("target:sftp-box", names) == []
    store.delete("target:other", "password")


def test_removing_a_target_removes_its_keyring_secrets(secret_service) -> None:
    app = Console()
    password, key = _token("sftp-pw"), _token("sftp-key")
    app.add_target(TargetConfig(name="sftp-box", kind="sftp",
                                options={"host": "127.0.0.1", "username": "backup", "directory": "backups"}),
                   {"password": password, "private_key": key})
    assert app.secrets.get(target_scope("sftp-box"), "password") == password
    assert password not in app.targets.file.read_text("utf-8")
    app.remove_target("sftp-box")
    assert _stored_items(service_name(target_scope("sftp-box"))) == []


def test_a_secret_service_that_does_not_answer_is_reported_not_trusted_by_priority(
        secret_service, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    store = SecretStore()
    status = store.probe()
    assert status.backend == SECRET_SERVICE
    assert status.secure and not status.usable
    assert "does not work" in status.message
    value = _token("never-stored")
    with pytest.raises(SecretUnavailableError) as caught:
        store.put("profile:x", INSTANCE_SECRET, value)
    _assert_no_secret_in_error(caught.value, value)


def test_a_chained_keyring_never_falls_back_to_plaintext(
        secret_service, plaintext_keyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """keyring's chainer would silently write to the next backend; SecretStore picks one, securely."""
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [SecretService.Keyring(), plaintext_keyring])
    keyring.set_keyring(chainer.ChainerBackend())
    store = SecretStore()
    assert store.probe().backend == SECRET_SERVICE and store.probe().usable
    value = _token("chained")
    store.put("profile:chain", INSTANCE_SECRET, value)
    assert not _in_plaintext_file(plaintext_keyring, value)
    store.delete("profile:chain", INSTANCE_SECRET)

    # Secret Service gone: the chain is NOT used through its plaintext member.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    store = SecretStore()
    status = store.probe()
    assert not status.usable and status.backend == SECRET_SERVICE
    with pytest.raises(SecretUnavailableError):
        store.put("profile:chain", INSTANCE_SECRET, value)
    assert not _in_plaintext_file(plaintext_keyring, value)


# -- no backend, insecure backends ---------------------------------------------------------------


def test_no_backend_is_unusable_and_refuses_plainly(no_keyring) -> None:
    store = SecretStore()
    status = store.probe()
    assert status.backend == "keyring.backends.fail.Keyring"
    assert not status.secure and not status.usable
    assert "No OS keyring is available" in status.message
    assert "Secret Service" in status.hint and INSECURE_ENV in status.hint
    value = _token("instance")
    with pytest.raises(SecretUnavailableError) as caught:
        store.put(profile_scope("prod"), INSTANCE_SECRET, value)
    assert "Cannot store" in caught.value.message and "No OS keyring" in caught.value.message
    assert caught.value.exit_code == ExitCode.SECRET_UNAVAILABLE
    _assert_no_secret_in_error(caught.value, value)
    with pytest.raises(SecretUnavailableError):
        store.get(profile_scope("prod"), INSTANCE_SECRET)
    # Opting in to insecure storage does not make "no keyring at all" usable.
    assert not SecretStore(allow_insecure=True).probe().usable


def test_null_backend_is_not_secure(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.backends import null

    store = SecretStore(backend=null.Keyring())
    status = store.probe()
    assert not status.secure and not status.usable and "disabled" in status.message
    with pytest.raises(SecretUnavailableError):
        store.put("profile:x", INSTANCE_SECRET, "value")


def test_plaintext_backend_is_refused_without_opt_in(plaintext_keyring) -> None:
    store = SecretStore()
    status = store.probe()
    assert status.backend == "keyrings.alt.file.PlaintextKeyring"
    assert not status.secure and not status.usable
    assert "file on disk" in status.message
    assert INSECURE_ENV in status.hint
    value = _token("plain")
    with pytest.raises(SecretUnavailableError) as caught:
        store.put(profile_scope("prod"), INSTANCE_SECRET, value)
    _assert_no_secret_in_error(caught.value, value)
    assert not _in_plaintext_file(plaintext_keyring, value)


def test_plaintext_backend_with_explicit_opt_in_warns_on_every_use(plaintext_keyring) -> None:
    store = SecretStore(allow_insecure=True)
    status = store.probe()
    assert status.usable and not status.secure and status.insecure_opt_in
    assert status.warning and "UNENCRYPTED" in status.warning
    assert store.insecure
    value = _token("plain")
    with pytest.warns(InsecureKeyringWarning, match="UNENCRYPTED") as put_warnings:
        store.put(profile_scope("lab"), INSTANCE_SECRET, value)
    with pytest.warns(InsecureKeyringWarning) as get_warnings:
        assert store.get(profile_scope("lab"), INSTANCE_SECRET) == value
    for caught in [*put_warnings, *get_warnings]:
        assert value not in str(caught.message)
    # It really is plaintext, which is why it needs the opt-in.
    assert _in_plaintext_file(plaintext_keyring, value)
    assert store.delete(profile_scope("lab"), INSTANCE_SECRET) is True


def test_plaintext_opt_in_from_the_environment(plaintext_keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INSECURE_ENV, "1")
    store = SecretStore()
    assert store.allow_insecure and store.probe().usable and not store.probe().secure
    with pytest.warns(InsecureKeyringWarning):
        store.put("target:t", "password", "pw-value")
    with pytest.warns(InsecureKeyringWarning):
        assert store.get("target:t", "password") == "pw-value"
    monkeypatch.setenv(INSECURE_ENV, "0")
    assert not SecretStore().probe().usable
    # Cleaning up works even without the opt-in.
    assert SecretStore().forget_scope("target:t", ["password"]) == ["password"]


# -- --secret-keyring ----------------------------------------------------------------------------


def test_secret_keyring_reads_the_profile_instance_secret(secret_service) -> None:
    value = _token("instance")
    store_instance_secret("prod", value)
    assert keyring.get_password("recovery-console:profile:prod", "instance_secret") == value
    assert obtain_secret(SecretRequest(keyring_name="prod")) == value
    with pytest.raises(SecretUnavailableError) as caught:
        obtain_secret(SecretRequest(keyring_name="nothing-here"))
    assert "keyring set-secret nothing-here" in caught.value.hint_for_cli()
    SecretStore().forget_scope(profile_scope("prod"), [INSTANCE_SECRET])
    with pytest.raises(UsageError):
        obtain_secret(SecretRequest(keyring_name="../bad name"))


def test_secret_keyring_without_a_keyring_says_so(no_keyring) -> None:
    with pytest.raises(SecretUnavailableError) as caught:
        obtain_secret(SecretRequest(keyring_name="prod"))
    assert "No OS keyring is available" in caught.value.message


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_keyring_status_json(secret_service, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(["keyring", "status", "--json"])
    assert args.func(args) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == SECRET_SERVICE
    assert data["secure"] is True and data["usable"] is True


def test_cli_keyring_status_human_without_a_keyring(no_keyring, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(["keyring", "status"])
    assert args.func(args) == ExitCode.SECRET_UNAVAILABLE
    out = capsys.readouterr().out
    assert "keyring.backends.fail.Keyring" in out
    assert "Secure    NO" in out and "Usable    no" in out and "What to do:" in out


def test_cli_set_secret_and_forget(secret_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    value = _token("from-file")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(value + "\n")
    args = _cli(["keyring", "set-secret", "ops", "--from-file", str(secret_file)])
    assert args.func(args) == ExitCode.OK
    assert obtain_secret(SecretRequest(keyring_name="ops")) == value

    # An existing secret is not overwritten by accident.
    monkeypatch.setenv("RC_TEST_SECRET", value + "-new")
    args = _cli(["keyring", "set-secret", "ops", "--from-env", "RC_TEST_SECRET"])
    with pytest.raises(UsageError):
        args.func(args)
    args = _cli(["keyring", "set-secret", "ops", "--from-env", "RC_TEST_SECRET", "--replace", "--json"])
    assert args.func(args) == ExitCode.OK
    assert obtain_secret(SecretRequest(keyring_name="ops")) == value + "-new"

    # Prompted (asked twice) when no source is given and there is a terminal.
    answers = iter([value + "-typed", value + "-typed"])
    with monkeypatch.context() as tty:
        tty.setattr(keyring_cmd.getpass, "getpass", lambda prompt="": next(answers))
        tty.setattr(sys, "stdin", type("Tty", (), {"isatty": lambda self: True})())
        args = _cli(["keyring", "set-secret", "ops", "--replace"])
        assert args.func(args) == ExitCode.OK
    assert obtain_secret(SecretRequest(keyring_name="ops")) == value + "-typed"

    args = _cli(["keyring", "forget", "ops"])  # stdin is not a terminal under pytest
    assert args.func(args) == ExitCode.USAGE
    args = _cli(["keyring", "forget", "ops", "--yes", "--json"])
    assert args.func(args) == ExitCode.OK
    out, err = capsys.readouterr()
    assert '"removed": true' in out
    assert value not in out and value not in err
    with pytest.raises(SecretUnavailableError):
        obtain_secret(SecretRequest(keyring_name="ops"))


def test_cli_set_secret_refused_without_a_keyring(no_keyring, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("value-never-stored\n")
    args = _cli(["keyring", "set-secret", "ops", "--from-file", str(secret_file)])
    with pytest.raises(SecretUnavailableError) as caught:
        args.func(args)
    assert "No OS keyring" in caught.value.message
    _assert_no_secret_in_error(caught.value, "value-never-stored")


def test_the_secret_is_never_taken_from_argv() -> None:
    with pytest.raises(SystemExit):
        _cli(["keyring", "set-secret", "ops", "the-secret-itself"])


# -- the grep test -------------------------------------------------------------------------------


def _encodings(value: str) -> list[bytes]:
    return [value.encode("utf-8"), value.encode("utf-16-le"), value.encode("utf-8").hex().encode()]


def _files_containing(root: Path, value: str) -> list[Path]:
    needles = _encodings(value)
    return [path for path in sorted(root.rglob("*"))
            if path.is_file() and any(needle in path.read_bytes() for needle in needles)]


def test_no_secret_in_config_catalog_audit_log_output_or_argv(
        secret_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    from recovery_console.cli.main import main
    from recovery_console.engine.state.paths import HOME_ENV

    home = tmp_path / "rc-home"
    monkeypatch.setenv(HOME_ENV, str(home))
    vault = tmp_path / "vault"
    vault.mkdir()
    restored = tmp_path / "restored"
    restored.mkdir()
    caplog.set_level(logging.DEBUG)

    s0 = _token("S0")
    wrong = _token("WRONG")
    store = SecretStore()
    store_instance_secret("grep-profile", s0, store)
    store_instance_secret("wrong-profile", wrong, store)

    argv_seen: list[Any] = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            argv_seen.append(args)
            argv_seen.append(kwargs.get("env"))
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)

    outputs: list[str] = []

    def run(*argv: str) -> int:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            code = main(list(argv))
        out, err = capfd.readouterr()
        outputs.extend([out, err, *(str(w.message) for w in seen)])
        return code

    key = ("--secret-keyring", "grep-profile")
    assert run("target", "add", "local", "vault", str(vault)) == 0
    assert run("backup", "create", "--from", str(SAMPLE_DUMP), "--target", "vault",
               "--description", "grep test", *key) == 0
    assert run("backup", "list", "--json") == 0
    backup_id = json.loads(outputs[-2])["backups"][0]["backup_id"]
    assert run("backup", "verify", backup_id, *key) == 0
    assert run("backup", "verify", backup_id, "--json", *key) == 0
    assert run("backup", "inspect", backup_id, *key) == 0
    assert run("decrypt", backup_id, "-o", str(restored / "out.dump"), *key) == 0
    assert (restored / "out.dump").read_bytes() == SAMPLE_DUMP.read_bytes()
    # Failures too: a wrong secret, and a keyring name with nothing stored.
    assert run("decrypt", backup_id, "-o", str(restored / "bad.dump"), "--secret-keyring", "wrong-profile") \
        == ExitCode.WRONG_KEY
    assert run("backup", "verify", backup_id, "--json", "--secret-keyring", "wrong-profile") == ExitCode.WRONG_KEY
    assert run("backup", "verify", backup_id, "--secret-keyring", "no-such-profile") == ExitCode.SECRET_UNAVAILABLE
    args = _cli(["keyring", "status", "--json"])
    args.func(args)
    outputs.extend(capfd.readouterr())

    # The secrets were really in use and are still in the keyring...
    assert obtain_secret(SecretRequest(keyring_name="grep-profile")) == s0
    assert (home / "config" / "targets.json").is_file()
    assert (home / "data" / "catalog.sqlite3").is_file() and (home / "data" / "audit.jsonl").is_file()
    # ...and the grep helper does find a secret where there is one.
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "f").write_bytes(s0.encode("utf-16-le"))
    assert _files_containing(canary, s0)

    log_text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for value in (s0, wrong):
        for root in (home, vault, restored):
            assert _files_containing(root, value) == [], f"a secret was written under {root}"
        assert all(value not in text for text in outputs), "a secret was printed"
        assert value not in log_text, "a secret was logged"
        assert value not in repr(argv_seen), "a secret was passed to a child process"
        # gnome-keyring keeps it encrypted on disk.
        assert _files_containing(secret_service.keyrings_dir, value) == []

    store.forget_scope(profile_scope("grep-profile"), [INSTANCE_SECRET])
    store.forget_scope(profile_scope("wrong-profile"), [INSTANCE_SECRET])
