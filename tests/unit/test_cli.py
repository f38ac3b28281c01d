"""The CLI end to end, in process: output, --json, and the documented exit codes."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from recovery_console.cli.main import COMMANDS, main
from recovery_console.engine.console import Console
from recovery_console.engine.state import keyring_store
from recovery_console.engine.state.audit import AuditEntry
from recovery_console.errors import Cancelled, ExitCode, NotFoundError
from tests.fixtures.console import DATA, SECRET


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def target(tmp_path) -> Path:
    folder = tmp_path / "target"
    folder.mkdir()
    return folder


@pytest.fixture
def created(capsys, target, secret_file) -> dict:
    code, out, _ = run(capsys, "backup", "create", "--from", str(DATA / "sample-pg16.dump"), "--target", str(target),
                       "--secret-key-file", str(secret_file), "--description", "cli test", "--json")
    assert code == ExitCode.OK
    return json.loads(out)


def test_create_list_verify_decrypt(capsys, created, target, secret_file, tmp_path):
    assert created["metadata"]["description"] == "cli test"
    code, out, _ = run(capsys, "backup", "list", "--target", str(target), "--json")
    assert code == 0 and [b["short_id"] for b in json.loads(out)["backups"]] == [created["short_id"]]
    code, out, _ = run(capsys, "backup", "verify", created["short_id"], "--secret-key-file", str(secret_file))
    assert code == 0 and "VERDICT   PASSED (full verify)" in out and "pg_dump format 1.15" in out
    out_file = tmp_path / "x.dump"
    code, out, _ = run(capsys, "decrypt", created["short_id"], "-o", str(out_file),
                       "--secret-key-file", str(secret_file))
    assert code == 0 and out_file.read_bytes() == (DATA / "sample-pg16.dump").read_bytes()


def test_verify_exit_codes(capsys, created, target, secret_file, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    code, _, err = run(capsys, "backup", "verify", created["short_id"], "--secret-key-file", str(wrong))
    assert code == ExitCode.WRONG_KEY and "does not open" in err and "Traceback" not in err
    path = target / created["key"]
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    code, out, err = run(capsys, "backup", "verify", str(path), "--secret-key-file", str(secret_file), "--json")
    assert code == ExitCode.VERIFY_FAILED
    assert json.loads(out)["error"]["type"] == "IntegrityError"
    code, _, _ = run(capsys, "backup", "verify", str(path), "--without-key")
    assert code == ExitCode.VERIFY_FAILED
    code, _, err = run(capsys, "backup", "verify", "feedface", "--secret-key-file", str(secret_file))
    assert code == ExitCode.NOT_FOUND and "No backup with id" in err


def test_secret_from_env_and_missing_secret(capsys, created, monkeypatch):
    monkeypatch.setenv("RC_TEST_SECRET", SECRET)
    code, _, _ = run(capsys, "backup", "inspect", created["short_id"], "--secret-key-env", "RC_TEST_SECRET")
    assert code == 0
    with open(os.devnull) as no_terminal:
        monkeypatch.setattr(sys, "stdin", no_terminal)
        code, _, err = run(capsys, "backup", "inspect", created["short_id"])
    assert code == ExitCode.SECRET_UNAVAILABLE and "--secret-key-file" in err


def test_secret_is_never_an_argument():
    with pytest.raises(SystemExit) as exc:
        main(["decrypt", "x.enc", "-o", "y", "--secret", SECRET])
    assert exc.value.code == ExitCode.USAGE


def test_decrypt_failure_leaves_no_output(capsys, created, target, secret_file, tmp_path):
    path = target / created["key"]
    path.write_bytes(path.read_bytes()[:-40])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = run(capsys, "decrypt", str(path), "-o", str(out_dir / "x.dump"),
                       "--secret-key-file", str(secret_file))
    assert code == ExitCode.VERIFY_FAILED and "truncated" in err
    assert list(out_dir.iterdir()) == []


def test_metadata_only(capsys, created, secret_file):
    code, out, _ = run(capsys, "decrypt", created["short_id"], "--metadata-only", "--json",
                       "--secret-key-file", str(secret_file))
    data = json.loads(out)
    assert code == 0 and data["backup_id"] == created["backup_id"] and data["description"] == "cli test"


def test_contents_matches_pg_restore_list(capsys):
    code, out, _ = run(capsys, "contents", str(DATA / "sample-pg17.dump"))
    ours = [line for line in out.splitlines() if line and not line.startswith(";")]
    listed = (DATA / "sample-pg17.list").read_text().splitlines()
    theirs = [line for line in listed if line and not line.startswith(";")]
    assert code == 0 and ours == theirs


def test_contents_of_unknown_archive_version(capsys, tmp_path):
    data = bytearray((DATA / "sample-pg17.dump").read_bytes())
    data[6] = 99
    bad = tmp_path / "future.dump"
    bad.write_bytes(bytes(data))
    code, _, err = run(capsys, "contents", str(bad))
    assert code == ExitCode.UNSUPPORTED and "1.99" in err


def test_download_upload_delete(capsys, created, target, secret_file, tmp_path):
    dl = tmp_path / "dl"
    dl.mkdir()
    code, _, _ = run(capsys, "backup", "download", created["short_id"], "-o", str(dl))
    assert code == 0
    local = dl / Path(created["key"]).name
    other = tmp_path / "other"
    other.mkdir()
    assert run(capsys, "target", "add", "local", "other", str(other))[0] == 0
    code, out, _ = run(capsys, "backup", "upload", str(local), "--target", "other",
                       "--secret-key-file", str(secret_file))
    assert code == 0 and "verified and uploaded" in out
    code, _, _ = run(capsys, "backup", "delete", created["short_id"], "--target", "other", "--yes")
    assert code == 0 and not (other / created["key"]).exists()
    assert (target / created["key"]).exists()


def test_audit_show_and_verify(capsys, created):
    code, out, _ = run(capsys, "audit", "show", "--json")
    assert code == 0 and json.loads(out)["entries"][-1]["action"] == "backup.create"
    assert run(capsys, "audit", "verify")[0] == 0


def test_console_script_runs_without_traceback(tmp_path):
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "recovery_console.cli.main", "backup", "verify",
                           str(tmp_path / "none.enc"), "--without-key"], capture_output=True, text=True, env=env)
    assert proc.returncode == ExitCode.NOT_FOUND and "Traceback" not in proc.stderr
    version = subprocess.run([sys.executable, "-m", "recovery_console.cli.main", "--version"],
                             capture_output=True, text=True)
    assert version.stdout.startswith("recovery-console ")


def test_every_command_group_loads_and_the_help_lists_them_all(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out, _ = capsys.readouterr()
        assert out.startswith(f"usage: recovery-console {name} ")
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    assert all(f"    {name} " in listed for name in COMMANDS)


def test_a_backup_or_a_verify_does_not_load_the_database_driver_or_the_keyring_library():
    """They cost a third of a second to import; a backup pays for them only when it must connect or read the keyring."""
    probe = ("import sys; from recovery_console.cli.main import build_parser; build_parser(sys.argv[1:]); "
             "print(sorted(m for m in ('psycopg', 'keyring', 'recovery_console.cli.restore_cmd') if m in sys.modules))")
    for argv in (["backup", "create"], ["backup", "verify"], ["decrypt"], ["--help"]):
        out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]", (argv, out)


def test_rebinding_a_profile_target_keeps_old_backups_listed(capsys, tmp_path, secret_file, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    assert run(capsys, "target", "add", "local", "first", str(first))[0] == 0
    assert run(capsys, "target", "add", "local", "second", str(second))[0] == 0
    monkeypatch.setenv("RC_TEST_DB_URL", "postgresql://app@127.0.0.1:1/app")
    assert run(capsys, "profile", "create", "prod", "--database-url-env", "RC_TEST_DB_URL", "--target", "first")[0] == 0
    code, out, _ = run(capsys, "backup", "create", "--from", str(DATA / "sample-pg15.dump"), "--target", "first",
                       "--secret-key-file", str(secret_file), "--json")
    old = json.loads(out)
    code, out, _ = run(capsys, "profile", "set-target", "prod", "second")
    assert code == 0 and "stay where they are" in out
    code, out, _ = run(capsys, "backup", "list", "--json")
    listed = json.loads(out)["backups"]
    assert [(b["short_id"], b["target"]) for b in listed] == [(old["short_id"], "first")]
    assert (first / old["key"]).exists()


def test_profile_mode_declaration_from_the_cli(capsys, monkeypatch, target):
    monkeypatch.setenv("RC_TEST_DB_URL", "postgresql://app@my-pgbouncer:6432/app")
    code, _, _ = run(capsys, "profile", "create", "prod", "--database-url-env", "RC_TEST_DB_URL",
                     "--target", str(target))
    assert code == 0
    code, out, _ = run(capsys, "profile", "show", "prod")
    assert "NOT DECLARED" in out
    code, _, err = run(capsys, "backup", "create", "--profile", "prod", "--secret-key-env", "RC_TEST_DB_URL")
    assert code == ExitCode.USAGE and "no declared connection mode" in err
    code, _, err = run(capsys, "profile", "set-mode", "prod", "direct")
    assert code == ExitCode.USAGE and "acknowledgement" in err
    code, out, _ = run(capsys, "profile", "set-mode", "prod", "direct", "--not-a-pooler")
    assert code == 0 and "WARNING" in out and "pgbouncer" in out and "6432" in out
    monkeypatch.setenv("RC_TEST_DIRECT", "postgresql://app@db:5432/app")
    code, out, _ = run(capsys, "profile", "set-mode", "prod", "pool", "--direct-url-env", "RC_TEST_DIRECT", "--json")
    data = json.loads(out)
    assert code == 0 and data["mode"] == "pool" and not data["direct_acknowledged"]
    assert data["direct_url"].endswith("db:5432/app")


# -- every change of state leaves exactly one audit entry ----------------------------------------------------


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring the tests treat as secure, so `keyring set-secret` needs no Secret Service."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@pytest.fixture
def memory_keyring(monkeypatch) -> MemoryKeyring:
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    name = f"{MemoryKeyring.__module__}.{MemoryKeyring.__qualname__}"
    monkeypatch.setattr(keyring_store, "SECURE_BACKENDS", keyring_store.SECURE_BACKENDS | {name})
    return backend


def audit_entries() -> list[AuditEntry]:
    return list(Console().audit.entries())


def run_audited(capsys, *argv: str) -> tuple[int, AuditEntry]:
    """Run one command; it must have appended exactly one audit entry, which is returned."""
    before = len(audit_entries())
    code = run(capsys, *argv)[0]
    added = audit_entries()[before:]
    assert len(added) == 1, (argv, added)
    return code, added[0]


def test_profile_commands_are_audited_once_each(capsys, monkeypatch, memory_keyring, tmp_path):
    folder = tmp_path / "vault"
    folder.mkdir()
    monkeypatch.setenv("RC_TEST_DB_URL", "postgresql://app:hunter2@127.0.0.1:1/app")
    monkeypatch.setenv("RC_TEST_DIRECT", "postgresql://app@db:5432/app")
    steps = [
        (("target", "add", "local", "vault", str(folder)), "target.add", "vault", "ok"),
        (("target", "add", "local", "vault", str(folder)), "target.add", "vault", "failed"),
        (("profile", "create", "prod", "--database-url-env", "RC_TEST_DB_URL"), "profile.create", "prod", "ok"),
        (("profile", "create", "prod", "--database-url-env", "RC_TEST_DB_URL"), "profile.create", "prod", "failed"),
        (("profile", "set-mode", "prod", "direct"), "profile.set-mode", "prod", "failed"),
        (("profile", "set-mode", "prod", "direct", "--not-a-pooler"), "profile.set-mode", "prod", "ok"),
        (("profile", "set-mode", "prod", "pool", "--direct-url-env", "RC_TEST_DIRECT"), "profile.set-mode", "prod",
         "ok"),
        (("profile", "set-target", "prod", "vault"), "profile.set-target", "prod", "ok"),
        (("profile", "set-target", "prod", "nowhere"), "profile.set-target", "prod", "failed"),
        (("profile", "set-target", "ghost", "vault"), "profile.set-target", "ghost", "failed"),
        (("profile", "remove", "prod"), "profile.remove", "prod", "ok"),
        (("profile", "remove", "prod"), "profile.remove", "prod", "failed"),
        (("target", "remove", "vault"), "target.remove", "vault", "ok"),
        (("target", "remove", "vault"), "target.remove", "vault", "failed"),
    ]
    for argv, action, obj, result in steps:
        code, entry = run_audited(capsys, *argv)
        assert (entry.action, entry.object, entry.result) == (action, obj, result), argv
        assert (code == ExitCode.OK) == (result == "ok"), argv
        assert (result == "failed") == ("error" in entry.detail), argv
    assert "hunter2" not in Console().paths.audit_file.read_text("utf-8")
    assert Console().audit.verify().ok


def test_keyring_commands_are_audited_once_each(capsys, monkeypatch, memory_keyring, tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("s3cret-value\n")
    code, entry = run_audited(capsys, "keyring", "set-secret", "ops", "--from-file", str(secret_file))
    assert code == 0 and (entry.action, entry.object, entry.result) == ("keyring.set-secret", "ops", "ok")
    assert memory_keyring.entries[(keyring_store.service_name("profile:ops"), "instance_secret")] == "s3cret-value"
    code, entry = run_audited(capsys, "keyring", "set-secret", "ops", "--from-file", str(secret_file))
    assert code == ExitCode.USAGE and entry.result == "failed" and "already stored" in entry.detail["error"]
    code, entry = run_audited(capsys, "keyring", "set-secret", "bad name!", "--from-file", str(secret_file))
    assert code == ExitCode.USAGE and (entry.object, entry.result) == ("bad name!", "failed")
    code, entry = run_audited(capsys, "keyring", "forget", "ops", "--yes")
    assert code == 0 and (entry.action, entry.object, entry.result) == ("keyring.forget", "ops", "ok")
    assert entry.detail["removed"] is True and memory_keyring.entries == {}
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    code, entry = run_audited(capsys, "keyring", "set-secret", "ops", "--from-file", str(secret_file))
    assert code == ExitCode.SECRET_UNAVAILABLE and (entry.action, entry.result) == ("keyring.set-secret", "failed")
    assert "s3cret-value" not in Console().paths.audit_file.read_text("utf-8")


def test_a_stored_instance_secret_is_listed_on_its_profile(capsys, monkeypatch, memory_keyring, tmp_path):
    monkeypatch.setenv("RC_TEST_DB_URL", "postgresql://app@127.0.0.1:1/app")
    assert run(capsys, "profile", "create", "prod", "--database-url-env", "RC_TEST_DB_URL")[0] == 0
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("s3cret-value\n")
    assert run(capsys, "keyring", "set-secret", "prod", "--from-file", str(secret_file))[0] == 0
    assert Console().profiles.instance_secret("prod") == "s3cret-value"
    assert run(capsys, "keyring", "forget", "prod", "--yes")[0] == 0
    assert "instance_secret" not in Console().profiles.store.get("prod").stored_secrets


# -- an unexpected error: its own exit code, one line, a crash report ----------------------------------------


def crash_in_target_list(monkeypatch) -> None:
    from recovery_console.cli import target_cmd

    def boom() -> Console:
        raise RuntimeError("boom: an unanticipated failure")

    monkeypatch.setattr(target_cmd, "console", boom)


def crash_reports() -> list[Path]:
    return sorted((Path(os.environ["RECOVERY_CONSOLE_HOME"]) / "data" / "crash-reports").glob("crash-*.txt"))


def test_an_unexpected_error_exits_with_the_crash_code_and_writes_a_crash_report(capsys, monkeypatch):
    crash_in_target_list(monkeypatch)
    code, out, err = run(capsys, "target", "list")
    assert code == ExitCode.CRASH == 70
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    [report] = crash_reports()
    assert str(report) in err and "RuntimeError: boom" in err and "--debug" in err
    assert report.stat().st_mode & 0o777 == 0o600
    text = report.read_text("utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text and "target list" in text
    assert not list(report.parent.glob(".*.part"))


def test_debug_shows_the_traceback_of_a_crash(capsys, monkeypatch):
    crash_in_target_list(monkeypatch)
    code, _, err = run(capsys, "--debug", "target", "list", "--json")
    assert code == ExitCode.CRASH and "Traceback (most recent call last)" in err and "RuntimeError: boom" in err
    assert len(crash_reports()) == 1


def test_a_crash_with_json_prints_a_json_error(capsys, monkeypatch):
    crash_in_target_list(monkeypatch)
    code, out, _ = run(capsys, "target", "list", "--json")
    error = json.loads(out)["error"]
    assert code == ExitCode.CRASH and error["exit_code"] == 70 and error["crash_report"] == str(crash_reports()[0])


def test_the_crash_exit_code_reaches_the_shell(tmp_path):
    script = ("import sys; from recovery_console.cli import target_cmd, main; "
              "target_cmd.console = lambda: 1 / 0; sys.exit(main.main(['target', 'list']))")
    env = {**os.environ, "RECOVERY_CONSOLE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 70 and "ZeroDivisionError" in proc.stderr and "Traceback" not in proc.stderr
    assert len(list((tmp_path / "data" / "crash-reports").iterdir())) == 1


def test_quiet_silences_warnings_and_debug_shows_debug_records(capsys, monkeypatch):
    from recovery_console.cli import target_cmd

    def logs() -> Console:
        logging.getLogger("recovery_console.engine.example").warning("a warning from the engine")
        logging.getLogger("recovery_console.engine.example").debug("a debug record")
        raise NotFoundError("nothing here")

    monkeypatch.setattr(target_cmd, "console", logs)
    _, _, err = run(capsys, "target", "list")
    assert "WARNING: a warning from the engine" in err and "a debug record" not in err
    _, _, err = run(capsys, "--quiet", "target", "list")
    assert "a warning" not in err and "Error: nothing here" in err
    _, _, err = run(capsys, "--debug", "target", "list")
    assert "a warning from the engine" in err and "a debug record" in err


def test_quiet_turns_the_progress_display_off(monkeypatch):
    from recovery_console.cli.common import job
    from recovery_console.cli.main import build_parser

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    for argv, shown in ((["backup", "list"], True), (["--quiet", "backup", "list"], False)):
        with job(build_parser(argv).parse_args(argv)) as reporter:
            assert (reporter.sink is not None) == shown


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_a_finished_job_did_not_act_on_keeps_the_next_job_from_starting(how):
    """A SIGTERM or Ctrl-C that came as a pre-flight finished (it changes nothing, so it stands as done) must not
    let the restore after it start, and must leave the signals stoppable, not ignored."""
    from recovery_console.cli.common import command_ended, job, stop_if_asked
    from recovery_console.cli.main import build_parser

    args = build_parser(["backup", "list"]).parse_args(["backup", "list"])
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    started: list[str] = []
    try:
        with job(args) as reporter:
            os.kill(os.getpid(), how)  # handled between bytecodes: the token is cancelled, nothing raised
            assert reporter.token.cancelled
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        with pytest.raises(Cancelled, match="before the next step began"):
            stop_if_asked()  # before a confirmation prompt
        with pytest.raises(Cancelled, match="before the next step began"), job(args):
            started.append("the next job")
        assert started == []
    finally:
        command_ended()
    with job(args) as reporter:  # the next command (main called again) starts afresh
        assert not reporter.token.cancelled


def test_gui_without_qt_says_what_to_install(capsys, monkeypatch):
    """A headless install (no `gui` extra) has no PySide6: `gui` names the extra instead of a traceback."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *rest):
        return None if name == "PySide6" else real_find_spec(name, *rest)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code, _, err = run(capsys, "gui")
    assert code == ExitCode.ERROR and "Traceback" not in err
    assert "PySide6" in err and "pip install 'recovery-console[gui]'" in err


