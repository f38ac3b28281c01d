"""Moved: the restore wizard lives in recovery_console.ui.wizards.restore.

This alias goes once MainWindow imports it from there.
"""

from recovery_console.ui.wizards.restore import RestoreWizard

__all__ = ["RestoreWizard"]
