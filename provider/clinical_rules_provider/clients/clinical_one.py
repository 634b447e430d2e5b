"""The Clinical One rule endpoints, each described once as requests and parsers, and their errors.

The study and the rule ids arrive as checked values (:class:`~clinical_rules_provider.models.refs.StudyRef`,
:class:`~clinical_rules_provider.models.refs.RuleIds`) built at the boundary: trusted here. Errors
come in three envelope shapes (see the API references); a 404 without one is a
:class:`ClinicalOneAPIError`, never the :class:`ClinicalOneNotFoundError` callers may read as
"no history" (docs/inferences.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx

from clinical_rules_provider.clients.base import (
    ApiRequest,
    Exchange,
    decode_json,
    parse_model,
    send_all,
    send_one,
)
from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalOneAPIError,
    ClinicalOneNotFoundError,
    ClinicalOneServerError,
    ClinicalOneValidationError,
    UnexpectedResponseError,
)
from clinical_rules_provider.models.clinical_one import (
    CancelRuleJobsResult,
    JobStatusResult,
    RerunHistory,
    RuleJob,
)
from clinical_rules_provider.models.ids import chunked, compact_id
from clinical_rules_provider.models.refs import RuleIds, StudyRef

R = TypeVar("R", bound=CancelRuleJobsResult)

CANCEL_RULE_JOB_PATH = "/ec-rule-svc/rest/v1.0/studies/{study_id}/{mode}/cancelRuleJob"
RERUN_HISTORY_PATH = "/ec-rule-svc/rest/v1.0/studies/{study_id}/{mode}/rerunhistory/{rule_id}"
JOB_STATUS_PATH = "/ec-rule-svc/rest/v2.0/studies/{study_id}/{mode}/jobStatus"
# The rerun-history error statuses.
_STATUS_CLASSES: dict[str, type[ClinicalOneAPIError]] = {
    "VALIDATION_ERROR": ClinicalOneValidationError,
    "NOT_FOUND": ClinicalOneNotFoundError,
    "SERVER_ERROR": ClinicalOneServerError,
}


def study_path_args(study_id: object, mode: object) -> dict[str, str]:
    """Validate the study id and mode shared by every endpoint (:meth:`StudyRef.of`)."""
    return StudyRef.of(study_id, mode).path_args()


def rule_id_list(rule_ids: object) -> list[str]:
    """Validate, normalise (uppercase compact) and de-duplicate rule ids (:meth:`RuleIds.of`)."""
    return list(RuleIds.of(rule_ids))


def normal_id(value: str | None, field: str = "ruleId") -> str | None:
    """A reply's ``ruleId`` or ``jobId`` in the compact uppercase form requests use (kept as is if
    malformed)."""
    try:
        return compact_id(value, field)
    except ValueError:
        return value


def latest_jobs(
    study: StudyRef,
    rule_ids: RuleIds,
    *,
    poll_endpoint: str = "rerun_history",
    history: bool = False,
    service_timezone: str = "UTC",
) -> Exchange[dict[str, list[RuleJob]]]:
    """Recent jobs of each rule, keyed by uppercase compact rule id (every requested rule a key).

    ``rerun_history``: one request per rule, in one batch (``NOT_FOUND``: ``[]``); ``job_status``:
    the bulk endpoint, 500 rules per request, the latest job per rule unless ``history``.
    """
    ids = list(rule_ids)
    if poll_endpoint == "job_status":
        result = yield from get_job_status(
            study, rule_ids, history=history, service_timezone=service_timezone
        )
        grouped: dict[str, list[RuleJob]] = {rule_id: [] for rule_id in ids}
        for job in result.job_status:
            grouped.setdefault(job.rule_id or "", []).append(job)
        return grouped
    parse = functools.partial(history_jobs, service_timezone=service_timezone)
    pages = yield from send_all([history_request(study.path_args(), rule_id, parse) for rule_id in ids])
    return dict(zip(ids, pages, strict=True))


def history_jobs(response: httpx.Response, service_timezone: str) -> list[RuleJob]:
    """A rule's jobs from its rerun history; only a body saying ``NOT_FOUND`` means it has none
    (any other 404 read as "no jobs" would make reconciliation publish again)."""
    try:
        return parse_rerun_history(response, service_timezone).rule_history
    except ClinicalOneNotFoundError as exc:
        if exc.code != "NOT_FOUND":
            raise
        return []


def cancel_rule_jobs(
    study: StudyRef, rule_ids: RuleIds, *, service_timezone: str = "UTC"
) -> Exchange[CancelRuleJobsResult]:
    """``PUT .../studies/{studyId}/{mode}/cancelRuleJob``, chunked by 500, merged in input order
    (a 500 carrying per-rule entries is parsed, each rule reported, not retried blindly)."""
    path = CANCEL_RULE_JOB_PATH.format(**study.path_args())
    ids = list(rule_ids)
    return _job_statuses(
        CancelRuleJobsResult, "cancel_rule_jobs", path, ids, service_timezone, data_on_500=has_job_entries
    )


def get_job_status(
    study: StudyRef, rule_ids: RuleIds, *, history: bool = False, service_timezone: str = "UTC"
) -> Exchange[JobStatusResult]:
    """``PUT .../v2.0/studies/{studyId}/{mode}/jobStatus``: latest jobs of many rules, 500 per call."""
    path = JOB_STATUS_PATH.format(**study.path_args())
    return _job_statuses(JobStatusResult, "get_job_status", path, list(rule_ids), service_timezone, history)


def _job_statuses(
    model: type[R],
    endpoint: str,
    path: str,
    ids: list[str],
    service_timezone: str,
    history: bool = False,
    *,
    data_on_500: Callable[[Any], bool] | None = None,
) -> Exchange[R]:
    """``PUT {"ruleIds": chunk}`` per 500 ids (both endpoints answer a ``JobStatusResponse``)."""
    params = {"history": "true"} if history else None
    parse = functools.partial(parse_job_status_page, endpoint=endpoint, service_timezone=service_timezone)
    requests = [
        ApiRequest(
            endpoint, "PUT", path, params=params, json={"ruleIds": c}, parse=parse, data_on_500=data_on_500
        )
        for c in chunked(ids)
    ]
    pages = yield from send_all(requests)
    return merge_job_status(model, ids, pages)


def job_status_body(response: httpx.Response, endpoint: str) -> dict[str, Any]:
    """A ``JobStatusResponse`` whose entries can be read, or the error the reply stands for.

    A 2xx reply carrying ``jobStatus`` is never an error envelope, whatever its ``errorMessage``
    (Oracle's name for the outcome); a non-2xx one is read only when it carries entries (a
    cancel's HTTP 500). A 2xx reply without ``jobStatus`` is no "no jobs" answer: ids were sent.
    """
    body = decode_json(response, endpoint)
    if _is_job_status_reply(body) and (response.is_success or has_job_entries(body)):
        return body  # type: ignore[no-any-return]
    if not (response.is_success and isinstance(body, dict) and job_status_outcome(body).lower() == "success"):
        raise_for_error(response, body, endpoint)
    if isinstance(body, dict) and body.get("jobStatus") is None:
        keys = ", ".join(sorted(str(k)[:40] for k in body)[:10]) or "none"
        raise UnexpectedResponseError(
            f"{endpoint}: the reply has no jobStatus list (members: {keys}), so it cannot say "
            "which rules have jobs",
            status_code=response.status_code,
        )
    raise ClinicalOneAPIError(f"{endpoint}: unexpected response shape", status_code=response.status_code)


def parse_job_status_page(
    response: httpx.Response, *, endpoint: str, service_timezone: str
) -> tuple[str, list[RuleJob]]:
    """One ``JobStatusResponse``: its overall outcome text and its entries (aware start dates)."""
    body = job_status_body(response, endpoint)
    context = {"service_timezone": service_timezone}
    entries = [
        parse_model(RuleJob, e, endpoint, error=ClinicalOneAPIError, context=context)
        for e in job_entries(body)
        if e is not None
    ]
    return job_status_outcome(body), entries


def job_entries(body: Mapping[str, Any]) -> list[Any]:
    """The ``jobStatus`` entries of a reply: a list as it is, one object as a list of one."""
    entries = body.get("jobStatus")
    return [entries] if isinstance(entries, dict) else list(entries or [])


def has_job_entries(body: Any) -> bool:
    """True for a ``JobStatusResponse`` that carries at least one per-rule entry."""
    return _is_job_status_reply(body) and any(isinstance(e, dict) for e in job_entries(body))


def job_status_outcome(body: Mapping[str, Any]) -> str:
    """The overall outcome of a ``JobStatusResponse``: ``errorMessage`` (Oracle's name) or ``status``."""
    return next((str(body[key]) for key in ("errorMessage", "status") if body.get(key) not in (None, "")), "")


def _is_job_status_reply(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("jobStatus"), (list, dict))


def merge_job_status(model: type[R], requested: list[str], pages: Iterable[tuple[str, list[RuleJob]]]) -> R:
    """Merge ``JobStatusResponse`` pages; entries follow input order, unknown extras go last. An
    entry with neither a job id nor a status describes no job: its rule is in ``missing_rule_ids``."""
    messages: list[str] = []
    entries: list[RuleJob] = []
    for outcome, page in pages:
        if outcome and outcome.lower() != "success" and outcome not in messages:
            messages.append(outcome)
        entries.extend(e for e in page if e.job_id is not None or e.job_status is not None)
    order = {rule_id: i for i, rule_id in enumerate(requested)}
    for entry in entries:
        entry.rule_id = normal_id(entry.rule_id)
    entries.sort(key=lambda e: order.get(e.rule_id or "", len(order)))
    reported = {e.rule_id for e in entries}
    return model(
        status="; ".join(messages) if messages else "Success",
        messages=messages,
        job_status=entries,
        missing_rule_ids=[r for r in requested if r not in reported],
    )


def get_rerun_history(
    study: StudyRef, rule_id: str, *, service_timezone: str = "UTC"
) -> Exchange[RerunHistory]:
    """``GET .../studies/{studyId}/{mode}/rerunhistory/{ruleId}`` (``rule_id`` checked by the caller)."""
    parse = functools.partial(parse_rerun_history, service_timezone=service_timezone)
    return send_one(history_request(study.path_args(), rule_id, parse))


def history_request(
    args: Mapping[str, str],
    rule_id: str,
    parse: Callable[[httpx.Response], Any],
    *,
    report_errors: bool = False,
) -> ApiRequest:
    """The rerun-history request of one rule, its reply read by ``parse``."""
    path = RERUN_HISTORY_PATH.format(rule_id=rule_id, **args)
    return ApiRequest("get_rerun_history", "GET", path, parse=parse, report_errors=report_errors)


def parse_rerun_history(response: httpx.Response, service_timezone: str = "UTC") -> RerunHistory:
    """Parse ``RuleHistoryResponse``; ``NOT_FOUND`` and other error statuses raise typed errors.

    A successful reply without ``ruleHistory`` is an :class:`UnexpectedResponseError` (only
    ``NOT_FOUND`` says a rule has no history).
    """
    body = decode_json(response, "get_rerun_history")
    raise_for_error(response, body, "get_rerun_history")
    if isinstance(body, dict) and "status" in body and body.get("ruleHistory") is None:
        keys = ", ".join(sorted(str(k)[:40] for k in body)[:10])
        raise UnexpectedResponseError(
            f"get_rerun_history: the reply has no ruleHistory (members: {keys}); only a NOT_FOUND "
            "status says a rule has no history",
            status_code=response.status_code,
        )
    context = {"service_timezone": service_timezone}
    return parse_model(RerunHistory, body, "get_rerun_history", error=ClinicalOneAPIError, context=context)


def error_class_for(status_code: int) -> type[ClinicalOneAPIError]:
    """Pick the exception class for an HTTP status."""
    if status_code == 404:
        return ClinicalOneNotFoundError
    if status_code >= 500:
        return ClinicalOneServerError
    return ClinicalOneValidationError if status_code >= 400 else ClinicalOneAPIError


def envelope_error(body: Any, status_code: int, endpoint: str) -> ClinicalOneAPIError | None:
    """Return the typed error an envelope describes, or ``None`` if ``body`` is not an error."""
    if isinstance(body, list):
        if body and all(isinstance(i, dict) and not i.get("ruleId") and i.get("error") for i in body):
            return envelope_error(body[0]["error"], status_code, endpoint)
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if isinstance(status, str) and status.upper() in _STATUS_CLASSES:
        detail = body.get("statusDetail") or status
        return _STATUS_CLASSES[status.upper()](
            f"{endpoint}: {detail}",
            code=status.upper(),
            status_code=status_code,
            details=body.get("statusDetail"),
        )
    if body.get("errorMessage") or body.get("errorCode") or status == "failed":
        return error_class_for(status_code)(
            f"{endpoint}: {body.get('errorMessage') or body.get('details') or 'request failed'}",
            code=body.get("errorCode"),
            status_code=status_code,
            details=body.get("details"),
        )
    if status_code >= 400 and isinstance(status, str) and status and status.lower() != "success":
        return error_class_for(status_code)(f"{endpoint}: {status}", status_code=status_code)
    return None


def raise_for_error(response: httpx.Response, body: Any, endpoint: str) -> None:
    """Raise the typed error for an error envelope or a non-2xx status; return quietly otherwise."""
    error = envelope_error(body, response.status_code, endpoint)
    if response.status_code in (401, 403):
        raise AuthenticationError(
            f"{endpoint}: the service refused the credentials (HTTP {response.status_code})"
            + (f": {error.message.split(': ', 1)[-1]}" if error is not None else ""),
            code=error.code if error is not None else None,
            status_code=response.status_code,
        )
    if error is not None:
        raise error
    if response.status_code >= 400:
        text = response.text.strip().replace("\n", " ")
        bare_404 = response.status_code == 404
        cls = ClinicalOneAPIError if bare_404 else error_class_for(response.status_code)
        raise cls(
            f"{endpoint}: HTTP {response.status_code} without a recognised error envelope"
            + (" (not a NOT_FOUND answer: a wrong path, a gateway or a proxy page?)" if bare_404 else ""),
            status_code=response.status_code,
            details=text if len(text) <= 200 else text[:197] + "...",
        )
