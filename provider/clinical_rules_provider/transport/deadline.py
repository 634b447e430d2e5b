"""The deadline of one hook call: a value handed to every request, wait and socket of the call.

A per-read ``timeout`` does not bound a call: a server that trickles one byte per read holds
it as long as it likes. So each hook call gets a :class:`Deadline` (the ``deadline``
connection setting, or less when a sensor or trigger bounds its hook with
``ServiceHook.time_limit``) and passes it down explicitly: retries and pauses are cut to it,
an async request is awaited no longer than it, and a sync request carries it in its
``timeout`` extension to sockets that end every read and write by it
(:class:`DeadlineTransport`). Only public httpx/httpcore interfaces are used: httpcore's
connection pools take a network backend and hand each socket operation the request's
timeout value unchanged, which here carries the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import sys
import time
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.request import getproxies, proxy_bypass_environment  # type: ignore[attr-defined]

import httpcore
import httpx

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
        """The ``timeout`` request extension: the connection's timeout (less when the deadline
        is closer), carrying the deadline to :class:`DeadlineTransport`'s sockets."""
        left = self.left()
        value = _Timeout(timeout if left is None else max(min(timeout, left), 0.001))
        value.at = self.at
        return dict.fromkeys(("connect", "read", "write", "pool"), value)

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


class _Timeout(float):
    """A timeout in seconds that also carries the deadline (``at``) of its request."""

    at: float | None = None


def _clamp(timeout: float | None) -> float | None:
    at: float | None = getattr(timeout, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the call's deadline passed")
    return left if timeout is None else min(float(timeout), left)


class _Stream(httpcore.NetworkStream):
    """A sync socket whose every read and write ends by its request's deadline.

    An async request is bounded as a whole (:meth:`Deadline.bound`); a sync one cannot be
    interrupted that way, so it is bounded here, one socket operation at a time.
    """

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, _clamp(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(super().connect_tcp(host, port, _clamp(timeout), local_address, socket_options))


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's (they share class names), as httpx's own transport does."""
    try:
        yield
    except (
        httpcore.TimeoutException,
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.ProxyError,
        httpcore.UnsupportedProtocol,
    ) as exc:
        raise _httpx_error(exc) from exc


def _httpx_error(exc: Exception) -> httpx.HTTPError:
    kind = next(getattr(httpx, c.__name__) for c in type(exc).__mro__ if hasattr(httpx, c.__name__))
    return kind(str(exc))  # type: ignore[no-any-return]


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        self._stream.close()


class DeadlineTransport(httpx.BaseTransport):
    """httpx's sync HTTP transport over :class:`_Stream` sockets, environment proxies included.

    httpx ignores the environment's proxies for a client given its own transport, so they are
    routed here as urllib reads them (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``).
    """

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        options: dict[str, Any] = {
            "ssl_context": ssl_context,
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "network_backend": _Backend(),
        }
        self._direct = httpcore.ConnectionPool(**options)
        self._proxies = getproxies()
        self._via: dict[str, httpcore.ConnectionPool | httpcore.HTTPProxy | httpcore.SOCKSProxy] = {}
        for scheme in ("http", "https"):
            if url := self._proxies.get(scheme) or self._proxies.get("all"):
                self._via[scheme] = _proxy_pool(url, options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        pool = self._via.get(url.scheme, self._direct)
        if pool is not self._direct and proxy_bypass_environment(url.host, self._proxies):
            pool = self._direct
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            reply = pool.handle_request(sent)
        return httpx.Response(
            reply.status, headers=reply.headers, stream=_Body(reply.stream), extensions=reply.extensions
        )

    def close(self) -> None:
        for pool in {self._direct, *self._via.values()}:
            pool.close()


def _proxy_pool(url: str, options: dict[str, Any]) -> httpcore.HTTPProxy | httpcore.SOCKSProxy:
    proxy = httpx.Proxy(url if "://" in url else f"http://{url}")
    target = httpcore.URL(
        scheme=proxy.url.raw_scheme, host=proxy.url.raw_host, port=proxy.url.port, target=proxy.url.raw_path
    )
    if proxy.url.scheme.startswith("socks"):
        return httpcore.SOCKSProxy(proxy_url=target, proxy_auth=proxy.raw_auth, **options)
    return httpcore.HTTPProxy(
        proxy_url=target, proxy_auth=proxy.raw_auth, proxy_headers=proxy.headers.raw, **options
    )
