"""Setting up a profile in one audited step: its storage target (if new), the profile, its connection mode.

The setup wizard collects a `SetupPlan` and hands it to `save_setup`; nothing is saved before,
and a step that fails undoes the steps before it, so a failed setup leaves no half-made profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recovery_console.engine.console import Console
from recovery_console.models.profile import ConnectionMode, Profile
from recovery_console.models.target import TargetConfig


@dataclass
class SetupPlan:
    """Everything a setup saves; secrets stay in memory until they go to the keyring."""

    name: str
    database_url: str
    instance_secret: str
    mode: ConnectionMode
    acknowledge_direct: bool = False
    direct_url: str | None = None
    target_name: str = ""
    new_target: TargetConfig | None = None
    target_secrets: dict[str, str] = field(default_factory=dict)


def save_setup(console: Console, plan: SetupPlan) -> Profile:
    """Save the target (if new), then the profile and its declared mode, under one `profile.setup` audit entry.

    Each step also writes its own entry (target.add, profile.create, profile.set-mode), inside this one.

    A failing step undoes the earlier ones (the profile is removed, a new target forgotten) and the
    audit entry records the failure.
    """
    with console.audited("profile.setup", plan.name, {"target": plan.target_name, "mode": plan.mode.value}):
        console.profiles.store.check_new(plan.name)
        if plan.new_target is not None:
            console.add_target(plan.new_target, plan.target_secrets)
        try:
            console.profiles.create(plan.name, plan.database_url, target=plan.target_name,
                                    instance_secret=plan.instance_secret)
            try:
                return console.profiles.set_mode(plan.name, plan.mode, acknowledge_direct=plan.acknowledge_direct,
                                                 direct_url=plan.direct_url)
            except BaseException:
                console.profiles.remove(plan.name)
                raise
        except BaseException:
            if plan.new_target is not None:
                console.remove_target(plan.target_name)
            raise
