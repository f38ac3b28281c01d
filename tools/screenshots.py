"""Render the desktop console's windows and dialogs to PNG files under docs/screenshots/.

    QT_QPA_PLATFORM=offscreen python tools/screenshots.py [--out docs/screenshots] [--home DIR]

Works on a throw-away demo home (`recovery_console.engine.demo.set_up`: a local target with real
backups of the sample archives shipped in the package), so every screenshot shows real data:

  main_window.png          the backup browser with a backup selected, its metadata and contents
  main_window_dark.png     the same in the dark style
  main_window_blocked.png  the overlay shown while a restore runs
  verify_passed.png        the verify dialog after a full verify passed
  verify_failed.png        the verify dialog after verifying a damaged copy
  main_window_1024.png     the backup browser on a 1024×768 screen
  audit_log.png            the audit view after Verify chain
  target_dialog.png        editing the demo's storage target, after Test connection passed
  profile_dialog.png       editing a profile: URL, connection mode, target
  open_backup_file.png     File › Open backup file… after its full verify, with the file's SHA-256
  profile_policy.png       the Policy page of the profile editor, with its live summary
  health_view.png          the Health view: a profile past its RPO and one with a skipped run
  workbench_rows.png       the forensic workbench on a backup: its tables and one table's rows
  workbench_search.png     the workbench's search across every table
  workbench_diff.png       the workbench's Compare view: two dumps of tests/data compared, one table's rows
  workbench_diff_1024.png  the same on a 1024×768 screen
  restore_set_members.png  the restore wizard on a recovery set: its members, each database's profile, the vault's
                           place (in place or a new folder); restore_set_preflight.png each member's checks;
                           restore_set_vault.png the end of a set restore (the vault swapped in place, refused
                           tar members by name); each also as *_1024.png for a 1024×768 screen

and, when the wizards are importable, one PNG per page of the setup, restore and extraction
wizards, from each module's `screenshot_pages()` (a module-level function, or else the method
of a wizard built over the demo console) returning (file name or page title, widget) pairs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSize, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

MAIN_SIZE = QSize(1366, 768)
SMALL_SIZE = QSize(1024, 768)


def spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what or condition}")
        spin(20)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "page"


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[Path] = []

    def save(self, name: str, widget: QWidget) -> Path:
        if not name.endswith(".png"):
            name += ".png"
        spin(50)
        path = self.out / name
        if not widget.grab().save(str(path)):
            raise SystemExit(f"could not write {path}")
        self.written.append(path)
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
        return path


def main_window_shots(shooter: Shooter, demo: Any) -> None:
    from recovery_console.models.profile import ConnectionMode
    from recovery_console.ui import theme
    from recovery_console.ui.app import create_main_window

    app = QApplication.instance()
    profiles = demo.console.profiles
    if "shop" not in profiles.store.load():  # a profile for the picture (no secret stored: none is needed)
        profiles.create("shop", "postgresql://backup@db.example.com:5432/shop", target="demo")
        profiles.set_mode("shop", ConnectionMode.DIRECT, acknowledge_direct=True)
    window = create_main_window(demo.console, "shop")
    window.secrets.remember(demo.secret, "demo", profile="shop")
    window.show()
    wait_for(lambda: window.browser.model.rowCount() > 0 and not window.runner.running, what="the backup list")
    window.resize(MAIN_SIZE)  # once shown: the offscreen screen clamps a first show to its own 800 px
    spin(200)
    window.select_target("demo")
    window.controller.backups.test_target()  # a real round trip: the target's badge turns green
    wait_for(lambda: not window.runner.running, what="the target test")
    window.browser.table.selectRow(0)
    wait_for(lambda: window.details.metadata is not None and not window.runner.running, what="the metadata")
    window.details.load_contents()
    wait_for(lambda: window.details.archive is not None, what="the contents")
    window.statusBar().showMessage(f"{window.browser.model.rowCount()} backups listed.")
    shooter.save("main_window", window)
    window.resize(SMALL_SIZE)
    spin(200)
    shooter.save("main_window_1024", window)
    window.resize(MAIN_SIZE)
    spin(200)

    theme.apply(app, "dark")
    spin(300)  # palette changes reach the widgets as posted events
    shooter.save("main_window_dark", window)
    theme.apply(app, "light")
    spin(300)

    record = window.selected_backup()
    window.set_blocking(True, f"Restoring prod from backup {record.short_id}…\nOther actions wait until it ends.")
    shooter.save("main_window_blocked", window)
    window.set_blocking(False)
    window.close()


def verify_shots(shooter: Shooter, demo: Any, work: Path) -> None:
    from recovery_console.ui.dialogs.verify import VerifyDialog
    from recovery_console.ui.secrets import FixedSecret

    records = sorted(demo.console.catalog.records(["demo"]), key=lambda r: r.created or "", reverse=True)
    dialog = VerifyDialog(demo.console, records[0], secrets=FixedSecret(demo.secret))
    dialog.resize(760, 700)
    dialog.show()
    dialog.start()
    wait_for(lambda: dialog.verify_result is not None or dialog.error is not None, what="the verify")
    wait_for(lambda: not dialog.running)
    shooter.save("verify_passed", dialog)
    dialog.close()

    source = Path(demo.console.targets.load()["demo"].options["path"]) / records[0].key
    damaged = work / records[0].file_name
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x20
    damaged.write_bytes(bytes(data))
    shutil.copy(source.with_name(source.name + ".sha256"), damaged.with_name(damaged.name + ".sha256"))
    dialog = VerifyDialog(demo.console, damaged, secrets=FixedSecret(demo.secret))
    dialog.resize(760, 420)
    dialog.show()
    dialog.start()
    wait_for(lambda: dialog.error is not None and not dialog.running, what="the failing verify")
    shooter.save("verify_failed", dialog)
    dialog.close()


def audit_shots(shooter: Shooter, demo: Any) -> None:
    from recovery_console.ui.views.audit_view import AuditView

    view = AuditView(demo.console)
    view.resize(980, 520)
    view.show()
    wait_for(lambda: view.model.rowCount() > 0 and not view.busy, what="the audit log")
    view.verify_chain()
    wait_for(lambda: view.verification is not None and not view.busy, what="the chain check")
    shooter.save("audit_log", view)
    view.close()


def dialog_shots(shooter: Shooter, demo: Any) -> None:
    """The target and profile editors and File › Open backup file…, each after its own real check."""
    from recovery_console.ui.dialogs.open_file_dialog import OpenFileDialog
    from recovery_console.ui.dialogs.profile_dialog import ProfileDialog
    from recovery_console.ui.dialogs.target_dialog import TargetDialog
    from recovery_console.ui.jobs import JobRunner
    from recovery_console.ui.secrets import FixedSecret

    console, runner = demo.console, JobRunner()
    targets = console.targets.load()
    dialog = TargetDialog(console, runner, targets["demo"])
    dialog.show()
    dialog.test()
    wait_for(lambda: dialog.report is not None and not dialog.busy, what="the target test")
    shooter.save("target_dialog", dialog)
    dialog.close()

    profile = console.profiles.store.get("shop")
    profile_dialog = ProfileDialog(console, runner, profile, list(targets))
    profile_dialog.show()
    shooter.save("profile_dialog", profile_dialog)
    profile_dialog.close()

    from dataclasses import replace

    from recovery_console.models.profile import InstanceSecret
    from recovery_console.ui.dialogs.instance_secrets_dialog import InstanceSecretsDialog

    rotated = (InstanceSecret("instance_secret.20261201T090000Z", "2026-12 key", "2026-12-01T09:00:00Z"),
               InstanceSecret("instance_secret", "original key"))
    console.profiles.store.replace(replace(profile, instance_secrets=rotated, stored_secrets=(
        *profile.stored_secrets, "instance_secret", rotated[0].entry)))  # the list only: no keyring is read
    secrets_dialog = InstanceSecretsDialog(console, runner, profile.name)
    secrets_dialog.show()
    shooter.save("instance_secrets_dialog", secrets_dialog)
    secrets_dialog.close()
    console.profiles.store.replace(profile)

    newest = sorted(console.catalog.records(["demo"]), key=lambda r: r.created or "", reverse=True)[0]
    path = Path(targets["demo"].options["path"]) / newest.key
    opened = OpenFileDialog(console, path, runner=runner, secrets=FixedSecret(demo.secret))
    opened.resize(760, 700)
    opened.show()
    opened.start()
    wait_for(lambda: opened.verify_result is not None or opened.error is not None, what="the file's verify")
    wait_for(lambda: not opened.running and opened.toc_view.isVisible(), what="the file's contents")
    shooter.save("open_backup_file", opened)
    opened.close()
def policy_shots(shooter: Shooter, demo: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from recovery_console.engine.state.run_history import RunHistory, RunRecord
    from recovery_console.models.policy import Frequency, Policy, Schedule
    from recovery_console.models.retention import RetentionRules
    from recovery_console.models.target import TargetConfig
    from recovery_console.ui.dialogs.profile_dialog import ProfileDialog
    from recovery_console.ui.jobs import JobRunner
    from recovery_console.ui.views.health_view import HealthView

    console = demo.console
    if "offsite-s3" not in console.targets.load():
        folder = Path(console.paths.data_dir) / "offsite"
        folder.mkdir(exist_ok=True)
        console.add_target(TargetConfig(name="offsite-s3", kind="local", options={"path": str(folder)}))
    for name, zone in (("prod", "Europe/Berlin"), ("reports", "UTC")):
        if name not in console.profiles.store.load():
            console.profiles.create(name, f"postgresql://backup@db.internal:5432/{name}", target="demo")
        console.profiles.set_policy(name, Policy(schedule=Schedule(Frequency.DAILY, hour=2, timezone=zone),
                                                 retention=RetentionRules(keep_daily=14, keep_weekly=8),
                                                 secondary_targets=("offsite-s3",) if name == "prod" else ()))
    history = RunHistory(console.paths)
    now = datetime.now(UTC).replace(microsecond=0)
    for name, hours, result, reason in (("prod", 30, "ok", ""), ("reports", 5, "skipped",
                                                                 "312 MB free < 500 MB minimum")):
        started = (now - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
        history.append(RunRecord.start("scheduled", name, "demo", started, started)
                       .finished(result, 42.0, bytes=52_000_000 if result == "ok" else 0, reason=reason))
    profile = console.profiles.store.get("prod")
    dialog = ProfileDialog(console, JobRunner(), profile, sorted(console.targets.load()))
    dialog.tabs.setCurrentWidget(dialog.policy_form)
    dialog.show()
    shooter.save("profile_policy", dialog)
    dialog.close()
    view = HealthView(console)
    view.show()
    wait_for(lambda: view.table.rowCount() > 0 and not view.busy, what="the health view")
    shooter.save("health_view", view)
    view.close()


def config_transfer_shots(shooter: Shooter, demo: Any, work: Path) -> None:
    """File › Export configuration… with its passphrase strength, Import configuration…'s preview with a
    conflict, and a generated secret's escrow dialog; each at the small (1024×768) and the usual screen."""
    from recovery_console.engine.console import Console
    from recovery_console.engine.escrow_sheet import EscrowSheet, describe_use
    from recovery_console.engine.state import grouped_secret
    from recovery_console.engine.state.paths import AppPaths
    from recovery_console.models.target import TargetConfig
    from recovery_console.ui.dialogs.config_export_dialog import ConfigExportDialog
    from recovery_console.ui.dialogs.config_import_dialog import ConfigImportDialog
    from recovery_console.ui.dialogs.escrow_dialog import EscrowSheetDialog
    from recovery_console.ui.jobs import JobRunner

    console, runner = demo.console, JobRunner()
    export = ConfigExportDialog(console, runner)
    export.path_edit.setText("/media/usb/console-config.rcx")
    export.passphrase_edit.setText("lantern orbit velvet")
    export.repeat_edit.setText("lantern orbit velvet")
    export.show()
    shooter.save("config_export", export)
    export.close()

    exported = work / "console-config.json"
    console.config_transfer().export(exported, overwrite=True)
    other = Console(AppPaths(config_dir=work / "other" / "config", data_dir=work / "other" / "data"))
    other.add_target(TargetConfig("demo", "local", {"path": str(work)}))
    importer = ConfigImportDialog(other, runner)
    importer.path_edit.setText(str(exported))
    importer.show()
    importer.preview()
    wait_for(lambda: importer.plan is not None and not importer.busy, what="the import preview")
    for name, size in (("config_import_preview", MAIN_SIZE), ("config_import_preview_1024", SMALL_SIZE)):
        importer.resize(min(importer.width(), size.width()), min(560, size.height()))
        shooter.save(name, importer)
    importer.close()
    other.close()

    secret = grouped_secret.encode(bytes(range(32)))
    sheet = EscrowSheet("shop", secret, "2026-12-07T05:00:00Z", "ops@console", describe_use(
        "shop", console.profiles.store.load().get("shop")))
    escrow = EscrowSheetDialog(sheet)
    escrow.show()
    shooter.save("escrow_sheet_dialog", escrow)
    escrow.close()


