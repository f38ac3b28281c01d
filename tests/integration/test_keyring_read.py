"""A secret read from the OS keyring without the probe's write/read/delete first: only from a backend known to be
secure, and only when it returns a secret; anything else still goes through the probe (real gnome-keyring)."""

from __future__ import annotations

import secrets as random_secrets
from typing import Any

import pytest

from recovery_console.engine.state.keyring_store import (
    INSECURE_ENV,
    INSTANCE_SECRET,
    InsecureKeyringWarning,
    SecretStore,
    profile_scope,
)
from recovery_console.errors import SecretUnavailableError
from tests.integration.test_keyring import plaintext_keyring  # noqa: F401 - the fixture, shared

pytestmark = [pytest.mark.integration]


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INSECURE_ENV, raising=False)


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The probe round trips made, by backend (the real ones still run)."""
    made: list[str] = []
    original = SecretStore._round_trip

    def counted(backend: Any) -> str | None:
        made.append(type(backend).__name__)
        return original(backend)

    monkeypatch.setattr(SecretStore, "_round_trip", staticmethod(counted))
    return made


def test_a_stored_secret_is_read_without_a_probe_and_a_write_still_probes(secret_service, probes) -> None:
    value = f"read-{random_secrets.token_hex(8)}"
    SecretStore().put(profile_scope("fast"), INSTANCE_SECRET, value)
    probes.clear()
    reader = SecretStore()
    assert reader.get(profile_scope("fast"), INSTANCE_SECRET) == value
    assert probes == []
    reader.put(profile_scope("fast"), INSTANCE_SECRET, value + "2")
    assert len(probes) == 1
    assert SecretStore().delete(profile_scope("fast"), INSTANCE_SECRET)


def test_a_missing_secret_goes_through_the_probe(secret_service, probes) -> None:
    store = SecretStore()
    assert store.get(profile_scope("nobody"), INSTANCE_SECRET) is None
    assert len(probes) == 1 and store.probe().usable


def test_an_insecure_backend_is_never_read_directly(plaintext_keyring, probes) -> None:  # noqa: F811
    value = f"plain-{random_secrets.token_hex(8)}"
    with pytest.warns(InsecureKeyringWarning):
        SecretStore(allow_insecure=True).put(profile_scope("lab"), INSTANCE_SECRET, value)
    with pytest.raises(SecretUnavailableError) as refused:  # it holds the secret, but without the opt-in: refused
        SecretStore().get(profile_scope("lab"), INSTANCE_SECRET)
    assert value not in str(refused.value)
    with pytest.warns(InsecureKeyringWarning):  # with it: read, and warned about, as before
        assert SecretStore(allow_insecure=True).get(profile_scope("lab"), INSTANCE_SECRET) == value
