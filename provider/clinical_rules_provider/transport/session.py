"""The one place that sends requests: a hook's HTTP session and its driver.

Hooks hand it exchanges (see :mod:`clinical_rules_provider.clients.base`) and the call's
:class:`~.deadline.Deadline`. There is one driver, async; sync calls run it on the process's
blocking-call loop (:mod:`.blocking`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from clinical_rules_provider.clients.base import ApiRequest, Delay, Exchange, reading_reply, reply_for
from clinical_rules_provider.exceptions import ClinicalRulesError
from clinical_rules_provider.transport import blocking, pool
from clinical_rules_provider.transport.body import ACCEPT_ENCODING, body_cap_hook, release
from clinical_rules_provider.transport.clock_skew import DEFAULT_CLOCK_SKEW_WARNING, ClockSkewMeter
from clinical_rules_provider.transport.deadline import Deadline
from clinical_rules_provider.transport.retry import (
    RetryPolicy,
    ambiguous_or_raise,
    check_response,
    network_error,
    server_wait,
)
from clinical_rules_provider.transport.secrets import register_proxy_credentials

T = TypeVar("T")


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
    # (``clock_skew_warning`` extra); a warning only, see transport/clock_skew.py.
    clock_skew_warning: float = DEFAULT_CLOCK_SKEW_WARNING

    def __repr__(self) -> str:
        return f"TransportSettings(base_url={self.base_url!r}, verify={self.verify})"


class HttpSession:
    """A hook's share of a pooled ``httpx.AsyncClient``, and the driver of its exchanges."""

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self._aclient_key: tuple[Any, ...] | None = None
        self._lane: pool.Lane | None = None
        self.requests_sent = 0
        # The service's clock from each reply's Date header, read as the reply arrives (a
        # number for logs and warnings: see transport/clock_skew.py).
        self.clock_skew = ClockSkewMeter()

    def __repr__(self) -> str:
        return f"HttpSession({self.settings!r})"

    def _client_kwargs(self) -> dict[str, Any]:
        s = self.settings
        register_proxy_credentials()  # the clients send the environment's proxy credentials
        return {
            "base_url": s.base_url,
            "timeout": s.timeout,
            "headers": {"Accept-Encoding": ACCEPT_ENCODING, **s.headers},
            # Async clients are shared by hooks of different connections: keep no cookies,
            # so no connection ever rides on a session cookie another one was given.
            "cookies": pool.no_cookie_jar(),
            "event_hooks": {"response": [body_cap_hook(s.max_body_bytes)]},
            "verify": pool.ssl_context(s.verify),
            "limits": httpx.Limits(max_connections=s.pool_size, max_keepalive_connections=s.pool_size),
        }

    def deadline(self, within: Deadline | None = None) -> Deadline:
        """A new call's deadline: the ``deadline`` setting from now, or ``within`` if earlier."""
        return Deadline.after(self.settings.deadline, within)

    def _build(
        self, client: httpx.AsyncClient, request: ApiRequest, deadline: Deadline, trace: pool.Trace
    ) -> httpx.Request:
        self.requests_sent += 1
        extensions = {"timeout": deadline.timeouts(self.settings.timeout), "trace": trace}
        return client.build_request(
            request.method,
            request.path,
            params=request.params,
            json=request.json,
            data=request.data,
            headers=request.headers,
            extensions=extensions,
        )

    def _check(self, response: httpx.Response, request: ApiRequest) -> None:
        check_response(response, request.endpoint, request.data_on_500)
        if self.settings.inspect is not None:
            self.settings.inspect(response, request.endpoint)

    def _throttle(self, response: httpx.Response, deadline: Deadline) -> float:
        """The pause a service asked for before the next request: capped, and cut to the deadline."""
        if self.settings.throttle is None:
            return 0.0
        pause = server_wait(self.settings.throttle(response), self.settings.retry.max_retry_after, "throttle")
        return deadline.pause(pause)

    @property
    def aclient(self) -> httpx.AsyncClient:
        """This session's share of the pooled async client of the running event loop."""
        loop = asyncio.get_running_loop()
        if self._lane is None or self._aclient_key is None or self._aclient_key[0] is not loop:
            s = self.settings
            headers = tuple(sorted(s.headers.items()))
            key = (loop, s.base_url, s.verify, s.timeout, s.pool_size, s.max_body_bytes, headers)
            make = lambda: httpx.AsyncClient(**self._client_kwargs())  # noqa: E731
            self._lane = pool.Lane(pool.acquire(key, make, s.pool_size), s.max_concurrency)
            self._aclient_key = key
        return self._lane.pooled.client

    async def asend(self, request: ApiRequest, deadline: Deadline) -> httpx.Response:
        """Send one request, retrying transient faults within ``deadline``; returns a response
        whose status is not transient. At most ``max_concurrency`` requests of this session
        and ``pool_size`` of the whole pool are in flight."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._aattempt(request, deadline)
            except ClinicalRulesError as exc:
                await asyncio.sleep(self.settings.retry.pause(exc, attempt, request.idempotent, deadline))

    async def _aattempt(self, request: ApiRequest, deadline: Deadline) -> httpx.Response:
        client = self.aclient
        lane = self._lane
        assert lane is not None
        async with lane.slot() as trace:
            built = self._build(client, request, deadline, trace)
            what = f"{request.endpoint}: {request.method} {request.path}"
            try:
                response = await deadline.bound(client.send(built, auth=self.settings.auth), what)
            except httpx.HTTPError as exc:
                raise network_error(request, exc) from exc
            self.clock_skew.observe(response)
            if delay := self._throttle(response, deadline):
                await asyncio.sleep(delay)
        # The slot is free: let the requests that take it reach the wire before this reply
        # costs CPU (decoding, checks, the caller's parsing).
        await lane.written()
        self._check(response, request)
        return release(response)

    async def _asend_parsed(self, request: ApiRequest, deadline: Deadline) -> Any:
        try:
            return reply_for(request, await self.asend(request, deadline))
        except ClinicalRulesError as exc:
            return ambiguous_or_raise(request, exc)

    async def arun(self, exchange: Exchange[T], deadline: Deadline) -> T:
        """Drive an exchange to completion within ``deadline``: each batch of requests is sent
        concurrently and each reply parsed as it arrives."""
        try:
            step = exchange.send(None)  # builds and validates: a ValueError here is the caller's
            while True:
                reply: list[Any] | None = None
                if isinstance(step, Delay):
                    await asyncio.sleep(deadline.wait(step.seconds, "a wait the service requires"))
                else:
                    reply = await pool.gather_all(self._asend_parsed(r, deadline) for r in step)
                with reading_reply("reply"):
                    step = exchange.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Give back this session's share of its pooled client (the session stays usable)."""
        if self._aclient_key is not None:
            key, self._aclient_key, self._lane = self._aclient_key, None, None
            if key[0] is asyncio.get_running_loop():
                await pool.release(key)
            else:  # the share of the blocking-call loop, given back there
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(pool.release(key), key[0]))

    def close(self) -> None:
        """Give back the share sync calls took (of the blocking-call loop's client)."""
        if self._aclient_key is not None and blocking.owns(self._aclient_key[0]):
            blocking.run(self.aclose())