def wizard_shots(shooter: Shooter, demo: Any) -> None:
    """Every page of each wizard, rendered at its wizard's page size."""
    from recovery_console.ui.wizards.base import WizardBase
    from recovery_console.ui.wizards.extract import ExtractWizard
    from recovery_console.ui.wizards.restore import RestoreWizard
    from recovery_console.ui.wizards.setup import SetupWizard

    wizards: tuple[tuple[str, type[SetupWizard | RestoreWizard | ExtractWizard]], ...] = (
        ("setup", SetupWizard), ("restore", RestoreWizard), ("extract", ExtractWizard))
    for prefix, cls in wizards:
        wizard: WizardBase = cls(demo.console)
        wizard.show()
        spin(100)
        for index, (name, widget) in enumerate(wizard.screenshot_pages(), start=1):
            filename = name if name.endswith(".png") else f"{prefix}_wizard_{index:02d}_{slug(name)}.png"
            shooter.save(filename, _presentable(widget))
        wizard.cancel_jobs()
        wait_for(lambda w=wizard: not w.busy, what="the wizard's flows to end")  # before its widgets are deleted
        wizard.hide()
        wizard.deleteLater()


def workbench_shots(shooter: Shooter, demo: Any) -> None:
    from recovery_console.engine.forensics.workbench import Workbench
    from recovery_console.ui.workbench.window import WorkbenchWindow

    record = max(demo.console.catalog.records(["demo"]), key=lambda r: r.created or "")
    source = str(Path(demo.console.targets.load()["demo"].options["path"]) / record.key)
    bench = Workbench(demo.console)
    report = bench.tables(bench.locate(source), lambda: demo.secret)
    window = WorkbenchWindow(demo.console, source, demo.secret, report)
    window.resize(MAIN_SIZE)
    window.show()
    biggest = max(range(len(report.tables)), key=lambda i: report.tables[i].rows)
    window.tables.selectRow(biggest)
    wait_for(lambda: not window.busy, what="the table's rows")
    shooter.save("workbench_rows", window)
    window.tabs.setCurrentIndex(1)
    window.search.pattern_edit.setText("customer 1")
    window.run_search("customer 1", False, False)
    wait_for(lambda: not window.busy, what="the search")
    shooter.save("workbench_search", window)
    window.close()


