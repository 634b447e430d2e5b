"""The service's clock as its HTTP ``Date`` header shows it: measured and reported, never trusted.

Thresholds such as ``older_than`` and ``started_after`` compare a service ``jobStartDate``
with this worker's clock, so a skew between the two shifts them. The transport measures
that skew from every reply's ``Date`` header (RFC 9110: the time the reply was generated,
whole seconds) and the tasks *warn* when it is provably past the connection's
``clock_skew_warning``. Nothing decides anything from it: it is a number for logs.

The reading is an interval, not a guess: the service stamped ``Date`` between sending the
request (``t_sent``) and receiving the reply (``t_received``) on this worker's clock, and
truncated its own time to the second, so the skew (service minus worker) lies in
``(Date - t_received, Date + 1 - t_sent]``. A warning needs the whole interval past the
threshold, so a synchronised pair of clocks never warns however slow the reply was.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["DEFAULT_CLOCK_SKEW_WARNING", "ClockSkewMeter", "SkewReading", "read_skew", "skew_warning"]

# Seconds (connection extra ``clock_skew_warning``); see docs/troubleshooting.md for why 5 s.
DEFAULT_CLOCK_SKEW_WARNING = 5.0


@dataclass(frozen=True)
class SkewReading:
    """Service clock minus this worker's clock, in seconds (positive: the service is ahead).

    ``seconds`` is the middle of the interval the true skew lies in, ``uncertainty`` its
    half-width (at least 0.5 s: ``Date`` has whole seconds).
    """

    seconds: float
    uncertainty: float

    @property
    def least(self) -> float:
        """The smallest skew (in absolute value) the reading allows: 0 when the interval holds 0."""
        return max(abs(self.seconds) - self.uncertainty, 0.0)


def read_skew(response: httpx.Response, received: float | None = None) -> SkewReading | None:
    """The skew one reply shows, or ``None`` when it shows none.

    ``None`` for a missing or unparsable ``Date``, and for a reply a cache served (an
    ``Age`` header: its ``Date`` is when the cache got it). ``received`` is the worker's
    epoch time when the reply was read (default: now).
    """
    value = response.headers.get("date")
    if not value or "age" in response.headers:
        return None
    stamp = _http_date(value)
    if stamp is None:
        return None
    received = time.time() if received is None else received
    try:
        elapsed = response.elapsed.total_seconds()
    except RuntimeError:  # not read yet: only "stamped before now" is known; no reading
        return None
    sent = received - max(elapsed, 0.0)
    low, high = stamp - received, stamp + 1.0 - sent
    return SkewReading(seconds=(low + high) / 2, uncertainty=(high - low) / 2)


@functools.lru_cache(maxsize=16)
def _http_date(value: str) -> float | None:
    """An HTTP date as epoch seconds, or ``None`` (cached: a second's replies share one value)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" parses naive; HTTP dates are always GMT (RFC 9110), so read it as UTC.
    stamp = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    return stamp if math.isfinite(stamp) else None


class ClockSkewMeter:
    """The tightest skew reading of one HTTP session (a hook's lifetime: one task or trigger).

    The tightest, not the latest: a slow reply widens the interval, a fast one narrows it,
    and two clocks do not drift apart noticeably within a task.
    """

    def __init__(self) -> None:
        self.best: SkewReading | None = None
        self.readings = 0

    def observe(self, response: httpx.Response) -> None:
        """Take the reading of one reply (called by the transport as each reply arrives)."""
        reading = read_skew(response)
        if reading is None:
            return
        self.readings += 1
        if self.best is None or reading.uncertainty <= self.best.uncertainty:
            self.best = reading


def skew_warning(reading: SkewReading | None, threshold: float, what: str) -> str | None:
    """The warning for a reading provably past ``threshold`` seconds, else ``None``.

    :param what: the user-facing setting the skew shifts (e.g. ``"older_than"``).
    """
    if reading is None or reading.least <= threshold:
        return None
    direction = "ahead of" if reading.seconds > 0 else "behind"
    return (
        f"The service's clock is {abs(reading.seconds):.1f} s (\u00b1{reading.uncertainty:.1f} s) "
        f"{direction} this worker's, measured from its HTTP Date header (warning threshold "
        f"{threshold:g} s, connection extra clock_skew_warning). {what} compares the service's "
        "jobStartDate with this worker's clock, so it is shifted by that much; synchronise the "
        "clocks (NTP). Nothing is corrected for it."
    )
