"""Fault injection: per-run config plus the ASGI middleware that applies it.

Faults exist so client retry, timeout and parsing paths can be exercised on demand,
reproducibly (seeded RNG, or an explicit queue of upcoming faults).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from clinical_rules_provider.testing.state import SimulatorState

__all__ = [
    "DEFAULT_FAULT_KINDS",
    "EXPIRY_FAULTS",
    "FAULT_KINDS",
    "LIVE_SCOPE_KEY",
    "FaultConfig",
    "FaultMiddleware",
    "InjectedDrop",
    "InjectedFaultLogFilter",
    "InjectedReadTimeout",
    "RequestRecord",
]

# Faults that only change state (expire Vault sessions / Clinical One OAuth2 tokens) before
# the request is handled normally, so the client's re-authentication path runs.
EXPIRY_FAULTS = frozenset({"session_expiry", "token_expiry"})
FAULT_KINDS = EXPIRY_FAULTS | {"429", "500", "502", "503", "504", "drop", "malformed_json", "read_timeout"}
# Random faults default to what a well-behaved client retries (DESIGN: 429/502/503/504).
DEFAULT_FAULT_KINDS = frozenset({"429", "502", "503", "504"})
# Scope key set by LiveSimulator / __main__: the app is served by uvicorn over a real socket.
LIVE_SCOPE_KEY = "clinical_rules_sim.live"
CONTROL_PREFIX = "/_sim"

_REASONS = {
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
        return json.loads(self.body) if self.body else None


class InjectedDrop(httpx.RemoteProtocolError):
    """Raised by the app for a `drop` fault; in-process clients see a transport error."""


class InjectedReadTimeout(httpx.ReadTimeout):
    """Raised in-process for `read_timeout`, where the client itself cannot time out."""


class InjectedFaultLogFilter(logging.Filter):
    """Hide uvicorn's 'Exception in ASGI application' records caused by injected faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (InjectedDrop, InjectedReadTimeout))


def _check_kinds(kinds: Iterable[str], field: str) -> list[str]:
    result = [str(k) for k in kinds]
    unknown = sorted(set(result) - FAULT_KINDS)
    if unknown:
        choices = sorted(FAULT_KINDS)
        raise ValueError(f"{field}: unknown fault kind(s) {unknown}; choose from {choices}")
    return result


