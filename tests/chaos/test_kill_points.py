"""Kill the console with SIGTERM and SIGKILL at chosen moments of backup (live and --from), upload,
download, decrypt, verify and restore (in place and into a new database, --jobs 1 and 2), then start it
again and check that nothing was lost, nothing half-made is listed, and nothing secret stayed on disk.

Each moment is chosen by progress, not by time: the phase and percent (or bytes) the console draws on
its terminal, a process it started, or a database it created. After the kill (and kill -9 of anything it
left running, as a reboot would), the checks are:

- the catalog as the killed process left it (the engine call behind `backup list --no-sync`), then the
  next start: `backup list --json` (synced from the targets), which must work;
- every backup either listing shows verifies in full, and no other object is visible on the targets
  (a hidden temporary one is tolerated after SIGKILL only: nothing can remove it then);
- no file under TMPDIR, the console's home, the runtime folder, the output folder or the targets is
  named *.part / archive.dump / toc.dump / pgpass, holds the pg_dump magic (a whole decrypt output excepted), or
  holds the instance secret, the database password or a target secret;
- the original database is as it was (a kill after the swap leaves it kept whole, and rollback
  brings it back);
- after SIGTERM also: the console exits within 30 s without a traceback, stops what it started, and
  leaves no scratch or half-restored database.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recovery_console.engine.restore import Restorer
from tests.chaos.conftest import DATABASE, Scene
from tests.chaos.harness import Child, KillOutcome, MiB, has_descendant, kill, scan, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(180)]

SECRET_ARGS = ("--secret-key-env", "CHAOS_SECRET")
NEW_DATABASE = "chaos_copy"
DECRYPTED = "decrypted.dump"


@dataclass(frozen=True)
class Operation:
    """How to start one console command in a scene; `seed` names the target that must hold the seed backup."""

    name: str
    argv: Callable[[Scene, str], list[str]]
    seed: str | None = None
    database: bool = False


def _upload_argv(target: str) -> Callable[[Scene, str], list[str]]:
    def argv(scene: Scene, _: str) -> list[str]:
        source = scene.root / "src"
        source.mkdir(exist_ok=True)
        seed = scene.world.seed_dir / scene.world.seed_key
        for suffix in ("", ".sha256"):
            shutil.copyfile(f"{seed}{suffix}", source / f"{seed.name}{suffix}")
        return ["backup", "upload", str(source / seed.name), "--target", target, *SECRET_ARGS]
    return argv


def _restore_argv(*extra: str) -> Callable[[Scene, str], list[str]]:
    return lambda scene, backup: ["restore", "run", backup, "--profile", "prod", "--target", "disk", "--yes",
                                  *SECRET_ARGS, *extra]


def _live_to(target: str) -> Callable[[Scene, str], list[str]]:
    def argv(scene: Scene, _: str) -> list[str]:
        if target != "disk":
            scene.app.profiles.set_target("prod", target)
        return ["backup", "create", "--profile", "prod", *SECRET_ARGS]
    return argv


OPERATIONS = {op.name: op for op in (
    Operation("backup-live-disk", _live_to("disk"), database=True),
    Operation("backup-live-s3", _live_to("s3"), database=True),
    Operation("backup-from-sftp", lambda s, _: ["backup", "create", "--from", str(s.world.archive), "--target", "sftp",
                                                *SECRET_ARGS]),
    Operation("backup-from-s3", lambda s, _: ["backup", "create", "--from", str(s.world.archive), "--target", "s3",
                                              *SECRET_ARGS]),
    Operation("upload-s3", _upload_argv("s3")),
    Operation("upload-sftp", _upload_argv("sftp")),
    Operation("download-s3", lambda s, b: ["backup", "download", b, "--target", "s3", "-o", str(s.out)], seed="s3"),
    Operation("download-sftp", lambda s, b: ["backup", "download", b, "--target", "sftp", "-o", str(s.out)],
              seed="sftp"),
    Operation("decrypt-disk", lambda s, b: ["decrypt", b, "--target", "disk", "-o", str(s.out / DECRYPTED),
                                            *SECRET_ARGS], seed="disk"),
    Operation("decrypt-s3", lambda s, b: ["decrypt", b, "--target", "s3", "-o", str(s.out / DECRYPTED), *SECRET_ARGS],
              seed="s3"),
    Operation("verify-sftp", lambda s, b: ["backup", "verify", b, "--target", "sftp", *SECRET_ARGS], seed="sftp"),
    Operation("verify-s3", lambda s, b: ["backup", "verify", b, "--target", "s3", *SECRET_ARGS], seed="s3"),
    Operation("restore-inplace-j1", _restore_argv(), seed="disk", database=True),
    Operation("restore-inplace-j1-verify-first", _restore_argv("--verify-first"), seed="disk", database=True),
    Operation("restore-inplace-j2", _restore_argv("--jobs", "2"), seed="disk", database=True),
    Operation("restore-newdb-j1", _restore_argv("--new-database", NEW_DATABASE), seed="disk", database=True),
    Operation("restore-newdb-j2", _restore_argv("--new-database", NEW_DATABASE, "--jobs", "2"), seed="disk",
              database=True),
)}


def phase(name: str, fraction: float | None = None, done: int | None = None) -> Callable[[Scene, Child], bool]:
    return lambda scene, child: child.reached(name, fraction=fraction, done=done)


def _is_final(path: Path) -> bool:
    """An output or object under its final name: it appears only when the work is done."""
    return not path.name.startswith(".") and (path.name == DECRYPTED or path.name.endswith((".enc", ".enc.sha256")))


def written(where: tuple[str, ...], share: float = 0.0, nbytes: int = 0) -> Callable[[Scene, Child], bool]:
    """Some file in the named folders of the scene (temp, runtime, output, a target…) already holds `nbytes`,
    or `share` of the source archive's size. Polled every few ms: a fast transfer can finish between two
    progress lines; and wherever a fix moves its temporary file among these folders, the moment is the same."""
    def reached(scene: Scene, child: Child) -> bool:
        least = max(nbytes, int(share * scene.world.archive.stat().st_size))
        for folder in where:
            root = scene.target_dirs.get(folder, scene.root / folder)
            for path in root.rglob("*"):
                if _is_final(path):
                    continue
                try:
                    if path.is_file() and path.stat().st_size >= least:
                        return True
                except OSError:  # renamed or removed under us
                    continue
        return False
    return reached


def pg_dump_connected(scene: Scene, child: Child) -> bool:
    """pg_dump runs and has logged in as the profile's role (so its password reached it)."""
    out = scene.world.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'chaos' "
                              "AND application_name = 'pg_dump'")
    return out.strip() not in ("", "0") and has_descendant(child, "pg_dump")


