"""Moved: the setup wizard lives in recovery_console.ui.wizards.setup.

This alias goes once MainWindow imports it from there.
"""

from recovery_console.ui.wizards.setup import SetupWizard

__all__ = ["SetupWizard"]
