"""Moved: the verify dialog lives in recovery_console.ui.dialogs.verify.

This alias goes once MainWindow imports it from there.
"""

from recovery_console.ui.dialogs.verify import VerifyDialog

__all__ = ["VerifyDialog"]
