"""Bounds on a reply body: a size cap, counted before and after decompression.

A chunked reply can run to gigabytes, and a few hundred KiB of gzip can inflate to gigabytes.
So every reply (token and login replies included) is read through a counting stream that stops
at ``max_body_bytes``, and inflates gzip/deflate itself, at most the cap + 1 bytes at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx

from clinical_rules_provider.exceptions import ResponseTooLargeError, UnexpectedResponseError

# The encodings asked for (``Accept-Encoding``): zlib's window bits for each (deflate: a zlib
# stream; a raw one is tried when that fails).
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_EMPTY_STREAM = httpx.ByteStream(b"")


def release(response: httpx.Response) -> httpx.Response:
    """Break the response <-> stream reference cycle once the body is read.

    Without this, each response (body and parsed JSON included) lives until the cyclic
    garbage collector runs, so streaming many pages would pile up dead pages in memory
    (benchmarks/README.md: P5).
    """
    if response.is_closed:
        response.stream = _EMPTY_STREAM
    return response


def _too_large(request: httpx.Request, cap: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{request.method} {request.url.path}: the reply body exceeds max_body_bytes ({cap} bytes); "
        "it was not read further"
    )


class _CappedStream(httpx.AsyncByteStream):
    """Counts a reply's bytes as they arrive, and again once inflated; stops at ``cap`` bytes
    either way. ``wbits`` (a gzip or deflate reply) inflates here."""

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

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield self._take(chunk)

    async def aclose(self) -> None:
        await self._stream.aclose()


def body_cap_hook(cap: int) -> Callable[[httpx.Response], Coroutine[Any, Any, None]]:
    """An httpx ``response`` event hook that bounds the body before anything reads it.

    Event hooks run for every response a client receives, token and login replies of the
    auth flows included, before httpx reads the body.
    """

    async def hook(response: httpx.Response) -> None:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and len(declared) < 30 and int(declared) > cap:
            raise _too_large(response.request, cap)
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

    return hook
