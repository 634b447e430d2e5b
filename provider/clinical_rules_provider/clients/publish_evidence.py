"""Clock-free evidence for publish runs: which jobs each rule had before the first send, and
whether a new one has appeared since.

No decision here compares a worker time with a service ``jobStartDate`` (the service's clock,
zone and stamp precision may all differ from the worker's): a rule counts as applied only
when a job id it did not have before the first send shows up. Read with the bulk
``jobStatus`` endpoint (one request per 500 rules), or rerun history when the tenant refuses
the bulk one (``4xx``: it is not in the references) or the caller asks for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import httpx

from clinical_rules_provider.clients.base import ApiRequest, Exchange, Refused, decode_json, send_all
from clinical_rules_provider.clients.clinical_one import (
    JOB_STATUS_PATH,
    RERUN_HISTORY_PATH,
    normal_rule_id,
    parse_job_status_page,
    parse_rerun_history,
)
from clinical_rules_provider.clients.publish_ledger import job_key
from clinical_rules_provider.exceptions import (
    ClinicalOneNotFoundError,
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)
from clinical_rules_provider.models.clinical_one import RuleJob
from clinical_rules_provider.models.ids import chunked

JobIds = dict[str, list[str]]


def read_job_ids(
    args: Mapping[str, str], ids: list[str], endpoint: str, service_timezone: str
) -> Exchange[JobIds | Refused]:
    """Each rule's known job ids (``[]``: none), or the :class:`Refused` reply of a failed read.

    Failures come back as a value (``report_errors``), so a caller holding updates in doubt
    can name them instead of losing them in a transport error.
    """
    if endpoint == "job_status":
        path = JOB_STATUS_PATH.format(**args)
        parse = _job_ids_page
        requests = [
            ApiRequest("get_job_status", "PUT", path, json={"ruleIds": c}, parse=parse, report_errors=True)
            for c in chunked(ids)
        ]
        pages = yield from send_all(requests)
        if refused := next((p for p in pages if isinstance(p, Refused)), None):
            return refused
        return _group(ids, [pair for page in pages for pair in page])
    parse_history = functools.partial(_history, service_timezone=service_timezone)
    requests = [
        ApiRequest(
            "get_rerun_history",
            "GET",
            RERUN_HISTORY_PATH.format(rule_id=rule_id, **args),
            parse=parse_history,
            report_errors=True,
        )
        for rule_id in ids
    ]
    histories = yield from send_all(requests)
    if refused := next((h for h in histories if isinstance(h, Refused)), None):
        return refused
    return _group(ids, [(job.rule_id, job.job_id) for jobs in histories for job in jobs])


def read_snapshot(
    args: Mapping[str, str], ids: list[str], endpoint: str, service_timezone: str
) -> Exchange[tuple[str, JobIds]]:
    """The job ids before the first send, and the endpoint that read them.

    The bulk endpoint is tried first; a refusal that says it is unavailable (4xx, or a reply
    not in its shape) falls back to rerun history. Any other failure is raised: nothing has
    been sent yet, so the task can simply be retried.
    """
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


def _history(response: httpx.Response, service_timezone: str) -> list[RuleJob]:
    """A rule's jobs from its rerun history; ``NOT_FOUND`` means it has none."""
    try:
        return parse_rerun_history(response, service_timezone).rule_history
    except ClinicalOneNotFoundError:
        return []


def _job_ids_page(response: httpx.Response) -> list[tuple[str | None, str | None]]:
    """(rule id, job id) of each entry of a ``JobStatusResponse``, and nothing else.

        Only ids are evidence, so no entry is turned into a model (its start date is never
        read): about 40 times cheaper than :func:`parse_job_status_page` on 500 entries. A reply
        that is not a job-status reply is handed to that parser, for its error; one without the
    list raises :class:`UnexpectedResponseError` (the snapshot then falls back to rerun history).
    """
    body = decode_json(response, "get_job_status")
    entries = body.get("jobStatus") if isinstance(body, dict) else None
    if not response.is_success or not isinstance(entries, (list, dict)):
        parse_job_status_page(response, endpoint="get_job_status", service_timezone="UTC")  # its error
        # A reply without the list proves nothing either way (it is not "no jobs").
        raise UnexpectedResponseError(
            "get_job_status: the reply carries no jobStatus list", status_code=response.status_code
        )
    pairs = []
    for entry in [entries] if isinstance(entries, dict) else entries:
        if isinstance(entry, dict):
            rule_id, job_id = entry.get("ruleId"), entry.get("jobId")
            pairs.append(
                (rule_id if isinstance(rule_id, str) else None, None if job_id is None else str(job_id))
            )
    return pairs


def _group(ids: list[str], jobs: list[tuple[str | None, str | None]]) -> JobIds:
    """Job ids per requested rule, in the order read (unknown rules and id-less entries dropped)."""
    grouped: JobIds = {rule_id: [] for rule_id in ids}
    for raw_rule, job_id in jobs:
        rule_id = normal_rule_id(raw_rule)
        if rule_id in grouped and job_id:
            grouped[rule_id].append(job_key(job_id))
    return grouped


__all__ = ["JobIds", "new_jobs", "read_job_ids", "read_snapshot"]