def workbench_diff_shots(shooter: Shooter, demo: Any) -> None:
    """Two dumps of one database before and after known changes (tests/data), compared in the workbench."""
    from recovery_console.engine.forensics.workbench import Workbench
    from recovery_console.ui.workbench.window import WorkbenchWindow

    before, after = ROOT / "tests" / "data" / "diff-a.dump", ROOT / "tests" / "data" / "diff-b.dump"
    bench = Workbench(demo.console)
    report = bench.tables(bench.locate(str(before)), lambda: "")
    window = WorkbenchWindow(demo.console, str(before), "", report)
    window.resize(MAIN_SIZE)
    window.show()
    window.tabs.setCurrentWidget(window.diff)
    window.diff.other_edit.setText(str(after))
    window.run_diff(str(after))
    wait_for(lambda: not window.busy, what="the comparison")
    table = window.diff.tables
    customers = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "shop.customers")
    window.diff.tables.selectRow(customers)
    shooter.save("workbench_diff", window)
    window.resize(SMALL_SIZE)
    shooter.save("workbench_diff_1024", window)
    window.close()


def set_restore_shots(shooter: Shooter, demo: Any) -> None:
    """The restore wizard's recovery-set pages (example data, nothing runs) in the whole wizard window at 1366×768 and
    at 1024×768, each page made the start page; the pre-flight page opens without running its checks."""
    from recovery_console.ui.wizards.restore import RestoreWizard
    from recovery_console.ui.wizards.restore_set_docs import set_screenshot_pages

    wizard = RestoreWizard(demo.console)
    wizard.show()
    spin(100)
    set_screenshot_pages(wizard)
    wizard.set_preflight_page.start = lambda: None  # the example checks stay shown
    starts = {"restore_set_members": RestoreWizard.SET_MEMBERS, "restore_set_preflight": RestoreWizard.SET_PREFLIGHT,
              "restore_set_vault": RestoreWizard.SET_RUN}
    for size, suffix in ((MAIN_SIZE, ""), (SMALL_SIZE, "_1024")):
        wizard.resize(size)
        spin(100)
        for name, page_id in starts.items():
            wizard.setStartId(page_id)
            wizard.restart()
            spin(150)
            shooter.save(f"{name}{suffix}", wizard)
    wizard.cancel_jobs()
    wait_for(lambda: not wizard.busy, what="the wizard's flows to end")
    wizard.hide()
    wizard.deleteLater()


