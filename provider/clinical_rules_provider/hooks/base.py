"""What both service hooks share: connection loading, one HTTP session, sync and async calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Generic, Protocol, TypeVar

import httpx

try:  # Airflow 3.1+
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0 keeps it in core
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined,unused-ignore]

from clinical_rules_provider._provider_info import form_widgets, python_behaviour
from clinical_rules_provider._redact import redact
from clinical_rules_provider._show import shown
from clinical_rules_provider._state import CONNECTION_LOOKUPS, CONNECTIONS
from clinical_rules_provider.clients.base import ApiRequest, Exchange, Pager, reading_reply
from clinical_rules_provider.hooks.connection import ConnectionLike
from clinical_rules_provider.transport import blocking
from clinical_rules_provider.transport.clock_skew import SkewReading, skew_warning
from clinical_rules_provider.transport.deadline import Deadline
from clinical_rules_provider.transport.session import HttpSession, TransportSettings


class ParsedConnection(Protocol):
    """What a hook's parsed connection has at least: its transport settings."""

    @property
    def transport(self) -> TransportSettings:
        """The settings the hook's HTTP session is built from."""


C = TypeVar("C", bound=ParsedConnection)
T = TypeVar("T")


async def _shared_config(key: tuple[type, str], fetch: Callable[[], Awaitable[Any]]) -> Any:
    """A parsed connection shared by the async hooks of this process for 30 s
    (:data:`~clinical_rules_provider._state.CONNECTIONS`): a triggerer running 1000 triggers of
    one connection reads it once, not 1000 times.

    One lookup per key and event loop is in flight; it runs in a task of its own that every
    waiter awaits through :func:`asyncio.shield`, so a hook cancelled meanwhile (a trigger
    killed on timeout) leaves the lookup, and the other hooks waiting on it, running.
    """
    cached = CONNECTIONS.get(key)
    if cached is not None:
        return cached
    flight = (asyncio.get_running_loop(), *key)
    pending: asyncio.Future[Any] | None = CONNECTION_LOOKUPS.get(flight)
    if pending is None:

        async def load() -> Any:
            try:
                return CONNECTIONS.put(key, await fetch())
            finally:
                CONNECTION_LOOKUPS.pop(flight)

        pending = CONNECTION_LOOKUPS.put(flight, asyncio.ensure_future(load()))
        # A lookup whose waiters were all cancelled must not log "exception never retrieved".
        pending.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.shield(pending)


def _parsed(pager: Pager[T], request: ApiRequest, response: httpx.Response) -> list[T]:
    with reading_reply(request.endpoint):
        return pager.feed(response)


