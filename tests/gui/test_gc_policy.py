"""The console's cycle collector runs on the GUI thread only (ui/gc_policy.py)."""

from __future__ import annotations

import gc
import threading

from pytestqt.qtbot import QtBot

from recovery_console.ui.gc_policy import GuiThreadCollector


class _Cycle:
    """Garbage only the cycle collector can free; records the thread that freed it."""

    freed_in: list[int] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_in.append(threading.get_ident())


def _worker_makes_garbage() -> None:
    _Cycle()
    kept = [[] for _ in range(50_000)]  # container allocations: enough to trigger an automatic collection here
    assert kept


def test_a_cycle_made_in_a_worker_thread_is_freed_on_the_gui_thread(qtbot: QtBot) -> None:
    was_enabled = gc.isenabled()
    gc.enable()  # as in the console before the collector takes over (the test session turns it off)
    collector = GuiThreadCollector().install()
    try:
        assert not gc.isenabled()
        _Cycle.freed_in.clear()
        worker = threading.Thread(target=_worker_makes_garbage)
        worker.start()
        worker.join()
        assert _Cycle.freed_in == [], "the cycle was collected inside the worker thread"
        qtbot.waitUntil(lambda: bool(_Cycle.freed_in), timeout=5000)
        assert _Cycle.freed_in == [threading.get_ident()]
    finally:
        collector.uninstall()
        if not was_enabled:
            gc.disable()
    assert gc.get_freeze_count() == 0


def test_giving_the_collector_back_restores_what_was_there(qtbot: QtBot) -> None:
    was_enabled = gc.isenabled()
    gc.disable()
    collector = GuiThreadCollector().install()
    collector.uninstall()
    assert not gc.isenabled()
    gc.enable()
    collector = GuiThreadCollector().install()
    collector.uninstall()
    assert gc.isenabled()
    if not was_enabled:
        gc.disable()
