"""The Clinical One publish-run endpoint: requests, parser, and the reconciling exchange.

Publishing ``AllData`` is the one non-idempotent call: each accepted PUT starts new rule jobs.
So a chunk whose reply is lost counts as applied only for the rules that got a job id not in
the snapshot read before the first send (:mod:`.publish_evidence`); see the guide "Republish
rules" ("Lost replies"). Chunks are independent: one refused chunk never hides another.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from clinical_rules_provider._show import shown
from clinical_rules_provider.clients.base import (
    Ambiguous,
    ApiRequest,
    Delay,
    Exchange,
    Refused,
    decode_json,
    parse_model,
    send_all,
)
from clinical_rules_provider.clients.clinical_one import (
    normal_id,
    raise_for_error,
    rule_id_list,
    study_path_args,
)
from clinical_rules_provider.clients.publish_evidence import new_jobs, read_job_ids, read_snapshot
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import ClinicalOneAPIError, PublishRunUnconfirmedError
from clinical_rules_provider.job_options import check_poll_endpoint
from clinical_rules_provider.models.clinical_one import ErrorDetail, PublishRunOutcome, PublishRunResult
from clinical_rules_provider.models.enums import (
    PUBLISH_MISSING_STATUS,
    PublishJobStatus,
    PublishRun,
    parse_choice,
)
from clinical_rules_provider.models.ids import chunked

PUBLISH_RUN_PATH = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study_id}/{mode}/{publish_run}"
DEFAULT_SETTLE_SECONDS = 60.0
DEFAULT_SETTLE_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Settle:
    """How long to keep looking for a job after an ambiguous failure (an update can be accepted,
    ``Queued``, and start its job later), and how often."""

    seconds: float = DEFAULT_SETTLE_SECONDS
    poll: float = DEFAULT_SETTLE_POLL_SECONDS

    def __post_init__(self) -> None:
        for name, value, low in (
            ("settle_seconds", self.seconds, 0.0),
            ("settle_poll_seconds", self.poll, 1e-3),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number of seconds, got {shown(value)}")
            if value < low:
                raise ValueError(f"{name}: expected a number >= {low:g}, got {shown(value)}")

    @property
    def polls(self) -> int:
        """How many evidence reads fit in the settle time (0 when it is 0: decide at once)."""
        return math.ceil(self.seconds / self.poll) if self.seconds > 0 else 0


def update_publish_run(
    study_id: object,
    mode: object,
    publish_run: object,
    rule_ids: object,
    *,
    poll_endpoint: str = "job_status",
    service_timezone: str = "UTC",
    attempts: int = 5,
    settle: Settle | None = None,
    ledger: PublishLedger | None = None,
) -> Exchange[list[PublishRunResult]]:
    """``PUT .../rulemgt/studies/{studyId}/{mode}/{publishRun}``, chunked by 500, results in input order.

    ``AllData``: the job ids read first (``poll_endpoint``) are recorded in ``ledger`` before
    the first send; a rule whose reply is lost is applied when a new job id appears within
    ``settle``, else sent again (``attempts`` sends at most). A ``ledger`` from an earlier try
    resumes it. Rules that cannot be settled raise :class:`PublishRunUnconfirmedError`.
    """
    args = study_path_args(study_id, mode)
    run = parse_choice(publish_run, PublishRun, "publish_run").value
    ids = rule_id_list(rule_ids)
    check_poll_endpoint(poll_endpoint)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts: expected a positive integer, got {shown(attempts)}")
    path = PUBLISH_RUN_PATH.format(publish_run=run, **args)
    future = run == PublishRun.FUTURE_DATA.value  # starts no job: nothing to reconcile, no ledger
    book = PublishLedger() if future or ledger is None else ledger
    book.begin(args["study_id"], args["mode"], run)
    state = _Publish(path, ids, args, poll_endpoint, service_timezone, settle or Settle(), book)
    return state.future() if future else state.run(attempts)


@dataclass
class _Publish:
    """One publish: snapshot, independent chunks, settle, resend, report (``FutureData``: send, report)."""

    path: str
    ids: list[str]
    args: Mapping[str, str]
    endpoint: str
    timezone: str
    settle: Settle
    ledger: PublishLedger
    results: dict[str, PublishRunResult] = field(default_factory=dict)
    extras: list[PublishRunResult] = field(default_factory=list)
    unconfirmed: dict[str, str] = field(default_factory=dict)
    refusals: list[Refused | Ambiguous] = field(default_factory=list)
    refused_rules: set[str] = field(default_factory=set)

    def run(self, attempts: int) -> Exchange[list[PublishRunResult]]:
        book = self.ledger
        for rule_id in self.ids:
            if rule_id in book.applied:
                self.results[rule_id] = _reconciled(
                    rule_id, f"Applied by an earlier try ({book.applied[rule_id]})."
                )
        todo = [r for r in self.ids if r not in book.applied]
        missing = [r for r in todo if r not in book.snapshot]
        if missing:
            book.endpoint, jobs = yield from read_snapshot(
                self.args, missing, book.endpoint or self.endpoint, self.timezone
            )
            book.snapshot.update(jobs)
        # An earlier try may have sent every unsettled rule: reconcile those before sending.
        doubt = [r for r in todo if r not in book.failed] if book.resumed else []
        pending = [r for r in todo if r not in doubt]
        for rule_id in pending:
            book.failed.pop(rule_id, None)
        was_sent, book.sent = book.sent, True
        try:
            book.checkpoint()  # before the first send: a retried try starts from here
        except BaseException:
            book.sent = was_sent  # not saved, so not sent: the caller's error is the whole story
            raise
        sends = 0
        while True:
            if doubt:
                pending += yield from self._reconcile(doubt)
                book.checkpoint()
            if not pending or sends >= attempts:
                break
            doubt = yield from self._send(pending)
            pending, sends = [], sends + 1
            book.checkpoint()
        for rule_id in pending:
            self.unconfirmed[rule_id] = f"sent {sends} time(s), every reply lost, and no new job appeared"
        return self._finish()

    def future(self) -> Exchange[list[PublishRunResult]]:
        """``FutureData`` starts no job and is harmless to repeat: retried like a read, never reconciled."""
        yield from self._send(self.ids, idempotent=True)
        return self._finish()

    def _send(self, rule_ids: list[str], idempotent: bool = False) -> Exchange[list[str]]:
        """Send the chunks side by side; returns the rules whose reply was lost."""
        chunks = list(chunked(rule_ids))
        replies = yield from send_all([_publish_request(self.path, c, idempotent=idempotent) for c in chunks])
        lost: list[str] = []
        for chunk, reply in zip(chunks, replies, strict=True):
            if isinstance(reply, Ambiguous) and not idempotent:
                lost.extend(chunk)
                continue
            if isinstance(reply, (Refused, Ambiguous)):
                self.refusals.append(reply)
                self.refused_rules.update(chunk)
                self.results.update((r, _refused(r, reply)) for r in chunk)
            else:  # parse_publish_run: the chunk's rules in order, then anything unasked
                self.results.update(zip(chunk, reply, strict=False))
                self.extras.extend(reply[len(chunk) :])
            for rule_id in chunk:
                result = self.results[rule_id]
                if result.succeeded:
                    self.ledger.applied[rule_id] = f"reply {result.job_status}"
                else:
                    self.ledger.failed[rule_id] = result.failure_reason or "not updated"
        return lost

    def _reconcile(self, doubt: list[str]) -> Exchange[list[str]]:
        """Look for new job ids for up to the settle time; returns the rules still without one."""
        for poll in range(self.settle.polls + 1):
            if poll:
                yield Delay(self.settle.poll)
            current = yield from read_job_ids(
                self.args, doubt, self.ledger.endpoint or "job_status", self.timezone
            )
            if isinstance(current, Refused):
                why = f"the reconciling read failed ({current.error})"
                self.unconfirmed.update((r, why) for r in doubt)
                return []
            for rule_id, job_id in new_jobs(self.ledger.snapshot, current).items():
                self.ledger.applied[rule_id] = f"job {job_id}"
                self.results[rule_id] = _reconciled(
                    rule_id, f"Reply lost; job {job_id}, not there before the first send, shows the update."
                )
            doubt = [r for r in doubt if r not in self.ledger.applied]
            if not doubt:
                break
        return doubt

    def _finish(self) -> list[PublishRunResult]:
        results = [self.results[r] for r in self.ids if r in self.results] + self.extras
        if self.unconfirmed:
            raise unconfirmed_error(self.ledger, self.ids, self.unconfirmed, results)
        if self.refusals and self.refused_rules == set(self.ids):
            raise self.refusals[0].error  # every chunk refused as a whole: nothing applied
        return results


def unconfirmed_error(
    ledger: PublishLedger,
    ids: list[str],
    unconfirmed: Mapping[str, str],
    results: list[PublishRunResult] | None = None,
) -> PublishRunUnconfirmedError:
    """The error naming each group of a publish that could not settle every rule."""
    applied = [r for r in ids if r in ledger.applied]
    failed = {r: ledger.failed[r] for r in ids if r in ledger.failed}
    pending = [r for r in ids if r in unconfirmed]
    reasons = sorted(set(unconfirmed.values()))
    message = (
        f"update_publish_run: {len(pending)} rule(s) unconfirmed ({'; '.join(reasons)}): "
        f"{', '.join(pending)}. Applied ({len(applied)}): {', '.join(applied) or '-'}. "
        f"Failed ({len(failed)}): {', '.join(f'{r} ({why})' for r, why in failed.items()) or '-'}. "
        "Do not resend the unconfirmed rules before their rerun history shows whether they ran."
    )
    return PublishRunUnconfirmedError(
        message, rule_ids=pending, applied=applied, failed=failed, results=results or []
    )


def _publish_request(path: str, chunk: list[str], *, idempotent: bool) -> ApiRequest:
    parse = functools.partial(parse_publish_run, requested=chunk)
    return ApiRequest(
        "update_publish_run",
        "PUT",
        path,
        json={"ruleIds": chunk},
        parse=parse,
        idempotent=idempotent,
        data_on_500=is_item_list,
        report_errors=True,
    )


def _refused(rule_id: str, reply: Refused | Ambiguous) -> PublishRunResult:
    """A rule of a chunk the service refused as a whole (nothing was applied)."""
    error = reply.error
    return PublishRunResult(
        rule_id=rule_id,
        job_status=PublishJobStatus.FAILED,
        http_error_code=error.status_code,
        error=ErrorDetail(status="failed", error_code=error.code, error_message=f"chunk refused: {error}"),
    )


def _reconciled(rule_id: str, evidence: str) -> PublishRunResult:
    """A rule applied without a reply of this try: a new job shows it, or an earlier try did it."""
    outcome = PublishRunOutcome(status="reconciled", result=evidence)
    return PublishRunResult(
        rule_id=rule_id, job_status=PublishJobStatus.SUCCESS, reconciled=True, result=outcome
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
        key = normal_id(item.rule_id)
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
