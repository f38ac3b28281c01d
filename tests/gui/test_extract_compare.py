"""The Tables page's "Compare with another backup": a backup of one dump compared with a later dump of the same
database, per-table counts shown, and renders at the two window sizes the docs use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from recovery_console.engine.container.streams import SIDECAR_SUFFIX
from recovery_console.ui.wizards.extract import ExtractWizard
from tests.fixtures.console import DATA, SECRET
from tests.fixtures.diff_db import EXPECTED
from tests.gui.test_extract_wizard import WAIT, click, next_page, type_into

pytestmark = pytest.mark.gui


@pytest.fixture
def wizard(qtbot, console):
    w = ExtractWizard(console)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    for box in w.error_boxes:
        box.close()
    w.cancel_jobs()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)


def test_compare_with_another_backup_shows_the_counts_per_table(qtbot, wizard, console, make_backup, tmp_path,
                                                               monkeypatch):
    source = Path(console.locate(make_backup(DATA / "diff-a.dump").short_id).location)
    folder = tmp_path / "usb"
    folder.mkdir()
    enc = folder / source.name
    shutil.copy(source, enc)
    shutil.copy(source.with_name(source.name + SIDECAR_SUFFIX), folder / (source.name + SIDECAR_SUFFIX))
    type_into(qtbot, wizard.file_page.path_edit, str(enc))
    next_page(qtbot, wizard, ExtractWizard.SECRET)
    type_into(qtbot, wizard.secret_page.typed_edit, SECRET)
    next_page(qtbot, wizard, ExtractWizard.METADATA)
    click(qtbot, wizard.metadata_page.tables_check)
    next_page(qtbot, wizard, ExtractWizard.TABLES)
    page = wizard.tables_page
    qtbot.waitUntil(lambda: page.report is not None and not page.running, timeout=WAIT)
    compare = page.compare
    assert not compare.table.isVisible()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(DATA / "diff-b.dump"), ""))
    click(qtbot, compare.button)
    qtbot.waitUntil(lambda: compare.report is not None and not page.running, timeout=WAIT)
    shown = {compare.table.item(r, 0).text(): tuple(int(compare.table.item(r, c).text().replace(",", ""))
                                                   for c in (1, 2, 3))
             for r in range(compare.table.rowCount())}
    assert shown == EXPECTED
    row = next(r for r in range(compare.table.rowCount()) if compare.table.item(r, 0).text() == "public.settings")
    assert compare.table.item(row, 4).text() == "matched by key (key); columns only in the other: changed_by"
    assert "5 schema differences, 8 of 8 tables differ" in compare.summary.text()
    assert [e for e in console.audit.entries() if e.action == "forensics.diff"][-1].result == "ok"
    shots = os.environ.get("RC_SCREENSHOT_DIR")
    for width in (1366, 1024):
        wizard.resize(width, 768)
        qtbot.wait(50)
        image = wizard.grab()
        assert not image.isNull()
        if shots:
            image.save(str(Path(shots) / f"extract-compare-{width}.png"))
