"""The deadline of one hook call: a value handed to every request, wait and pause of the call.

A per-read ``timeout`` does not bound a call: a server that trickles one byte per read holds
it as long as it likes. So each hook call gets a :class:`Deadline` (the ``deadline``
connection setting, or less when a sensor or trigger bounds its hook with
``ServiceHook.time_limit``) and passes it down explicitly: retries and pauses are cut to it,
and each request is awaited no longer than it (sync calls run on the async driver too, see
:mod:`.blocking`).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from clinical_rules_provider.exceptions import DeadlineExceededError

T = TypeVar("T")


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock by which a call must end (``None``: no bound)."""

    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None, within: Deadline | None = None) -> Deadline:
        """``seconds`` from now (``None`` or NaN: unbounded), or ``within`` if it ends earlier."""
        at = None if seconds is None or math.isnan(seconds) else time.monotonic() + max(seconds, 0.0)
        if within is not None and within.at is not None and (at is None or within.at < at):
            return within
        return cls(at)

    def left(self) -> float | None:
        """Seconds left (negative once passed), or ``None`` without a bound."""
        return None if self.at is None else self.at - time.monotonic()

    def pause(self, seconds: float) -> float:
        """A pause cut to what is left (a pause never fails a call)."""
        left = self.left()
        return seconds if left is None else min(seconds, max(left, 0.0))

    def wait(self, seconds: float, what: str) -> float:
        """A wait the call needs (a retry, Vault's per-job read interval); one that would pass
        the deadline raises :class:`DeadlineExceededError` instead of sleeping into it."""
        left = self.left()
        if left is not None and seconds >= left:
            raise DeadlineExceededError(
                f"{what}: a wait of {seconds:.1f} s would pass the call's deadline ({max(left, 0):.1f} s left)"
            )
        return seconds

    def timeouts(self, timeout: float) -> dict[str, float]:
        """The ``timeout`` request extension: the connection's timeout, less when the deadline
        is closer."""
        left = self.left()
        return dict.fromkeys(
            ("connect", "read", "write", "pool"), timeout if left is None else max(min(timeout, left), 0.001)
        )

    async def bound(self, call: Coroutine[Any, Any, T], what: str) -> T:
        """Await ``call``, but no longer than the deadline (a trickling server included)."""
        left = self.left()
        if left is None:
            return await call
        try:
            if sys.version_info >= (3, 11):  # no extra task per request
                async with asyncio.timeout(max(left, 0.0)):
                    return await call
            return await asyncio.wait_for(call, max(left, 0.0))
        except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11
            raise DeadlineExceededError(f"{what} still unanswered at the call's deadline") from None
