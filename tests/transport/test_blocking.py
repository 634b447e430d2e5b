"""transport/blocking.py: sync calls on the process's event-loop thread, per its invariants."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncIterator

import pytest

from clinical_rules_provider.transport import blocking


async def _where() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    return asyncio.get_running_loop(), threading.current_thread()


def test_calls_from_any_thread_run_on_one_loop_thread() -> None:
    here = blocking.run(_where())
    elsewhere: list[tuple[asyncio.AbstractEventLoop, threading.Thread]] = []
    worker = threading.Thread(target=lambda: elsewhere.append(blocking.run(_where())))
    worker.start()
    worker.join()
    assert elsewhere == [here]
    assert here[1] is not threading.current_thread() and blocking.owns(here[0])


def test_a_call_returns_the_result_and_raises_the_exception_of_its_coroutine() -> None:
    async def fail() -> None:
        raise LookupError("from the coroutine")

    assert blocking.run(asyncio.sleep(0, result=7)) == 7
    with pytest.raises(LookupError, match="from the coroutine"):
        blocking.run(fail())


def test_a_call_made_on_the_loop_thread_is_refused_instead_of_waiting_for_itself() -> None:
    async def nested() -> None:
        blocking.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        blocking.run(nested())


def test_an_interrupted_wait_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def long_request() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    main = threading.main_thread().ident
    assert main is not None
    # A real SIGINT to the main thread, as Ctrl-C sends: it interrupts the wait itself.
    threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        blocking.run(long_request())
    assert cancelled.wait(5)


def test_a_forked_child_starts_its_own_loop_thread() -> None:
    blocking.run(asyncio.sleep(0))  # the parent's loop thread exists
    pid = os.fork()
    if pid == 0:  # the child: without its own loop thread this call would never return
        os._exit(0 if blocking.run(asyncio.sleep(0, result=1)) == 1 else 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's call never returned")


def test_an_abandoned_sync_iteration_closes_the_async_one() -> None:
    closed = threading.Event()

    async def pages() -> AsyncIterator[int]:
        try:
            for page in range(10):
                yield page
        finally:
            closed.set()

    iterator = blocking.iterate(pages())
    assert [next(iterator), next(iterator)] == [0, 1]
    iterator.close()
    assert closed.is_set()


def test_a_sync_iteration_ends_with_the_async_one() -> None:
    async def pages() -> AsyncIterator[int]:
        for page in range(3):
            yield page

    assert list(blocking.iterate(pages())) == [0, 1, 2]


def test_the_loop_thread_leaves_signals_to_the_waiting_callers() -> None:
    async def blocked_here() -> set[signal.Signals]:
        return signal.pthread_sigmask(signal.SIG_BLOCK, [])

    assert {signal.SIGINT, signal.SIGTERM} <= blocking.run(blocked_here())
