"""Clock-free evidence for publish runs: which job ids each rule had before the first send, and
whether a new one has appeared since (no clock is compared). Read with the bulk ``jobStatus``
endpoint, or rerun history when the tenant refuses the bulk one or the caller asks for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import httpx

from clinical_rules_provider.clients.base import ApiRequest, Exchange, Refused, send_all
from clinical_rules_provider.clients.clinical_one import (
    JOB_STATUS_PATH,
    history_jobs,
    history_request,
    job_entries,
    job_status_body,
    normal_id,
)
from clinical_rules_provider.clients.publish_ledger import job_key
from clinical_rules_provider.exceptions import (
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)
from clinical_rules_provider.models.ids import chunked

JobIds = dict[str, list[str]]
IdPairs = list[tuple[str | None, str | None]]


def read_job_ids(
    args: Mapping[str, str], ids: list[str], endpoint: str, service_timezone: str
) -> Exchange[JobIds | Refused]:
    """Each rule's known job ids (``[]``: none), or the :class:`Refused` reply of a failed read (a
    value, so a caller holding updates in doubt can name them instead of losing them in an error)."""
    if endpoint == "job_status":
        path = JOB_STATUS_PATH.format(**args)
        requests = [
            ApiRequest(
                "get_job_status", "PUT", path, json={"ruleIds": c}, parse=_job_ids_page, report_errors=True
            )
            for c in chunked(ids)
        ]
    else:
        parse = functools.partial(_history_job_ids, service_timezone=service_timezone)
        requests = [history_request(args, rule_id, parse, report_errors=True) for rule_id in ids]
    pages = yield from send_all(requests)
    if refused := next((p for p in pages if isinstance(p, Refused)), None):
        return refused
    grouped: JobIds = {rule_id: [] for rule_id in ids}
    for raw_rule, job_id in (pair for page in pages for pair in page):
        rule_id = normal_id(raw_rule)
        if rule_id in grouped and job_id:  # unknown rules and id-less entries are no evidence
            grouped[rule_id].append(job_key(job_id))
    return grouped


def read_snapshot(
    args: Mapping[str, str], ids: list[str], endpoint: str, service_timezone: str
) -> Exchange[tuple[str, JobIds]]:
    """The job ids before the first send, and the endpoint that read them: rerun history when the
    bulk endpoint is unavailable (4xx, or a reply not in its shape). Any other failure is raised:
    nothing has been sent yet, so the task can simply be retried."""
    reply = yield from read_job_ids(args, ids, endpoint, service_timezone)
    if isinstance(reply, Refused) and endpoint == "job_status" and _endpoint_unavailable(reply.error):
        endpoint = "rerun_history"
        reply = yield from read_job_ids(args, ids, endpoint, service_timezone)
    if isinstance(reply, Refused):
        raise reply.error
    return endpoint, reply


def new_jobs(snapshot: Mapping[str, list[str]], current: JobIds) -> dict[str, str]:
    """Rules with a job id absent from their snapshot, mapped to that new id (the evidence)."""
    found: dict[str, str] = {}
    for rule_id, ids in current.items():
        known = set(snapshot.get(rule_id, []))
        fresh = next((j for j in ids if j not in known), None)
        if fresh is not None:
            found[rule_id] = fresh
    return found


def _endpoint_unavailable(error: ClinicalRulesError) -> bool:
    if isinstance(error, TransientServiceError):
        return False
    status = error.status_code
    return isinstance(error, UnexpectedResponseError) or (status is not None and 400 <= status < 500)


def _history_job_ids(response: httpx.Response, service_timezone: str) -> IdPairs:
    return [(job.rule_id, job.job_id) for job in history_jobs(response, service_timezone)]


def _job_ids_page(response: httpx.Response) -> IdPairs:
    """(rule id, job id) of each entry of a ``JobStatusResponse``; no entry becomes a model (40 times
    cheaper on 500 entries). A failed reply's entries prove nothing: the snapshot falls back."""
    body = job_status_body(response, "get_job_status")
    if not response.is_success:
        raise UnexpectedResponseError(
            "get_job_status: the reply carries no jobStatus list", status_code=response.status_code
        )
    pairs: IdPairs = []
    for entry in job_entries(body):
        if isinstance(entry, dict):
            rule_id, job_id = entry.get("ruleId"), entry.get("jobId")
            pairs.append(
                (rule_id if isinstance(rule_id, str) else None, None if job_id is None else str(job_id))
            )
    return pairs
