"""The one place that sends requests: retries, concurrency, clients; sync and async drivers.

Hooks hand it exchanges (see :mod:`clinical_rules_provider.clients.base`); it is the only
code that differs between the sync and async paths, and it differs only in ``await``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity
from tenacity.wait import wait_base

from clinical_rules_provider.clients.base import ApiRequest, Delay, Exchange, decode_json
from clinical_rules_provider.exceptions import RateLimitedError, TransientServiceError

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff (with jitter) for transient faults; ``Retry-After`` wins when present."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0


@dataclass(frozen=True, repr=False)
class TransportSettings:
    """Everything needed to build clients; ``auth`` may hold secrets, so there is no repr."""

    base_url: str
    auth: httpx.Auth | None = None
    timeout: float = 60.0
    verify: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    max_concurrency: int = 8
    # Connections per host; async clients with equal settings share one pool per event loop.
    pool_size: int = 32
    # Extra per-service check of a 2xx/any response (e.g. Vault's API_LIMIT_EXCEEDED in a 200).
    inspect: Callable[[httpx.Response, str], None] | None = None
    # Seconds to pause after a response before the next request (burst limits).
    throttle: Callable[[httpx.Response], float] | None = None

    def __repr__(self) -> str:
        return f"TransportSettings(base_url={self.base_url!r}, verify={self.verify})"


class _WaitRetryAfter(wait_base):
    """Use the server's ``Retry-After`` when it gave one, else the fallback backoff."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, TransientServiceError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.cap)
        return float(self.fallback(retry_state))


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


def retry_kwargs(policy: RetryPolicy) -> dict[str, Any]:
    """Shared tenacity configuration for ``Retrying`` and ``AsyncRetrying``."""
    return {
        "stop": tenacity.stop_after_attempt(policy.attempts),
        "wait": _WaitRetryAfter(
            tenacity.wait_exponential(multiplier=policy.backoff, max=policy.max_backoff)
            + tenacity.wait_random(0, policy.backoff),
            policy.max_retry_after,
        ),
        "retry": tenacity.retry_if_exception_type(TransientServiceError),
        "before_sleep": _log_retry,
        "reraise": True,
    }


def retry_after_seconds(value: str | None) -> float | None:
    """Parse ``Retry-After`` as delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _per_item_report(response: httpx.Response, endpoint: str) -> bool:
    """A 500 whose body lists per-rule results is data to report, not a fault to retry."""
    body = decode_json(response, endpoint)
    return isinstance(body, list) and any(isinstance(item, dict) and item.get("ruleId") for item in body)


def check_response(response: httpx.Response, endpoint: str) -> None:
    """Raise a transient error for throttling/gateway statuses and for unparsable 2xx JSON.

    HTTP 500 is retried too (both services answer it for passing server faults), unless
    its body is a list of per-rule results, which the parser reports item by item.
    """
    if response.status_code in TRANSIENT_STATUS or (
        response.status_code == 500 and not _per_item_report(response, endpoint)
    ):
        cls = RateLimitedError if response.status_code == 429 else TransientServiceError
        raise cls(
            f"{endpoint}: HTTP {response.status_code} from the service",
            status_code=response.status_code,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if 200 <= response.status_code < 300 and response.content:
        decode_json(response, endpoint)


def _network_error(request: ApiRequest, exc: Exception) -> TransientServiceError:
    return TransientServiceError(
        f"{request.endpoint}: {type(exc).__name__} while calling {request.method} {request.path}"
    )


class _AsyncClientPool:
    """One ``httpx.AsyncClient`` per (event loop, host, TLS and header settings), reference-counted.

    A triggerer runs many triggers in one event loop; each creates its own hook, but they
    all share one connection pool per host instead of opening one each. Auth is applied
    per request, so hooks with different credentials can share a pool safely.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], list[Any]] = {}

    def acquire(self, key: tuple[Any, ...], make: Callable[[], httpx.AsyncClient]) -> httpx.AsyncClient:
        entry = self._clients.get(key)
        if entry is None or entry[0].is_closed:
            entry = self._clients[key] = [make(), 0]
        entry[1] += 1
        return entry[0]  # type: ignore[no-any-return]

    async def release(self, key: tuple[Any, ...]) -> None:
        entry = self._clients.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._clients[key]
            await entry[0].aclose()

    def open_clients(self) -> int:
        """How many shared clients are open (for tests and benchmarks)."""
        return sum(1 for client, _ in self._clients.values() if not client.is_closed)


