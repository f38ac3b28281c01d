"""What `main` starts before a command's modules are imported (about a quarter of a second): `backup create
--profile P`'s pg_dump (engine/dump_ahead.py) and `restore run|preflight BACKUP --profile P`'s key derivation
(engine/key_ahead.py). Each is recognised by a small pre-parse of the plainest shape of its command; anything
unusual (an abbreviation, --help, an option it does not know) goes the usual way, decided by argparse."""

from __future__ import annotations

import sys
from collections.abc import Sequence

_CREATE_VALUES = {"--profile", "--description", "--mode", "--compression", "--secret-key-file", "--secret-key-env",
                  "--secret-keyring"}
_RESTORE_VALUES = {"--profile", "--target", "--new-database", "--jobs"}
_COMMON_FLAGS = {"--debug", "-q", "--quiet", "--json"}
_RESTORE_FLAGS = _COMMON_FLAGS | {"--yes", "--verify-first", "--allow-other-database", "--continue-on-error",
                                  "--no-owner"}

DUMP_AHEAD = "recovery_console.engine.dump_ahead"


def _plain(argv: Sequence[str], takes_value: set[str], flags: set[str]) -> tuple[list[str], dict[str, str]] | None:
    """The words and option values of `argv` when it uses only these options, spelled out; else None."""
    words: list[str] = []
    values: dict[str, str] = {}
    rest = iter(argv)
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in takes_value:
            values[name] = value if eq else next(rest, "")
        elif arg not in flags:
            if arg.startswith("-"):
                return None
            words.append(arg)
    return words, values


def dump_ahead_wanted(argv: Sequence[str]) -> tuple[str, str] | None:
    """(profile, compression) when `argv` is plainly `backup create --profile P`; None for anything else or unsure."""
    parsed = _plain(argv, _CREATE_VALUES, _COMMON_FLAGS)
    if parsed is None or parsed[0] != ["backup", "create"] or not parsed[1].get("--profile"):
        return None
    return parsed[1]["--profile"], parsed[1].get("--compression", "zstd")


def key_ahead_wanted(argv: Sequence[str]) -> tuple[str, str, str | None] | None:
    """(backup, profile, target) when `argv` is plainly `restore run|preflight BACKUP --profile P` with the secret
    from the profile (none given, no recovery set's options); None for anything else or unsure."""
    parsed = _plain(argv, _RESTORE_VALUES, _RESTORE_FLAGS)
    if parsed is None:
        return None
    words, values = parsed
    if len(words) != 3 or words[:2] not in (["restore", "run"], ["restore", "preflight"]):
        return None
    if not values.get("--profile"):
        return None
    return words[2], values["--profile"], values.get("--target")


def start(argv: Sequence[str]) -> None:
    """Start what `argv` wants ahead, if anything (a pg_dump is stopped by `stop` unless the backup adopts it)."""
    if (dump := dump_ahead_wanted(argv)) is not None:
        from recovery_console.engine import dump_ahead
        from recovery_console.engine.state.paths import AppPaths

        dump_ahead.start(AppPaths.default(), *dump)
    elif (key := key_ahead_wanted(argv)) is not None:
        from recovery_console.engine import key_ahead
        from recovery_console.engine.state.paths import AppPaths

        key_ahead.start(AppPaths.default(), *key)


def stop() -> None:
    """Stop a pg_dump started ahead and not adopted, and release its lock (however the command ended)."""
    if (started := sys.modules.get(DUMP_AHEAD)) is not None:  # imported only if one may have been started
        started.discard()