def copying_rows(scene: Scene, child: Child) -> bool:
    """pg_restore is copying rows (into the scratch copy or the new database) right now."""
    out = scene.world.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY%' "
                              f"AND datname <> '{DATABASE}'")
    return child.reached("decrypt") and out.strip() not in ("", "0")


POINTS: dict[str, Callable[[Scene, Child], bool]] = {
    "pg_dump connected": pg_dump_connected,
    "encrypted 8 MiB": phase("encrypt", done=8 * MiB),
    "encrypted 24 MiB": phase("encrypt", done=24 * MiB),
    "encrypted 20%": phase("encrypt", 0.2),
    "encrypted 60%": phase("encrypt", 0.6),
    "verified 50% before upload": phase("verify", 0.5),
    "uploaded 50%": phase("upload", 0.5),
    "uploaded 12 MiB": written(("sftp",), nbytes=12 * MiB),
    "downloaded 8 MiB": written(("out", "tmp", "run"), nbytes=8 * MiB),
    "decrypted 30%": phase("decrypt", 0.3),
    "decrypted 90%": written(("out", "tmp", "run"), share=0.9),
    "decrypted 60%": phase("decrypt", 0.6),
    "verified 50%": phase("verify", 0.5),
    "verified 20%": phase("verify", 0.2),
    "pre-flight verify 50%": phase("verify", 0.5),
    "pg_restore copying rows": copying_rows,
    "decrypted 50%, streaming into pg_restore": phase("decrypt", 0.5),
    "pg_restore --jobs running": lambda scene, child: child.reached("restore") and has_descendant(child, "pg_restore"),
    "checking row counts": phase("check"),
    "swapping": phase("swap"),
}

