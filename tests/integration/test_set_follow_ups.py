"""What a policy run of a recovery set does after its verify (#18), against real PostgreSQL, a local target and the
rclone S3 server: the set copied whole to the secondary target (listed complete there, and verified), the sets an
earlier run left uncopied copied by the next, and the prune of the profile's sets in the run, never the set just
made, a pinned or a damaged one. Also: a kept set holds back the secret its manifest opens with, and a target's
usage counts its sets."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.pinning import usage_by_target
from recovery_console.engine.progress import Phase, Progress, Reporter
from recovery_console.engine.run_due import run_now
from recovery_console.engine.secret_rotation import SecretRotation
from recovery_console.engine.sets.set_backup import backup_set
from recovery_console.engine.sets.set_catalog import COMPLETE, SetRecord
from recovery_console.engine.sets.set_listing import find_set, list_sets, verify_set
from recovery_console.engine.sets.set_pins import pin_set
from recovery_console.engine.state.run_history import RunHistory
from recovery_console.errors import ExitCode, UsageError
from recovery_console.models.policy import Policy
from recovery_console.models.retention import RetentionRules
from recovery_console.models.target import TargetConfig
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.integration.test_s3 import FakeSecrets
from tests.integration.test_set_prune import START, _folders, _name, _sets, records_profile  # noqa: F401

pytestmark = pytest.mark.integration


def _policy(secondary: tuple[str, ...], rules: RetentionRules) -> Policy:
    return Policy(min_free_mb=1, secondary_targets=secondary, retention=rules)


def test_a_set_run_copies_its_set_to_s3_and_prunes_older_sets_but_not_pinned_or_damaged_ones(
        console, records_profile, rclone_s3, s3_target, tmp_path):  # noqa: F811
    console.secrets = FakeSecrets()
    console.add_target(s3_target, {"secret_access_key": rclone_s3.secret_key})
    older = _sets(console, range(4))
    target = tmp_path / "target"
    pin_set(console, [older[0]], "case 7")
    (target / older[1].folder / "02-folder.enc").unlink()  # damaged
    console.profiles.set_policy("records", _policy((s3_target.name,), RetentionRules(keep_last=1)))

    outcome = run_now(console, "records", secret=SECRET, now=START + timedelta(days=5))
    assert (outcome.result, outcome.exit_code, outcome.reason) == ("ok", ExitCode.OK, ""), outcome.reason
    made = find_set(console, outcome.record.set_id, "vault")
    assert made is not None and made.state == COMPLETE

    copies, _ = list_sets(console, [s3_target.name])  # listed complete on the secondary, and it verifies there
    assert [(s.folder, s.state) for s in copies] == [(made.folder, COMPLETE)]
    verified = verify_set(console, copies[0], SECRET)  # raises unless every member is what the manifest pins
    assert verified.record.verify_result == "ok" and len(verified.members) == 2
    keys = {info.key for info in console.storage(s3_target.name).list(made.folder)}
    assert keys == {made.folder + name for name in made.files}  # every file, the sidecars and the manifest

    assert _folders(target) == {_name(made), _name(older[1]), _name(older[0])}  # pinned and damaged stay
    assert sorted(p.name for p in (target / older[1].folder).iterdir()) == [
        "01-database.enc", "01-database.enc.sha256", "02-folder.enc.sha256", "manifest.enc", "manifest.enc.sha256"]
    runs = [(r.trigger, r.result, r.target, r.set_id) for r in RunHistory(console.paths).records("records")]
    assert runs == [("manual", "ok", "vault", made.set_id), ("replication", "ok", s3_target.name, made.set_id),
                    ("prune", "ok", f"vault,{s3_target.name}", None)]
    prune_run = RunHistory(console.paths).records("records")[-1]
    assert prune_run.reason == "2 deleted"
    deletions = [e for e in console.audit.entries() if e.action == "backup.delete-set"]
    assert len(deletions) == 2 and all(e.result == "ok" and e.detail["by"] == "prune" for e in deletions)
    assert [e.action for e in console.audit.entries()].count("backup.copy-set") == 1


def test_a_failed_copy_makes_the_run_partial_skips_the_prune_and_the_next_run_copies_that_set_too(
        console, records_profile, tmp_path):  # noqa: F811
    second = tmp_path / "second"
    second.mkdir()
    console.add_target(TargetConfig(name="second", kind="local", options={"path": str(second)}))
    older = _sets(console, range(2))
    console.profiles.set_policy("records", _policy(("second",), RetentionRules(keep_last=2)))
    shutil.rmtree(second)
    second.write_text("not a folder")  # the secondary cannot take a file now

    first = run_now(console, "records", secret=SECRET, now=START + timedelta(days=3))
    assert (first.result, first.exit_code) == ("ok", ExitCode.PARTIAL)
    assert "replication to second failed" in first.reason and "not pruned: a step before it failed" in first.reason
    first_set = find_set(console, first.record.set_id, "vault")
    assert first_set is not None and _folders(tmp_path / "target") == {_name(r) for r in [*older, first_set]}

    second.unlink()
    second.mkdir()
    again = run_now(console, "records", secret=SECRET, now=START + timedelta(days=4))
    assert (again.result, again.exit_code, again.reason) == ("ok", ExitCode.OK, ""), again.reason
    copied = {s.set_id for s in list_sets(console, ["second"])[0]}
    assert copied == {first.record.set_id, again.record.set_id}  # the one the first run left undone, too
    runs = [(r.trigger, r.result, r.set_id) for r in RunHistory(console.paths).records("records")
            if r.trigger == "replication"]
    assert runs == [("replication", "failed", first.record.set_id), ("replication", "ok", again.record.set_id),
                    ("replication", "ok", first.record.set_id)]
    assert RunHistory(console.paths).records("records")[-1].reason == "2 deleted"  # keep last 2: the older two
    assert {s.set_id for s in list_sets(console)[0] if s.target == "vault"} == {first.record.set_id,
                                                                               again.record.set_id}


def test_a_kept_set_holds_back_the_secret_its_manifest_opens_with(secret_service, console, local_target, pg15,
                                                                  pg_server_factory, tmp_path, monkeypatch, capsys):
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "a.txt").write_text("a\n", "utf-8")
    name = pg15.createdb("rotation_sets")
    console.profiles.create("records", pg15.dsn(name), target=local_target, instance_secret=SECRET,
                            tool_dirs=[str(pg_server_factory.bin_dir(15))])
    from recovery_console.engine.state.profile_members import ProfileMembers
    from recovery_console.models.profile import ConnectionMode

    console.profiles.set_mode("records", ConnectionMode.DIRECT, acknowledge_direct=True)
    ProfileMembers(console.profiles).add_folder("records", "vault", str(vault))
    rotation = SecretRotation(console)
    original = rotation.secrets("records")[0].label
    old = backup_set(console, "records", secret=SECRET, iterations=FAST_ITERATIONS, now=lambda: START)
    newest = rotation.add("records", "2026-12 key").generated
    assert newest is not None
    new = backup_set(console, "records", secret=newest, iterations=FAST_ITERATIONS,
                     now=lambda: START + timedelta(days=1))
    console.profiles.set_policy("records", Policy(retention=RetentionRules(keep_last=1)))
    assert rotation.needed_by("records", original) == []  # the old set is not kept
    assert [r.key for r in rotation.needed_by("records", "2026-12 key")] == [new.folder]

    pin_set(console, [old], "case 9")
    assert [(type(r), r.key) for r in rotation.needed_by("records", original)] == [(SetRecord, old.folder)]
    with pytest.raises(UsageError, match=f"1 kept set: set {old.short_id}"):
        rotation.remove("records", original)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["profile", "secret", "remove", "records", original]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"still opens 1 kept set: set {old.short_id} (" in err and "--force --confirm" in err
    with pytest.raises(UsageError, match="does not match"):
        rotation.remove("records", original, force=True, confirm="wrong")
    assert rotation.remove("records", original, force=True, confirm=original).label == original
    removal = [e for e in console.audit.entries() if e.action == "profile.secret-remove"][-1]
    assert removal.result == "ok" and removal.detail["needed_by"] == [f"set {old.short_id}"]
    with pytest.raises(UsageError, match=f"set {new.short_id}"):  # the newest set, kept, needs the newest secret
        rotation.remove("records", "2026-12 key", force=False)


def test_target_usage_counts_sets(console, records_profile, tmp_path, monkeypatch, capsys):  # noqa: F811
    made = _sets(console, range(2))
    on_disk = sum(p.stat().st_size for p in (tmp_path / "target").rglob("*") if p.is_file())
    assert usage_by_target(console) == {"vault": on_disk} and on_disk == sum(r.size for r in made)
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path))
    assert main(["target", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["targets"]
    assert [(t["name"], t["used_bytes"]) for t in listed] == [("vault", on_disk)]


def test_the_prune_of_a_run_whose_clock_is_behind_keeps_the_set_it_made(console, records_profile,  # noqa: F811
                                                                        tmp_path):
    later = _sets(console, range(5, 7))  # sets dated after the run's (skewed) clock
    verify_set(console, later[1], SECRET)  # the newest fully verified set is one of them, not the run's
    console.profiles.set_policy("records", _policy((), RetentionRules(keep_last=1)))
    outcome = run_now(console, "records", secret=SECRET, now=START)
    assert (outcome.result, outcome.exit_code, outcome.reason) == ("ok", ExitCode.OK, ""), outcome.reason
    made = find_set(console, outcome.record.set_id, "vault")
    assert made is not None and made.created < later[0].created
    assert _folders(tmp_path / "target") == {_name(made), _name(later[1])}  # keep last 1, and what the run made
    assert RunHistory(console.paths).records("records")[-1].reason == "1 deleted"


def test_a_run_cancelled_while_copying_names_its_set_and_the_next_run_copies_it(console, records_profile,  # noqa: F811
                                                                               tmp_path):
    second = tmp_path / "second"
    second.mkdir()
    console.add_target(TargetConfig(name="second", kind="local", options={"path": str(second)}))
    console.profiles.set_policy("records", _policy(("second",), RetentionRules(keep_last=5)))
    phases: list[Phase] = []
    reporter = Reporter(min_interval=0)

    def cancel_in_the_copy(progress: Progress) -> None:
        phases.append(progress.phase)
        if progress.phase == Phase.UPLOAD and Phase.VERIFY in phases:
            reporter.token.cancel()

    reporter.sink = cancel_in_the_copy
    cancelled = run_now(console, "records", secret=SECRET, now=START, reporter=reporter)
    assert (cancelled.result, cancelled.exit_code) == ("cancelled", ExitCode.CANCELLED)
    assert cancelled.record.set_id is not None and list_sets(console, ["second"])[0] == []
    assert not second.exists() or _folders(second) == set()  # the copy this run started is removed

    again = run_now(console, "records", secret=SECRET, now=START + timedelta(days=1))
    assert (again.result, again.exit_code, again.reason) == ("ok", ExitCode.OK, ""), again.reason
    assert {s.set_id for s in list_sets(console, ["second"])[0]} == {cancelled.record.set_id, again.record.set_id}
