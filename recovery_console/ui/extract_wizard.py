"""Moved: the extraction wizard lives in recovery_console.ui.wizards.extract.

This alias goes once MainWindow imports it from there.
"""

from recovery_console.ui.wizards.extract import ExtractWizard

__all__ = ["ExtractWizard"]
