"""Bounds on what a service can make a hook spend: total time per call and bytes per reply.

A per-read ``timeout`` does not bound a call: a server that trickles one byte per read holds
it for as long as it likes, and a chunked reply can run to gigabytes. So each hook call runs
under a *deadline* (a context variable, so a trigger or sensor can hand its own remaining time
down to every request its hook sends, concurrent ones included), and each reply body is read
through a counting stream that stops at a size cap, before and after decompression (a few
hundred KiB of gzip can inflate to gigabytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import httpcore
import httpx

from clinical_rules_provider.exceptions import (
    DeadlineExceededError,
    ResponseTooLargeError,
    UnexpectedResponseError,
)

T = TypeVar("T")
# The encodings asked for (``Accept-Encoding``), decoded here so the cap counts decoded bytes:
# zlib's window bits for each (deflate: a zlib stream; a raw one is tried when that fails).
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_DEADLINE: ContextVar[float | None] = ContextVar("clinical_rules_deadline", default=None)


@contextlib.contextmanager
def call_deadline(seconds: float | None) -> Iterator[None]:
    """Bound everything sent inside by ``seconds`` from now; an enclosing, earlier deadline wins.

    ``None`` adds no bound (an enclosing one still applies).
    """
    if seconds is None or math.isnan(seconds):
        yield
        return
    at = time.monotonic() + max(seconds, 0.0)
    current = _DEADLINE.get()
    token = _DEADLINE.set(at if current is None else min(at, current))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (negative once passed), or ``None`` without one."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def check_deadline(what: str) -> None:
    """Raise :class:`DeadlineExceededError` if the current deadline has passed."""
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineExceededError(f"{what}: the call's deadline passed")


def within_deadline_pause(seconds: float) -> float:
    """A pause cut to what is left of the deadline (a pause never fails a call)."""
    left = remaining()
    return seconds if left is None else min(seconds, max(left, 0.0))


def checked_delay(seconds: float) -> float:
    """A wait an exchange asked for (Vault's per-job read interval); one that would pass the
    deadline raises :class:`DeadlineExceededError` instead of sleeping into it."""
    left = remaining()
    if left is not None and seconds >= left:
        raise DeadlineExceededError(
            f"a wait of {seconds:.1f} s would pass the call's deadline ({max(left, 0):.1f} s left)"
        )
    return seconds


async def within_deadline(call: Coroutine[Any, Any, T], what: str) -> T:
    """Await ``call`` but no longer than the current deadline (a trickling server included)."""
    left = remaining()
    if left is None:
        return await call
    try:
        if sys.version_info >= (3, 11):  # no extra task per request
            async with asyncio.timeout(max(left, 0.0)):
                return await call
        return await asyncio.wait_for(call, max(left, 0.0))
    except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11
        raise DeadlineExceededError(f"{what} still unanswered at the call's deadline") from None


def read_timeout(timeout: float) -> float:
    """The per-read timeout to use now: the connection's, or less when the deadline is closer."""
    left = remaining()
    return timeout if left is None else max(min(timeout, left), 0.001)


def _clamp(timeout: float | None) -> float | None:
    """A socket timeout no longer than what is left of the deadline (which must not have passed)."""
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise httpcore.ReadTimeout("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A sync socket whose every read and write ends by the current deadline.

    The async driver bounds a whole request with ``asyncio.wait_for``; a sync call cannot be
    interrupted that way, so it is bounded here, one socket operation at a time: a server
    trickling its headers byte by byte meets the deadline at the next read.
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
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _clamp(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Hands out :class:`_DeadlineStream` sockets."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, _clamp(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _clamp(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_sockets(client: httpx.Client) -> httpx.Client:
    """Make the sockets of every transport of ``client`` honour the current deadline on each read:
    the default one and those of the proxies it took from the environment (``HTTPS_PROXY``, ...).

    httpx offers no public way to pass httpcore a network backend (and a client given its own
    ``transport=`` ignores the environment's proxies), so each pool's backend is wrapped after
    construction; should that attribute ever move, the transports stay as they are (the body
    stream's deadline check and the per-read timeout still apply).
    """
    for transport in [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return client


def _too_large(request: httpx.Request, cap: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{request.method} {request.url.path}: the reply body exceeds max_body_bytes ({cap} bytes); "
        "it was not read further"
    )


def _check_length(response: httpx.Response, cap: int) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and len(declared) < 30 and int(declared) > cap:
        raise _too_large(response.request, cap)


class _CappedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Counts a reply's bytes as they arrive, and again once inflated; stops at ``cap`` bytes
    either way, or at the deadline. ``wbits`` (a gzip or deflate reply) inflates here, at most
    ``cap`` + 1 bytes at a time, so a compression bomb never expands in memory."""

    def __init__(self, stream: Any, cap: int, request: httpx.Request, wbits: int | None = None) -> None:
        self._stream = stream
        self._cap = cap
        self._request = request
        self._seen = self._inflated = 0
        self._inflate = zlib.decompressobj(wbits) if wbits is not None else None
        # A "deflate" reply may be a raw deflate stream without the zlib header (httpx takes both).
        self._raw_deflate_allowed = wbits == zlib.MAX_WBITS

    def _take(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._seen > self._cap:
            raise _too_large(self._request, self._cap)
        check_deadline(f"{self._request.method} {self._request.url.path}")
        if self._inflate is None:
            return chunk
        out = self._inflated_part(chunk)
        self._inflated += len(out)
        if self._inflated > self._cap or self._inflate.unconsumed_tail:
            raise _too_large(self._request, self._cap)
        return out

    def _inflated_part(self, chunk: bytes) -> bytes:
        assert self._inflate is not None
        try:
            return self._inflate.decompress(chunk, self._cap + 1 - self._inflated)
        except zlib.error as exc:
            if not (self._raw_deflate_allowed and self._seen == len(chunk)):
                raise httpx.DecodingError(f"reply body: {exc}", request=self._request) from None
        self._raw_deflate_allowed = False
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inflated_part(chunk)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            yield self._take(chunk)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield self._take(chunk)

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


def body_cap_hook(cap: int, asynchronous: bool = False) -> Callable[[httpx.Response], Any]:
    """An httpx ``response`` event hook that bounds the body before anything reads it.

    Event hooks run for every response a client receives, token and login replies of the
    auth flows included, before httpx reads the body. An async client needs a coroutine hook.
    """

    def hook(response: httpx.Response) -> None:
        _check_length(response, cap)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        wbits = _WBITS.get(encoding)
        if wbits is not None:
            del response.headers["Content-Encoding"]  # inflated by the stream, not by httpx
        elif encoding not in ("", "identity"):
            raise UnexpectedResponseError(
                f"{response.request.method} {response.request.url.path}: the reply's Content-Encoding "
                f"{encoding[:40]!r} was not asked for (Accept-Encoding: {ACCEPT_ENCODING})",
                status_code=response.status_code,
            )
        response.stream = _CappedStream(response.stream, cap, response.request, wbits)

    async def ahook(response: httpx.Response) -> None:
        hook(response)

    return ahook if asynchronous else hook
