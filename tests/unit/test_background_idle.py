"""Work the rest can wait for runs at the lowest CPU priority, on its own thread only."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from recovery_console.engine.background import in_background


def own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_an_idle_thread_is_niced_and_the_others_are_not():
    before = own_nice()
    assert in_background(own_nice, idle=True).result(timeout=10) == 19
    assert in_background(own_nice).result(timeout=10) == before
    assert own_nice() == before
