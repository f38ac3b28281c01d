"""The details pane (issue #15): one scroll area, no scrolling box inside it, and every value wrapped within the
pane's width at 1024×768 (the offscreen screen is narrower still), never cut off at its edge."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QLabel

from tests.fixtures.console import SECRET
from tests.gui.test_main_window import JOB_TIMEOUT, out_of_band_backup, settle
from tests.gui.test_manage_targets import open_window_fixture  # noqa: F401 - the fixture, by its name

pytestmark = pytest.mark.gui


def test_the_details_pane_scrolls_once_and_wraps_everything(qtbot, console, local_target, open_window, tmp_path):
    folder = Path(console.targets.load()[local_target].options["path"])
    out_of_band_backup(folder, tmp_path, description="a description long enough to need more than one line " * 2)
    window = open_window()
    window.resize(QSize(1024, 768))
    window.secrets.remember(SECRET, local_target)
    window.browser.table.selectRow(0)
    pane = window.details
    qtbot.waitUntil(lambda: pane.metadata is not None, timeout=JOB_TIMEOUT)
    with qtbot.waitSignal(pane.contents_loaded, timeout=JOB_TIMEOUT):
        pane.load_contents()
    settle(qtbot, window)

    outer = pane.scroll_area
    inner = [area for area in pane.findChildren(QAbstractScrollArea) if area is not outer]

    labels = [*pane.file_labels.values(), *pane.meta_labels.values()]

    def laid_out() -> bool:
        scrolls = any(a.verticalScrollBar().maximum() or a.horizontalScrollBar().maximum() for a in inner)
        return not scrolls and all(label.heightForWidth(label.width()) <= label.height() + 1 for label in labels)

    with contextlib.suppress(qtbot.TimeoutError):  # layouts settle in queued events, later under load;
        qtbot.waitUntil(laid_out, timeout=3000)  # the asserts below then say what is still wrong
    assert pane.toc_view in inner
    for area in inner:  # a table may sit in the pane, but it never scrolls on its own
        off = Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        assert area.verticalScrollBarPolicy() == area.horizontalScrollBarPolicy() == off
        assert area.verticalScrollBar().maximum() == 0 and area.horizontalScrollBar().maximum() == 0, area
    assert pane.toc_view.horizontalHeader().length() <= pane.toc_view.viewport().width()
    assert outer.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert pane.body.width() <= outer.viewport().width()
    assert pane.meta_labels["description"].text().startswith("a description long enough")
    for label in labels:
        assert isinstance(label, QLabel) and label.wordWrap(), label.accessibleName()
        assert label.mapTo(pane.body, label.rect().topRight()).x() < pane.body.width(), label.accessibleName()
        assert label.heightForWidth(label.width()) <= label.height() + 1, (label.accessibleName(), label.text())
    sha = pane.file_labels["sha256"]
    assert sha.text() == window.selected_backup().sha256 or sha.text().startswith("not recorded")
