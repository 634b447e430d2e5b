"""The one place that sends requests: clients, pools, concurrency; sync and async drivers.

Hooks hand it exchanges (see :mod:`clinical_rules_provider.clients.base`); it is the only
code that differs between the sync and async paths, and it differs only in ``await``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import httpx
import tenacity

from clinical_rules_provider.clients.base import (
    Ambiguous,
    ApiRequest,
    Delay,
    Exchange,
    Refused,
    reading_reply,
    reply_for,
)
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)
from clinical_rules_provider.hooks import _limits
from clinical_rules_provider.hooks._clock_skew import DEFAULT_CLOCK_SKEW_WARNING, ClockSkewMeter
from clinical_rules_provider.hooks._concurrency import ASYNC_CLIENTS, UnsentRequests, gather_all
from clinical_rules_provider.hooks._retry import (
    RetryPolicy,
    check_response,
    never_processed,
    proxy_error,
    retry_kwargs,
    server_wait,
)
from clinical_rules_provider.hooks._secrets import register_proxy_credentials

T = TypeVar("T")
# A garbled compressed body (DecodingError) is as transient as a truncated one.
_NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError)
_EMPTY_STREAM = httpx.ByteStream(b"")


@dataclass(frozen=True, repr=False)
class TransportSettings:
    """Everything needed to build clients; ``auth`` may hold secrets, so there is no repr."""

    base_url: str
    auth: httpx.Auth | None = None
    timeout: float = 60.0
    verify: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = 8
    # Connections per host; async clients with equal settings share one pool per event loop.
    pool_size: int = 32
    # Extra per-service check of a 2xx/any response (e.g. Vault's API_LIMIT_EXCEEDED in a 200).
    inspect: Callable[[httpx.Response, str], None] | None = None
    # Seconds to pause after a response before the next request (burst limits).
    throttle: Callable[[httpx.Response], float] | None = None
    # Total seconds one hook call may take, retries and waits included (``deadline`` extra).
    deadline: float = 600.0
    # Largest reply body read, in bytes (``max_body_bytes`` extra).
    max_body_bytes: int = 64 * 1024 * 1024
    # Seconds of service clock skew (from ``Date`` headers) past which tasks warn
    # (``clock_skew_warning`` extra); a warning only, see hooks/_clock_skew.py.
    clock_skew_warning: float = DEFAULT_CLOCK_SKEW_WARNING

    def __repr__(self) -> str:
        return f"TransportSettings(base_url={self.base_url!r}, verify={self.verify})"


@functools.lru_cache(maxsize=2)
def ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process and setting (building one costs ~20 ms of CPU)."""
    return httpx.create_ssl_context(verify=verify)


def _release(response: httpx.Response) -> httpx.Response:
    """Break the response <-> stream reference cycle once the body is read.

    Without this, each response (body and parsed JSON included) lives until the cyclic
    garbage collector runs, so streaming many pages would pile up dead pages in memory.
    """
    if response.is_closed:
        response.stream = _EMPTY_STREAM
    return response