def set_ops_shots(shooter: Shooter, demo: Any) -> None:
    """The actions on a recovery set (example data shown in the set list, nothing runs) and a whole-set rollback's
    result in the restore history (example set restore)."""
    from recovery_console.engine.sets.set_restores import DATABASE, FOLDER_KIND, ROLLED_BACK, KeptMember, SetRestore
    from recovery_console.engine.sets.set_rollback import SetRollback
    from recovery_console.ui.app import create_main_window
    from recovery_console.ui.dialogs.restore_history_dialog import RestoreHistoryDialog
    from recovery_console.ui.dialogs.set_restores_panel import rollback_text
    from recovery_console.ui.widgets.status import PASS_COLOR, colored
    from recovery_console.ui.wizards.restore_set_docs import example_set

    window = create_main_window(demo.console)
    window.show()
    wait_for(lambda: window.browser.model.rowCount() > 0 and not window.runner.running, what="the backup list")
    window.resize(MAIN_SIZE)
    spin(200)
    record = example_set()
    window.select_target(None)  # the example set is on target 'vault': under 'demo' the list would hide it
    window.browser.sets.show_sets([record])
    window.browser.sets.table.selectRow(0)
    window.browser.update_counts(has_targets=True)
    spin(200)
    assert window.browser.sets.isVisible(), "the set list is hidden: the shot would show no set"
    shooter.save("main_window_sets", window)
    menu = window.set_actions.menu
    menu.popup(window.mapToGlobal(window.rect().center()))
    spin(200)
    shooter.save("set_actions_menu", menu)
    menu.hide()

    dialog = RestoreHistoryDialog(demo.console, window.runner, "records", parent=window)
    dialog.show()
    wait_for(lambda: not dialog.busy, what="the restore history")
    kept = [KeptMember("main", DATABASE, "records_pre_restore_20261207093000", profile="records", database="records"),
            KeptMember("results", DATABASE, "results_pre_restore_20261207093004", profile="results-db",
                       database="results"),
            KeptMember("vault", FOLDER_KIND, "/srv/vault.pre_restore_20261207093010", folder="/srv/vault")]
    for member in kept:
        member.state = ROLLED_BACK  # as the rollback below left them
    found = SetRestore("20261207093000-7f3a", "2026-12-07T09:30:00Z", record.set_id, "records", kept)
    dialog.sets.show_restores([found])
    done = SetRollback(record.set_id, found.id, ["main", "results", "vault"], [],
                       {"main": "records_undone_20261207101500", "results": "results_undone_20261207101502",
                        "vault": "/srv/vault.undone_20261207101504"})
    dialog.status.setText(colored(rollback_text(done, found), PASS_COLOR, True).replace("\n", "<br>"))
    dialog.progress.hide()  # the demo has no profile 'records' to read a history of
    dialog.update_buttons()
    spin(200)
    shooter.save("restore_history_set_rollback", dialog)
    dialog.close()
    window.close()


