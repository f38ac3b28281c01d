"""Python's cycle collector, run only on the GUI thread, so a Qt object caught in a cycle is never destroyed
off its thread.

Left alone, the collector runs in whichever thread happens to allocate: a job's worker thread could then
destroy a window's widget, and Qt crashes (seen in a test run: "Garbage-collecting" inside a backup job).
The console therefore freezes what start-up built (modules, the window: they live as long as the process,
and a frozen object is never scanned), turns automatic collection off, and collects on the GUI thread by
the same rule Python would apply, checked a few times a second (with a young pass every two seconds). A
young-generation pass takes well under a millisecond; a full one only scans what was made since start-up.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

CHECK_MS = 250
YOUNG_EVERY = 8
"""Checks between young passes made even when nothing is due: the rule counts allocations net of frees, so a
worker's burst that freed its own garbage leaves cycles behind that the count no longer shows."""


class GuiThreadCollector(QObject):
    """Owns the collector while it lives: `install()` takes it over, `uninstall()` gives it back to Python."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled = True
        self._checks = 0
        self.longest = 0.0
        """The longest pass so far, in seconds."""

    def install(self) -> GuiThreadCollector:
        self._was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        self._timer.start()
        return self

    def uninstall(self) -> None:
        self._timer.stop()
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def collect_due(self) -> int:
        """Collect the oldest generation whose threshold is passed, as automatic collection would; returns the
        generation collected, or -1 when none was due."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = next((gen for gen in (2, 1, 0) if thresholds[gen] and counts[gen] > thresholds[gen]), -1)
        self._checks += 1
        if due < 0 and counts[0] > 0 and self._checks % YOUNG_EVERY == 0:
            due = 0
        if due >= 0:
            start = time.perf_counter()
            gc.collect(due)
            self.longest = max(self.longest, time.perf_counter() - start)
        return due