class ServiceHook(BaseHook, Generic[C]):
    """Base for :class:`ClinicalOneHook` and :class:`VaultHook`.

    The connection is read once per hook (sync via ``get_connection``, async via
    ``aget_connection`` so triggers never block the event loop); the HTTP clients are
    created lazily and reused across calls. Use the hook as a context manager, or call
    :meth:`close`/:meth:`aclose`, to release connections early.
    """

    def __init__(self, conn_id: str, *, max_concurrency: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._conn_id = conn_id
        self._max_concurrency = max_concurrency
        self._config: C | None = None
        self._http: HttpSession | None = None
        # The bound of :meth:`time_limit`, handed to every call made within it.
        self._limit: Deadline | None = None
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency: expected a positive integer, got {shown(max_concurrency)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._conn_id!r})"

    # --- subclasses supply these ----------------------------------------------------------

    # The connection form's extra fields and relabelling (``_provider_info``).
    _form_fields: dict[str, dict[str, Any]] = {}
    _form_behaviour: dict[str, Any] = {}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra connection-form fields for Airflow 3.0/3.1 (3.2+ reads the provider info)."""
        return form_widgets(cls._form_fields)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide the standard connection-form fields."""
        return python_behaviour(cls._form_behaviour)

    def _parse_config(self, conn: ConnectionLike) -> C:
        raise NotImplementedError

    # --- connection and session -----------------------------------------------------------

    @property
    def config(self) -> C:
        """The parsed connection (read on first use)."""
        if self._config is None:
            self._config = self._parse_config(self.get_connection(self._conn_id))
        return self._config

    async def aconfig(self) -> C:
        """The parsed connection, read without blocking the event loop (and shared briefly
        with the other hooks of this process that use the same connection)."""
        if self._config is None:
            self._config = await _shared_config((type(self), self._conn_id), self._fetch_config)
        return self._config

    async def _fetch_config(self) -> C:
        getter = getattr(BaseHook, "aget_connection", None)
        if getter is not None:
            conn = await getter(self._conn_id)
        else:  # Airflow < 3.1 has no async connection getter
            conn = await asyncio.to_thread(self.get_connection, self._conn_id)
        return self._parse_config(conn)

    def _session_for(self, config: C) -> HttpSession:
        if self._http is None:
            settings = config.transport
            if self._max_concurrency is not None:
                settings = TransportSettings(
                    **{**settings.__dict__, "max_concurrency": self._max_concurrency}
                )
            self._http = HttpSession(settings)
        return self._http

    @property
    def http(self) -> HttpSession:
        """The HTTP session, reading the connection with the sync ``get_connection`` if needed."""
        return self._session_for(self.config)

    async def ahttp(self) -> HttpSession:
        """The HTTP session (async use)."""
        return self._session_for(await self.aconfig())

    def _call(self, build: Callable[[C], Exchange[T]]) -> T:
        """Build an exchange from the parsed connection and drive it to its result."""
        return self.run_async(self._acall(build))

    async def _acall(self, build: Callable[[C], Exchange[T]]) -> T:
        """Async :meth:`_call`: the connection is read without blocking the event loop."""
        config = await self.aconfig()
        session = self._session_for(config)
        return await session.arun(build(config), session.deadline(self._limit))

    def _iter_pages(self, pager: Pager[T], prepare: Callable[[C], None]) -> Iterator[T]:
        """Stream a pager's items, a page per request, reading the connection on first use.

        Each page is parsed here, on the caller's thread, not on the blocking-call loop's: what
        a thread allocates stays in its own malloc arena, and parsing on the loop thread made
        streaming 100,000 rules grow the process by 5.8 MiB instead of 0.7 (P5,
        benchmarks/README.md).
        """
        self.config  # noqa: B018 - read on the caller's thread (see run_async)
        for request, response in blocking.iterate(self._replies(pager, prepare)):
            page = _parsed(pager, request, response)
            del response  # not kept while the page's items are handed out
            yield from page
            del page  # nor the items while the next page is read (benchmarks/README.md, P5)

    async def _aiter_pages(self, pager: Pager[T], prepare: Callable[[C], None]) -> AsyncIterator[T]:
        """Async :meth:`_iter_pages`."""
        async for request, response in self._replies(pager, prepare):
            page = _parsed(pager, request, response)
            del response
            for item in page:
                yield item
            del page

    async def _replies(
        self, pager: Pager[Any], prepare: Callable[[C], None]
    ) -> AsyncIterator[tuple[ApiRequest, httpx.Response]]:
        """Each page's request and reply; the next request is built once the caller has fed
        the pager the previous reply."""
        config = await self.aconfig()
        http = self._session_for(config)
        prepare(config)
        while (request := pager.next_request()) is not None:
            yield request, await http.asend(request, http.deadline(self._limit))

    @contextlib.contextmanager
    def time_limit(self, seconds_left: float | None) -> Iterator[None]:
        """Bound every call of this hook made inside by ``seconds_left`` plus one request timeout.

        Sensors and triggers wrap each poll in it: a request started before their deadline
        may finish, but a slow or trickling service cannot hold them much past it. ``None``
        adds no bound (each call keeps its ``deadline``). Async callers read the connection
        first (``await hook.aconfig()``), so this never blocks the event loop.

        :param seconds_left: what is left of the caller's own wait, in seconds (may be negative).
        """
        if seconds_left is None:
            yield
            return
        outer = self._limit
        self._limit = Deadline.after(max(seconds_left, 0.0) + self.config.transport.timeout, outer)
        try:
            yield
        finally:
            self._limit = outer

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far, retries included (for logs and benchmarks)."""
        return self._http.requests_sent if self._http is not None else 0

    @property
    def clock_skew_reading(self) -> SkewReading | None:
        """The service's clock minus this worker's, from the replies' ``Date`` headers so far.

        The tightest reading of this hook's replies (``seconds`` and its ``uncertainty``), or
        ``None`` before a reply with a usable ``Date`` header. Shown in logs and warnings only;
        nothing is decided from it (see docs/troubleshooting.md, "Clock skew").
        """
        return self._http.clock_skew.best if self._http is not None else None

    @property
    def clock_skew(self) -> float | None:
        """Seconds the service's clock is ahead of this worker's (negative: behind), or ``None``
        (see :attr:`clock_skew_reading`)."""
        reading = self.clock_skew_reading
        return reading.seconds if reading is not None else None

    def check_clock_skew(self, what: str) -> str | None:
        """A warning when the measured skew is provably past the connection's
        ``clock_skew_warning`` (default 5 s), else ``None``; for the tasks' logs only.

        Call it after a read (the connection is parsed by then, so this never blocks).

        :param what: the user-facing setting the skew shifts, named in the warning.
        """
        return skew_warning(self.clock_skew_reading, self.config.transport.clock_skew_warning, what)

    def _test(self, check: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
        """``check()``, or ``(False, the error)`` redacted: a connection test never raises."""
        try:
            return check()
        except Exception as exc:
            return False, redact(f"{type(exc).__name__}: {exc}")
        finally:
            self.close()

    def close(self) -> None:
        """Release the connections the sync calls used."""
        if self._http is not None:
            self._http.close()

    async def aclose(self) -> None:
        """Release the connections of this hook's calls."""
        if self._http is not None:
            await self._http.aclose()

    def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run an async method from sync code: every sync method is its async twin run this way.

        The connection is read here first, with Airflow's sync ``get_connection`` on the
        caller's thread, as sync hook calls always read it (a missing connection raises before
        any work starts); then ``coro`` runs on the process's blocking-call loop
        (:mod:`clinical_rules_provider.transport.blocking`) and finds it parsed.
        """
        try:
            self.config  # noqa: B018 - the read is the point
        except BaseException:
            coro.close()
            raise
        return blocking.run(coro)

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self: Any) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
