"""The simulator's time source, apart from the state so tests and routes can step time.

Job statuses are derived from whatever clock the state holds; a `ManualClock` makes
them deterministic (see ``POST /_sim/clock/advance``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "ManualClock", "utc_now"]

Clock = Callable[[], datetime]
_UTC = timezone.utc


def utc_now() -> datetime:
    """Default clock: real time, aware UTC."""
    return datetime.now(_UTC)


class ManualClock:
    """A clock that only moves when told to, for deterministic state-machine tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or utc_now()).astimezone(_UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The simulated now (UTC)."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock cannot go backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (an aware datetime)."""
        with self._lock:
            self._now = when.astimezone(_UTC)
