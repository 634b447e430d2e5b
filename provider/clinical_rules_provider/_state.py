"""Every piece of process-wide mutable state the provider keeps, in one place, each bounded.

A triggerer runs many hooks in one process, so some things are shared on purpose: tokens and
Vault sessions (one login, not one per trigger), parsed connections (read once per 30 s),
pooled async clients (one per event loop and host), and the last status read of each Vault job
(Vault allows one per 10 s). Each lives here as a :class:`Registry`: a thread-safe map that
keeps at most ``max_size`` entries (expired ones go first, then the least recently stored).
:func:`reset` empties them all (tests call it between tests).

A new registry is one line: ``NAME = Registry("name", max_size, ttl=...)``. The one other
piece of process-wide state is not a map: the loop thread sync calls run on
(``transport/blocking.py``), started once and never reset.
No import beyond the standard library: the exceptions module uses :data:`SECRETS`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_ALL: list[Registry[Any, Any]] = []


class Registry(Generic[K, V]):
    """A bounded, thread-safe map; with ``ttl`` (seconds) an entry expires that long after it
    was stored. Registered for :func:`reset` on creation."""

    def __init__(self, name: str, max_size: int, ttl: float | None = None) -> None:
        self.name, self.max_size, self.ttl = name, max_size, ttl
        self._lock = threading.Lock()
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        _ALL.append(self)

    def __repr__(self) -> str:  # keys may be fingerprints, values secrets: neither is shown
        return f"Registry({self.name!r}, {len(self)}/{self.max_size})"

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return self._live(key) is not None  # type: ignore[arg-type]

    def _live(self, key: K) -> tuple[float, V] | None:
        item = self._items.get(key)
        return item if item is not None and item[0] > time.monotonic() else None

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value stored under ``key``, unless it expired."""
        with self._lock:
            item = self._live(key)
        return item[1] if item is not None else default

    def put(self, key: K, value: V, ttl: float | None = None) -> V:
        """Store ``value`` (``ttl`` overrides the registry's), evicting past ``max_size``."""
        with self._lock:
            self._store(key, value, ttl)
        return value

    def _store(self, key: K, value: V, ttl: float | None) -> None:
        now = time.monotonic()
        ttl = ttl if ttl is not None else self.ttl
        self._items[key] = (now + ttl if ttl is not None else float("inf"), value)
        self._items.move_to_end(key)
        if len(self._items) > self.max_size:
            for stale in [k for k, (expiry, _) in self._items.items() if expiry <= now]:
                del self._items[stale]
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)

    def update(self, key: K, change: Callable[[V | None], V]) -> V:
        """Store ``change(current value or None)`` atomically and return it."""
        with self._lock:
            item = self._live(key)
            value = change(item[1] if item is not None else None)
            self._store(key, value, None)
            return value

    def pop(self, key: K, value: Any = None) -> None:
        """Forget ``key`` (only while it still holds ``value``, when one is given)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None and (value is None or item[1] == value):
                del self._items[key]

    def snapshot(self) -> dict[K, V]:
        """A copy of the live entries."""
        now = time.monotonic()
        with self._lock:
            return {key: value for key, (expiry, value) in self._items.items() if expiry > now}

    def drop(self, doomed: Callable[[K], bool]) -> None:
        """Forget every key for which ``doomed(key)`` is true."""
        with self._lock:
            for key in [key for key in self._items if doomed(key)]:
                del self._items[key]

    def clear(self) -> None:
        """Drop every entry (:func:`reset` calls it on each registry)."""
        with self._lock:
            self._items.clear()


def reset() -> None:
    """Empty every registry (tests: between tests; tasks never need it)."""
    for registry in _ALL:
        registry.clear()


# Issued OAuth2 tokens and Vault sessions, keyed by a fingerprint of the credentials
# (transport/auth.py); each entry lives as long as the service said the secret does.
TOKENS: Registry[tuple[str, ...], str] = Registry("tokens", 1024)
SESSIONS: Registry[tuple[str, ...], str] = Registry("sessions", 1024)
# Parsed connections of the async path, (hook class, conn id) -> config, for 30 s
# (hooks/base.py), and the lookups in flight, (loop, hook class, conn id) -> future (past the
# bound a lookup is forgotten, not cancelled: a later hook may then read the connection again).
CONNECTIONS: Registry[tuple[Any, ...], Any] = Registry("connections", 1024, ttl=30.0)
CONNECTION_LOOKUPS: Registry[tuple[Any, ...], Any] = Registry("connection lookups", 1024)
# Pooled async clients, (event loop, host and settings) -> pool entry (transport/pool.py).
# Past the bound the oldest entry is forgotten, not closed: its hooks keep using it, and its
# sockets close when it is collected (entries of closed event loops are dropped first).
CLIENTS: Registry[tuple[Any, ...], Any] = Registry("async clients", 256)
# When each Vault job's status was last read, (vault, job id) -> monotonic time (hooks/vault.py).
# An entry matters for 10 s after the read it books, which is at most 10 s away: kept 20 s.
VAULT_READS: Registry[tuple[str, int], float] = Registry("vault status reads", 4096, ttl=20.0)
# Known secrets, redacted from every provider exception (_redact.py); the newest are kept.
SECRETS: Registry[str, None] = Registry("secrets", 1024)
# Retries made, by fault (exception class and HTTP status): for reports (transport/retry.py).
RETRIES: Registry[str, int] = Registry("retries", 256)
# Unknown rule-job statuses already logged once each (job_watch.py).
WARNED_STATUSES: Registry[str, None] = Registry("warned statuses", 256)
# The deferred waits' shared polls, (event loop, poll key) -> poll (triggers/coalesced_poll.py).
# Past the bound the oldest poll is forgotten, not stopped: its triggers keep it, and a new
# trigger of its key starts another. Entries of closed event loops are dropped first.
POLLS: Registry[tuple[Any, Any], Any] = Registry("shared polls", 4096)
