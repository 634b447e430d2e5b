"""Async sharing: one pooled client per event loop and host, and the order replies are read in.

A triggerer runs many hooks in one event loop. They share connection pools here, and a
session's replies wait for its unsent requests to reach the wire (see
:class:`UnsentRequests`): both were measured to pay (``benchmarks/README.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class AsyncClientPool:
    """One ``httpx.AsyncClient`` per (event loop, host, TLS and header settings), reference-counted.

    A triggerer runs many triggers in one event loop; each creates its own hook, but they
    all share one connection pool per host, and one semaphore sized to it, instead of one
    each: requests beyond the pool wait in the semaphore, not in httpcore's queue (which
    rescans every waiting request on each state change). Auth is applied per request, so
    hooks with different credentials can share a pool safely.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], tuple[httpx.AsyncClient, asyncio.Semaphore, list[int]]] = {}

    def acquire(
        self, key: tuple[Any, ...], make: Callable[[], httpx.AsyncClient], slots: int
    ) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        entry = self._clients.get(key)
        if entry is None or entry[0].is_closed:
            self._forget_ended_loops()
            entry = self._clients[key] = (make(), asyncio.Semaphore(slots), [0])
        entry[2][0] += 1
        return entry[0], entry[1]

    async def release(self, key: tuple[Any, ...]) -> None:
        entry = self._clients.get(key)
        if entry is None:
            return
        entry[2][0] -= 1
        if entry[2][0] <= 0:
            del self._clients[key]
            await entry[0].aclose()

    def _forget_ended_loops(self) -> None:
        """Drop the clients of event loops that have closed (``asyncio.run`` finished without
        every hook closing): they can never be used or awaited again, so the process-wide
        pool would otherwise only grow. Their sockets close when the clients are collected."""
        for key in [k for k in self._clients if getattr(k[0], "is_closed", lambda: False)()]:
            del self._clients[key]

    def __len__(self) -> int:
        return len(self._clients)

    def open_clients(self) -> int:
        """How many shared clients are open (for tests and benchmarks)."""
        return sum(1 for client, _, _ in self._clients.values() if not client.is_closed)


ASYNC_CLIENTS = AsyncClientPool()


# httpcore's ``trace`` request extension: an async callback of (event name, info).
Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


class UnsentRequests:
    """This session's requests that hold a slot but are not yet written to the socket.

    A reply arriving while others are being sent waits for them (:meth:`written`) before
    it is decoded and parsed: each waiting request needs several event-loop turns to reach
    the socket, and every reply processed in between (about 1 ms for 500 results) would
    delay it. Completion is read from httpcore's ``trace`` request extension.
    """

    def __init__(self) -> None:
        self._count = 0
        self._queued = 0  # requests waiting for a slot
        self._none = asyncio.Event()
        self._none.set()

    @contextlib.asynccontextmanager
    async def slot(self, semaphore: asyncio.Semaphore) -> AsyncIterator[None]:
        """Hold one of the session's ``semaphore`` slots, counting the wait for one."""
        self._queued += 1
        try:
            await semaphore.acquire()
        finally:
            self._queued -= 1
        try:
            yield
        finally:
            semaphore.release()

    @contextlib.contextmanager
    def track(self) -> Iterator[Trace]:
        """Count one request until its body is written (or its attempt ends)."""
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                self._count -= 1
                if not self._count:
                    self._none.set()

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("send_request_body.complete"):
                finish()

        self._count += 1
        self._none.clear()
        try:
            yield trace
        finally:
            finish()

    async def written(self) -> None:
        """Return once no request of this session is waiting to be written."""
        if not (self._queued or self._count):
            return  # a lone request (a trigger's poll, a page) pays nothing
        # One loop turn first: a request woken by the slot just freed starts counting then.
        await asyncio.sleep(0)
        if self._count:
            await self._none.wait()


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
