"""Issue #16 in the window: the Policy page of the profile editor, the Health view with Run now, and the runs
that failed since the window was last open."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTime

from recovery_console import __version__
from recovery_console.engine.container.writer import encrypt_stream
from recovery_console.engine.state.run_history import RunHistory, RunRecord
from recovery_console.models.backup import BackupMetadata
from recovery_console.models.policy import Frequency, Policy, Schedule
from recovery_console.models.profile import ConnectionMode
from recovery_console.models.retention import RetentionRules
from recovery_console.models.target import TargetConfig
from recovery_console.ui.views.health_view import LAST_OPENED, HealthView
from recovery_console.ui.window_state import open_settings
from tests.fixtures.console import FAST_ITERATIONS, SECRET
from tests.gui.test_main_window import JOB_TIMEOUT, click, settle
from tests.gui.test_manage_profiles import edit, save
from tests.gui.test_manage_targets import audit_actions, open_window_fixture  # noqa: F401 - the fixture, by name

pytestmark = pytest.mark.gui
URL = "postgresql://app@127.0.0.1:1/prod"


@pytest.fixture
def prod(console, local_target, tmp_path):
    folder = tmp_path / "offsite"
    folder.mkdir()
    console.add_target(TargetConfig("offsite-s3", "local", {"path": str(folder)}))
    console.profiles.create("prod", URL, target=local_target)
    console.profiles.set_mode("prod", ConnectionMode.DIRECT, acknowledge_direct=True)
    return "prod"


def test_the_policy_page_shows_a_live_summary_and_saves_the_policy(qtbot, console, open_window, prod):
    window = open_window()
    dialog = edit(qtbot, window)
    form = dialog.policy_form
    assert not dialog.dirty and not dialog.save_button.isEnabled()  # no policy yet: the defaults are no change
    dialog.tabs.setCurrentWidget(form)
    form.frequency_combo.setCurrentIndex(form.frequency_combo.findData(Frequency.DAILY))
    form.time_edit.setTime(QTime(2, 0))
    form.rule_spins["keep_daily"].setValue(14)
    form.rule_spins["keep_weekly"].setValue(8)
    copies = form.copies_list.findItems("offsite-s3", Qt.MatchFlag.MatchExactly)
    assert [form.copies_list.item(i).text() for i in range(form.copies_list.count())] == ["offsite-s3"]
    copies[0].setCheckState(Qt.CheckState.Checked)
    assert form.summary_label.text() == ("Daily at 02:00 UTC · keep 14 daily, 8 weekly · copy to offsite-s3 · "
                                         "min 500 MB free")
    assert form.weekday_combo.isHidden() and form.minute_spin.isHidden() and form.time_edit.isVisible()
    assert dialog.dirty and dialog.save_button.isEnabled()
    save(qtbot, window, dialog)
    policy = console.profiles.store.get("prod").policy
    assert policy is not None and policy.since is not None
    assert (policy.schedule, policy.retention, policy.secondary_targets) == (
        Schedule(Frequency.DAILY, hour=2), RetentionRules(keep_daily=14, keep_weekly=8), ("offsite-s3",))
    assert ("profile.set-policy", "prod", "ok") in audit_actions(console)


def test_an_unknown_time_zone_is_named_and_save_waits(qtbot, console, open_window, prod):
    console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.WEEKLY, hour=3, weekday=6)))
    window = open_window()
    dialog = edit(qtbot, window)
    form = dialog.policy_form
    assert form.weekday_combo.currentText() == "Sunday" and not dialog.dirty
    form.zone_combo.setCurrentText("Europe/Atlantis")
    assert form.summary_label.text() == "Unknown time zone 'Europe/Atlantis'."
    assert dialog.status_label.text() == "Policy: Unknown time zone 'Europe/Atlantis'."
    assert not dialog.save_button.isEnabled()
    form.zone_combo.setCurrentText("Europe/Berlin")
    assert form.summary_label.text().startswith("Weekly on Sunday at 03:00 Europe/Berlin · keep everything")
    save(qtbot, window, dialog)
    assert console.profiles.store.get("prod").policy.schedule.timezone == "Europe/Berlin"


def test_health_view_shows_each_profile_and_run_now_records_its_failure(qtbot, console, prod, tmp_path):
    console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.DAILY, hour=2), rpo_hours=26))
    console.profiles.create("fresh", "postgresql://app@127.0.0.1:1/fresh", target="vault")  # mode not declared
    view = HealthView(console)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.table.rowCount() == 2 and not view.busy, timeout=JOB_TIMEOUT)
    rows = {view.table.item(r, 0).text(): [view.table.item(r, c).text() for c in range(7)]
            for r in range(view.table.rowCount())}
    assert rows["prod"][1] == "No verified backup"
    assert rows["prod"][2].startswith("Daily at 02:00 UTC") and rows["prod"][3] == "never"
    assert rows["prod"][5] != "not scheduled" and rows["fresh"][5] == "not scheduled"
    assert rows["prod"][6] == "none (RPO 26 h)"
    view.table.selectRow(list(rows).index("fresh"))
    assert view.run_button.isEnabled()
    with qtbot.waitSignal(view.ran, timeout=JOB_TIMEOUT) as ran:
        click(qtbot, view.run_button)
    assert ran.args[0].result == "failed" and "no declared connection mode" in view.status.text()
    qtbot.waitUntil(lambda: not view.busy, timeout=JOB_TIMEOUT)
    run = RunHistory(console.paths).records("fresh")[-1]
    assert (run.trigger, run.result) == ("manual", "failed")
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "fresh")
    assert "failed: Profile 'fresh' has no declared connection mode" in view.table.item(row, 4).text()


def test_on_start_the_window_points_out_runs_that_failed_since_it_was_last_open(qtbot, console, open_window,
                                                                                prod):
    settings = open_settings(console)
    settings.setValue(LAST_OPENED, (datetime.now(UTC) - timedelta(days=1)).isoformat())
    settings.sync()
    started = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds").replace("+00:00", "Z")
    record = RunRecord.start("scheduled", "prod", "vault", started, started)
    RunHistory(console.paths).append(record.finished("skipped", 0.2, reason="312 MB free < 500 MB minimum"))
    window = open_window()
    qtbot.waitUntil(lambda: window.info_box is not None, timeout=JOB_TIMEOUT)
    text = window.info_box.text()
    assert "did not succeed" in text and "prod: skipped" in text and "312 MB free < 500 MB minimum" in text
    assert "run-due" not in text and "--" not in text  # no CLI in the GUI
    window.info_box.close()
    settle(qtbot, window)
    window.controller.actions["health"].trigger()
    view = window.controller.health_view
    assert isinstance(view, HealthView)
    qtbot.waitUntil(lambda: view.table.rowCount() == 1, timeout=JOB_TIMEOUT)
    assert "skipped: 312 MB free < 500 MB minimum" in view.table.item(0, 4).text()


def test_run_on_schedule_installs_the_profiles_schedule(qtbot, console, prod, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOVERY_CONSOLE_SYSTEMD_USER_DIR", str(tmp_path / "units"))
    console.profiles.set_policy("prod", Policy(schedule=Schedule(Frequency.DAILY, hour=2)))
    view = HealthView(console)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.table.rowCount() == 1 and not view.busy, timeout=JOB_TIMEOUT)
    click(qtbot, view.install_button)
    qtbot.waitUntil(lambda: "schedule is written" in view.status.text(), timeout=JOB_TIMEOUT)
    assert (tmp_path / "units" / "recovery-console-run-due-prod.timer").is_file()
    assert "run-due" not in view.status.text() and str(tmp_path / "units") in view.status.text()


def _verified_backup(console, tmp_path, sample_dump, database: str, age_hours: float) -> None:
    """A real backup of `database` made `age_hours` ago on 'vault', then fully verified from there."""
    when = datetime.now(UTC) - timedelta(hours=age_hours)
    metadata = BackupMetadata(backup_id=str(uuid.uuid4()), created_at=when.isoformat(timespec="seconds")
                              .replace("+00:00", "Z"), app_version=__version__, mode="scheduled",
                              database=database, compression="none", source="pg_dump")
    path = tmp_path / f"{database}.enc"
    with open(sample_dump, "rb") as source, open(path, "wb") as sink:
        encrypt_stream(source, sink, SECRET, metadata, iterations=FAST_ITERATIONS)
    record = console.upload(path, "vault", SECRET)
    console.verify(console.locate("vault:" + record.key), SECRET)


def test_health_is_green_within_the_rpo_amber_past_it_and_red_past_twice_it(qtbot, console, local_target,
                                                                            tmp_path, sample_dump):
    for name, age in (("within", 20), ("past", 30), ("twice", 53), ("never", None)):
        console.profiles.create(name, f"postgresql://app@127.0.0.1:1/{name}", target=local_target)
        console.profiles.set_policy(name, Policy(schedule=Schedule(Frequency.DAILY, hour=2), rpo_hours=26))
        if age is not None:
            _verified_backup(console, tmp_path, sample_dump, name, age)
    view = HealthView(console)
    qtbot.addWidget(view)
    view.resize(1366, 500)
    view.show()
    qtbot.waitUntil(lambda: view.table.rowCount() == 4 and not view.busy, timeout=JOB_TIMEOUT)
    cells = {view.table.item(r, 0).text(): view.table.item(r, 1) for r in range(4)}
    shown = {name: (cell.text(), cell.foreground().color().name()) for name, cell in cells.items()}
    assert shown == {"within": ("OK: within the RPO", "#1e7b45"), "past": ("Late: past the RPO", "#9a5b00"),
                     "twice": ("Overdue: past twice the RPO", "#c22f2f"), "never": ("No verified backup", "#c22f2f")}
    assert cells["past"].data(Qt.ItemDataRole.AccessibleTextRole) == "amber: Late: past the RPO"
    assert view.status.text() == "4 profiles: 1 within the RPO, 1 past it, 2 past twice it or with no verified backup."
    if os.environ.get("RC_RENDER_DIR"):
        view.grab().save(str(Path(os.environ["RC_RENDER_DIR"]) / "health-colours.png"))
