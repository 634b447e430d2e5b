"""A loopback HTTP/1.1 server that misbehaves on purpose.

Built on asyncio streams (not an ASGI framework) so that a reply can be anything at the byte
level: a body trickled one byte at a time, headers that never end, an endless chunked
stream, a ``Content-Length`` of 10 GiB, a connection that is never answered. Each test
scripts the paths it needs with :meth:`HostileServer.route`; the first matching route, most
recently added first, answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Writer = asyncio.StreamWriter


@dataclass
class Request:
    """What the server read of one request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Request, Writer], Awaitable[None]]


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw(data: bytes) -> Handler:
    """Answer with exactly these bytes (status line, headers and body included)."""

    async def handle(request: Request, writer: Writer) -> None:
        writer.write(data)
        await writer.drain()

    return handle


def reply(status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None) -> Handler:
    """A well-formed reply; ``body`` is JSON-encoded unless it is bytes."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(content)), **(headers or {})}
    return raw(_head(status, head) + content)


def sequence(*handlers: Handler) -> Handler:
    """Answer the n-th request with the n-th handler (the last one repeats)."""
    calls = [0]

    async def handle(request: Request, writer: Writer) -> None:
        index = min(calls[0], len(handlers) - 1)
        calls[0] += 1
        await handlers[index](request, writer)

    return handle


def hang() -> Handler:
    """Read the request and never answer."""

    async def handle(request: Request, writer: Writer) -> None:
        await asyncio.Event().wait()

    return handle


def trickle(body: bytes, *, every: float = 0.05, headers_too: bool = False) -> Handler:
    """Send a reply one byte per ``every`` seconds (the body only, or the headers as well)."""

    async def handle(request: Request, writer: Writer) -> None:
        head = _head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        if not headers_too:
            writer.write(head)
            head = b""
        for byte in head + body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)

    return handle


def endless_chunks(chunk: int = 64 * 1024, limit: int = 1 << 30) -> Handler:
    """A chunked JSON-looking body that goes on until the client stops reading (or ``limit``)."""

    async def handle(request: Request, writer: Writer) -> None:
        writer.write(_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
        piece = b"[" + b"1," * (chunk // 2 - 1)
        sent = 0
        while sent < limit:
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            sent += len(piece)
            piece = b"1," * (chunk // 2)

    return handle


@dataclass
class HostileServer:
    """Serves scripted routes on 127.0.0.1 from a background thread with its own event loop."""

    routes: list[tuple[str, str, Handler]] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    port: int = 0

    def route(self, method: str, path_prefix: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path starts with ``path_prefix`` with ``handler``."""
        self.routes.insert(0, (method.upper(), path_prefix, handler))

    def reset(self) -> None:
        """Forget the routes and the requests seen (between tests)."""
        self.routes.clear()
        self.seen.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path_prefix: str) -> int:
        """Requests seen whose path starts with ``path_prefix``."""
        return sum(1 for r in self.seen if r.path.startswith(path_prefix))

    # --- serving ----------------------------------------------------------------------------

    def start(self) -> None:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()

        async def main() -> None:
            server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                await self._stopped.wait()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        def serve() -> None:
            self._stopped = asyncio.Event()
            self._loop.run_until_complete(main())

        self._thread = threading.Thread(target=serve, name="hostile-server", daemon=True)
        self._thread.start()
        started.wait(5)

    def stop(self) -> None:
        """Cancel every open connection's handler and stop serving."""
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(5)

    def _accept(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        task = asyncio.ensure_future(self._connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                self.seen.append(request)
                handler = next(
                    (h for m, p, h in self.routes if m == request.method and request.path.startswith(p)),
                    reply(404, {"errorMessage": "no route in the hostile server"}),
                )
                await handler(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, target.split("?", 1)[0], headers, body)
