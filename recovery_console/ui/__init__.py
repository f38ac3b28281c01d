"""The desktop console (Qt only); every engine call goes through recovery_console.engine."""

from recovery_console.ui.pyside_compat import guard_none_refcount

guard_none_refcount()
