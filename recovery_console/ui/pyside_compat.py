"""A workaround the desktop console needs on the PySide6 it ships with; applied on `import recovery_console.ui`."""

from __future__ import annotations

import ctypes
import sys

_NONE_GUARD = 1 << 40


def guard_none_refcount() -> bool:
    """Work around PySide6 6.12 on Python < 3.12: every Qt call returning None drops a reference to None.

    Measured here: `QWidget.setEnabled`, `QLabel.setText`, `QCoreApplication.processEvents`, … each
    lower `sys.getrefcount(None)` by one, so after some tens of thousands of calls CPython aborts
    with "Fatal Python error: none_dealloc: deallocating None". Python 3.12+ has an immortal None
    and is unaffected. The guard gives None a reference count no session can exhaust (None is never
    deallocated anyway). Returns True if it was applied. Idempotent.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if hasattr(sys, "gettotalrefcount"):  # a debug build lays objects out differently; leave it alone
        return False
    refcount = ctypes.c_ssize_t.from_address(id(None))
    if refcount.value < _NONE_GUARD // 2:
        refcount.value += _NONE_GUARD
    return True