ASYNC_CLIENTS = _AsyncClientPool()


class HttpSession:
    """Owns a hook's sync ``httpx.Client`` and its share of a pooled ``httpx.AsyncClient``."""

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aclient_key: tuple[Any, ...] | None = None
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"HttpSession({self.settings!r})"

    def _client_kwargs(self) -> dict[str, Any]:
        s = self.settings
        limits = httpx.Limits(max_connections=s.pool_size, max_keepalive_connections=s.pool_size)
        return {
            "base_url": s.base_url,
            "timeout": s.timeout,
            "verify": s.verify,
            "headers": s.headers,
            "limits": limits,
        }

    # --- sync ---------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """The lazily created sync client."""
        if self._client is None:
            self._client = httpx.Client(**self._client_kwargs())
        return self._client

    def send(self, request: ApiRequest) -> httpx.Response:
        """Send one request with retries; returns a response whose status is not transient."""
        for attempt in tenacity.Retrying(**retry_kwargs(self.settings.retry)):
            with attempt:
                response = self._send_once(request)
        self._pause(response)
        return response

    def _send_once(self, request: ApiRequest) -> httpx.Response:
        self.requests_sent += 1
        built = self.client.build_request(**_request_args(request))
        try:
            response = self.client.send(built, auth=self.settings.auth)
        except _NETWORK_ERRORS as exc:
            raise _network_error(request, exc) from exc
        self._check(response, request)
        return response

    def _pause(self, response: httpx.Response) -> None:
        delay = self.settings.throttle(response) if self.settings.throttle else 0.0
        if delay > 0:
            time.sleep(delay)

    def run(self, exchange: Exchange[T]) -> T:
        """Drive an exchange to completion, sending its batches one request at a time."""
        reply: list[httpx.Response] | None = None
        try:
            while True:
                step = exchange.send(reply)
                if isinstance(step, Delay):
                    time.sleep(step.seconds)
                    reply = None
                else:
                    reply = [self.send(request) for request in step]
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the sync client (the async one belongs to its event loop: use :meth:`aclose`)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- async --------------------------------------------------------------------------

    @property
    def aclient(self) -> httpx.AsyncClient:
        """This session's share of the pooled async client of the running event loop."""
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_key is None or self._aclient_key[0] is not loop:
            s = self.settings
            key = (loop, s.base_url, s.verify, s.timeout, s.pool_size, tuple(sorted(s.headers.items())))
            self._aclient = ASYNC_CLIENTS.acquire(key, lambda: httpx.AsyncClient(**self._client_kwargs()))
            self._aclient_key = key
            self._semaphore = asyncio.Semaphore(max(s.max_concurrency, 1))
        return self._aclient

    async def asend(self, request: ApiRequest) -> httpx.Response:
        """Async twin of :meth:`send`; at most ``max_concurrency`` requests are in flight."""
        client = self.aclient
        async with self._semaphore:
            async for attempt in tenacity.AsyncRetrying(**retry_kwargs(self.settings.retry)):
                with attempt:
                    self.requests_sent += 1
                    try:
                        response = await client.send(
                            client.build_request(**_request_args(request)), auth=self.settings.auth
                        )
                    except _NETWORK_ERRORS as exc:
                        raise _network_error(request, exc) from exc
                    self._check(response, request)
            delay = self.settings.throttle(response) if self.settings.throttle else 0.0
            if delay > 0:
                await asyncio.sleep(delay)
        return response

    async def arun(self, exchange: Exchange[T]) -> T:
        """Drive an exchange; each batch is sent concurrently (bounded by ``max_concurrency``)."""
        reply: list[httpx.Response] | None = None
        try:
            while True:
                step = exchange.send(reply)
                if isinstance(step, Delay):
                    await asyncio.sleep(step.seconds)
                    reply = None
                else:
                    reply = await gather_all(self.asend(request) for request in step)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Give back this session's share of the pooled async client (the sync one stays usable)."""
        if self._aclient_key is not None:
            key, self._aclient, self._aclient_key = self._aclient_key, None, None
            await ASYNC_CLIENTS.release(key)

    def _check(self, response: httpx.Response, request: ApiRequest) -> None:
        check_response(response, request.endpoint)
        if self.settings.inspect is not None:
            self.settings.inspect(response, request.endpoint)


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


def _request_args(request: ApiRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.path,
        "params": request.params,
        "json": request.json,
        "data": request.data,
        "headers": request.headers,
    }