@dataclass
class FaultConfig:
    """What to inject into the next requests; mutable between (and during) test runs."""

    latency_ms: float = 0.0  # response time: work is done on arrival, answers leave at arrival + this
    fault_rate: float = 0.0
    fault_kinds: frozenset[str] = DEFAULT_FAULT_KINDS
    retry_after: int = 1
    read_timeout_seconds: float = 2.0
    path_filter: str | None = None
    seed: int | None = None
    script: deque[str] = field(default_factory=deque)
    injected: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    _SETTABLE = (
        "latency_ms",
        "fault_rate",
        "fault_kinds",
        "retry_after",
        "read_timeout_seconds",
        "path_filter",
        "seed",
        "script",
    )

    def __post_init__(self) -> None:
        self.configure(
            fault_kinds=self.fault_kinds,
            fault_rate=self.fault_rate,
            seed=self.seed,
            path_filter=self.path_filter,
            script=list(self.script),
        )

    def configure(self, **values: Any) -> FaultConfig:
        """Validate and set fields by name (as `POST /_sim/faults` does); returns self."""
        unknown = sorted(set(values) - set(self._SETTABLE))
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; allowed {list(self._SETTABLE)}")
        with self._lock:
            for name, value in values.items():
                self._set(name, value)
        return self

    def _set(self, name: str, value: Any) -> None:
        if name == "fault_kinds":
            kinds = [value] if isinstance(value, str) else list(value)
            self.fault_kinds = frozenset(_check_kinds(kinds, name))
        elif name == "fault_rate":
            rate = float(value)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault_rate must be between 0 and 1, got {value!r}")
            self.fault_rate = rate
        elif name in ("latency_ms", "read_timeout_seconds"):
            number = float(value)
            if number < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            setattr(self, name, number)
        elif name == "retry_after":
            seconds = int(value)
            if seconds < 0:
                raise ValueError(f"retry_after must be >= 0, got {value!r}")
            self.retry_after = seconds
        elif name == "path_filter":
            try:
                re.compile(str(value))
            except re.error as exc:
                raise ValueError(f"path_filter is not a valid regular expression: {exc}") from None
            self.path_filter = None if value is None else str(value)
        elif name == "seed":
            self.seed = None if value is None else int(value)
            self.rng.seed(self.seed)
        elif name == "script":
            self.script = deque(_check_kinds([value] if isinstance(value, str) else value, name))

    def enqueue(self, *kinds: str) -> None:
        """Queue faults for the next matching requests, in order, before any random draw."""
        with self._lock:
            self.script.extend(_check_kinds(kinds, "enqueue"))

    def clear(self) -> None:
        """Back to defaults: no latency, no faults, empty queue and counters."""
        with self._lock:
            self.latency_ms = 0.0
            self.fault_rate = 0.0
            self.fault_kinds = DEFAULT_FAULT_KINDS
            self.retry_after = 1
            self.read_timeout_seconds = 2.0
            self.path_filter = None
            self.seed = None
            self.rng.seed(None)
            self.script.clear()
            self.injected.clear()

    def applies_to(self, path: str) -> bool:
        """Control routes are never faulted; the path filter narrows everything else."""
        if path.startswith(CONTROL_PREFIX):
            return False
        return self.path_filter is None or re.search(self.path_filter, path) is not None

    def next_fault(self, path: str) -> str | None:
        """Pick the fault for one request (queue first, then a seeded random draw) and count it."""
        with self._lock:
            if not self.applies_to(path):
                return None
            kind: str | None = None
            if self.script:
                kind = self.script.popleft()
            elif self.fault_kinds and self.fault_rate > 0 and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(sorted(self.fault_kinds))
            if kind is not None:
                self.injected[kind] += 1
            return kind

    def snapshot(self) -> dict[str, Any]:
        """The settable fields, to restore later with `configure(**snapshot)`."""
        with self._lock:
            view = {name: getattr(self, name) for name in self._SETTABLE}
            view["script"] = list(self.script)
            return view

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for `/_sim/faults` and `/_sim/state`."""
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "fault_rate": self.fault_rate,
                "fault_kinds": sorted(self.fault_kinds),
                "retry_after": self.retry_after,
                "read_timeout_seconds": self.read_timeout_seconds,
                "path_filter": self.path_filter,
                "seed": self.seed,
                "script": list(self.script),
                "injected": dict(self.injected),
            }


def _is_vault(path: str) -> bool:
    return path.startswith("/api/")


def _error_body(status: int, path: str, detail: str) -> dict[str, Any]:
    if _is_vault(path):
        kind = "API_LIMIT_EXCEEDED" if status == 429 else "UNEXPECTED_ERROR"
        outcome = "FAILURE" if status == 429 else "EXCEPTION"
        return {"responseStatus": outcome, "errors": [{"type": kind, "message": detail}]}
    return {
        "status": "failed",
        "result": None,
        "errorCode": f"HTTP-{status}",
        "errorMessage": _REASONS[status],
        "details": detail,
    }


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
            # Promise more bytes than we send, then abort: uvicorn closes the socket
            # (httpx: RemoteProtocolError); ASGITransport re-raises InjectedDrop itself.
            start: Message = {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
            }
            await send(start)
            await send({"type": "http.response.body", "body": b'{"partial": tr', "more_body": True})
            raise InjectedDrop("Connection dropped by the simulator (injected fault).")
        elif kind == "read_timeout":
            if not scope.get(LIVE_SCOPE_KEY):
                raise InjectedReadTimeout("Read timed out (injected fault, in-process).")
            replay, raw = receives
            if await _wait_or_disconnect(faults.read_timeout_seconds, raw):
                await self.app(scope, replay, send)


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
