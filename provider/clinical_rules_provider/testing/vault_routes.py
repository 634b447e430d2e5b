"""Veeva Vault endpoints: auth, bulk job cancel, job status and job monitors.

Vault reports most errors as HTTP 200 with `responseStatus: FAILURE`, and every response
carries burst-limit headers; both are reproduced because clients must handle them.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clinical_rules_provider.testing._seed import VAULT_IN_PROGRESS, VAULT_USER_ID
from clinical_rules_provider.testing.state import SimulatorState
from clinical_rules_provider.testing.vault_state import VaultJob

__all__ = ["MAX_CANCEL_JOBS", "MAX_MONITOR_LIMIT", "VaultApi", "vault_routes"]

MAX_CANCEL_JOBS = 500
MAX_MONITOR_LIMIT = 200
VAULT_ID = 1000
_VERSION = re.compile(r"v\d+(\.\d+)?")
_DIGITS = re.compile(r"[0-9]+")


# Vault documents only these values for the monitors ``status`` filter.
MONITOR_STATUS_FILTERS = frozenset({"SCHEDULED", "QUEUED", "RUNNING"})


class VaultFailure(Exception):
    """A FAILURE envelope to send (with HTTP 200 unless told otherwise)."""

    def __init__(self, kind: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def _iso(when: datetime | None) -> str | None:
    """Vault timestamps: ISO 8601 UTC with milliseconds and Z."""
    if when is None:
        return None
    utc = when.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _int_param(query: Any, name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else -1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise VaultFailure("INVALID_DATA", f"Invalid value [{raw}] for [{name}]: must be {bound}.")
    return value


def _date_param(query: Any, name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "T" in text:
        text = text.replace(" ", "+")  # an unencoded '+' in a query string arrives as a space
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        message = f"Invalid value [{raw}] for [{name}]: use YYYY-MM-DDTHH:MM:SSZ."
        raise VaultFailure("INVALID_DATA", message) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _cancel_ids(media_type: str, raw: bytes) -> list[int]:
    """Parse the cancel body: a JSON array of {"job_id": N} or a CSV with a job_id column."""
    if media_type == "text/csv":
        lines = [ln.strip() for ln in raw.decode("utf-8", "replace").splitlines() if ln.strip()]
        if lines and lines[0].lower() == "job_id":
            lines = lines[1:]
        items: Any = [{"job_id": int(ln) if _DIGITS.fullmatch(ln) else ln} for ln in lines]
    else:
        try:
            items = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise VaultFailure("INVALID_DATA", "Request body is not valid JSON.") from None
    if not isinstance(items, list):
        raise VaultFailure("INVALID_DATA", "Request body must be a JSON array of {job_id} objects.")
    if not 1 <= len(items) <= MAX_CANCEL_JOBS:
        message = f"Provide between 1 and {MAX_CANCEL_JOBS} job_id values; got {len(items)}."
        raise VaultFailure("INVALID_DATA", message)
    ids: list[int] = []
    for index, item in enumerate(items):
        value = item.get("job_id") if isinstance(item, dict) else None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            message = f"Item [{index}] must be an object with a positive integer job_id."
            raise VaultFailure("INVALID_DATA", message)
        ids.append(value)
    return ids


class VaultApi:
    """Endpoint handlers bound to one SimulatorState."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    async def _respond(self, body: dict[str, Any], status: int = 200) -> JSONResponse:
        """Every Vault response counts against the burst limit and reports it in headers."""
        limit, remaining = self.state.consume_burst()
        delay = self.state.settings.burst_exhausted_delay_ms if remaining < 0 else 0
        if delay:
            await asyncio.sleep(delay / 1000.0)
        headers = {
            "X-VaultAPI-BurstLimit": str(limit),
            "X-VaultAPI-BurstLimitRemaining": str(max(remaining, 0)),
            "X-VaultAPI-ResponseDelay": str(delay),
        }
        return JSONResponse(body, status_code=status, headers=headers)

    async def _fail(self, failure: VaultFailure) -> JSONResponse:
        body = {
            "responseStatus": "FAILURE",
            "errors": [{"type": failure.kind, "message": failure.message}],
        }
        return await self._respond(body, failure.status)

    def _guard(self, request: Request, *, session: bool = True) -> None:
        """Check the API version and the session; record the client id."""
        version = request.path_params["version"]
        if not _VERSION.fullmatch(version):
            message = f"The API version [{version}] is not valid."
            raise VaultFailure("MALFORMED_URL", message, status=404)
        client_id = request.headers.get("x-vaultapi-clientid")
        if client_id:
            with self.state.lock:
                self.state.vault_client_ids[client_id] += 1
        if not session:
            return
        token = request.headers.get("authorization", "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token or not self.state.touch_session(token):
            raise VaultFailure("INVALID_SESSION_ID", "Invalid or expired session ID.")

    async def auth(self, request: Request) -> JSONResponse:
        """POST /api/{v}/auth with form fields username and password."""
        try:
            self._guard(request, session=False)
            if _media_type(request) != "application/x-www-form-urlencoded":
                message = "Content-Type must be application/x-www-form-urlencoded."
                raise VaultFailure("INVALID_DATA", message)
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            username = (form.get("username") or [""])[0]
            password = (form.get("password") or [""])[0]
            for name, value in (("username", username), ("password", password)):
                if not value:
                    raise VaultFailure("PARAMETER_REQUIRED", f"Missing required parameter [{name}]")
            settings = self.state.settings
            if (
                username.casefold() != settings.vault_username.casefold()
                or password != settings.vault_password
            ):
                message = f"Authentication failed for user: {username}"
                raise VaultFailure("USERNAME_OR_PASSWORD_INCORRECT", message)
        except VaultFailure as failure:
            return await self._fail(failure)
        base = str(request.base_url).rstrip("/")
        return await self._respond(
            {
                "responseStatus": "SUCCESS",
                "sessionId": self.state.create_session(),
                "userId": VAULT_USER_ID,
                "vaultIds": [{"id": VAULT_ID, "name": "Clinical Rules Simulator", "url": f"{base}/api"}],
                "vaultId": VAULT_ID,
            }
        )

    async def cancel(self, request: Request) -> JSONResponse:
        """POST /api/{v}/services/jobs/actions/cancel: per-item results in request order."""
        try:
            self._guard(request)
            media_type = _media_type(request)
            if media_type not in ("application/json", "text/csv"):
                message = f"Content-Type [{media_type}] is not supported; use application/json."
                raise VaultFailure("INVALID_DATA", message, status=415)
            job_ids = _cancel_ids(media_type, await request.body())
        except VaultFailure as failure:
            return await self._fail(failure)
        as_list = self.state.settings.vault_item_errors_as_list
        results: list[dict[str, Any]] = []
        for job_id, cancelled in zip(job_ids, self.state.cancel_vault_jobs(job_ids), strict=True):
            if cancelled:
                results.append({"responseStatus": "SUCCESS", "data": {"id": job_id}})
                continue
            error = {
                "type": "INVALID_DATA",
                "message": f"Job [{job_id}] is not found in QUEUED or QUEUEING state",
            }
            results.append({"responseStatus": "FAILURE", "errors": [error] if as_list else error})
        return await self._respond({"responseStatus": "SUCCESS", "data": results})

    async def job(self, request: Request) -> JSONResponse:
        """GET /api/{v}/services/jobs/{job_id}, optionally rate limited per job."""
        state = self.state
        try:
            self._guard(request)
            raw = request.path_params["job_id"]
            if not _DIGITS.fullmatch(raw) or int(raw) <= 0:
                raise VaultFailure("INVALID_DATA", f"Invalid job_id [{raw}]")
            with state.lock:
                job, now = state.vault_job(int(raw)), state.now()
                if job is None:
                    raise VaultFailure("INVALID_DATA", f"Job [{raw}] not found")
                interval = state.settings.job_status_min_interval_seconds
                last = job.last_status_read
                limited = state.settings.enforce_job_status_rate_limit and last is not None
                if limited and last is not None and (now - last).total_seconds() < interval:
                    message = (
                        f"Job status for job [{job.job_id}] may be requested at most once "
                        f"every {interval:g} seconds."
                    )
                    raise VaultFailure("API_LIMIT_EXCEEDED", message)
                job.last_status_read = now
                data = {
                    "id": job.job_id,
                    "status": job.status,
                    "method": "POST",
                    "links": [],
                    "created_by": job.created_by,
                    "created_date": _iso(job.created),
                    "run_start_date": _iso(job.run_start),
                    "run_end_date": _iso(job.run_end),
                    "title": job.title,
                }
        except VaultFailure as failure:
            return await self._fail(failure)
        return await self._respond({"responseStatus": "SUCCESS", "data": data})

    async def monitors(self, request: Request) -> JSONResponse:
        """GET /api/{v}/services/jobs/monitors: unfinished jobs, filtered and paged."""
        query = request.query_params
        try:
            self._guard(request)
            limit = _int_param(query, "limit", 50, 1, MAX_MONITOR_LIMIT)
            offset = _int_param(query, "offset", 0, 0, None)
            # The reference documents one value for ``status``: a list is refused like any
            # other value it does not list.
            status = (query.get("status") or "").strip().upper()
            wanted = {status} if status else set()
            if status and status not in MONITOR_STATUS_FILTERS:
                raise VaultFailure("INVALID_DATA", f"Invalid value [{status[:100]}] for [status].")
            start, end = _date_param(query, "start_date"), _date_param(query, "end_date")
        except VaultFailure as failure:
            return await self._fail(failure)
        jobs = [
            j
            for j in self.state.vault_jobs()
            if j.status in VAULT_IN_PROGRESS
            and (not wanted or j.status in wanted)
            and (start is None or j.created >= start)
            and (end is None or j.created <= end)
        ]
        details: dict[str, Any] = {"total": len(jobs), "offset": offset, "limit": limit}
        path = request.url.path
        others = {k: v for k, v in query.items() if k not in ("offset", "limit")}
        if offset + limit < len(jobs):
            details["next_page"] = f"{path}?{urlencode({**others, 'offset': offset + limit, 'limit': limit})}"
        if offset > 0:
            previous = max(offset - limit, 0)
            details["previous_page"] = f"{path}?{urlencode({**others, 'offset': previous, 'limit': limit})}"
        rows = [self._monitor_entry(j) for j in jobs[offset : offset + limit]]
        # Vault's "Retrieve Job Monitors" lists the rows under ``jobs``.
        return await self._respond({"responseStatus": "SUCCESS", "responseDetails": details, "jobs": rows})

    @staticmethod
    def _monitor_entry(job: VaultJob) -> dict[str, Any]:
        """A "Retrieve Job Monitors" row: the fields of Vault's example (``job_id``, ``title``,
        ``status``, ``created_by``, ``created_date``, ``modified_by``, ``modified_date``,
        ``run_start_date``: a SCHEDULED job's planned start) plus the inferred ``job_name``
        and ``job_type``."""
        return {
            "job_id": job.job_id,
            "job_name": job.job_name,
            "job_type": job.job_type,
            "title": job.title,
            "status": job.status,
            "created_by": job.created_by,
            "created_date": _iso(job.created),
            "modified_by": job.created_by,
            "modified_date": _iso(job.modified or job.created),
            "run_start_date": _iso(job.run_start),
        }

    async def me(self, request: Request) -> JSONResponse:
        """GET /api/{v}/objects/users/me ("Validate Session User"): the session's user."""
        try:
            self._guard(request)
        except VaultFailure as failure:
            return await self._fail(failure)
        username = self.state.settings.vault_username
        user = {
            "id": VAULT_USER_ID,
            "user_name__v": username,
            "user_email__v": username,
            "user_timezone__v": "UTC",
            "user_locale__v": "en_US",
            "active__v": True,
        }
        return await self._respond({"responseStatus": "SUCCESS", "users": [{"user": user}]})


def vault_routes(state: SimulatorState) -> list[Route]:
    """Vault routes (`monitors` before `{job_id}` so it is not read as a job id)."""
    api = VaultApi(state)
    jobs = "/api/{version}/services/jobs"
    return [
        Route("/api/{version}/auth", api.auth, methods=["POST"]),
        Route("/api/{version}/objects/users/me", api.me, methods=["GET"]),
        Route(f"{jobs}/actions/cancel", api.cancel, methods=["POST"]),
        Route(f"{jobs}/monitors", api.monitors, methods=["GET"]),
        Route(f"{jobs}/{{job_id}}", api.job, methods=["GET"]),
    ]