TERM, KILL = signal.SIGTERM, signal.SIGKILL
CASES = [  # (operation, point, signal): 23 kill points, 9 of them with both signals: 32 kills
    ("backup-live-disk", "pg_dump connected", TERM),
    ("backup-live-disk", "encrypted 8 MiB", TERM),
    ("backup-live-disk", "encrypted 8 MiB", KILL),
    ("backup-live-s3", "encrypted 24 MiB", TERM),
    ("backup-live-s3", "encrypted 24 MiB", KILL),
    ("backup-from-sftp", "encrypted 60%", TERM),
    ("backup-from-sftp", "encrypted 60%", KILL),
    ("backup-from-s3", "encrypted 20%", KILL),
    ("upload-s3", "verified 50% before upload", TERM),
    ("upload-s3", "uploaded 50%", TERM),
    ("upload-s3", "uploaded 50%", KILL),
    ("upload-sftp", "uploaded 12 MiB", KILL),
    ("download-s3", "downloaded 8 MiB", TERM),
    ("download-s3", "downloaded 8 MiB", KILL),
    ("download-sftp", "downloaded 8 MiB", TERM),  # a file size polled every few ms: a fast SFTP read can end
                                                  # between two progress lines (a CI run never saw its 30 %)
    ("decrypt-disk", "decrypted 30%", TERM),
    ("decrypt-disk", "decrypted 30%", KILL),
    ("decrypt-disk", "decrypted 90%", KILL),
    ("decrypt-s3", "decrypted 60%", TERM),
    ("verify-sftp", "verified 50%", TERM),
    ("verify-s3", "verified 20%", KILL),
    ("restore-inplace-j1-verify-first", "pre-flight verify 50%", TERM),
    ("restore-inplace-j1", "pg_restore copying rows", TERM),
    ("restore-inplace-j1", "pg_restore copying rows", KILL),
    ("restore-inplace-j1", "checking row counts", KILL),
    ("restore-inplace-j1", "swapping", KILL),
    ("restore-inplace-j2", "decrypted 50%, streaming into pg_restore", TERM),
    ("restore-inplace-j2", "decrypted 50%, streaming into pg_restore", KILL),
    ("restore-inplace-j2", "pg_restore --jobs running", TERM),
    ("restore-newdb-j1", "pg_restore copying rows", TERM),
    ("restore-newdb-j1", "pg_restore copying rows", KILL),
    ("restore-newdb-j2", "pg_restore --jobs running", KILL),
]


def _case_id(case: tuple[str, str, int]) -> str:
    op, point, sig = case
    return f"{op}-{point.replace(' ', '_').replace('%', 'pct')}-{signal.Signals(sig).name}"


# --- the checks ------------------------------------------------------------------------------------

def _is_hidden(key: str) -> bool:
    return any(part.startswith(".") for part in key.split("/"))


def _target_keys(scene: Scene, target: str) -> tuple[list[str], list[str]]:
    """(visible keys, hidden temporary keys and unfinished multipart uploads) on a target."""
    keys: list[str] = []
    if target == "s3":
        client = scene.s3.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=scene.bucket):
            keys += [item["Key"] for item in page.get("Contents", [])]
        try:
            uploads = client.list_multipart_uploads(Bucket=scene.bucket).get("Uploads", [])
        except ClientError as exc:  # rclone answers NoSuchUpload when there is none
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            uploads = []
        keys += [f".multipart-upload/{u['Key']}" for u in uploads]
    else:
        root = scene.target_dirs[target]
        keys = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    hidden = [k for k in keys if _is_hidden(k)]
    return [k for k in keys if k not in hidden], hidden


def _check_targets(scene: Scene, sig: int, problems: list[str]) -> None:
    for target in scene.target_dirs:
        visible, hidden = _target_keys(scene, target)
        odd = [k for k in visible if not k.endswith((".enc", ".enc.sha256"))]
        if odd:
            problems.append(f"partial or foreign objects visible on {target}: {odd}")
        if hidden and sig == TERM:
            problems.append(f"temporary objects left on {target} after SIGTERM: {hidden}")


def _check_listed(scene: Scene, listings: dict[str, list[dict[str, Any]]], problems: list[str]) -> None:
    """Every backup a listing shows must verify in full (checked in-process, on the same home)."""
    seen: set[tuple[str, str]] = set()
    for how, records in listings.items():
        for record in records:
            key = (record["target"], record["key"])
            if key in seen:
                continue
            seen.add(key)
            try:
                ref = scene.app.locate(record["backup_id"], record["target"])
                scene.app.verify(ref, scene.world.secret)
            except Exception as exc:  # noqa: BLE001 - every failure is a finding, reported with the others
                problems.append(f"`backup list{how}` shows {record['target']}:{record['key']}, which does not "
                                f"verify: {type(exc).__name__}: {exc}")


