"""A profile's recovery-set members (#18): databases and folders added, removed and checked, each change audited.

A database member is declared like a profile (direct, acknowledged not to be a pooler, or pool with a
direct URL) when it is added; its passwords go to the keyring under the profile's scope, named for the
member, and are listed in the profile's `stored_secrets` so removing the profile removes them too.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from recovery_console.engine.pg import postgres
from recovery_console.engine.pg.connection_report import ConnectionReport, report_connection
from recovery_console.engine.state.named_store import usable_text
from recovery_console.engine.state.profiles import Profiles, profile_scope
from recovery_console.errors import NotFoundError, UsageError
from recovery_console.models.profile import PRIMARY_MEMBER, ConnectionMode, MemberKind, Profile, ProfileMember

MAX_MEMBERS = 32
_NAME = re.compile(r"[\w.-]{1,64}\Z")


def member_password_name(member: str, direct: bool = False) -> str:
    """The keyring name of a database member's password (its direct URL's, in pool mode)."""
    return f"member:{member}:{'direct_db_password' if direct else 'db_password'}"


class ProfileMembers:
    """Add, remove and read the members of profiles, through the profile store and its audit."""

    def __init__(self, profiles: Profiles) -> None:
        self.profiles = profiles

    def add_database(self, profile_name: str, name: str, database_url: str, *, mode: ConnectionMode,
                     acknowledge_direct: bool = False, direct_url: str | None = None) -> Profile:
        """Add a database member with its declared connection mode; its URL's password goes to the keyring."""
        with self.profiles.audited("profile.member-add", f"{profile_name}/{name}",
                                   {"kind": "database", "mode": mode.value}):
            profile = self._check_new(profile_name, name)
            if not database_url.strip():
                raise UsageError("No database URL was given for the member.",
                                 hint="Give a URL such as postgresql://host/db.")
            url, password = postgres.split_password(database_url.strip())
            direct_password = None
            if direct_url is not None:
                direct_url, direct_password = postgres.split_password(direct_url.strip())
            if mode is ConnectionMode.UNDECLARED:
                raise UsageError(f"Say how member '{name}' connects: direct (not through a pooler) or pool.",
                                 hint="Backups are only made through a declared connection.")
            declared = Profile(name=name, database_url=url).with_mode(mode, acknowledge_direct=acknowledge_direct,
                                                                      direct_url=direct_url)
            _refuse_same_database(profile, name, declared.dump_url())
            member = ProfileMember(name=name, kind=MemberKind.DATABASE, database_url=url, mode=declared.mode,
                                   direct_acknowledged=declared.direct_acknowledged, direct_url=declared.direct_url)
            secrets = {member_password_name(name): password, member_password_name(name, direct=True): direct_password}
            stored = tuple(key for key, value in secrets.items() if value is not None)
            scope = profile_scope(profile_name)
            for key in stored:
                self.profiles.secrets.put(scope, key, secrets[key])  # type: ignore[arg-type]
            updated = replace(profile, members=profile.members + (member,),
                              stored_secrets=profile.stored_secrets + tuple(k for k in stored
                                                                            if k not in profile.stored_secrets))
            self.profiles.store.replace(updated)
            return updated

    def add_folder(self, profile_name: str, name: str, path: str) -> Profile:
        """Add a folder member (a file vault): an existing folder, kept by its absolute path."""
        with self.profiles.audited("profile.member-add", f"{profile_name}/{name}", {"kind": "folder"}) as detail:
            profile = self._check_new(profile_name, name)
            usable_text(path, "The folder's path")
            folder = Path(path).expanduser().absolute()
            try:
                info = os.lstat(folder)
            except FileNotFoundError:
                raise NotFoundError(f"The folder {folder} does not exist.",
                                    hint="Name the vault's folder itself, as it is on this machine.") from None
            except OSError as exc:
                raise UsageError(f"The folder {folder} cannot be read: {exc.strerror}.") from None
            if not stat.S_ISDIR(info.st_mode):
                raise UsageError(f"{folder} is not a folder" + (" (it is a symbolic link)" if stat.S_ISLNK(info.st_mode)
                                                              else "") + ".",
                                 hint="Name the folder itself; links are never followed.")
            for other in profile.members:
                if other.kind is MemberKind.FOLDER and other.path is not None and _nested(folder, Path(other.path)):
                    raise UsageError(f"{folder} overlaps member '{other.name}' ({other.path}).",
                                     hint="Name folders that do not contain each other.")
            target = self.profiles.targets.load().get(profile.target) if profile.target else None
            if target is not None and target.kind == "local" and _nested(folder, Path(target.options["path"])):
                raise UsageError(f"{folder} overlaps the profile's target '{target.name}' ({target.options['path']}): "
                                 "each set would hold the sets before it, and restoring the folder in place would "
                                 "swap the target's sets away.", hint="Keep the backups outside the vault's folder.")
            detail.update(path=str(folder))
            updated = replace(profile, members=profile.members + (
                ProfileMember(name=name, kind=MemberKind.FOLDER, path=str(folder)),))
            self.profiles.store.replace(updated)
            return updated

    def remove(self, profile_name: str, name: str) -> Profile:
        """Remove a member and its keyring passwords; sets already made keep it."""
        with self.profiles.audited("profile.member-remove", f"{profile_name}/{name}"):
            profile = self.profiles.store.get(profile_name)
            kept = tuple(m for m in profile.members if m.name != name)
            if len(kept) == len(profile.members):
                if name == PRIMARY_MEMBER:
                    raise UsageError(f"'{PRIMARY_MEMBER}' is the profile's own database; it cannot be removed.",
                                     hint="Change the profile's database URL instead.")
                raise NotFoundError(f"Profile '{profile_name}' has no member '{name}'.",
                                    hint="The profile's details list its members.")
            gone = {member_password_name(name), member_password_name(name, direct=True)}
            for key in gone & set(profile.stored_secrets):
                self.profiles.secrets.delete(profile_scope(profile_name), key)
            updated = replace(profile, members=kept,
                              stored_secrets=tuple(s for s in profile.stored_secrets if s not in gone))
            self.profiles.store.replace(updated)
            return updated

    def test(self, profile_name: str) -> list[MemberTest]:
        """Each member reached as a set backup reaches it: a database through the URL pg_dump uses, a folder read."""
        profile = self.profiles.store.get(profile_name)
        found = []
        for member in profile.members:
            if member.kind is MemberKind.DATABASE:
                url = profile.member_connection(member).dump_url()
                report = report_connection(f"{profile_name}/{member.name}", url, self.password(profile, member), [],
                                           profile.tool_dirs)
                detail = (f"PostgreSQL {report.server_version} (database {report.database}), pg_dump "
                          f"{report.pg_dump or 'none compatible found'}" if report.ok else f"{report.error}")
                found.append(MemberTest(member.name, "database", report.ok and report.pg_dump is not None, detail,
                                        report))
            else:
                folder = Path(member.path or "")
                readable = folder.is_dir() and not folder.is_symlink() and os.access(folder, os.R_OK | os.X_OK)
                found.append(MemberTest(member.name, "folder", readable, f"{folder} is a readable folder" if readable
                                        else f"{folder} is not a folder this console can read"))
        return found

    def password(self, profile: Profile, member: ProfileMember) -> str | None:
        """The password for the URL pg_dump uses for a database member (its direct URL's in pool mode)."""
        key = member_password_name(member.name, direct=member.mode is ConnectionMode.POOL)
        return self.profiles.secrets.get(profile_scope(profile.name), key) if key in profile.stored_secrets else None

    def _check_new(self, profile_name: str, name: str) -> Profile:
        profile = self.profiles.store.get(profile_name)
        check_member_name(name)
        if name == PRIMARY_MEMBER or any(m.name == name for m in profile.members):
            raise UsageError(f"Profile '{profile_name}' already has a member named '{name}'"
                             + (" (its own database)" if name == PRIMARY_MEMBER else "") + ".",
                             hint="Choose another name for the member.")
        if len(profile.members) >= MAX_MEMBERS:
            raise UsageError(f"Profile '{profile_name}' already has {MAX_MEMBERS} members, the most a set holds.")
        return profile


