"""`restore run|preflight BACKUP --profile P` derives the backup's key before its modules are imported
(engine/key_ahead.py): the restore's own open_secret then finds the derivation done, so PBKDF2 runs once; anything
it cannot read quickly (not a local backup, no secret in the keyring) starts nothing and shows nothing. Against a
real gnome-keyring."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from recovery_console.cli.ahead import key_ahead_wanted
from recovery_console.cli.main import main
from recovery_console.engine import key_ahead
from recovery_console.engine.container import format as fmt
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.engine.state.paths import HOME_ENV
from recovery_console.errors import ExitCode
from recovery_console.models.profile import ConnectionMode
from tests.fixtures.console import SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def derivations(monkeypatch) -> list[tuple[str, bytes]]:
    """The thread and salt of every PBKDF2 run from here on; the per-process cache starts empty (making the
    backup filled it)."""
    salts: list[tuple[str, bytes]] = []
    original = hashlib.pbkdf2_hmac

    def counted(name, password, salt, iterations, dklen=None):
        salts.append((threading.current_thread().name, salt))
        return original(name, password, salt, iterations, dklen)

    fmt._derivations.clear()
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counted)
    yield salts
    fmt._derivations.clear()


@pytest.fixture
def backup(console, local_target, make_backup, secret_service):
    """A backup on the local target, of a profile whose instance secret is in the (real) keyring."""
    console.profiles.create("prod", "postgresql://app@127.0.0.1:1/prod", target=local_target, instance_secret=SECRET)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return make_backup()


def finished_ahead() -> None:
    """Wait for the derivation started ahead, if one was."""
    for thread in threading.enumerate():
        if thread.name == "rc-key-ahead":
            thread.join(30)


def salt_of(path: Path) -> bytes:
    return fmt.Header.parse(path.read_bytes()[:fmt.HEADER_SIZE]).salt


@pytest.mark.parametrize("by", ["id", "path"])
def test_the_key_derived_ahead_is_the_one_the_restore_opens_the_backup_with(console, backup, derivations, by):
    ref = console.locate(backup.short_id)
    key_ahead.start(console.paths, backup.short_id if by == "id" else ref.location, "prod", None)
    finished_ahead()
    assert derivations == [("rc-key-ahead", salt_of(Path(ref.location)))]
    opened = SecretRotation(console).open_secret(ref, ["prod"])
    assert opened.value == SECRET
    assert len(derivations) == 1  # found done in the cache: not derived again


def test_after_a_rotation_the_secret_on_record_for_the_backup_is_the_one_derived(console, backup, derivations):
    """open_secret tries the secret the catalog recorded as opening the backup first; so does the head start."""
    rotation = SecretRotation(console)
    rotation.add("prod", "newer")  # now the profile's newest; the backup was made with the first one
    first = console.profiles.store.get("prod").secrets_newest_first[-1]
    console.catalog.remember_opened_with(backup, "prod", first.entry, first.label)
    ref = console.locate(backup.short_id)
    key_ahead.start(console.paths, backup.short_id, "prod", None)
    finished_ahead()
    assert rotation.open_secret(ref, ["prod"]).value == SECRET
    assert derivations == [("rc-key-ahead", salt_of(Path(ref.location)))]  # the first secret's, once


def test_a_restore_preflight_derives_the_key_once_and_ahead(console, backup, derivations, monkeypatch, tmp_path,
                                                            capsys):
    monkeypatch.setenv(HOME_ENV, str(tmp_path))  # the console fixture's home
    assert console.paths.config_dir == tmp_path / "config"
    code = main(["restore", "preflight", backup.short_id, "--profile", "prod"])
    out = capsys.readouterr().out
    assert "server reachable" in out  # the pre-flight ran (and found no server at port 1)
    assert code != 0
    assert derivations == [("rc-key-ahead", salt_of(Path(console.locate(backup.short_id).location)))]


@pytest.mark.parametrize("named", ["nosuchbackup", "vault:nosuch.enc", "set-name-that-is-no-id", "file"])
def test_what_is_not_a_local_backup_starts_nothing(console, backup, derivations, named, tmp_path, caplog):
    if named == "file":
        (tmp_path / "file").write_bytes(b"not a backup at all, only some bytes of text" * 4)
        named = str(tmp_path / "file")
    key_ahead.start(console.paths, named, "prod", None)
    finished_ahead()
    assert derivations == []
    assert not [r for r in caplog.records if r.levelname != "DEBUG"]


def test_a_profile_without_a_secret_in_the_keyring_starts_nothing(console, backup, derivations, caplog):
    console.secrets.delete("profile:prod", "instance_secret")
    for profile in ("prod", "no-such-profile"):
        key_ahead.start(console.paths, backup.short_id, profile, None)
    finished_ahead()
    assert derivations == []
    assert not [r for r in caplog.records if r.levelname not in ("DEBUG", "INFO")]


@pytest.mark.parametrize(("argv", "wanted"), [
    (["restore", "run", "abcd1234", "--profile", "p", "--yes"], ("abcd1234", "p", None)),
    (["--debug", "restore", "run", "abcd1234", "--profile=p", "--new-database", "x", "--jobs", "2", "--json"],
     ("abcd1234", "p", None)),
    (["restore", "preflight", "--target", "t", "abcd1234", "--profile", "p"], ("abcd1234", "p", "t")),
    (["restore", "run", "abcd1234", "--profile", "p", "--secret-key-file", "f"], None),
    (["restore", "run", "abcd1234", "--profile", "p", "--member", "main"], None),
    (["restore", "run", "abcd1234", "--prof", "p"], None),
    (["restore", "run", "abcd1234"], None),
    (["restore", "rollback", "--profile", "p"], None),
    (["restore", "run", "abcd1234", "--profile", "p", "--help"], None),
    (["backup", "verify", "abcd1234", "--profile", "p"], None),
])
def test_only_a_plain_restore_of_a_profile_derives_ahead(argv, wanted):
    assert key_ahead_wanted(argv) == wanted


def test_a_keyring_that_cannot_be_read_is_the_commands_error_at_once(console, backup, derivations, monkeypatch,
                                                                     tmp_path, capsys, no_keyring):
    """Read ahead, the keyring fails as the command's own read would: that error, once, as JSON when asked."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    code = main(["restore", "run", backup.short_id, "--profile", "prod", "--yes", "--json"])
    captured = capsys.readouterr()
    assert code == ExitCode.SECRET_UNAVAILABLE
    assert json.loads(captured.out)["error"]["exit_code"] == ExitCode.SECRET_UNAVAILABLE
    assert captured.err.count("Error: ") == 1 and "keyring" in captured.err
    assert derivations == []