def _no_cookie_jar() -> CookieJar:
    """A cookie jar that accepts no cookie (the APIs authenticate by header, not cookie)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _network_error(request: ApiRequest, exc: httpx.HTTPError) -> ClinicalRulesError:
    """An httpx error as a provider error; its text is left out (it may quote a header)."""
    what = f"{request.endpoint}: {type(exc).__name__} while calling {request.method} {request.path}"
    if isinstance(exc, httpx.ProxyError):
        return proxy_error(what, exc)
    if isinstance(exc, _NETWORK_ERRORS):
        return TransientServiceError(what)
    return UnexpectedResponseError(what)


def _ambiguous_or_raise(request: ApiRequest, exc: ClinicalRulesError) -> Ambiguous | Refused:
    """A non-idempotent request that may have been acted on is the exchange's to reconcile.

    With ``report_errors`` every failure becomes a reply (:class:`Refused` when it provably
    changed nothing); without it only an ambiguous one does, the rest are raised.
    """
    if not request.idempotent and not _provably_unprocessed(exc):
        if request.report_errors or isinstance(exc, TransientServiceError):
            return Ambiguous(exc)
    elif request.report_errors:
        return Refused(exc)
    raise exc


def _provably_unprocessed(exc: ClinicalRulesError) -> bool:
    """The request never left, was throttled, or the service answered it with a 4xx refusal."""
    if never_processed(exc) or isinstance(exc, AuthenticationError):
        return True
    status = exc.status_code
    return not isinstance(exc, TransientServiceError) and status is not None and 400 <= status < 500


class HttpSession:
    """Owns a hook's sync ``httpx.Client`` and its share of a pooled ``httpx.AsyncClient``."""

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aclient_key: tuple[Any, ...] | None = None
        self.requests_sent = 0
        # The service's clock from each reply's Date header, read as the reply arrives (a
        # number for logs and warnings: see hooks/_clock_skew.py).
        self.clock_skew = ClockSkewMeter()

    def __repr__(self) -> str:
        return f"HttpSession({self.settings!r})"

    def _client_kwargs(self, asynchronous: bool = False) -> dict[str, Any]:
        s = self.settings
        register_proxy_credentials()  # httpx takes the environment's proxies (trust_env)
        limits = httpx.Limits(max_connections=s.pool_size, max_keepalive_connections=s.pool_size)
        cap = _limits.body_cap_hook(s.max_body_bytes, asynchronous)
        return {
            "base_url": s.base_url,
            "timeout": s.timeout,
            "verify": ssl_context(s.verify),
            "headers": {"Accept-Encoding": _limits.ACCEPT_ENCODING, **s.headers},
            "limits": limits,
            # Async clients are shared by hooks of different connections: keep no cookies,
            # so no connection ever rides on a session cookie another one was given.
            "cookies": _no_cookie_jar(),
            "event_hooks": {"response": [cap]},
        }

    def _check(self, response: httpx.Response, request: ApiRequest) -> None:
        check_response(response, request.endpoint, request.data_on_500)
        if self.settings.inspect is not None:
            self.settings.inspect(response, request.endpoint)

    def _throttle(self, response: httpx.Response) -> float:
        """The pause a service asked for before the next request: capped, and cut to the deadline."""
        if self.settings.throttle is None:
            return 0.0
        pause = server_wait(self.settings.throttle(response), self.settings.retry.max_retry_after, "throttle")
        return _limits.within_deadline_pause(pause)

    # --- sync ---------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """The lazily created sync client (its sockets honour the call's deadline on every read)."""
        if self._client is None:
            self._client = _limits.deadline_sockets(httpx.Client(**self._client_kwargs()))
        return self._client

    def send(self, request: ApiRequest) -> httpx.Response:
        """Send one request with retries, within the call's deadline; returns a response whose
        status is not transient."""
        with _limits.call_deadline(self.settings.deadline):
            return self._send(request)

    def _send(self, request: ApiRequest) -> httpx.Response:
        for attempt in tenacity.Retrying(**retry_kwargs(self.settings.retry, idempotent=request.idempotent)):
            with attempt:
                self.requests_sent += 1
                args = _request_args(request)
                built = self.client.build_request(**args, timeout=_limits.read_timeout(self.settings.timeout))
                try:
                    response = self.client.send(built, auth=self.settings.auth)
                except httpx.HTTPError as exc:
                    raise _network_error(request, exc) from exc
                self.clock_skew.observe(response)
                self._check(response, request)
        if (delay := self._throttle(response)) > 0:
            time.sleep(delay)
        return _release(response)

    def run(self, exchange: Exchange[T]) -> T:
        """Drive an exchange to completion, one request at a time, parsing each reply as it comes.

        The whole exchange runs under one deadline (the ``deadline`` connection setting).
        """
        reply: list[Any] | None = None
        with _limits.call_deadline(self.settings.deadline):
            try:
                step = exchange.send(None)  # builds and validates: a ValueError here is the caller's
                while True:
                    if isinstance(step, Delay):
                        time.sleep(_limits.checked_delay(step.seconds))
                        reply = None
                    else:
                        reply = [self._send_parsed(request) for request in step]
                    with reading_reply("reply"):
                        step = exchange.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def _send_parsed(self, request: ApiRequest) -> Any:
        try:
            return reply_for(request, self.send(request))
        except ClinicalRulesError as exc:
            return _ambiguous_or_raise(request, exc)

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
            headers = tuple(sorted(s.headers.items()))
            key = (loop, s.base_url, s.verify, s.timeout, s.pool_size, s.max_body_bytes, headers)
            make = lambda: httpx.AsyncClient(**self._client_kwargs(asynchronous=True))  # noqa: E731
            self._aclient, self._pool_slots = ASYNC_CLIENTS.acquire(key, make, s.pool_size)
            self._aclient_key = key
            self._semaphore = asyncio.Semaphore(max(s.max_concurrency, 1))
            self._unsent = UnsentRequests()
        return self._aclient

    async def asend(self, request: ApiRequest) -> httpx.Response:
        """Async twin of :meth:`send`: at most ``max_concurrency`` requests of this session and
        ``pool_size`` of the whole pool are in flight."""
        with _limits.call_deadline(self.settings.deadline):
            return await self._asend(request)

    async def _asend(self, request: ApiRequest) -> httpx.Response:
        client, unsent = self.aclient, self._unsent
        retrying = tenacity.AsyncRetrying(**retry_kwargs(self.settings.retry, idempotent=request.idempotent))
        async for attempt in retrying:
            with attempt:
                async with unsent.slot(self._semaphore):
                    self.requests_sent += 1
                    try:
                        # Counted as unsent only once it can go (not while the shared pool is full).
                        async with self._pool_slots:
                            with unsent.track() as trace:
                                args = _request_args(request)
                                timeout = _limits.read_timeout(self.settings.timeout)
                                built = client.build_request(
                                    **args, timeout=timeout, extensions={"trace": trace}
                                )
                                what = f"{request.endpoint}: {request.method} {request.path}"
                                response = await _limits.within_deadline(
                                    client.send(built, auth=self.settings.auth), what
                                )
                                self.clock_skew.observe(response)
                    except httpx.HTTPError as exc:
                        raise _network_error(request, exc) from exc
                    if (delay := self._throttle(response)) > 0:
                        await asyncio.sleep(delay)
                # The slot is free: let the requests that take it reach the wire before
                # this reply costs CPU (decoding, checks, the caller's parsing).
                await unsent.written()
                self._check(response, request)
        return _release(response)

    async def _asend_parsed(self, request: ApiRequest) -> Any:
        try:
            return reply_for(request, await self.asend(request))
        except ClinicalRulesError as exc:
            return _ambiguous_or_raise(request, exc)

    async def arun(self, exchange: Exchange[T]) -> T:
        """Drive an exchange; a batch is sent concurrently and each reply parsed as it arrives."""
        reply: list[Any] | None = None
        with _limits.call_deadline(self.settings.deadline):
            try:
                step = exchange.send(None)  # builds and validates: a ValueError here is the caller's
                while True:
                    if isinstance(step, Delay):
                        await asyncio.sleep(_limits.checked_delay(step.seconds))
                        reply = None
                    else:
                        reply = await gather_all(self._asend_parsed(request) for request in step)
                    with reading_reply("reply"):
                        step = exchange.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Give back this session's share of the pooled async client (the sync one stays usable)."""
        if self._aclient_key is not None:
            key, self._aclient, self._aclient_key = self._aclient_key, None, None
            await ASYNC_CLIENTS.release(key)


def _request_args(request: ApiRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.path,
        "params": request.params,
        "json": request.json,
        "data": request.data,
        "headers": request.headers,
    }
