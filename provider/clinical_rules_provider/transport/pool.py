"""Connection pools: one pooled async client per event loop and host, and how a session shares it.

A triggerer runs many hooks in one event loop. They share one ``httpx.AsyncClient`` (and one
semaphore sized to its pool) per loop, host and settings, kept in
:data:`clinical_rules_provider._state.CLIENTS`: requests beyond the pool wait in the
semaphore, not in httpcore's queue (which rescans every waiting request on each state
change). Auth is applied per request, so hooks with different credentials share a pool
safely, and no client keeps cookies. Within a session, a reply waits until the requests that
took the freed slots are written (:class:`Lane`). Both were measured to pay
(``benchmarks/README.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import httpx

from clinical_rules_provider._state import CLIENTS

T = TypeVar("T")
# httpcore's ``trace`` request extension: an async callback of (event name, info).
Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


@functools.lru_cache(maxsize=2)
def ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process and setting (building one costs ~20 ms of CPU)."""
    return httpx.create_ssl_context(verify=verify)


def no_cookie_jar() -> CookieJar:
    """A cookie jar that accepts no cookie (the APIs authenticate by header, not cookie)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@dataclass
class Pooled:
    """A shared async client, the semaphore sized to its pool, and how many sessions use it."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    users: int = 0


def acquire(key: tuple[Any, ...], make: Callable[[], httpx.AsyncClient], size: int) -> Pooled:
    """The pooled client for ``key`` (whose first item is the event loop), made if needed.

    Clients of event loops that have closed (``asyncio.run`` ended without every hook closing)
    are dropped first: they can never be used or awaited again; their sockets close when the
    clients are collected.
    """
    pooled: Pooled | None = CLIENTS.get(key)
    if pooled is None or pooled.client.is_closed:
        for stale in [k for k in CLIENTS.snapshot() if k[0].is_closed()]:
            CLIENTS.pop(stale)
        pooled = CLIENTS.put(key, Pooled(make(), asyncio.Semaphore(size)))
    pooled.users += 1
    return pooled


async def release(key: tuple[Any, ...]) -> None:
    """One session is done with the pooled client of ``key``; the last one closes it."""
    pooled: Pooled | None = CLIENTS.get(key)
    if pooled is not None:
        pooled.users -= 1
        if pooled.users <= 0:
            CLIENTS.pop(key)
            await pooled.client.aclose()


def open_clients() -> int:
    """How many shared clients are open (for tests and benchmarks)."""
    return sum(1 for pooled in CLIENTS.snapshot().values() if not pooled.client.is_closed)


class Lane:
    """One session's way onto a pooled client: at most ``concurrency`` requests of the session
    and the pool's size in all are in flight, and replies wait for the session's unsent requests.

    A reply arriving while others are being sent waits for them (:meth:`written`) before it is
    decoded and parsed: each waiting request needs several event-loop turns to reach the
    socket, and every reply processed in between (about 1 ms for 500 results) would delay it.
    Completion is read from httpcore's ``trace`` request extension.
    """

    def __init__(self, pooled: Pooled, concurrency: int) -> None:
        self.pooled = pooled
        self._own = asyncio.Semaphore(max(concurrency, 1))
        self._queued = 0  # requests waiting for a slot of the session
        self._unsent = 0  # requests holding a slot, not yet written
        self._none_unsent = asyncio.Event()
        self._none_unsent.set()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Trace]:
        """Hold a slot of the session and one of the pool; count the request as unsent until its
        body is written (the yielded ``trace`` extension) or the block ends."""
        self._queued += 1
        try:
            await self._own.acquire()
        finally:
            self._queued -= 1
        try:
            # Counted as unsent only once it can go (not while the shared pool is full).
            await self.pooled.slots.acquire()
        except BaseException:
            self._own.release()
            raise
        self._unsent += 1
        self._none_unsent.clear()
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                self._unsent -= 1
                if not self._unsent:
                    self._none_unsent.set()

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("send_request_body.complete"):
                finish()

        try:
            yield trace
        finally:
            finish()
            self.pooled.slots.release()
            self._own.release()

    async def written(self) -> None:
        """Return once no request of this session is waiting to be written."""
        if not (self._queued or self._unsent):
            return  # a lone request (a trigger's poll, a page) pays nothing
        # One loop turn first: a request woken by the slot just freed starts counting then.
        await asyncio.sleep(0)
        if self._unsent:
            await self._none_unsent.wait()


async def gather_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """``asyncio.gather`` that cancels the siblings when one fails (Python 3.10 has no TaskGroup)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
