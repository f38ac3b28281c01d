"""The open storages of one console: one per target and thread, reused until the target changes or the pool closes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from recovery_console.engine.storage.base import Storage
from recovery_console.models.target import TargetConfig


class StoragePool:
    """Opens a target's storage on first use and hands out that same storage (and connection) after.

    Storages are kept per thread as well as per target: an SFTP session serves one thread at a time,
    and the GUI runs its jobs on worker threads. A target whose settings changed gets a new storage.
    """

    def __init__(self, opener: Callable[[TargetConfig], Storage]) -> None:
        self._opener = opener
        self._lock = threading.Lock()
        self._open: dict[tuple[str, int], tuple[TargetConfig, Storage]] = {}

    def get(self, config: TargetConfig) -> Storage:
        """The storage for `config`, opened now if this thread has none for it or its settings changed."""
        key = (config.name, threading.get_ident())
        with self._lock:
            held = self._open.get(key)
        if held is not None:
            if held[0] == config:
                return held[1]
            self.drop(config.name)
        storage = self._opener(config)
        with self._lock:
            self._open[key] = (config, storage)
        return storage

    def drop(self, name: str) -> None:
        """Close and forget every storage of the target `name` (it was edited or removed)."""
        with self._lock:
            keys = [key for key in self._open if key[0] == name]
            dropped = [self._open.pop(key)[1] for key in keys]
        for storage in dropped:
            storage.close()

    def close(self) -> None:
        """Close every storage; the pool can still open new ones afterwards."""
        with self._lock:
            dropped = [storage for _, storage in self._open.values()]
            self._open.clear()
        for storage in dropped:
            storage.close()
