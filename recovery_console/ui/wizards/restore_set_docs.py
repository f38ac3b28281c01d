"""The restore wizard's recovery-set pages filled with example data for docs (nothing runs, nothing is read)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from recovery_console.engine.backup_ref import BackupRef
from recovery_console.engine.restore import RestoreResult, TableCheck
from recovery_console.engine.restore_preflight import Check, RestorePlan
from recovery_console.engine.sets.manifest import ManifestMember, SetManifest
from recovery_console.engine.sets.set_catalog import COMPLETE, SetRecord
from recovery_console.engine.sets.set_restore import MemberOutcome, MemberPreflight, MemberStep, SetRestoreResult
from recovery_console.engine.vault.vault_extract import Extracted
from recovery_console.models.profile import ConnectionMode, Profile
from recovery_console.ui.widgets.table_items import table_item
from recovery_console.ui.wizards.restore_set_run_pages import fit_rows, member_title, result_html

if TYPE_CHECKING:
    from recovery_console.ui.wizards.restore import RestoreWizard

SET_ID = "5d0c2a91-7b43-4f0e-9c1d-2e8f6a4b7c30"
VAULT = "/srv/records/attachments"
VAULT_PATH = Path(VAULT)


def _member(index: int, kind: str, name: str, size: int, **where: str) -> ManifestMember:
    return ManifestMember(index, kind, name, f"{index:02d}-{kind}.enc", f"{index:08d}-0000-4000-8000-000000000000",
                          size, "0" * 64, size * 3, "0" * 64, "2026-12-07T02:00:01Z", "2026-12-07T02:00:09Z", **where)


def example_set() -> SetRecord:
    members = (_member(1, "database", "main", 48_213_504, database="records", server_version="15.8"),
               _member(2, "database", "results", 311_427_072, database="results", server_version="15.8"),
               _member(3, "folder", "vault", 1_932_735_283, folder=VAULT))
    manifest = SetManifest(SET_ID, "2026-12-07T02:00:00Z", "2026-12-07T02:00:41Z", "0.1.0", "scheduled", "records",
                           members=members)
    return SetRecord("vault", "sets/rc_set_20261207-02-00-00-0.1.0-scheduled-5d0c2a91/", "5d0c2a91",
                     "2026-12-07T02:00:00Z", "0.1.0", "scheduled", {m.key: m.size for m in members},
                     tuple(m.key for m in members), manifest, "2026-12-07T03:10:00Z", "ok", "full", COMPLETE)


def _db_plan(name: str, database: str, record: SetRecord) -> RestorePlan:
    profile = Profile(name=name, database_url=f"postgresql://backup@db.example.com:5432/{database}",
                      mode=ConnectionMode.DIRECT, direct_acknowledged=True)
    checks = [Check("server reachable", "pass", "PostgreSQL 15.8"),
              Check("database exists", "pass", database),
              Check("connected sessions", "warn", "3 sessions (app@web) will be disconnected at the swap"),
              Check("free space on the server", "pass", "76.0 GiB free, about 1.1 GiB needed"),
              Check("backup fully verified", "pass", "decrypted and verified now: every chunk, the archive's SHA-256"),
              Check("pg_restore compatible", "pass", "/usr/lib/postgresql/15/bin/pg_restore 15.8 reads archive 1.15")]
    return RestorePlan(profile, BackupRef(location=f"vault:{record.folder}", record=None), database, False, 1, checks,
                       stamp="20261207093000")


def set_screenshot_pages(wizard: RestoreWizard) -> list[tuple[str, QWidget]]:
    """(file name, page) for the set's members, its pre-flight and the run's end (a vault restored in place)."""
    record = example_set()
    assert record.manifest is not None
    manifest = record.manifest
    if wizard.backup_page.profile_combo.findData("records") < 0:
        wizard.backup_page.profile_combo.addItem("records", "records")
    wizard.backup_page.profile_combo.setCurrentIndex(wizard.backup_page.profile_combo.findData("records"))
    wizard.backup_page.show_records([], [record])
    members = wizard.set_members_page
    members.loaded_for = (record.target, record.folder)
    members.show_members(manifest, {"results": ["results-db"]})
    plan = members.plan
    assert plan is not None, members.status.text()
    main, results, vault = manifest.members
    checked = [MemberPreflight(main, "records", _db_plan("records", "records", record)),
               MemberPreflight(results, "results-db", _db_plan("results-db", "results", record)),
               MemberPreflight(vault, checks=[Check("folder vault", "pass", f"{VAULT} is replaced by swap, the "
                                                "previous one kept beside it as attachments.pre_restore_<time>")])]
    wizard.set_preflight_page.panel.setVisible(False)
    wizard.set_preflight_page.show_checks(plan, checked)
    run = wizard.set_run_page
    run.panel.setVisible(False)
    run.table.setRowCount(len(checked))
    for row, entry in enumerate(checked):
        for column, text in enumerate((entry.member.name, entry.member.kind, "waiting", member_title(plan, entry))):
            run.table.setItem(row, column, table_item(text))
    for entry in checked:
        run.show_step(MemberStep(entry.member.name, "restored"))
    fit_rows(run.table)
    tables = [TableCheck("public", "t", 2000, 2000)]
    result = SetRestoreResult(SET_ID, [
        MemberOutcome(main, "records", restore=RestoreResult("records", "records__pre_restore_20261207093000", tables,
                                                             "pg_restore 15.8", [])),
        MemberOutcome(results, "results-db", restore=RestoreResult(
            "results", "results__pre_restore_20261207093112", tables, "pg_restore 15.8", [])),
        MemberOutcome(vault, folder=Extracted(
            folder=VAULT_PATH, files=4_812, directories=311, links=12, content_bytes=2_104_000_000,
            refused=["link to etc: 'link to etc' is a link to an absolute path",
                     "../outside.txt: the name leads out of the folder"],
            kept_previous=VAULT_PATH.with_name("attachments.pre_restore_20261207T093301Z")))])
    run.result = result  # so that opening the page for a picture runs nothing
    run.status.setText(result_html(plan, result))
    return [("restore_set_members", members), ("restore_set_preflight", wizard.set_preflight_page),
            ("restore_set_vault", run)]

