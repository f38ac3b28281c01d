"""profiles.json as named records, and which keyring entry holds a profile's dump password; apart from
profiles.py so a backup can read them before the keyring and connection modules are imported
(engine/dump_ahead.py)."""

from __future__ import annotations

from recovery_console.engine.state.named_store import NamedStore
from recovery_console.engine.state.paths import AppPaths
from recovery_console.models.profile import ConnectionMode, Profile

DB_PASSWORD = "db_password"
DIRECT_PASSWORD = "direct_db_password"


class ProfileStore(NamedStore[Profile]):
    """profiles.json; the instance secret and database passwords are in the keyring."""

    def __init__(self, paths: AppPaths) -> None:
        super().__init__(paths.config_dir / "profiles.json", "profile", Profile.from_dict)


def dump_password_entry(profile: Profile) -> str | None:
    """The keyring entry of the password for the URL pg_dump/pg_restore use (the direct one in pool mode);
    None when the profile stores none."""
    name = DIRECT_PASSWORD if profile.mode is ConnectionMode.POOL else DB_PASSWORD
    return name if name in profile.stored_secrets else None
