"""GUI text never names a CLI command or flag: every message and hint the engine can hand the window (errors'
`hint`, pre-flight check details, target-test steps) is read from the source and checked; the CLI's own phrasing
goes in `cli_hint`, which only the CLI prints."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_console.cli.main import COMMANDS
from recovery_console.errors import NotFoundError

PACKAGE = Path(__file__).resolve().parents[2] / "recovery_console"
SOURCES = [PACKAGE / "errors.py", *sorted((PACKAGE / "engine").rglob("*.py")),
           *sorted((PACKAGE / "models").rglob("*.py"))]
# Our CLI named: its program, a quoted command of one of its groups, or a --flag outside another program's quoted
# command (`pip install --target DIR` is an instruction for pip, which a GUI user runs too).
OURS = "|".join(COMMANDS)
QUOTED = re.compile(r"`([^`]*)`")
CLI = re.compile(r"recovery-console\s|(?<![\w-])--[a-z][a-z-]*")
SHOWN = {"hint", "message"}  # keywords whose text the window shows
POSITIONAL = {"Check": (2,), "StepResult": (2, 3)}  # a check's detail; a step's message and hint


def _names(tree: ast.AST) -> dict[str, list[ast.expr]]:
    """Every expression assigned to a name, and every function's returned expressions, by name (one module)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.FunctionDef):
            found.setdefault(node.name, []).extend(
                r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None)
    return found


def _texts(expr: ast.expr, names: dict[str, list[ast.expr]], seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """The literal text an expression can produce, a piece at a time (an f-string's literal parts joined by '…')."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value
    elif isinstance(expr, ast.JoinedStr):
        yield "…".join(v.value for v in expr.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        for v in expr.values:
            if isinstance(v, ast.FormattedValue):
                yield from _texts(v.value, names, seen)
    elif isinstance(expr, ast.Name) and expr.id not in seen:
        for value in names.get(expr.id, []):
            yield from _texts(value, names, seen | {expr.id})
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id not in seen:
        for value in names.get(expr.func.id, []):
            yield from _texts(value, names, seen | {expr.func.id})
    elif isinstance(expr, ast.BinOp):
        yield from _texts(expr.left, names, seen)
        yield from _texts(expr.right, names, seen)
    elif isinstance(expr, ast.IfExp):
        yield from _texts(expr.body, names, seen)
        yield from _texts(expr.orelse, names, seen)
    elif isinstance(expr, ast.BoolOp):
        for value in expr.values:
            yield from _texts(value, names, seen)


def _callee(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else call.func.attr if isinstance(call.func, ast.Attribute) \
        else ""


def shown_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every text an engine error, check or test step can put in the window."""
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _names(tree)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = _callee(call)
            shown = [k.value for k in call.keywords if k.arg in SHOWN]
            if name.endswith("Error"):
                shown += call.args[:2]
            shown += [call.args[i] for i in POSITIONAL.get(name, ()) if i < len(call.args)]
            if name == "Check":
                shown += [k.value for k in call.keywords if k.arg == "detail"]
            for expr in shown:
                for text in _texts(expr, names):
                    yield f"{path.relative_to(PACKAGE)}:{call.lineno}", text
        for name, values in names.items():  # hints made by a helper or kept in a constant, wherever they go
            if name.lower().endswith("_hint") and "cli" not in name.lower().split("_"):
                for value in values:
                    for text in _texts(value, names):
                        yield f"{path.relative_to(PACKAGE)}:{name}", text


def names_the_cli(text: str) -> bool:
    """Our program or a flag outside quotes; inside quotes, a command of ours or a bare flag."""
    if CLI.search(QUOTED.sub("", text)):
        return True
    return any(re.match(rf"(?:recovery-console\s+)?(?:{OURS})\b|recovery-console|--", quoted)
               for quoted in QUOTED.findall(text))


def test_the_walk_sees_the_hints_it_judges() -> None:
    """A guard on the walk itself: it reaches hints in keywords, f-strings, helpers and pre-flight details."""
    texts = [text for _, text in shown_texts()]
    assert any("The target corrupts data" in t for t in texts)  # StepResult's positional hint
    assert any("will be dropped when this restore starts" in t for t in texts)  # a Check's detail
    assert any("the restored and checked copy is kept as" in t for t in texts)  # a helper named *_hint
    assert names_the_cli("Run `recovery-console audit verify`.") and names_the_cli("or pass --force to replace it")
    assert names_the_cli("`backup list` shows it") and not names_the_cli("`pip install --target DIR` into it")


def test_no_text_the_window_shows_names_a_cli_command_or_flag() -> None:
    offending = sorted({f"{where}: {text}" for where, text in shown_texts() if names_the_cli(text)})
    assert offending == []


@pytest.mark.parametrize("cli_hint", ["", "Run `recovery-console backup list --target vault`."])
def test_the_cli_says_its_own_words_and_the_window_the_plain_hint(cli_hint: str) -> None:
    error = NotFoundError("No backup 1234.", hint="Refresh the backup list to see the target's backups.",
                          cli_hint=cli_hint)
    assert error.hint == "Refresh the backup list to see the target's backups."
    assert error.hint_for_cli() == (cli_hint or error.hint)
