"""Hook for the Veeva Vault job endpoints (cancel, job status, job monitors)."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from clinical_rules_provider._provider_info import VAULT_BEHAVIOUR, VAULT_DEFAULT_CONN_ID, VAULT_FIELDS
from clinical_rules_provider._state import VAULT_READS
from clinical_rules_provider.clients import vault as api
from clinical_rules_provider.clients.base import Exchange, after_delay, decode_json
from clinical_rules_provider.clients.vault import DEFAULT_API_VERSION
from clinical_rules_provider.exceptions import RateLimitedError
from clinical_rules_provider.hooks.base import ServiceHook
from clinical_rules_provider.hooks.connection import (
    ConnectionLike,
    as_number,
    base_url,
    extra_value,
    transport_options,
    vault_api_version,
)
from clinical_rules_provider.models.ids import vault_job_id
from clinical_rules_provider.models.refs import VaultJobIds
from clinical_rules_provider.models.vault import VaultJob, VaultJobCancelResult
from clinical_rules_provider.transport.auth import VaultSessionAuth
from clinical_rules_provider.transport.pool import gather_all
from clinical_rules_provider.transport.session import TransportSettings

# Vault allows reading one job's status at most once per 10 s (the last read of each job is
# kept in ``_state.VAULT_READS``, shared by the hooks of this process, bounded).
JOB_STATUS_MIN_INTERVAL = 10.0


def _inspect(response: httpx.Response, endpoint: str) -> None:
    """Vault throttling arrives as HTTP 200 + ``API_LIMIT_EXCEEDED``: make it retryable."""
    if (
        response.status_code == 200
        and response.content
        and api.error_types(decode_json(response, endpoint)) & api.RATE_LIMIT_ERRORS
    ):
        raise RateLimitedError(
            f"{endpoint}: Vault API_LIMIT_EXCEEDED",
            status_code=200,
            retry_after=_delay_seconds(response) or 1.0,
        )


def _delay_seconds(response: httpx.Response) -> float:
    """``X-VaultAPI-ResponseDelay`` (milliseconds) in seconds; NaN, infinite or negative: 0.

    (A value above the connection's ``max_wait`` is refused by the transport, not here.)
    """
    raw = response.headers.get("X-VaultAPI-ResponseDelay", "").strip().lower().removesuffix("ms")
    try:
        seconds = float(raw) / 1000.0
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def burst_throttle(floor: int) -> Callable[[httpx.Response], float]:
    """Pause before the next request when ``X-VaultAPI-BurstLimitRemaining`` falls to ``floor``."""

    def throttle(response: httpx.Response) -> float:
        remaining = response.headers.get("X-VaultAPI-BurstLimitRemaining")
        digits = (remaining or "").strip()
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 12 or int(digits) > floor:
            return 0.0
        return max(_delay_seconds(response), 1.0)

    return throttle


@dataclass(frozen=True, repr=False)
class VaultConfig:
    """A ``veeva_vault`` connection, parsed."""

    transport: TransportSettings
    api_version: str = DEFAULT_API_VERSION

    def __repr__(self) -> str:
        return f"VaultConfig(base_url={self.transport.base_url!r}, api_version={self.api_version!r})"


def vault_config(conn: ConnectionLike) -> VaultConfig:
    """Parse a ``veeva_vault`` connection: login/password session, or a static ``session_id``."""
    url = base_url(conn)
    version = vault_api_version(conn)
    floor = int(as_number(extra_value(conn, "veeva_vault", "burst_limit_floor", 10), "burst_limit_floor", 0))
    auth = VaultSessionAuth(
        url,
        version,
        username=conn.login or None,
        password=conn.password or None,
        session_id=extra_value(conn, "veeva_vault", "session_id"),
    )
    headers = {"Accept": "application/json"}
    if client_id := extra_value(conn, "veeva_vault", "client_id"):
        headers["X-VaultAPI-ClientID"] = str(client_id)
    transport = TransportSettings(
        base_url=url,
        auth=auth,
        headers=headers,
        inspect=_inspect,
        throttle=burst_throttle(floor),
        **transport_options(conn, "veeva_vault"),
    )
    return VaultConfig(transport=transport, api_version=version)


def _login_user(config: VaultConfig) -> str | None:
    auth = config.transport.auth
    return auth.user_id if isinstance(auth, VaultSessionAuth) else None


def _current_user(config: VaultConfig) -> Exchange[str]:
    return api.current_user(api_version=config.api_version)


class VaultHook(ServiceHook[VaultConfig]):
    """Talks to one Veeva Vault's job services.

    Logs in with ``POST /api/{v}/auth`` (or uses the extra's ``session_id``), sends the
    session id as ``Authorization`` and logs in again once on ``INVALID_SESSION_ID``.
    ``FAILURE``/``EXCEPTION`` envelopes raise :class:`~clinical_rules_provider.exceptions.VaultAPIError`
    except in bulk cancels, where each job's outcome is reported on its own.

    :param vault_conn_id: Airflow connection of type ``veeva_vault``.
    :param max_concurrency: cap on concurrent requests of the async methods.
    """

    conn_name_attr = "vault_conn_id"
    default_conn_name = VAULT_DEFAULT_CONN_ID
    conn_type = "veeva_vault"
    hook_name = "Veeva Vault"
    _form_fields, _form_behaviour = VAULT_FIELDS, VAULT_BEHAVIOUR

    def __init__(
        self, vault_conn_id: str = default_conn_name, *, max_concurrency: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(vault_conn_id, max_concurrency=max_concurrency, **kwargs)
        self.vault_conn_id = vault_conn_id

    def _parse_config(self, conn: ConnectionLike) -> VaultConfig:
        return vault_config(conn)

    # --- cancel ---------------------------------------------------------------------------

    def cancel_jobs(self, job_ids: Any) -> list[VaultJobCancelResult]:
        """Cancel job instances (500 per request); one result per job, in input order.

        :param job_ids: Vault job ids (positive ints or numeric strings), checked before the
            connection is read.
        """
        ids = VaultJobIds.of(job_ids)
        return self._call(lambda c: api.cancel_jobs(ids, api_version=c.api_version))

    async def acancel_jobs(self, job_ids: Any) -> list[VaultJobCancelResult]:
        """Async :meth:`cancel_jobs`; chunks are sent concurrently.

        :param job_ids: Vault job ids (positive ints or numeric strings).
        """
        ids = VaultJobIds.of(job_ids)
        return await self._acall(lambda c: api.cancel_jobs(ids, api_version=c.api_version))

    # --- job status -----------------------------------------------------------------------

    @staticmethod
    def _status_wait(base: str, job_id: int) -> float:
        """Seconds to wait so this job's status is read at most once per 10 s, then book the read.

        Past the registry's bound the least recently read jobs are forgotten: at worst one
        early read, which Vault answers with a retryable rate-limit error.
        """
        now = time.monotonic()
        booked = VAULT_READS.update(
            (base, job_id), lambda last: now if last is None else max(now, last + JOB_STATUS_MIN_INTERVAL)
        )
        return booked - now

    def get_job_status(self, job_id: Any) -> VaultJob:
        """Read one job instance; waits if the same job was read less than 10 s ago.

        :param job_id: a Vault job id (positive int or numeric string).
        """
        return self._call(self._status_reader(vault_job_id(job_id, "job_id")))

    async def aget_job_status(self, job_id: Any) -> VaultJob:
        """Async :meth:`get_job_status`.

        :param job_id: a Vault job id (positive int or numeric string).
        """
        return await self._acall(self._status_reader(vault_job_id(job_id, "job_id")))

    def _status_reader(self, number: int) -> Callable[[VaultConfig], Exchange[VaultJob]]:
        def build(config: VaultConfig) -> Exchange[VaultJob]:
            wait = self._status_wait(config.transport.base_url, number)
            return after_delay(wait, api.get_job_status(number, api_version=config.api_version))

        return build

    def get_job_statuses(self, job_ids: Any) -> list[VaultJob]:
        """Read many job instances concurrently (each at most once per 10 s), in input order.

        :param job_ids: Vault job ids (positive ints or numeric strings).
        """
        return self.run_async(self.aget_job_statuses(VaultJobIds.of(job_ids)))

    async def aget_job_statuses(self, job_ids: Any) -> list[VaultJob]:
        """Async :meth:`get_job_statuses`.

        :param job_ids: Vault job ids (positive ints or numeric strings).
        """
        ids = VaultJobIds.of(job_ids)
        return await gather_all(self._acall(self._status_reader(job_id)) for job_id in ids)

    # --- job monitors ---------------------------------------------------------------------

    def list_job_monitors(
        self,
        *,
        statuses: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        page_size: int = api.MONITOR_PAGE_LIMIT,
    ) -> Iterator[VaultJob]:
        """Stream unfinished jobs from ``GET /api/{v}/services/jobs/monitors`` (paged by ``limit`` ≤ 200)."""
        return self._iter_pages(*_monitor_pager(statuses, start_date, end_date, page_size))

    def alist_job_monitors(
        self,
        *,
        statuses: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        page_size: int = api.MONITOR_PAGE_LIMIT,
    ) -> AsyncIterator[VaultJob]:
        """Async :meth:`list_job_monitors`."""
        return self._aiter_pages(*_monitor_pager(statuses, start_date, end_date, page_size))

    # --- the connection's user ------------------------------------------------------------

    def current_user_id(self) -> str:
        """The Vault user id this connection acts as (whose jobs "my jobs" are).

        The ``userId`` of this hook's own login reply when it logged in; otherwise (a
        ``session_id`` extra, or a session cached by another hook) one ``GET
        /api/{v}/objects/users/me``.
        """
        known = _login_user(self.config)
        return known if known is not None else self._call(_current_user)

    async def acurrent_user_id(self) -> str:
        """Async :meth:`current_user_id`."""
        known = _login_user(await self.aconfig())
        return known if known is not None else await self._acall(_current_user)

    # --- connection test ------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Log in (unless a session id is configured) and list one unfinished job."""
        return self._test(self._list_one_job)

    def _list_one_job(self) -> tuple[bool, str]:
        first = next(iter(self.list_job_monitors(page_size=1)), None)
        found = "unfinished jobs are listed" if first is not None else "no unfinished jobs"
        return True, f"Connected to Vault API {self.config.api_version}; {found}"


def _monitor_pager(
    statuses: Any, start_date: datetime | None, end_date: datetime | None, page_size: int
) -> tuple[api.JobMonitorPager, Callable[[VaultConfig], None]]:
    pager = api.JobMonitorPager.create(  # validates now
        statuses=statuses, start_date=start_date, end_date=end_date, page_size=page_size
    )

    def prepare(config: VaultConfig) -> None:
        pager.api_version = config.api_version

    return pager, prepare
