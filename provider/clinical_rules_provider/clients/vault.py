"""The Vault job endpoints: auth, job status, job monitors and cancel, each described once.

Vault reports most errors with HTTP 200 and ``responseStatus`` ``FAILURE``/``EXCEPTION``;
:func:`raise_for_vault_error` turns those into typed errors.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import TypeAdapter

from clinical_rules_provider._show import shown
from clinical_rules_provider.clients.base import (
    ApiRequest,
    Exchange,
    decode_json,
    fresh_items,
    paging_done,
    parse_model,
    send_all,
    send_one,
)
from clinical_rules_provider.exceptions import RateLimitedError, VaultAPIError, VaultSessionError
from clinical_rules_provider.models.enums import VaultJobStatus, parse_choices
from clinical_rules_provider.models.ids import chunked, page_size_value
from clinical_rules_provider.models.refs import VaultJobIds
from clinical_rules_provider.models.vault import VaultEnvelope, VaultJob, VaultJobCancelResult

DEFAULT_API_VERSION = "v26.1"  # a connection's own version is checked when it is read
MONITOR_PAGE_LIMIT = 200
# The job-monitor ``status`` filter takes only these, one per request (sent lowercase).
MONITOR_STATUS_FILTERS = (VaultJobStatus.SCHEDULED, VaultJobStatus.QUEUED, VaultJobStatus.RUNNING)
SESSION_ERRORS = frozenset({"INVALID_SESSION_ID"})
RATE_LIMIT_ERRORS = frozenset({"API_LIMIT_EXCEEDED"})
_MISSING_RESULT = {"type": "MISSING_RESULT", "message": "Vault returned no result for this job"}
_CANCEL_RESULTS = TypeAdapter(list[VaultJobCancelResult])


def error_types(body: Any) -> set[str]:
    """The ``errors[].type`` values of a Vault envelope (``errors`` may be an object or a list)."""
    if not isinstance(body, dict) or body.get("responseStatus") not in ("FAILURE", "EXCEPTION"):
        return set()
    errors = body.get("errors")
    items = [errors] if isinstance(errors, dict) else errors if isinstance(errors, list) else []
    return {str(e.get("type")) for e in items if isinstance(e, dict) and e.get("type")}


def raise_for_vault_error(response: httpx.Response, body: Any, endpoint: str) -> None:
    """Raise for ``FAILURE``/``EXCEPTION`` envelopes (any HTTP status) and for non-2xx answers."""
    if isinstance(body, dict) and body.get("responseStatus") in ("FAILURE", "EXCEPTION"):
        errors = parse_model(VaultEnvelope, body, endpoint, error=VaultAPIError).errors
        message = f"{endpoint}: " + (
            "; ".join(f"{e.type}: {e.message}" for e in errors) or body["responseStatus"]
        )
        types = {e.type for e in errors}
        if types & RATE_LIMIT_ERRORS:
            raise RateLimitedError(message, status_code=response.status_code)
        cls = VaultSessionError if types & SESSION_ERRORS else VaultAPIError
        raise cls(message, code=errors[0].type if errors else None, status_code=response.status_code)
    if response.status_code >= 400:
        raise VaultAPIError(f"{endpoint}: HTTP {response.status_code}", status_code=response.status_code)


def _checked_json(response: httpx.Response, endpoint: str) -> Any:
    body = decode_json(response, endpoint)
    raise_for_vault_error(response, body, endpoint)
    return body


def _data(response: httpx.Response, endpoint: str, kind: type, what: str) -> Any:
    """The ``data`` member of a checked reply, which must be a ``kind`` (``what`` names it)."""
    body = _checked_json(response, endpoint)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, kind):
        raise VaultAPIError(f"{endpoint}: response has no {what}", status_code=response.status_code)
    return data


def cancel_jobs(
    job_ids: VaultJobIds, *, api_version: str = DEFAULT_API_VERSION
) -> Exchange[list[VaultJobCancelResult]]:
    """``POST /api/{v}/services/jobs/actions/cancel``, 500 per request, one result per job."""
    path = f"/api/{api_version}/services/jobs/actions/cancel"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    requests = [
        ApiRequest(
            "cancel_jobs",
            "POST",
            path,
            json=[{"job_id": job_id} for job_id in chunk],
            headers=headers,
            parse=functools.partial(parse_cancel, requested=chunk),
        )
        for chunk in chunked(list(job_ids))
    ]
    pages: list[list[VaultJobCancelResult]] = yield from send_all(requests)
    return [result for page in pages for result in page]


def parse_cancel(response: httpx.Response, requested: list[int]) -> list[VaultJobCancelResult]:
    """Map per-item results to job ids, cross-checked with the ids Vault names (``data.id``): a named
    id not requested (or named twice) is never counted as cancelled (docs/inferences.md)."""
    items = _data(response, "cancel_jobs", list, "per-job data list")[: len(requested)]
    named = [_named_id(item) for item in items]
    ids = [n for n in named if n is not None]
    by_id = len(set(ids)) == len(ids) and set(ids) <= set(requested)
    if by_id:
        unnamed = iter(item for item, n in zip(items, named, strict=True) if n is None)
        claimed = {n: item for item, n in zip(items, named, strict=True) if n is not None}
        pairs = [
            (job_id, claimed[job_id] if job_id in claimed else next(unnamed, None)) for job_id in requested
        ]
    else:
        pairs = list(itertools.zip_longest(requested, items))
    rows: list[dict[str, Any]] = []
    for job_id, item in pairs:
        if not isinstance(item, dict):
            rows.append({"job_id": job_id, "response_status": "MISSING", "errors": [_MISSING_RESULT]})
        elif not by_id and (other := _named_id(item)) is not None and other != job_id:
            message = (
                f"Vault's reply names job {other} where job {job_id} was expected: the cancel of job "
                f"{job_id} is unconfirmed (check job {other} too)"
            )
            error = {"type": "MISMATCHED_RESULT", "message": message}
            rows.append({"job_id": job_id, "response_status": "MISMATCH", "errors": [error]})
        else:
            status = str(item.get("responseStatus") or "UNKNOWN")
            rows.append({"job_id": job_id, "response_status": status, "errors": item.get("errors")})
    return _CANCEL_RESULTS.validate_python(rows)  # one call for the chunk: ~2x faster than a model each


def _named_id(item: Any) -> int | None:
    """The job id a cancel item names (``data.id``), when it names a positive integer."""
    data = item.get("data") if isinstance(item, dict) else None
    raw = data.get("id") if isinstance(data, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        return None
    text = str(raw).strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 19 and int(text) > 0 else None


def get_job_status(job_id: int, *, api_version: str = DEFAULT_API_VERSION) -> Exchange[VaultJob]:
    """``GET /api/{v}/services/jobs/{job_id}``: one job instance (the id checked by the caller)."""
    path = f"/api/{api_version}/services/jobs/{job_id}"
    return send_one(ApiRequest("get_job_status", "GET", path, parse=parse_job_status))


def parse_job_status(response: httpx.Response) -> VaultJob:
    """Parse the ``data`` object of a job-status response."""
    data = _data(response, "get_job_status", dict, "data object")
    return parse_model(VaultJob, data, "get_job_status", error=VaultAPIError)


@dataclass
class JobMonitorPager:
    """Walks ``GET /api/{v}/services/jobs/monitors`` (unfinished jobs) with ``limit``/``offset``,
    one walk per ``status`` filter value, each job yielded once (docs/inferences.md, "job
    monitors" and "job-monitor paging termination")."""

    api_version: str
    params: Mapping[str, str]
    limit: int = MONITOR_PAGE_LIMIT
    statuses: tuple[str, ...] = ()
    offset: int = 0
    done: bool = False
    _status_index: int = 0
    _seen: set[int] = field(default_factory=set)

    @classmethod
    def create(
        cls,
        *,
        api_version: str = DEFAULT_API_VERSION,
        statuses: object = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        page_size: object = MONITOR_PAGE_LIMIT,
    ) -> JobMonitorPager:
        """Validate filters up front."""
        params: dict[str, str] = {}
        wire_statuses: tuple[str, ...] = ()
        if statuses is not None:
            chosen = parse_choices(statuses, VaultJobStatus, "statuses")  # type: ignore[arg-type]
            unsupported = [s.value for s in chosen if s not in MONITOR_STATUS_FILTERS]
            if unsupported:
                allowed = ", ".join(s.value for s in MONITOR_STATUS_FILTERS)
                raise ValueError(
                    f"statuses: {unsupported} cannot filter job monitors; expected some of: {allowed}"
                )
            wire_statuses = tuple(dict.fromkeys(s.value.lower() for s in chosen))
        for name, value in (("start_date", start_date), ("end_date", end_date)):
            if value is not None:
                if not isinstance(value, datetime) or value.tzinfo is None:
                    raise ValueError(f"{name}: expected an aware datetime, got {shown(value)}")
                params[name] = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(api_version, params, page_size_value(page_size, MONITOR_PAGE_LIMIT), wire_statuses)

    def next_request(self) -> ApiRequest | None:
        """The next page's request, or ``None``."""
        if self.done:
            return None
        params: dict[str, str | int] = {**self.params, "limit": self.limit, "offset": self.offset}
        if self.statuses:
            params["status"] = self.statuses[self._status_index]
        path = f"/api/{self.api_version}/services/jobs/monitors"
        return ApiRequest("list_job_monitors", "GET", path, params=params)

    def feed(self, response: httpx.Response) -> list[VaultJob]:
        """Parse one page, advance, and return the jobs not seen on any earlier page."""
        body = _checked_json(response, "list_job_monitors")
        # Vault's "Retrieve Job Monitors" lists rows under ``jobs``; ``data`` is accepted too.
        rows = (body.get("jobs") or body.get("data")) if isinstance(body, dict) else None
        jobs = [parse_model(VaultJob, r, "list_job_monitors", error=VaultAPIError) for r in rows or []]
        fresh = fresh_items(self._seen, jobs, lambda job: job.job_id, "list_job_monitors", VaultAPIError)
        self.offset += len(jobs)
        details = body.get("responseDetails") or {}
        total = details.get("total") if isinstance(details, dict) else None
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        if not fresh or paging_done(self.offset, len(jobs), self.limit, total, None):
            if self._status_index + 1 < len(self.statuses):  # this walk is over: walk the next status
                self._status_index += 1
                self.offset = 0
            else:
                self.done = True
        return fresh


def current_user(*, api_version: str = DEFAULT_API_VERSION) -> Exchange[str]:
    """``GET /api/{v}/objects/users/me`` (Vault's "Validate Session User"): the user's id, for a
    session this hook did not log in itself (the ``session_id`` extra, or another hook's)."""
    path = f"/api/{api_version}/objects/users/me"
    return send_one(ApiRequest("current_user", "GET", path, parse=parse_current_user))


def parse_current_user(response: httpx.Response) -> str:
    """``users[0].user.id`` of a "Validate Session User" reply, as a string."""
    body = _checked_json(response, "current_user")
    try:
        user_id = body["users"][0]["user"]["id"]
    except (TypeError, KeyError, IndexError):
        user_id = None
    if isinstance(user_id, bool) or not isinstance(user_id, (int, str)) or not str(user_id).strip():
        raise VaultAPIError(
            "current_user: response has no users[0].user.id", status_code=response.status_code
        )
    return str(user_id).strip()


def auth_request(api_version: str, username: str, password: str) -> ApiRequest:
    """``POST /api/{v}/auth`` with form-encoded credentials (never logged: ``data`` has no repr)."""
    return ApiRequest(
        "auth",
        "POST",
        f"/api/{api_version}/auth",
        data={"username": username, "password": password},
        headers={"Accept": "application/json"},
    )
