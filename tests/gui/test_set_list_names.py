"""The set list names each set (#18): two sets uploaded under one name are told apart by id and time, each row
showing the name (a set without one shows its id alone: test_restore_set_wizard)."""

from __future__ import annotations

import pytest

from recovery_console.engine.sets.set_import import import_set
from recovery_console.engine.sets.set_listing import list_sets
from recovery_console.ui.views.set_list import COLUMNS, SetList
from tests.fixtures.console import FAST_ITERATIONS, SECRET

pytestmark = [pytest.mark.gui, pytest.mark.integration]


def test_two_sets_of_one_name_show_it_each_beside_their_own_id(qtbot, console, local_target, sample_dump):
    made = [import_set(console, [sample_dump], name, "vault", SECRET, iterations=FAST_ITERATIONS)
            for name in ("nightly", "nightly", "weekly ✓")]
    sets = SetList()
    qtbot.addWidget(sets)
    sets.show_sets(list_sets(console)[0])
    shown = {sets.table.item(row, COLUMNS.index("Set")).text() for row in range(sets.table.rowCount())}
    assert shown == {f"{made[0].short_id} · nightly", f"{made[1].short_id} · nightly",
                     f"{made[2].short_id} · weekly ✓"}
