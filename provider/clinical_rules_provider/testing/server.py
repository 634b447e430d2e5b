"""Serve the simulator with uvicorn on loopback from a background thread.

Used by end-to-end tests, the demo and benchmarks, which need a real socket (timeouts,
dropped connections, a separate Airflow process).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from clinical_rules_provider.testing.app import create_app
from clinical_rules_provider.testing.faults import LIVE_SCOPE_KEY, InjectedFaultLogFilter
from clinical_rules_provider.testing.state import SimulatorState

__all__ = ["LiveSimulator", "live_app", "quiet_injected_faults"]

_FILTER = InjectedFaultLogFilter()


def quiet_injected_faults() -> None:
    """Keep uvicorn from logging a traceback for every injected `drop` (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def live_app(app: ASGIApp) -> ASGIApp:
    """Mark requests as arriving over a real socket (faults behave accordingly)."""

    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, LIVE_SCOPE_KEY: True}, receive, send)

    return marked


class LiveSimulator:
    """uvicorn on 127.0.0.1 (free port by default) in a daemon thread; a context manager."""

    def __init__(
        self,
        state: SimulatorState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        **uvicorn_options: Any,
    ) -> None:
        self.state = state if state is not None else SimulatorState()
        self.host, self._requested_port = host, port
        self._options: dict[str, Any] = {"log_level": log_level, **uvicorn_options}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        if not self.port:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 5.0) -> LiveSimulator:
        """Bind, start serving and wait until uvicorn accepts connections."""
        if self.running:
            return self
        quiet_injected_faults()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            live_app(create_app(self.state)),
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=2,
            **self._options,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="clinical-rules-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and join its thread (no thread is left behind)."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        self._server = self._thread = None
        self.port = 0

    def __enter__(self) -> LiveSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port else "stopped"
        return f"<LiveSimulator {where}>"
