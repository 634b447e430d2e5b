"""When to retry and how long to wait; what a failed request means for the caller.

The drivers (:mod:`.session`) run a plain loop: send, and on a provider error ask
:meth:`RetryPolicy.pause` how long to wait before the next attempt. It answers with a number
of seconds or raises: the error itself (not worth a retry, or the attempts are spent),
:class:`WaitTooLongError` (the service asked for more than ``max_wait``) or
:class:`DeadlineExceededError` (the wait would pass the call's deadline).
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from clinical_rules_provider._state import RETRIES
from clinical_rules_provider.clients.base import Ambiguous, ApiRequest, Refused, decode_json
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalRulesError,
    DeadlineExceededError,
    RateLimitedError,
    TransientServiceError,
    UnexpectedResponseError,
    WaitTooLongError,
)
from clinical_rules_provider.transport.deadline import Deadline

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
# Failures before a single byte of the request left: no connection was made (refused, DNS,
# TLS handshake, connect timeout) or none was free in the pool. Not WriteError/WriteTimeout
# (part of the request may be out), nor read errors, timeouts or protocol errors (the
# service may have acted before its reply was lost). A proxy that refused the tunnel
# (CONNECT answered with a non-2xx status, or a SOCKS failure) never passed the request on.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# A garbled compressed body (DecodingError) is as transient as a truncated one.
_NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError)
_PROXY_STATUS = re.compile(r"([0-9]{3})\b")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff (with jitter) for transient faults; ``Retry-After`` wins when present."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def pause(self, exc: ClinicalRulesError, attempt: int, idempotent: bool, deadline: Deadline) -> float:
        """Seconds to wait after failed attempt number ``attempt``, or raise (see the module).

        A request that is not idempotent is retried only when it :func:`never_processed`.
        """
        retryable = isinstance(exc, TransientServiceError) if idempotent else never_processed(exc)
        if not (retryable and isinstance(exc, TransientServiceError)) or isinstance(
            exc, (WaitTooLongError, DeadlineExceededError)
        ):
            raise exc
        if exc.retry_after is not None:
            wait = server_wait(exc.retry_after, self.max_retry_after, exc.message)
        else:
            wait = min(self.backoff * 2 ** (attempt - 1), self.max_backoff) + random.uniform(0, self.backoff)
        try:
            deadline.wait(wait, f"{exc}: a retry")
        except DeadlineExceededError as passed:
            raise passed from exc
        if attempt >= self.attempts:
            raise exc
        status = exc.status_code
        RETRIES.update(f"{type(exc).__name__}{f' {status}' if status else ''}", lambda n: (n or 0) + 1)
        log.warning("Transient fault (attempt %d), retrying in %.2f s: %s", attempt, wait, exc)
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


def never_processed(exc: BaseException) -> bool:
    """True when the service provably did not act on the request that failed with ``exc``.

    That is: the request never left (:data:`NEVER_SENT`, kept as ``__cause__``) or the
    service throttled it (HTTP 429). Anything else after sending is ambiguous.
    """
    if isinstance(exc, RateLimitedError):
        return True
    return isinstance(exc, TransientServiceError) and isinstance(exc.__cause__, NEVER_SENT)


def network_error(request: ApiRequest, exc: httpx.HTTPError) -> ClinicalRulesError:
    """An httpx error as a provider error; its text is left out (it may quote a header).

    A proxy's refusal to open a tunnel keeps only its status: a transient one (429, 502, 503,
    504) is retried like the same status from the service; any other (``407``) is not.
    """
    what = f"{request.endpoint}: {type(exc).__name__} while calling {request.method} {request.path}"
    if isinstance(exc, httpx.ProxyError):
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
    if isinstance(exc, _NETWORK_ERRORS):
        return TransientServiceError(what)
    return UnexpectedResponseError(what)


def ambiguous_or_raise(request: ApiRequest, exc: ClinicalRulesError) -> Ambiguous | Refused:
    """A non-idempotent request that may have been acted on is the exchange's to reconcile.

    With ``report_errors`` every failure becomes a reply (:class:`Refused` when it provably
    changed nothing); without it only an ambiguous one does, the rest are raised.
    """
    status = exc.status_code
    refused = not isinstance(exc, TransientServiceError) and status is not None and 400 <= status < 500
    if not request.idempotent and not (
        never_processed(exc) or isinstance(exc, AuthenticationError) or refused
    ):
        if request.report_errors or isinstance(exc, TransientServiceError):
            return Ambiguous(exc)
    elif request.report_errors:
        return Refused(exc)
    raise exc


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