def _presentable(widget: QWidget) -> QWidget:
    """A wizard page is rendered at its wizard's page size, so hidden pages lay out as they would appear."""
    from PySide6.QtWidgets import QWizardPage

    if isinstance(widget, QWizardPage) and widget.wizard() is not None and not widget.isVisible():
        current = widget.wizard().currentPage()
        if current is not None and current.size().isValid():
            widget.resize(current.size())
    return widget


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--home", type=Path, default=None, help="demo home to use (default: a temporary one)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="rc-screenshots-"))
    try:
        home = args.home or work / "home"
        os.environ["RECOVERY_CONSOLE_HOME"] = str(home)  # nothing may touch the real user's settings
        from recovery_console.engine import demo as demo_module
        from recovery_console.ui.app import application

        app = application()
        app.setStyle("Fusion")  # the same look on every machine that renders the docs
        from recovery_console.ui import theme

        theme.apply(app, "light")
        demo = demo_module.set_up(home)
        shooter = Shooter(args.out)
        main_window_shots(shooter, demo)
        verify_shots(shooter, demo, work)
        audit_shots(shooter, demo)
        dialog_shots(shooter, demo)
        policy_shots(shooter, demo)
        workbench_shots(shooter, demo)
        workbench_diff_shots(shooter, demo)
        config_transfer_shots(shooter, demo, work)
        wizard_shots(shooter, demo)
        set_restore_shots(shooter, demo)
        set_ops_shots(shooter, demo)
        print(f"{len(shooter.written)} screenshots in {args.out}")
        for widget in app.topLevelWidgets():  # gone before the interpreter's teardown, which crashed over them
            widget.close()
            widget.deleteLater()
        spin(200)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
