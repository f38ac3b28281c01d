"""Settings files are replaced whole: saves that overlap (two windows, a CLI beside the GUI) never mix."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

from recovery_console.engine.state.named_store import NamedStore
from recovery_console.engine.state.target_health import TargetHealth


@dataclass
class Item:
    name: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def overlapping(save, rounds: int = 150) -> list[BaseException]:
    """Run save(writer, round) from three threads at once; return what they raised."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(rounds):
                save(n, i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_overlapping_saves_leave_one_whole_file(tmp_path):
    file = tmp_path / "profiles.json"

    def save(writer: int, i: int) -> None:
        store = NamedStore(file, "profile", lambda d: Item(**d))
        store.save({f"p{k}": Item(f"p{k}", f"writer {writer} round {i} " * 20) for k in range(40)})
        assert len(store.load()) == 40

    assert overlapping(save) == []
    assert len(json.loads(file.read_text())["profiles"]) == 40
    assert [p.name for p in tmp_path.iterdir()] == ["profiles.json"]


def test_overlapping_health_records_leave_one_whole_file(tmp_path):
    def save(writer: int, i: int) -> None:
        TargetHealth(tmp_path).record(f"target-{writer}", ok=i % 2 == 0, message="x" * 400)

    assert overlapping(save) == []
    assert set(json.loads((tmp_path / "target_health.json").read_text())) == {"target-0", "target-1", "target-2"}
    assert [p.name for p in tmp_path.iterdir()] == ["target_health.json"]
