"""The process's caches, one facility: each is a named dict under a lock, registered here, and
``clear_caches()`` empties them all (what ``clear_token_cache()`` does for tests and for users
who rotate a secret): managers, issuer metadata, Vault sessions, the Prefect store's saved
documents, the Prefect lock's set-up limits, the host journal, the store choices logged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ProcessCache(Generic[K, V]):
    """One named process-wide cache. ``on_clear`` sees the values being dropped (the managers
    are retired, so their holders ask again)."""

    def __init__(self, name: str, on_clear: Callable[[Iterable[V]], None] | None = None) -> None:
        self.name = name
        self._data: dict[K, V] = {}
        self._lock = threading.Lock()
        self._on_clear = on_clear
        with _registry_lock:
            registry.append(self)

    def __repr__(self) -> str:
        return f"ProcessCache({self.name!r}, {len(self._data)} entries)"

    def get(self, key: K) -> V | None:
        return self._data.get(key)  # a dict read is atomic: no lock on the hot path

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The cached value, or ``make()``'s, made once under the lock."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                value = self._data[key] = make()
            return value

    def clear(self) -> None:
        with self._lock:
            dropped = list(self._data.values())
            self._data.clear()
        if self._on_clear is not None:
            self._on_clear(dropped)


registry: list[ProcessCache[Any, Any]] = []
_registry_lock = threading.Lock()


def clear_caches() -> None:
    """Empty every process cache of the package."""
    with _registry_lock:
        caches = list(registry)
    for cache in caches:
        cache.clear()
