"""Fault injection: the ASGI middleware that applies the per-run `FaultConfig`.

Faults exist so client retry, timeout and parsing paths can be exercised on demand,
reproducibly (seeded RNG, or an explicit queue of upcoming faults).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from clinical_rules_provider.testing.clinical_one_envelopes import injected_error_body
from clinical_rules_provider.testing.fault_config import (
    CONTROL_PREFIX,
    DEFAULT_FAULT_KINDS,
    EXPIRY_FAULTS,
    FAULT_KINDS,
    LIVE_SCOPE_KEY,
    LOST_REPLY_FAULTS,
    FaultConfig,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from clinical_rules_provider.testing.state import SimulatorState

__all__ = [
    "DEFAULT_FAULT_KINDS",
    "EXPIRY_FAULTS",
    "FAULT_KINDS",
    "LIVE_SCOPE_KEY",
    "LOST_REPLY_FAULTS",
    "FaultConfig",
    "FaultMiddleware",
    "InjectedDrop",
    "InjectedFaultLogFilter",
    "InjectedReadTimeout",
    "RequestRecord",
]

_REASONS = {
    400: "Bad Request",  # the whole request refused (e.g. one 500-id chunk of a publish)
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class RequestRecord:
    """One request the services saw (control routes excluded), for test assertions."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    time: datetime
    status: int | None = None
    fault: str | None = None

    def json(self) -> Any:
        """The request body decoded as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


class InjectedDrop(httpx.RemoteProtocolError):
    """Raised by the app for a `drop` fault; in-process clients see a transport error."""


class InjectedReadTimeout(httpx.ReadTimeout):
    """Raised in-process for `read_timeout`, where the client itself cannot time out."""


class InjectedFaultLogFilter(logging.Filter):
    """Hide uvicorn's 'Exception in ASGI application' records caused by injected faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the records of exceptions the fault injector raised on purpose."""
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (InjectedDrop, InjectedReadTimeout))


def _is_vault(path: str) -> bool:
    return path.startswith("/api/")


def _error_body(status: int, path: str, detail: str) -> Any:
    """An injected error in the seed's shape for the endpoint it answers."""
    if _is_vault(path):
        kind = "API_LIMIT_EXCEEDED" if status == 429 else "UNEXPECTED_ERROR"
        outcome = "FAILURE" if status == 429 else "EXCEPTION"
        return {"responseStatus": outcome, "errors": [{"type": kind, "message": detail}]}
    return injected_error_body(status, path, _REASONS[status], detail)


async def _send_raw(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_http_error(send: Send, status: int, path: str, retry_after: int) -> None:
    """429/5xx; 502/504 answer with HTML, as a gateway in front of the service would."""
    if status in (502, 504):
        html = f"<html><body><h1>{status} {_REASONS[status]}</h1></body></html>"
        await _send_raw(send, status, html.encode(), {"content-type": "text/html"})
        return
    detail = f"Injected fault: {status} {_REASONS[status]}."
    headers = {"content-type": "application/json"}
    if status == 429:
        headers["retry-after"] = str(retry_after)
        detail = f"Rate limit exceeded; retry after {retry_after} seconds."
    body = json.dumps(_error_body(status, path, detail)).encode()
    await _send_raw(send, status, body, headers)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _wait_or_disconnect(seconds: float, receive: Receive) -> bool:
    """Sleep, but stop early if the client hangs up; True when the client is still there.

    `receive` must be the server's own channel (the body has already been read).
    """
    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    listener = asyncio.ensure_future(_disconnected(receive))
    done, _ = await asyncio.wait({sleeper, listener}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sleeper, listener):
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return listener not in done


class FaultMiddleware:
    """Outermost app layer: logs each service request, adds latency, injects faults."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call: log a service request, delay it by the latency, inject its fault."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        record = self.state.log_request(
            method=str(scope["method"]),
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
        )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            await send(message)

        faults = self.state.faults
        delayed = faults.latency_ms > 0 and faults.applies_to(path)
        if delayed:
            # Let every request that arrived together take its timestamp before any is served.
            await asyncio.sleep(0)
        deadline = arrived + (faults.latency_ms / 1000.0 if delayed else 0.0)
        scripted = bool(faults.script)  # an enqueued expiry expires every token, however young
        kind = faults.next_fault(path)
        record.fault = kind
        if kind is None or kind in EXPIRY_FAULTS:
            if kind == "session_expiry":
                self.state.expire_sessions()
            elif kind == "token_expiry":
                self.state.expire_tokens(min_age=0.0 if scripted else 1.0)
            if not delayed:
                await self.app(scope, replay, watch)
                return
            # L is the service's response time, its work included: serve now, answer at
            # arrival + L. (Serving after the wait would queue concurrent requests behind
            # this one process's CPU, which a service on many servers does not do.)
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, replay, hold)
            await asyncio.sleep(max(deadline - loop.time(), 0.0))
            for message in held:
                await watch(message)
            return
        if delayed:
            await asyncio.sleep(max(deadline - loop.time(), 0.0))
        await self._inject(kind, scope, (replay, receive), watch, path)

    async def _inject(
        self, kind: str, scope: Scope, receives: tuple[Receive, Receive], send: Send, path: str
    ) -> None:
        """Apply one fault; `receives` is (replayed body for the app, raw server channel)."""
        faults = self.state.faults
        if kind.isdigit():
            await _send_http_error(send, int(kind), path, faults.retry_after)
        elif kind == "malformed_json":
            await _send_raw(send, 200, b'{"truncated":', {"content-type": "application/json"})
        elif kind == "drop":
            await _drop(send)
        elif kind in LOST_REPLY_FAULTS:
            await self._lose_reply(kind, scope, receives, send, path)
        elif kind == "read_timeout":
            if not scope.get(LIVE_SCOPE_KEY):
                raise InjectedReadTimeout("Read timed out (injected fault, in-process).")
            replay, raw = receives
            if await _wait_or_disconnect(faults.read_timeout_seconds, raw):
                await self.app(scope, replay, send)

    async def _lose_reply(
        self, kind: str, scope: Scope, receives: tuple[Receive, Receive], send: Send, path: str
    ) -> None:
        """Serve the request in full (its effects happen), then lose the answer on the way back."""
        replay, raw = receives

        async def discard(message: Message) -> None:
            pass

        await self.app(scope, replay, discard)
        if kind == "lost_reply_504":
            await _send_http_error(send, 504, path, self.state.faults.retry_after)
            return
        if kind == "lost_reply_timeout":
            if not scope.get(LIVE_SCOPE_KEY):
                raise InjectedReadTimeout("Read timed out after processing (injected fault, in-process).")
            # Say nothing until the client gives up; one that waits longer sees the line cut.
            if not await _wait_or_disconnect(self.state.faults.read_timeout_seconds, raw):
                return
        await _drop(send)


async def _drop(send: Send) -> None:
    """Promise more bytes than are sent, then abort: uvicorn closes the socket (httpx:
    RemoteProtocolError); ASGITransport re-raises InjectedDrop itself."""
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b'{"partial": tr', "more_body": True})
    raise InjectedDrop("Connection dropped by the simulator (injected fault).")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
