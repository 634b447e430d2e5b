"""When to retry and how long to wait: tenacity configuration shared by both drivers."""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity
from tenacity.wait import wait_base

from clinical_rules_provider.clients.base import decode_json
from clinical_rules_provider.exceptions import (
    DeadlineExceededError,
    RateLimitedError,
    TransientServiceError,
    UnexpectedResponseError,
    WaitTooLongError,
)
from clinical_rules_provider.hooks._limits import remaining

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
# Failures before a single byte of the request left: no connection was made (refused, DNS,
# TLS handshake, connect timeout) or none was free in the pool. Not WriteError/WriteTimeout
# (part of the request may be out), nor read errors, timeouts or protocol errors (the
# service may have acted before its reply was lost).
# A proxy that refused the tunnel (CONNECT answered with a non-2xx status, or a SOCKS
# failure) never passed the request on either.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_PROXY_STATUS = re.compile(r"([0-9]{3})\b")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff (with jitter) for transient faults; ``Retry-After`` wins when present."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0


class _WaitRetryAfter(wait_base):
    """Use the server's ``Retry-After`` when it gave one, else the fallback backoff.

    A server-directed wait above ``cap`` (the connection's ``max_wait``) fails at once with
    :class:`WaitTooLongError`, and a wait that would pass the call's deadline with
    :class:`DeadlineExceededError`: both end the retries (raised from here, tenacity stops).
    """

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, (WaitTooLongError, DeadlineExceededError)):
            raise exc
        if isinstance(exc, TransientServiceError) and exc.retry_after is not None:
            wait = server_wait(exc.retry_after, self.cap, exc.message)
        else:
            wait = float(self.fallback(retry_state))
        left = remaining()
        if left is not None and wait >= left:
            raise DeadlineExceededError(
                f"{exc}: a retry in {wait:.1f} s would pass the call's deadline ({max(left, 0):.1f} s left)"
            ) from exc
        return wait


def server_wait(seconds: float, cap: float, what: str) -> float:
    """A wait the service asked for, checked against the ``max_wait`` cap.

    NaN, infinity and negative values are ignored (0); above ``cap`` raises
    :class:`WaitTooLongError` instead of sleeping.
    """
    if not math.isfinite(seconds) or seconds < 0:
        return 0.0
    if seconds > cap:
        raise WaitTooLongError(
            f"{what}: the service asked to wait {seconds:.0f} s, more than max_wait ({cap:g} s)"
        )
    return seconds


RETRIES: Counter[str] = Counter()
"""Retries made in this process, by fault (exception class and HTTP status): for reports."""


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    status = getattr(exc, "status_code", None)
    RETRIES[f"{type(exc).__name__}{f' {status}' if status else ''}"] += 1
    delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.warning(
        "Transient fault (attempt %d), retrying in %.2f s: %s", retry_state.attempt_number, delay, exc
    )


def never_processed(exc: BaseException) -> bool:
    """True when the service provably did not act on the request that failed with ``exc``.

    That is: the request never left (:data:`NEVER_SENT`, the transport keeps the httpx error
    as ``__cause__``) or the service throttled it (HTTP 429). Anything else after sending is
    ambiguous. (Credentials refused right after a renewal are not retried at all: they fail fast.)
    """
    if isinstance(exc, RateLimitedError):
        return True
    return isinstance(exc, TransientServiceError) and isinstance(exc.__cause__, NEVER_SENT)


def proxy_error(what: str, exc: httpx.ProxyError) -> TransientServiceError | UnexpectedResponseError:
    """A proxy's refusal to open a tunnel (``CONNECT`` answered ``502 Bad Gateway``) as a
    provider error: a transient status (429, 502, 503, 504) is a :class:`TransientServiceError`
    retried like the same status from the service (and, since nothing reached the service,
    even for a request that is not idempotent: see :func:`never_processed`); any other
    refusal (``407``, ``403``) is not retried. Only the status is kept: the proxy's reason
    text may echo anything."""
    found = _PROXY_STATUS.match(str(exc))
    status = int(found.group(1)) if found else None
    if status in TRANSIENT_STATUS:
        return TransientServiceError(
            f"{what}: the proxy answered CONNECT with HTTP {status}", status_code=status
        )
    refused = f"HTTP {status}" if status is not None else "an error"
    return UnexpectedResponseError(
        f"{what}: the proxy refused the connection with {refused}", status_code=status
    )


def _retryable(idempotent: bool) -> tenacity.retry_base:
    if idempotent:
        return tenacity.retry_if_exception_type(TransientServiceError)
    return tenacity.retry_if_exception(never_processed)


def retry_kwargs(policy: RetryPolicy, *, idempotent: bool = True) -> dict[str, Any]:
    """Shared tenacity configuration for ``Retrying`` and ``AsyncRetrying``.

    A non-idempotent request is retried only when it :func:`never_processed`.
    """
    return {
        "stop": tenacity.stop_after_attempt(policy.attempts),
        "wait": _WaitRetryAfter(
            tenacity.wait_exponential(multiplier=policy.backoff, max=policy.max_backoff)
            + tenacity.wait_random(0, policy.backoff),
            policy.max_retry_after,
        ),
        "retry": _retryable(idempotent),
        "before_sleep": _log_retry,
        "reraise": True,
    }


def retry_after_seconds(value: str | None) -> float | None:
    """Parse ``Retry-After`` as delta-seconds or an HTTP date; NaN, infinite or negative: ``None``."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
        return max(seconds, 0.0)  # a date in the past: retry now
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def check_response(
    response: httpx.Response, endpoint: str, data_on_500: Callable[[Any], bool] | None = None
) -> None:
    """Raise a transient error for throttling/gateway statuses and for unparsable 2xx JSON.

    HTTP 500 is retried too (both services answer it for passing server faults), unless the
    endpoint's ``data_on_500`` says its decoded body is data (per-item results to report).
    """
    if response.status_code in TRANSIENT_STATUS or (
        response.status_code == 500
        and not (data_on_500 is not None and data_on_500(decode_json(response, endpoint)))
    ):
        cls = RateLimitedError if response.status_code == 429 else TransientServiceError
        raise cls(
            f"{endpoint}: HTTP {response.status_code} from the service",
            status_code=response.status_code,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if 200 <= response.status_code < 300 and response.content:
        decode_json(response, endpoint)
