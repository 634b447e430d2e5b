"""The one poll loop every trigger runs, and its one error policy.

Deferred rule-job and Vault-job waits, their coalesced poll, a watcher polling alone and the
watchers' shared stream all run :func:`poll_cycles`: one cycle, one answer, a pause until the
next cycle is due. A cycle never raises out of the loop: :func:`judge` makes its exception a
:class:`Failure` (the table in docs/running-at-scale.md#one-poll-loop-one-error-policy says
what each kind of trigger does with one).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clinical_rules_provider.exceptions import ClinicalRulesError, TransientServiceError

T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """A cycle that failed, judged once: its message, and whether polling again may help."""

    message: str
    transient: bool = False


def judge(exc: Exception, what: str, log: Any) -> Failure:
    """The error policy: transient (poll again), the service's word (keeps its message), or a
    bug or bad settings (logged once with its traceback)."""
    if isinstance(exc, TransientServiceError):
        return Failure(str(exc), transient=True)
    if isinstance(exc, ClinicalRulesError):
        return Failure(str(exc))
    log.error("Polling %s failed", what, exc_info=exc)  # a bug or bad settings: keep the traceback
    return Failure(f"{type(exc).__name__} while polling {what}: {str(exc)[:300]}")


class poll_cycles(Generic[T]):
    """Run ``cycle`` forever; each ``__anext__`` is one answer, or its :class:`Failure`.

    Cycles start ``interval()`` seconds apart (read again before each pause, so a shared poll
    follows its fastest subscriber); a pause ends early at ``deadline`` (epoch seconds), and
    is recomputed when ``wake`` is set. The consumer stops by leaving the loop. An iterator
    object rather than an async generator: thousands of deferred waits each hold one, and it
    holds no frame of its own between cycles.
    """

    __slots__ = ("began", "cycle", "end", "first_delay", "interval", "log", "wake", "what")

    def __init__(
        self,
        cycle: Callable[[], Awaitable[T]],
        *,
        what: str,
        interval: Callable[[], float],
        log: Any,
        first_delay: float = 0.0,
        deadline: float | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.cycle, self.what, self.interval, self.log = cycle, what, interval, log
        self.first_delay, self.wake, self.began = first_delay, wake, -math.inf
        self.end = math.inf if deadline is None else deadline

    def __aiter__(self) -> poll_cycles[T]:
        return self

    async def aclose(self) -> None:
        """Nothing to release between cycles (closes like the generator it replaces)."""

    async def __anext__(self) -> T | Failure:
        loop = asyncio.get_running_loop()
        if self.began == -math.inf and self.first_delay > 0:
            await asyncio.sleep(self.first_delay)
        while (left := min(self.began + self.interval() - loop.time(), self.end - time.time())) > 0:
            if self.wake is None:
                await asyncio.sleep(left)
                break
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), left)
                continue  # woken: the interval may have changed
            break
        self.began = loop.time()
        try:
            return await self.cycle()
        except Exception as exc:  # the policy above: never out of the loop
            return judge(exc, self.what, self.log)


__all__ = ["Failure", "judge", "poll_cycles"]
