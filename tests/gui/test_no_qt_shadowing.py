"""No Qt subclass in the UI keeps data under the name of one of its Qt base's members.

`self.result = …` on a QDialog, `self.actions` on a QWidget, `self.scroll`…: the attribute hides the Qt
method, and code (or Qt's own Python wrappers) calling it later gets the data instead.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal

import recovery_console.ui

pytestmark = pytest.mark.gui

UI = Path(recovery_console.ui.__file__).parent


def qt_subclasses() -> list[tuple[str, type[QObject], ast.ClassDef]]:
    """Every QObject subclass defined in recovery_console/ui, with its class statement."""
    found = []
    for path in sorted(UI.rglob("*.py")):
        module_name = ".".join(path.relative_to(UI.parent.parent).with_suffix("").parts)
        module = importlib.import_module(module_name)
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
            if isinstance(cls, type) and issubclass(cls, QObject) and cls.__module__ == module_name:
                found.append((module_name, cls, node))
    return found


def qt_members(cls: type[QObject]) -> set[str]:
    """The members of the nearest Qt class `cls` derives from."""
    base = next(c for c in cls.__mro__ if c.__module__.startswith("PySide6"))
    return set(dir(base))


def test_the_ui_has_qt_subclasses_to_check() -> None:
    names = {cls.__name__ for _, cls, _ in qt_subclasses()}
    assert {"MainWindow", "SetupWizard", "TargetPage", "VerifyDialog"} <= names


def test_no_instance_attribute_shadows_a_qt_member() -> None:
    shadowing = []
    for module_name, cls, node in qt_subclasses():
        members = qt_members(cls)
        for child in ast.walk(node):
            if (isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store)
                    and isinstance(child.value, ast.Name) and child.value.id == "self" and child.attr in members):
                shadowing.append(f"{module_name}.{cls.__name__}: self.{child.attr} (line {child.lineno})")
    assert shadowing == []


def test_no_class_attribute_shadows_a_qt_member() -> None:
    """Methods may override Qt's (isComplete, data, closeEvent…); plain values and properties may not."""
    shadowing = []
    for module_name, cls, _ in qt_subclasses():
        members = qt_members(cls)
        for name, value in vars(cls).items():
            if name in members and not name.startswith("__") and not callable(value) \
                    and not isinstance(value, Signal) and name != "staticMetaObject":
                shadowing.append(f"{module_name}.{cls.__name__}.{name}")
    assert shadowing == []
