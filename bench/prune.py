"""Benchmark: planning a prune over 10,000 backups (no key derivation, no payload read).

    python bench/prune.py [--count 10000]

Two figures: the pure planner (engine/retention.py) over 10,000 catalog records of one target, and the
console's whole planning path (engine/prune.py `plan`: profile, catalog records of the target, pins,
the plan) over a real local target holding 10,000 named (empty) backup files, already synced, as a
run-due after a backup finds it. Target: <= 1 s each, and no key derivation (counted: PBKDF2 calls).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recovery_console.engine.console import Console  # noqa: E402
from recovery_console.engine.container import format as fmt  # noqa: E402
from recovery_console.engine.prune import plan  # noqa: E402
from recovery_console.engine.retention import plan_prune  # noqa: E402
from recovery_console.engine.state.paths import AppPaths  # noqa: E402
from recovery_console.models.backup import BackupRecord  # noqa: E402
from recovery_console.models.retention import RetentionRules  # noqa: E402
from recovery_console.models.target import TargetConfig  # noqa: E402

RULES = RetentionRules(keep_last=7, keep_within_days=2, keep_daily=14, keep_weekly=8, keep_monthly=24)
LIMIT = 1.0


def names(count: int) -> list[tuple[str, str]]:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    out = []
    for n in range(count):
        when = start + timedelta(hours=5 * n)
        out.append((f"backups/rc_backup_{when:%Y%m%d-%H-%M-%S}-0.1.0-scheduled-{n:08x}.enc",
                    when.isoformat().replace("+00:00", "Z")))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    derivations = []
    real_pbkdf2 = fmt._pbkdf2
    fmt._pbkdf2 = lambda *a: derivations.append(1) or real_pbkdf2(*a)  # counts; derives as before
    listing = names(args.count)
    records = [BackupRecord(short_id=f"{n:08x}", target="vault", key=key, size=1, mtime=0.0, created=created)
               for n, (key, created) in enumerate(listing)]
    began = time.perf_counter()
    pure = plan_prune("vault", records, RULES, pinned={records[0].key: "case 1"})
    pure_s = time.perf_counter() - began

    with tempfile.TemporaryDirectory(prefix="rc-bench-prune-") as tmp:
        folder = Path(tmp) / "vault" / "backups"
        folder.mkdir(parents=True)
        for key, _ in listing:
            (folder.parent / key).touch()
        console = Console(AppPaths(config_dir=Path(tmp) / "config", data_dir=Path(tmp) / "data"))
        console.add_target(TargetConfig(name="vault", kind="local", options={"path": str(folder.parent)}))
        console.profiles.create("prod", "postgresql://backup@db:5432/app", target="vault")
        began = time.perf_counter()
        console.sync("vault")
        sync_s = time.perf_counter() - began
        began = time.perf_counter()
        plans = plan(console, "prod", RULES, sync=False)
        whole_s = time.perf_counter() - began

    print(f"backups:                       {args.count:,} ({RULES.summary()})")
    print(f"pure plan:                     {pure_s:.3f} s  keep {len(pure.kept)}, delete {len(pure.deleted)}")
    print(f"console plan (catalog + pins): {whole_s:.3f} s  keep {len(plans[0].kept)}, "
          f"delete {len(plans[0].deleted)}")
    print(f"(information) first sync of the 10,000 names into the catalog: {sync_s:.3f} s")
    print(f"key derivations while planning: {len(derivations)}")
    print(f"ratios to the {LIMIT:.1f} s target: pure {pure_s / LIMIT:.2f}, console {whole_s / LIMIT:.2f}")
    ok = pure_s <= LIMIT and whole_s <= LIMIT and not derivations
    print(f"target <= {LIMIT:.1f} s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
