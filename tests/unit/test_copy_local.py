"""`backup copy` between two local targets, copies in `backup list`, and usage against quota in `target list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recovery_console.cli.main import main
from recovery_console.engine.replicate import replicate
from recovery_console.errors import UsageError
from recovery_console.formatting import format_bytes
from recovery_console.models.target import TargetConfig


@pytest.fixture
def cli(console, monkeypatch):
    monkeypatch.setattr("recovery_console.engine.state.paths.AppPaths.default", classmethod(lambda cls: console.paths))


def test_copy_then_list_shows_both_targets_and_usage(console, make_backup, tmp_path, cli, capsys):
    (tmp_path / "spare").mkdir()
    console.add_target(TargetConfig(name="spare", kind="local", options={"path": str(tmp_path / "spare")},
                                    quota=1 << 20))
    record = make_backup()
    assert main(["backup", "copy", record.short_id, "--to", "spare", "--json"]) == 0
    copied = json.loads(capsys.readouterr().out)
    assert copied["target"] == "spare" and copied["already"] is False and copied["sha256"] == record.sha256
    source = Path(console.targets.get("vault").options["path"]) / record.key
    assert (tmp_path / "spare" / record.key).read_bytes() == source.read_bytes()
    assert (tmp_path / "spare" / (record.key + ".sha256")).read_bytes() == \
        source.with_name(source.name + ".sha256").read_bytes()
    assert main(["backup", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["backups"]
    assert [b["copies"] for b in listed] == [["spare", "vault"], ["spare", "vault"]]
    assert main(["target", "list"]) == 0
    out = capsys.readouterr().out
    assert f"used {format_bytes(record.size)} of 1.0 MiB ({record.size * 100 // (1 << 20)}%)" in out
    assert main(["target", "list", "--json"]) == 0
    usage = {t["name"]: t["used_bytes"] for t in json.loads(capsys.readouterr().out)["targets"]}
    assert usage == {"vault": record.size, "spare": record.size}
    assert main(["backup", "copy", f"vault:{record.key}", "--to", "spare"]) == 0
    assert "was already on target 'spare'" in capsys.readouterr().out
    assert main(["backup", "copy", record.short_id, "--to", "spare"]) == 0  # two copies: the one not on spare
    assert "was already on target 'spare'" in capsys.readouterr().out
    with pytest.raises(UsageError, match="already on target 'vault'"):
        replicate(console, console.locate(f"vault:{record.key}"), "vault")
    assert main(["backup", "pin", record.short_id, "--reason", "case 1", "--json"]) == 0
    pinned = json.loads(capsys.readouterr().out)["pinned"]
    assert sorted(p["target"] for p in pinned) == ["spare", "vault"]  # an id names every copy
