"""`/_sim/ui/*`: plain HTML pages a task's extra link can open when it points at the simulator.

Neither API reference documents a Clinical One or Vault UI path, so these pages do not
imitate one: they live under the simulator's own ``/_sim`` prefix (never faulted, never
logged, no credentials), say on every page that they are the simulator, and show what
the simulator holds. ``make up`` sets the connections' link templates to them:

- ``/_sim/ui/studies/{study_id}/{study_mode}/rules``: the study's rules and each one's
  latest job (``rules_url_template``);
- ``/_sim/ui/vault/jobs/{job_id}``: one Vault job (``job_url_template``).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from clinical_rules_provider.testing.state import SimulatorState

__all__ = ["RULES_PAGE", "VAULT_JOB_PAGE", "ui_routes"]

RULES_PAGE = "/_sim/ui/studies/{study_id}/{study_mode}/rules"
VAULT_JOB_PAGE = "/_sim/ui/vault/jobs/{job_id}"

_BANNER = (
    "Served by the clinical_rules_provider <strong>simulator</strong> (a test double for local"
    " runs); this is not a Clinical One or Veeva Vault page."
)


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Simulator: {escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:.3em .6em;text-align:left}"
        ".sim{background:#fff3cd;border:1px solid #d4a72c;padding:.6em;margin-bottom:1em}</style>"
        f"</head><body><p class='sim'>{_BANNER}</p><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"


def ui_routes(state: SimulatorState) -> list[Route]:
    """The two pages over ``state`` (rendered from it on every request)."""

    async def rules_page(request: Request) -> HTMLResponse:
        study, mode = request.path_params["study_id"], request.path_params["study_mode"]
        title = f"Rules of study {study} ({mode})"
        with state.lock:
            if not state.has_study(study, mode):
                return _page(title, "<p>The simulator has no such study and mode.</p>", 404)
            now = state.now()
            rows = [
                [
                    rule.rule_id,
                    rule.name,
                    rule.rule_state,
                    "yes" if rule.enabled else "no",
                    rule.publish_run,
                    job.job_id if (job := rule.latest_job) else "",
                    job.status(now) if job else "no job",
                ]
                for rule in state.rules(study, mode)
            ]
        header = ["rule id", "name", "state", "enabled", "publish run", "latest job", "job status"]
        return _page(title, _table(header, rows))

    async def vault_job_page(request: Request) -> HTMLResponse:
        raw = request.path_params["job_id"]
        title = f"Vault job {raw}"
        with state.lock:
            job = state.vault_job(int(raw)) if raw.isdigit() else None
            if job is None:
                return _page(title, "<p>The simulator has no such Vault job.</p>", 404)
            status = job.current_status(state.now(), state.settings.cancelling_seconds)
            rows = [
                ["status", status],
                ["title", job.title],
                ["job name", job.job_name],
                ["job type", job.job_type],
                ["created by (user id)", str(job.created_by)],
                ["created", job.created.isoformat()],
            ]
        return _page(title, _table(["field", "value"], rows))

    return [
        Route(RULES_PAGE, rules_page, methods=["GET"]),
        Route(VAULT_JOB_PAGE, vault_job_page, methods=["GET"]),
    ]