def test_a_warning_reaches_the_user_as_one_plain_line():
    """e.g. the insecure-keyring warning: no source path and line of code under it, unless --debug."""
    code = ("from recovery_console.cli.main import configure_logging; import warnings; "
            "configure_logging({debug}, False); warnings.warn('secrets are stored UNENCRYPTED')")
    plain = subprocess.run([sys.executable, "-c", code.format(debug=False)], capture_output=True, text=True)
    assert plain.stderr == "Warning: secrets are stored UNENCRYPTED\n"
    debug = subprocess.run([sys.executable, "-c", code.format(debug=True)], capture_output=True, text=True)
    assert "UserWarning: secrets are stored UNENCRYPTED" in debug.stderr and "<string>" in debug.stderr


def test_a_rotated_profiles_first_secret_is_not_replaced_or_forgotten_behind_the_rotation(capsys, monkeypatch,
                                                                                          memory_keyring, tmp_path):
    monkeypatch.setenv("RC_TEST_DB_URL", "postgresql://app@127.0.0.1:1/app")
    assert run(capsys, "profile", "create", "prod", "--database-url-env", "RC_TEST_DB_URL")[0] == 0
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("first-secret\n")
    assert run(capsys, "keyring", "set-secret", "prod", "--from-file", str(secret_file))[0] == 0
    assert run(capsys, "profile", "secret", "add", "prod", "--label", "2026-12 key")[0] == 0
    before = dict(memory_keyring.entries)
    secret_file.write_text("replacement\n")
    code, _, err = run(capsys, "keyring", "set-secret", "prod", "--from-file", str(secret_file), "--replace")
    assert code == ExitCode.USAGE and "several instance secrets" in err and "profile secret add prod" in err
    code, _, err = run(capsys, "keyring", "forget", "prod", "--yes")
    assert code == ExitCode.USAGE and "profile secret remove prod LABEL" in err
    assert memory_keyring.entries == before  # both secrets kept
    assert [s.label for s in Console().profiles.store.get("prod").secrets_newest_first] == ["2026-12 key",
                                                                                            "original key"]