def check_member_name(name: str) -> None:
    """Letters, digits, `.`, `_` and `-`, 1 to 64 of them: a name that reads alike in a list and a command."""
    usable_text(name, "The member's name")
    if not _NAME.match(name) or name in (".", ".."):
        raise UsageError(f"'{name}' cannot name a member.",
                         hint="Use 1 to 64 letters, digits, '.', '_' or '-'.")


@dataclass(frozen=True)
class MemberTest:
    """One member as a test reached it: its verdict in words, and a database's connection report."""

    name: str
    kind: str
    ok: bool
    detail: str
    report: ConnectionReport | None = None


def _refuse_same_database(profile: Profile, name: str, url: str) -> None:
    """Two members of one set may not be one database: a set's restore, and its rollback, would replace it twice."""
    mine = _database_identity(url)
    others: list[tuple[str, str | None]] = [(PRIMARY_MEMBER, profile.dump_url() if profile.declared
                                             else profile.database_url)]
    others += [(m.name, m.direct_url or m.database_url) for m in profile.members if m.kind is MemberKind.DATABASE]
    for other, other_url in others:
        if other_url and _database_identity(other_url) == mine:
            raise UsageError(f"Member '{name}' is the same database as member '{other}'"
                             + (" (the profile's own database)" if other == PRIMARY_MEMBER else "") + ".",
                             hint="A set holds each database once: name another database.")


def _database_identity(url: str) -> tuple[str, str, str]:
    """(host, port, database) as libpq reads the URL; the local names of one machine taken as one."""
    params = postgres.parse(url)
    host = params.get("host", "").lower()
    if host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/"):
        host = "local"
    return host, params.get("port", "5432"), params.get("dbname", params.get("user", ""))


def _nested(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents
