"""Sync calls over the async driver: one event loop per process, on a thread of its own.

Every request is sent by one driver, the async one (:meth:`.session.HttpSession.arun`). A
hook's sync methods hand their coroutine to this module's loop and wait for it, so a sync
call gets the same deadline, retries, body caps and concurrency as an async one, and the
sync methods of every hook in the process share that loop's pooled clients.

Invariants:

1. One loop thread per process, started on first use. A forked child starts its own (a fork
   copies the loop object but not its thread).
2. :func:`run` blocks the calling thread until the coroutine ends and returns its result or
   raises its exception. If the waiting thread is interrupted (``KeyboardInterrupt``,
   Airflow's SIGTERM handler raising in the task), the coroutine is cancelled: a request
   does not outlive the call that made it.
3. :func:`run` is never called on the loop thread itself (it would wait for itself): that
   raises ``RuntimeError``. Any other thread may call it, also one that runs an event loop
   of its own (a notebook) or a signal handler interrupting another call (``on_kill``):
   calls run concurrently on the one loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The process's blocking-call loop, started if needed."""
    global _loop, _thread
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(
                target=_serve, args=(_loop,), name="clinical-rules-provider-loop", daemon=True
            )
            _thread.start()
        return _loop


def _serve(running: asyncio.AbstractEventLoop) -> None:
    # Signals go to other threads: Ctrl-C and Airflow's SIGTERM must interrupt the waiting
    # caller (invariant 2), not this thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    running.run_forever()


def owns(candidate: object) -> bool:
    """True when ``candidate`` is this process's blocking-call loop."""
    return candidate is not None and candidate is _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the loop thread and wait for its result (see the invariants above)."""
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("a sync hook method was called on the provider's own event-loop thread")
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # interrupted while waiting: stop the coroutine too
        raise


def iterate(pages: AsyncIterator[T]) -> Iterator[T]:
    """A sync iterator over an async one, each item fetched on the loop thread."""
    try:
        while True:
            try:
                yield run(_next(pages))
            except StopAsyncIteration:
                return
    finally:
        run(_close(pages))


async def _next(pages: AsyncIterator[T]) -> T:
    return await pages.__anext__()


async def _close(pages: AsyncIterator[Any]) -> None:
    aclose = getattr(pages, "aclose", None)
    if aclose is not None:
        await aclose()


def _forget_after_fork() -> None:
    global _lock, _loop, _thread
    _lock, _loop, _thread = threading.Lock(), None, None


os.register_at_fork(after_in_child=_forget_after_fork)
