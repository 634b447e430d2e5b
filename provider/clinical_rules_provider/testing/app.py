"""The simulator's Starlette app: both services plus `/_sim` control routes and pages.

Control routes let a test (or the demo) in another process steer the simulator over HTTP;
they are never logged or faulted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, fields
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clinical_rules_provider.testing.auth import auth_routes, coerce_auth_setting
from clinical_rules_provider.testing.clinical_one_routes import clinical_one_routes
from clinical_rules_provider.testing.clock import ManualClock
from clinical_rules_provider.testing.faults import FaultMiddleware
from clinical_rules_provider.testing.state import Settings, SimulatorState
from clinical_rules_provider.testing.ui_pages import ui_routes
from clinical_rules_provider.testing.vault_routes import vault_routes

__all__ = ["control_routes", "create_app"]

_SETTING_TYPES = {f.name: f.type for f in fields(Settings)}


def create_app(state: SimulatorState | None = None) -> Starlette:
    """Build the app over `state` (a fresh seeded one by default); `app.state.sim` holds it."""
    sim = state if state is not None else SimulatorState()
    app = Starlette(
        routes=[
            *auth_routes(sim),
            *clinical_one_routes(sim),
            *vault_routes(sim),
            *control_routes(sim),
            *ui_routes(sim),
        ],
        middleware=[Middleware(FaultMiddleware, state=sim)],
    )
    app.state.sim = sim
    return app


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _object_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _settings_view(state: SimulatorState) -> dict[str, Any]:
    """Settings as JSON with every secret masked (user and client names stay visible)."""
    view = asdict(state.settings)
    view["vault_password"] = "***"
    for name in ("c1_basic_users", "oauth_clients"):
        view[name] = dict.fromkeys(view[name], "***")
    view["static_tokens"] = ["***"] * len(view["static_tokens"])
    return view


def _summary(state: SimulatorState) -> dict[str, Any]:
    with state.lock:
        now = state.now()
        studies, rule_jobs = [], Counter[str]()
        for study_id, mode in state.studies():
            rules = state.rules(study_id, mode)
            studies.append({"studyId": study_id, "mode": mode, "rules": len(rules)})
            rule_jobs.update(job.status(now) for rule in rules for job in rule.jobs)
        return {
            "now": now.isoformat(),
            "manualClock": isinstance(state.clock, ManualClock),
            "serviceTimezone": state.service_timezone,
            "studies": studies,
            "ruleJobs": dict(rule_jobs),
            "vaultJobs": dict(Counter(job.status for job in state.vault_jobs())),
            "vaultSessions": len(state.sessions),
            "vaultClientIds": dict(state.vault_client_ids),
            "oauthTokensLive": sum(expires > now for expires in state.tokens.values()),
            "oauthTokensIssued": state.tokens_issued,
            "requestCount": state.request_count,
            "faults": state.faults.as_dict(),
            "settings": _settings_view(state),
        }


def control_routes(state: SimulatorState) -> list[Route]:
    """`/_sim/*`: health, state summary, faults, settings, reset, clock, request log."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def summary(request: Request) -> JSONResponse:
        return JSONResponse(_summary(state))

    async def faults(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _object_body(request)
                if body.pop("clear", False):
                    state.faults.clear()
                enqueue = body.pop("enqueue", [])
                state.faults.configure(**body)
                state.faults.enqueue(*([enqueue] if isinstance(enqueue, str) else enqueue))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse(state.faults.as_dict())

    async def settings(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _object_body(request)
            except ValueError as exc:
                return _bad(str(exc))
            unknown = sorted(set(body) - set(_SETTING_TYPES))
            if unknown:
                return _bad(f"unknown setting(s) {unknown}; allowed {sorted(_SETTING_TYPES)}")
            try:
                values = {name: coerce_auth_setting(name, value) for name, value in body.items()}
            except ValueError as exc:
                return _bad(str(exc))
            with state.lock:
                for name, value in values.items():
                    setattr(state.settings, name, value)
        return JSONResponse(_settings_view(state))

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"status": "reset", "now": state.now().isoformat()})

    async def advance(request: Request) -> JSONResponse:
        clock = state.clock
        if not isinstance(clock, ManualClock):
            return JSONResponse({"error": "the simulator runs on real time"}, status_code=409)
        try:
            seconds = float((await _object_body(request)).get("seconds", 0))
            return JSONResponse({"now": clock.advance(seconds).isoformat()})
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))

    async def requests(request: Request) -> JSONResponse:
        limit = int(request.query_params.get("limit", "200"))
        with state.lock:
            records = state.request_log[-limit:] if limit > 0 else []
            by_path = Counter(f"{r.method} {r.path}" for r in state.request_log)
            rows = [
                {
                    "method": r.method,
                    "path": r.path,
                    "query": r.query,
                    "status": r.status,
                    "fault": r.fault,
                    "time": r.time.isoformat(),
                }
                for r in records
            ]
        return JSONResponse({"count": state.request_count, "byPath": by_path, "requests": rows})

    return [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/state", summary, methods=["GET"]),
        Route("/_sim/faults", faults, methods=["GET", "POST"]),
        Route("/_sim/settings", settings, methods=["GET", "POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/clock/advance", advance, methods=["POST"]),
        Route("/_sim/requests", requests, methods=["GET"]),
    ]