def _wait_sessions_gone(scene: Scene) -> None:
    """Until the server has ended the killed console's and its tools' sessions (or 30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = scene.world.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'chaos'")
        if out.strip() == "0":
            return
        time.sleep(0.05)


def _check_database(scene: Scene, databases_before: set[str], sig: int, problems: list[str]) -> None:
    world = scene.world
    _wait_sessions_gone(scene)
    new = set(world.pg.databases()) - databases_before
    kept = sorted(db for db in new if "__pre_restore_" in db)
    if kept:  # killed after the swap: the original is kept whole under its pre-restore name
        if world.fingerprints(kept[-1]) != world.before:
            problems.append(f"the original, kept as {kept[-1]} after the swap, is not as it was")
        try:
            Restorer(scene.app).rollback("prod", kept[-1])
        except Exception as exc:  # noqa: BLE001 - reported with the other findings
            problems.append(f"rollback to {kept[-1]} failed: {type(exc).__name__}: {exc}")
    elif sig == TERM:
        half = sorted(db for db in new if "__undone_" not in db)
        if half:
            problems.append(f"SIGTERM left scratch or half-restored databases: {half}")
    if DATABASE not in world.pg.databases():
        problems.append(f"the original database {DATABASE} is gone")
    elif world.fingerprints() != world.before:
        problems.append(f"the original database {DATABASE} changed (row counts or checksums differ)")
    for db in set(world.pg.databases()) - databases_before:
        world.pg.dropdb(db)


def _allowed_plaintext(scene: Scene) -> list[Path]:
    """A decrypt output that appeared is allowed only when it is whole: byte for byte the source archive."""
    output = scene.out / DECRYPTED
    if output.is_file() and hashlib.sha256(output.read_bytes()).hexdigest() == scene.world.archive_sha256:
        return [output]
    return []


def _check_seed_verdict(scene: Scene, seed: str | None, problems: list[str]) -> None:
    """A kill is not a verdict: the seed's recorded full verify must survive it."""
    if not seed:
        return
    records = [r for r in scene.app.catalog.records([seed]) if r.key == scene.world.seed_key]
    if not records or records[0].verify_result != "ok":
        problems.append(f"the seed backup's verify verdict on {seed} changed to "
                        f"{records[0].verify_result if records else 'nothing (it left the catalog)'}")


def check_after_kill(scene: Scene, child: Child, outcome: KillOutcome, databases_before: set[str],
                     seed: str | None) -> list[str]:
    problems: list[str] = []
    sig = outcome.signal
    if sig == TERM:
        if not outcome.exited_in_time:
            problems.append("the console ignored SIGTERM for 30 s")
        if "Traceback" in child.stderr():
            problems.append(f"SIGTERM printed a traceback: {child.stderr()[-800:]}")
        if outcome.survivors:
            problems.append(f"processes the console started outlived its SIGTERM: {outcome.survivors}")
    # The catalog as the killed process left it (what `backup list --no-sync` shows), then the next start.
    catalog_only = [r.as_dict() for r in scene.app.list_backups(sync=False)[0]]
    listings = {" --no-sync": catalog_only, "": scene.listed(problems)}
    leftovers = scan(scene.scanned, scene.needles, _allowed_plaintext(scene))
    problems += [f"left on disk: {finding}" for finding in leftovers]
    _check_targets(scene, sig, problems)
    _check_seed_verdict(scene, seed, problems)
    _check_listed(scene, listings, problems)
    if databases_before:
        _check_database(scene, databases_before, sig, problems)
    return problems


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_kill(scene: Scene, case: tuple[str, str, int]) -> None:
    op_name, point, sig = case
    operation = OPERATIONS[op_name]
    backup = scene.seed(operation.seed) if operation.seed else ""
    if operation.database:
        scene.databases_before = set(scene.world.pg.databases())
    child = scene.start(*operation.argv(scene, backup))
    condition = POINTS[point]
    wait_for(child, lambda: condition(scene, child), point)
    outcome = kill(child, sig)
    problems = check_after_kill(scene, child, outcome, scene.databases_before, operation.seed)
    assert not problems, f"after {signal.Signals(sig).name} at '{point}' of {op_name}:\n- " + "\n- ".join(problems)
