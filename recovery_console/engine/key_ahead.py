"""`restore run|preflight BACKUP --profile P`'s key derivation started first thing, while the command's modules load.

PBKDF2 of the instance secret with the backup's salt (~0.35 s, outside the GIL) is the longest step before a
restore can start. Here it starts from what is quick to read: the preamble of BACKUP when it is a file, or a
catalog id of a backup on a local target; and the profile's secret the catalog recorded as opening that backup,
else its newest, from the keyring. The result lands in the container's per-process cache (container/format.py),
where the command's own open_secret finds it done or under way; the command still reads the keyring itself and
checks the key. Anything unsure or failing does nothing and shows nothing, but a keyring that cannot be read:
that is the command's error now, as it would be a moment later.

The keyring is read here, on the main thread, before the command's modules are imported: they would slow the
read, which the derivation waits for; the command's own read then finds the keyring unlocked.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recovery_console.engine.background import in_background
from recovery_console.engine.container import format as fmt
from recovery_console.engine.state.backup_ids import matching_records
from recovery_console.engine.state.catalog import Catalog, OpenedWith
from recovery_console.engine.state.keyring_store import SecretStore, profile_scope
from recovery_console.engine.state.paths import AppPaths
from recovery_console.engine.state.profile_store import ProfileStore
from recovery_console.engine.state.targets import TargetStore
from recovery_console.engine.storage.local import LocalStorage
from recovery_console.errors import SecretUnavailableError

log = logging.getLogger(__name__)


def start(paths: AppPaths, backup: str, profile: str, target: str | None) -> None:
    """Read BACKUP's salt and PROFILE's secret now, if both are quick to read, and derive on a daemon thread."""
    try:
        found = _local_backup(paths, backup, target)
        if found is None:
            return
        path, opened = found
        with path.open("rb") as file:
            header = fmt.Header.parse(file.read(fmt.HEADER_SIZE))
        secret = _secret(paths, profile, opened)
    except SecretUnavailableError:
        raise  # the command's own read would meet the same, and a dismissed unlock prompt is not shown twice
    except Exception:  # noqa: BLE001 - only a head start: the command reads and derives itself, and reports
        log.debug("No key derivation ahead", exc_info=True)
        return
    if secret:
        in_background(fmt.derive_ahead, secret, header.salt, header.iterations, name="rc-key-ahead")


def _local_backup(paths: AppPaths, backup: str, target: str | None) -> tuple[Path, OpenedWith | None] | None:
    """The file BACKUP names: itself, or the one catalog record its id matches on a local target, with the secret
    the catalog records as having opened it; else None."""
    path = Path(backup).expanduser()
    if path.is_file():
        return path, None
    if ":" in backup or not paths.catalog_file.exists():  # TARGET:KEY, or no catalog to create here
        return None
    targets = TargetStore(paths)
    names = [targets.resolve(target).name] if target else None
    catalog = Catalog(paths.catalog_file)
    records = matching_records(catalog.records(names), backup)
    config = targets.load().get(records[0].target) if len(records) == 1 else None
    if config is None or config.kind != "local":
        return None
    record = records[0]
    opened = catalog.opened_with([record.target]).get((record.target, record.key))
    return Path(LocalStorage(config.name, Path(config.options["path"])).location(record.key)), opened


def _secret(paths: AppPaths, profile_name: str, opened: OpenedWith | None) -> str | None:
    """The profile's secret that opened this backup before, else its newest, as open_secret tries them first."""
    profile = ProfileStore(paths).load().get(profile_name)
    if profile is None or not profile.secrets_newest_first:
        return None
    entry = profile.secrets_newest_first[0].entry
    if opened is not None and opened.profile == profile_name:
        entry = opened.entry
    return SecretStore().get(profile_scope(profile_name), entry)
