"""Shared test setup: every test gets a private console home; real-server fixtures live in tests/fixtures/."""

from __future__ import annotations

import gc
import importlib.util

import pytest

pytest_plugins = [
    name
    for name in (
        "tests.fixtures.console",
        "tests.fixtures.postgres",
        "tests.fixtures.s3",
        "tests.fixtures.sftp",
        "tests.fixtures.smb",
        "tests.fixtures.keyring",
    )
    if importlib.util.find_spec(name) is not None
]


@pytest.fixture(scope="session", autouse=True)
def _collect_cycles_on_the_main_thread():
    """No cycle collection inside a job's worker thread, where a collected Qt object would be destroyed off its
    thread (a run crashed so, "Garbage-collecting" in a backup job); cycles are collected between tests."""
    gc.disable()
    yield
    gc.unfreeze()
    gc.enable()


@pytest.fixture(autouse=True)
def _collect_after_each_test():
    """The cycles a test made are collected as it ends, on the main thread; what outlives it (modules, fixtures of
    wider scope) is then frozen out of later collections, which so cost what one test allocated (a whole-heap
    collection cost ~70 ms a test, minutes a run)."""
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the real user's settings, catalog or audit log."""
    monkeypatch.setenv("RECOVERY_CONSOLE_HOME", str(tmp_path_factory.mktemp("rc-home")))
