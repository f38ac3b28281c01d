"""Settings pg_restore's own sessions run with: ones any role may set for itself (PGOPTIONS), that make a
restore faster and change nothing the restored database keeps.

- `synchronous_commit=off`: pg_restore commits every object on its own, each commit waiting for a WAL
  flush; a schema of thousands of objects spends seconds on that. Nothing is lost by it: the
  restored copy is used only after the console's own commits that follow it (the checked mark and the
  swap in place, the restored-from mark of a new database), which run synchronously and so flush the
  WAL through every record before them; a crash before that leaves a scratch copy the journal drops.
- `maintenance_work_mem`: index builds sort in memory instead of on disk. Raised so that all jobs
  together use at most RESTORE_SORT_BUDGET, and never below what the server already gives a session.

Session settings only: nothing is written to the server's or the database's configuration. A
`PGOPTIONS` of the user's is kept and wins (it goes after ours: the last setting of a name counts);
an `options` in the profile's URL replaces PGOPTIONS altogether (libpq's rule), and then the
server's own settings apply.
"""

from __future__ import annotations

RESTORE_SORT_BUDGET_KB = 256 * 1024


def session_options(server_maintenance_kb: int | None, jobs: int) -> str:
    """The `-c name=value` options for each pg_restore session (jobs: how many run at once)."""
    options = ["-c synchronous_commit=off"]
    per_job = RESTORE_SORT_BUDGET_KB // max(1, jobs)
    if server_maintenance_kb is not None and per_job > server_maintenance_kb:
        options.append(f"-c maintenance_work_mem={per_job}kB")
    return " ".join(options)


def with_session_options(env: dict[str, str], options: str) -> dict[str, str]:
    """`env` with `options` put before its PGOPTIONS, if any (the user's own options win)."""
    return {**env, "PGOPTIONS": " ".join(part for part in (options, env.get("PGOPTIONS", "").strip()) if part)}
