"""The Clinical One publish-run endpoint: requests, parser, and the reconciling exchange.

Publishing is the one non-idempotent call: each accepted PUT starts rule jobs, so a reply
lost in transit is settled by reading the rules' jobs, never by resending blindly.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import httpx

from clinical_rules_provider.clients.base import (
    Ambiguous,
    ApiRequest,
    Exchange,
    decode_json,
    parse_model,
    send_all,
)
from clinical_rules_provider.clients.clinical_one import (
    normal_rule_id,
    read_latest_jobs,
    rule_id_list,
    study_path_args,
)
from clinical_rules_provider.clients.clinical_one_errors import raise_for_error
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalRulesError,
    PublishRunUnconfirmedError,
)
from clinical_rules_provider.job_options import check_poll_endpoint
from clinical_rules_provider.models.clinical_one import (
    ErrorDetail,
    PublishRunOutcome,
    PublishRunResult,
    RuleJob,
    latest_job,
)
from clinical_rules_provider.models.enums import (
    PUBLISH_MISSING_STATUS,
    PublishJobStatus,
    PublishRun,
    parse_choice,
)
from clinical_rules_provider.models.ids import chunked
from clinical_rules_provider.models.times import floor_to_millisecond

PUBLISH_RUN_PATH = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study_id}/{mode}/{publish_run}"


def update_publish_run(
    study_id: object,
    mode: object,
    publish_run: object,
    rule_ids: object,
    *,
    poll_endpoint: str = "rerun_history",
    service_timezone: str = "UTC",
    attempts: int = 5,
) -> Exchange[list[PublishRunResult]]:
    """``PUT .../rulemgt/studies/{studyId}/{mode}/{publishRun}``, chunked by 500, results in input order.

    Each accepted PUT starts new rule jobs, so a chunk whose reply is lost after it may have
    arrived is reconciled, not resent: the rules' latest jobs are read (``poll_endpoint``:
    rerun history, or the bulk job status) and only rules with no job started since the
    first send are published again, at most ``attempts`` sends per rule in all.
    """
    args = study_path_args(study_id, mode)
    run = parse_choice(publish_run, PublishRun, "publish_run").value
    ids = rule_id_list(rule_ids)
    check_poll_endpoint(poll_endpoint)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts: expected a positive integer, got {attempts!r}")
    path = PUBLISH_RUN_PATH.format(publish_run=run, **args)
    return _publish_exchange(path, ids, attempts, args, poll_endpoint, service_timezone)


def _publish_exchange(
    path: str,
    ids: list[str],
    attempts: int,
    args: Mapping[str, str],
    poll_endpoint: str,
    service_timezone: str,
) -> Exchange[list[PublishRunResult]]:
    # jobStartDate has millisecond precision: a job started in the threshold's millisecond counts.
    threshold = floor_to_millisecond(datetime.now(timezone.utc))
    results: list[PublishRunResult] = []
    pending = ids
    last_error: ClinicalRulesError | None = None
    for _ in range(attempts):
        chunks = list(chunked(pending))
        replies = yield from send_all([_publish_request(path, chunk) for chunk in chunks])
        pending = []
        for chunk, reply in zip(chunks, replies, strict=True):
            if isinstance(reply, Ambiguous):
                pending.extend(chunk)
                last_error = reply.error
            else:
                results.extend(reply)
        if pending:  # replies lost: a rule whose job started since the first send was updated
            jobs = yield from read_latest_jobs(args, pending, poll_endpoint, False, service_timezone)
            started = {r: latest_job(j for j in jobs[r] if _started_since(j, threshold)) for r in pending}
            results.extend(_reconciled(r, job) for r, job in started.items() if job is not None)
            pending = [r for r in pending if started[r] is None]
        if not pending:
            break
    if pending:
        raise PublishRunUnconfirmedError(
            f"update_publish_run: {len(pending)} rule(s) not updated after {attempts} attempt(s): every "
            f"reply was lost or failed ({last_error}) and no job started since "
            f"{threshold.isoformat()}: {', '.join(pending)}",
            rule_ids=pending,
            status_code=last_error.status_code if last_error else None,
        )
    # Results follow the input; items the service added unasked go after all requested ones.
    order = {rule_id: i for i, rule_id in enumerate(ids)}
    return sorted(results, key=lambda r: order.get(r.rule_id or "", len(order)))


def _publish_request(path: str, chunk: list[str]) -> ApiRequest:
    parse = functools.partial(parse_publish_run, requested=chunk)
    return ApiRequest(
        "update_publish_run",
        "PUT",
        path,
        json={"ruleIds": chunk},
        parse=parse,
        idempotent=False,
        data_on_500=is_item_list,
    )


def _started_since(job: RuleJob, threshold: datetime) -> bool:
    return job.job_start_date is not None and job.job_start_date >= threshold


def _reconciled(rule_id: str, job: RuleJob) -> PublishRunResult:
    """The result of a rule whose reply was lost but whose new job shows the update happened."""
    started = job.job_start_date.isoformat() if job.job_start_date else "?"
    return PublishRunResult(
        rule_id=rule_id,
        rule_name=job.rule_name,
        job_status=PublishJobStatus.SUCCESS,
        reconciled=True,
        result=PublishRunOutcome(
            status="reconciled",
            result=f"Reply lost; job {job.job_id} ({job.status}) started {started} shows the update.",
        ),
    )


def parse_publish_run(response: httpx.Response, requested: list[str]) -> list[PublishRunResult]:
    """Parse per-rule items (HTTP 200, 400 or 500 alike) and order them like ``requested``.

    A requested rule the service did not report on gets a synthetic failed item.
    """
    body = decode_json(response, "update_publish_run")
    if not is_item_list(body):
        raise_for_error(response, body, "update_publish_run")
        if not isinstance(body, list):
            raise ClinicalOneAPIError(
                "update_publish_run: unexpected response shape", status_code=response.status_code
            )
    by_id: dict[str, PublishRunResult] = {}
    extras: list[PublishRunResult] = []
    for raw in body:
        item = parse_model(PublishRunResult, raw, "update_publish_run", error=ClinicalOneAPIError)
        key = normal_rule_id(item.rule_id)
        if key in requested and key not in by_id:
            item.rule_id = key
            by_id[key] = item
        else:
            extras.append(item)
    missing = "The service returned no result for this rule."
    return [
        by_id[rule_id]
        if rule_id in by_id
        else PublishRunResult(
            rule_id=rule_id,
            job_status=PUBLISH_MISSING_STATUS,
            http_error_code=response.status_code,
            error=ErrorDetail(status="failed", error_message=missing),
        )
        for rule_id in requested
    ] + extras


def is_item_list(body: Any) -> bool:
    """A publish-run reply listing per-rule results (which a 500 may carry too)."""
    return isinstance(body, list) and any(isinstance(i, dict) and i.get("ruleId") for i in body)
