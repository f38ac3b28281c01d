"""A profile's instance secrets (rotation, #18): an older profiles.json loads and saves unchanged, its one secret
listed as the 'original key'; the rotation's list round-trips, newest first, and a damaged one is named."""

from __future__ import annotations

import json

import pytest

from recovery_console.engine.secret_rotation import _free_entry, _free_label, default_label
from recovery_console.models.profile import InstanceSecret, Profile

OLD_RECORD = {"name": "prod", "database_url": "postgresql://app@db/prod", "mode": "direct",
              "direct_acknowledged": True, "direct_url": None, "target": "vault", "tool_dirs": [],
              "stored_secrets": ["instance_secret", "db_password"]}


def test_an_older_record_loads_and_saves_unchanged_with_its_secret_as_the_original_key() -> None:
    profile = Profile.from_dict(json.loads(json.dumps(OLD_RECORD)))
    assert profile.instance_secrets == ()
    assert profile.secrets_newest_first == (InstanceSecret("instance_secret", "original key"),)
    assert profile.to_dict() == OLD_RECORD  # no new key written until a rotation
    assert Profile.from_dict({**OLD_RECORD, "stored_secrets": []}).secrets_newest_first == ()


def test_a_rotation_round_trips_newest_first_and_keeps_the_original_listed_last() -> None:
    newer = InstanceSecret("instance_secret.20261207T080000Z", "2026-12 key", "2026-12-07T08:00:00Z")
    profile = Profile.from_dict({**OLD_RECORD, "stored_secrets": [*OLD_RECORD["stored_secrets"], newer.entry],
                                 "instance_secrets": [newer.to_dict()]})
    assert [s.label for s in profile.secrets_newest_first] == ["2026-12 key", "original key"]
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


@pytest.mark.parametrize("bad", [{"entry": "x"}, "2026-12 key", [1]])
def test_a_damaged_list_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(ValueError, match="instance_secrets|label|entry"):
        Profile.from_dict({**OLD_RECORD, "instance_secrets": bad if isinstance(bad, list) else [bad]})


def test_new_entries_and_labels_never_collide() -> None:
    empty = Profile(name="p", database_url="postgresql://db/p")
    assert _free_entry(empty, "2026-12-07T08:00:00Z") == "instance_secret"  # what an older release reads
    legacy = Profile.from_dict(OLD_RECORD)
    first = _free_entry(legacy, "2026-12-07T08:00:00Z")
    assert first == "instance_secret.20261207T080000Z"
    taken = Profile.from_dict({**OLD_RECORD, "stored_secrets": [*OLD_RECORD["stored_secrets"], first]})
    assert _free_entry(taken, "2026-12-07T08:00:00Z") == first + ".2"
    assert default_label("2026-12-07T08:00:00Z") == "2026-12 key"
    rotated = Profile.from_dict({**OLD_RECORD, "stored_secrets": [*OLD_RECORD["stored_secrets"], first],
                                 "instance_secrets": [{"entry": first, "label": "2026-12 key", "created": None}]})
    assert _free_label(rotated, "2026-12 key") == "2026-12 key 2"
    forgotten = Profile.from_dict({**OLD_RECORD, "instance_secrets": rotated.to_dict()["instance_secrets"]})
    assert [s.label for s in forgotten.secrets_newest_first] == ["original key"]  # its entry left the keyring
