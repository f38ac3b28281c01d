"""Connection-mode declaration rules and database URL handling (no server needed)."""

from __future__ import annotations

import pytest

from recovery_console.engine.pg import postgres
from recovery_console.errors import UsageError
from recovery_console.models.profile import ConnectionMode, ModeNotDeclaredError, Profile

POOLED = "postgresql://app@pgbouncer.internal:6432/app"
DIRECT = "postgresql://app@db.internal:5432/app"


def test_backup_and_restore_are_disabled_until_a_mode_is_declared():
    profile = Profile(name="prod", database_url=DIRECT)
    assert not profile.declared
    with pytest.raises(ModeNotDeclaredError, match="no declared connection mode"):
        profile.dump_url()


def test_direct_mode_needs_the_acknowledgement():
    profile = Profile(name="prod", database_url=DIRECT)
    with pytest.raises(UsageError, match="acknowledgement"):
        profile.with_mode(ConnectionMode.DIRECT)
    declared = profile.with_mode(ConnectionMode.DIRECT, acknowledge_direct=True)
    assert declared.declared and declared.dump_url() == DIRECT


def test_pool_mode_needs_a_separate_direct_url_used_only_for_dump_and_restore():
    profile = Profile(name="prod", database_url=POOLED)
    with pytest.raises(UsageError, match="direct URL"):
        profile.with_mode(ConnectionMode.POOL)
    with pytest.raises(UsageError, match="same as the pooled"):
        profile.with_mode(ConnectionMode.POOL, direct_url=POOLED)
    pooled = profile.with_mode(ConnectionMode.POOL, direct_url=DIRECT)
    assert pooled.dump_url() == DIRECT and pooled.database_url == POOLED


def test_switching_modes_clears_what_belonged_to_the_old_one():
    direct = Profile(name="p", database_url=POOLED).with_mode(ConnectionMode.DIRECT, acknowledge_direct=True)
    pooled = direct.with_mode(ConnectionMode.POOL, direct_url=DIRECT)
    assert not pooled.direct_acknowledged and pooled.direct_url == DIRECT
    back = pooled.with_mode(ConnectionMode.DIRECT, acknowledge_direct=True)
    assert back.direct_url is None and back.dump_url() == POOLED


def test_profile_round_trips_through_its_dict():
    profile = Profile(name="p", database_url=POOLED, target="vault").with_mode(ConnectionMode.POOL, direct_url=DIRECT)
    assert Profile.from_dict(profile.to_dict()) == profile


@pytest.mark.parametrize("url, tells", [
    ("postgresql://a@db.internal:5432/x", []),
    ("postgresql://a@my-pgbouncer:5432/x", ["the host name contains 'pgbouncer'"]),
    ("postgresql://a@db-proxy.rds.amazonaws.com/x", ["the host name contains 'proxy'"]),
    ("postgresql://a@pooler.example:25061/x",
     ["the host name contains 'pooler'", "port 25061 is a common pooler port"]),
    ("host=10.0.0.5 port=6432 dbname=x", ["port 6432 is a common pooler port"]),
])
def test_pooler_tells(url, tells):
    assert postgres.pooler_tells(url) == tells


def test_passwords_are_split_off_urls():
    assert postgres.split_password("postgresql://bob:p%40ss@h:5432/db?sslmode=require") == (
        "postgresql://bob@h:5432/db?sslmode=require", "p@ss")
    url, password = postgres.split_password("host=h user=bob password=s3cret dbname=db")
    assert password == "s3cret" and "s3cret" not in url
    assert postgres.split_password(DIRECT) == (DIRECT, None)


def test_profiles_store_passwords_in_the_keyring_not_the_file(console, monkeypatch):
    stored = {}
    monkeypatch.setattr(console.secrets, "put", lambda scope, name, value: stored.__setitem__((scope, name), value))
    console.profiles.create("prod", "postgresql://bob:hunter2@db:5432/app", instance_secret="instance!")
    text = console.profiles.store.file.read_text()
    assert "hunter2" not in text and "instance!" not in text
    assert stored == {("profile:prod", "db_password"): "hunter2", ("profile:prod", "instance_secret"): "instance!"}
    assert console.profiles.store.get("prod").database_url == "postgresql://bob@db:5432/app"


def test_a_profile_refused_stores_no_secret(console, monkeypatch):
    """A URL that cannot be written to profiles.json is refused before its secrets reach the keyring."""
    stored = {}
    monkeypatch.setattr(console.secrets, "put", lambda scope, name, value: stored.__setitem__((scope, name), value))
    with pytest.raises(UsageError, match="UTF-8"):
        console.profiles.create("prod", "postgresql://bob:hunter2@db:5432/app\udcff", instance_secret="instance!")
    assert stored == {}


def test_a_profile_that_fails_to_save_takes_its_secrets_back(console, monkeypatch):
    stored, deleted = {}, []
    monkeypatch.setattr(console.secrets, "put", lambda scope, name, value: stored.__setitem__((scope, name), value))
    monkeypatch.setattr(console.secrets, "delete", lambda scope, name: deleted.append((scope, name)))

    def disk_full(records):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(console.profiles.store, "save", disk_full)
    with pytest.raises(OSError):
        console.profiles.create("prod", "postgresql://bob:hunter2@db:5432/app", instance_secret="instance!")
    assert sorted(deleted) == sorted(stored)


@pytest.mark.parametrize("url", ["postgresql://bob@db/app?sslpassword=keypass&sslkey=/k.pem",
                                 "host=db dbname=app sslpassword=keypass"])
def test_an_sslpassword_is_refused_rather_than_stored(console, url):
    with pytest.raises(UsageError, match="sslpassword") as caught:
        console.profiles.create("prod", url)
    assert "keypass" not in caught.value.message + caught.value.hint
    assert "prod" not in console.profiles.store.load()
