"""The publish exchange: a snapshot of job ids before the first send, then evidence by job id only.

Driven by hand: a publish reply may be an ``Ambiguous`` marker (a non-idempotent request that
failed after it may have reached the service) or ``Refused`` (it provably changed nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from itertools import count
from typing import Any

import pytest

from clinical_rules_provider.clients import publish_run as pr
from clinical_rules_provider.clients.base import Ambiguous, ApiRequest, Delay, Refused, reply_for
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import (
    ClinicalOneValidationError,
    ClinicalRulesError,
    PublishRunUnconfirmedError,
    TransientServiceError,
)
from tests.clients.test_clinical_one import RULE_A, RULE_B, RULE_C, STUDY, echo_publish, make_response

LOST = Ambiguous(TransientServiceError("update_publish_run: HTTP 504 from the service", status_code=504))
NO_SETTLE = pr.Settle(seconds=0, poll=1)
_IDS = count(1)


def new_job_id() -> str:
    return f"{next(_IDS):032X}"


class Service:
    """Answers publish PUTs from ``publish`` (one callable per PUT) and reads from ``jobs``.

    ``jobs`` maps a rule to its job ids, oldest first; ``read_fault`` (if set) answers reads.
    """

    def __init__(self, publish: list[Callable[[ApiRequest], Any]], jobs: dict[str, list[str]]) -> None:
        self.publish = publish
        self.jobs = jobs
        self.steps: list[Any] = []
        self.read_fault: Callable[[ApiRequest], Any] | None = None
        self.before_read: Callable[[int], Any] = lambda n: None
        self.reads = 0

    def answer(self, request: ApiRequest) -> Any:
        if request.endpoint == "update_publish_run":
            reply = self.publish.pop(0)(request)
            if isinstance(reply, (Ambiguous, Refused)):
                return reply
            return reply_for(request, make_response(request, 200, reply))
        self.reads += 1
        self.before_read(self.reads)
        if self.read_fault is not None:
            return self.read_fault(request)
        if request.endpoint == "get_rerun_history":
            rule_id = request.path.rsplit("/", 1)[1]
            history = [
                {
                    "ruleId": rule_id,
                    "jobId": j,
                    "jobStatus": "Running",
                    "jobStartDate": "2025-11-02 01:30:00.000",
                }
                for j in reversed(self.jobs.get(rule_id, []))
            ]
            body = {"status": "SUCCESS" if history else "NOT_FOUND", "ruleHistory": history}
            return reply_for(request, make_response(request, 200, body))
        assert request.endpoint == "get_job_status"
        entries = [
            {
                "ruleId": r,
                "jobId": self.jobs[r][-1],
                "jobStatus": "Running",
                "jobStartDate": "2025-11-02 01:30:00.000",
            }
            for r in request.json["ruleIds"]
            if self.jobs.get(r)
        ]
        return reply_for(
            request, make_response(request, 200, {"errorMessage": "Success", "jobStatus": entries})
        )

    def run(self, exchange: Generator[Any, Any, Any]) -> Any:
        step = exchange.send(None)
        while True:
            self.steps.append(step)
            reply = None if isinstance(step, Delay) else [self.reply(r) for r in step]
            try:
                step = exchange.send(reply)
            except StopIteration as stop:
                return stop.value

    def reply(self, request: ApiRequest) -> Any:
        """What the transport hands the exchange: a failure of a ``report_errors`` request as a value."""
        try:
            return self.answer(request)
        except ClinicalRulesError as exc:
            if not request.report_errors:
                raise
            return Refused(exc)

    def puts(self) -> list[list[str]]:
        return [r.json["ruleIds"] for r in self.requests() if r.endpoint == "update_publish_run"]

    def requests(self) -> list[ApiRequest]:
        return [r for step in self.steps if not isinstance(step, Delay) for r in step]

    def delays(self) -> list[float]:
        return [step.seconds for step in self.steps if isinstance(step, Delay)]


def processed_then_lost(service: Service, *, only: set[str] | None = None) -> Callable[[ApiRequest], Any]:
    """The service starts a job for each rule of the PUT (or of ``only``), then the reply is lost."""

    def answer(request: ApiRequest) -> Any:
        for rule_id in request.json["ruleIds"]:
            if only is None or rule_id in only:
                service.jobs.setdefault(rule_id, []).append(new_job_id())
        return LOST

    return answer


def publish(service: Service, ids: list[str], **kwargs: Any) -> Any:
    kwargs.setdefault("settle", NO_SETTLE)
    return service.run(pr.update_publish_run(STUDY, "test", "AllData", ids, **kwargs))


def test_the_snapshot_is_read_in_bulk_before_the_first_send() -> None:
    service = Service([echo_publish], {RULE_A: ["0A"]})
    ledger = PublishLedger()
    publish(service, [RULE_A, RULE_B], ledger=ledger)
    first, second = service.steps[0], service.steps[1]
    assert [r.endpoint for r in first] == ["get_job_status"]
    assert [r.endpoint for r in second] == ["update_publish_run"]
    assert ledger.snapshot == {RULE_A: ["0A"], RULE_B: []}
    assert ledger.applied == {RULE_A: "reply Success", RULE_B: "reply Success"}


def test_the_snapshot_costs_one_bulk_read_per_500_rules() -> None:
    ids = [f"{i:032X}" for i in range(1, 1002)]
    service = Service([echo_publish] * 3, {})
    publish(service, ids)
    reads = [r for r in service.requests() if r.endpoint == "get_job_status"]
    assert [len(r.json["ruleIds"]) for r in reads] == [500, 500, 1]


def test_publish_requests_are_not_idempotent_and_report_their_errors() -> None:
    service = Service([echo_publish], {})
    publish(service, [RULE_A])
    (put,) = [r for r in service.requests() if r.endpoint == "update_publish_run"]
    assert put.idempotent is False and put.report_errors is True


@pytest.mark.parametrize("poll_endpoint", ["rerun_history", "job_status"])
def test_lost_reply_counts_as_applied_only_for_rules_with_a_new_job_id(poll_endpoint: str) -> None:
    service = Service([], {RULE_B: ["0B"], RULE_C: ["0C"]})
    service.publish.extend([processed_then_lost(service, only={RULE_A, RULE_B}), echo_publish])
    results = publish(service, [RULE_A, RULE_B, RULE_C], poll_endpoint=poll_endpoint)
    assert service.puts() == [[RULE_A, RULE_B, RULE_C], [RULE_C]]
    assert [(r.rule_id, r.succeeded, r.reconciled) for r in results] == [
        (RULE_A, True, True),
        (RULE_B, True, True),
        (RULE_C, True, False),
    ]
    assert "not there before the first send" in (results[0].result.result or "")  # type: ignore[union-attr]


def test_another_users_job_before_the_snapshot_is_no_evidence() -> None:
    # Whatever its start date says (a service clock 5 min ahead): it was there before we sent.
    service = Service([lambda request: LOST, echo_publish], {RULE_A: ["07HER"]})
    (result,) = publish(service, [RULE_A])
    assert service.puts() == [[RULE_A], [RULE_A]]
    assert result.succeeded and not result.reconciled


def test_a_queued_job_found_during_the_settle_time_is_not_sent_again() -> None:
    service = Service([lambda request: LOST], {RULE_A: ["OLD"]})
    service.before_read = lambda n: service.jobs[RULE_A].append("NEWJOB") if n == 4 else None
    (result,) = publish(service, [RULE_A], settle=pr.Settle(seconds=20, poll=5))
    # Read 1 is the snapshot; the job starts before read 4 (the third settle poll).
    assert service.puts() == [[RULE_A]]
    assert result.reconciled
    assert service.delays() == [5, 5]


def test_no_new_job_within_the_settle_time_is_sent_again_after_polling_it_out() -> None:
    service = Service([lambda request: LOST, echo_publish], {})
    results = publish(service, [RULE_A], settle=pr.Settle(seconds=12, poll=5))
    assert service.delays() == [5, 5, 5]
    assert service.puts() == [[RULE_A], [RULE_A]]
    assert results[0].succeeded and not results[0].reconciled


def test_a_failed_reconciling_read_raises_unconfirmed_naming_the_groups() -> None:
    ids = [f"{i:032X}" for i in range(1, 502)]
    service = Service([lambda request: LOST, echo_publish], {})

    def snapshot_then_500(request: ApiRequest) -> Any:
        if service.reads <= 2:
            return reply_for(
                request, make_response(request, 200, {"errorMessage": "Success", "jobStatus": []})
            )
        return Refused(TransientServiceError("get_job_status: HTTP 500 from the service", status_code=500))

    service.read_fault = snapshot_then_500
    with pytest.raises(PublishRunUnconfirmedError) as caught:
        publish(service, ids)
    error = caught.value
    assert error.unconfirmed == ids[:500]
    assert error.applied == ids[500:]
    assert error.failed == {}
    assert "reconciling read failed" in str(error) and ids[0] in str(error)
    assert service.puts() == [ids[:500], ids[500:]]


def test_a_refused_chunk_fails_its_rules_and_leaves_the_other_chunk_reported() -> None:
    ids = [f"{i:032X}" for i in range(1, 502)]
    refused = Refused(ClinicalOneValidationError("update_publish_run: Incorrect payload", status_code=400))
    service = Service([lambda request: refused, echo_publish], {})
    ledger = PublishLedger()
    results = publish(service, ids, ledger=ledger)
    assert [r.rule_id for r in results] == ids
    assert all(not r.succeeded and "chunk refused" in (r.failure_reason or "") for r in results[:500])
    assert results[500].succeeded
    assert ledger.applied == {ids[500]: "reply Success"} and len(ledger.failed) == 500


def test_ambiguous_failures_stop_after_the_attempts_with_an_error_naming_the_rules() -> None:
    service = Service([lambda request: LOST] * 3, {})
    with pytest.raises(PublishRunUnconfirmedError) as caught:
        publish(service, [RULE_A, RULE_B], attempts=3)
    assert service.puts() == [[RULE_A, RULE_B]] * 3
    assert caught.value.rule_ids == [RULE_A, RULE_B]
    assert "sent 3 time(s)" in str(caught.value)


def test_a_resumed_ledger_skips_applied_rules_and_reconciles_the_rest_before_sending() -> None:
    service = Service([echo_publish], {RULE_B: ["0B", "NEW-B"], RULE_C: ["0C"]})
    ledger = PublishLedger(
        study_id=STUDY,
        mode="test",
        publish_run="AllData",
        endpoint="job_status",
        snapshot={RULE_A: [], RULE_B: ["0B"], RULE_C: ["0C"]},
        applied={RULE_A: "reply Success"},
        sent=True,
    )
    results = publish(service, [RULE_A, RULE_B, RULE_C], ledger=ledger)
    assert service.puts() == [[RULE_C]]
    assert [(r.rule_id, r.reconciled) for r in results] == [(RULE_A, True), (RULE_B, True), (RULE_C, False)]
    assert "earlier try" in (results[0].result.result or "")  # type: ignore[union-attr]


def test_the_ledger_is_saved_before_the_first_send() -> None:
    saved: list[dict[str, Any]] = []
    service = Service([], {})

    def put(request: ApiRequest) -> Any:
        assert saved and saved[-1]["sent"] and saved[-1]["snapshot"] == {RULE_A: []}
        return echo_publish(request)

    service.publish.append(put)
    publish(service, [RULE_A], ledger=PublishLedger(save=saved.append))
    assert PublishLedger.from_json(saved[-1]) == PublishLedger(
        study_id=STUDY, mode="test", publish_run="AllData", endpoint="job_status",
        snapshot={RULE_A: []}, applied={RULE_A: "reply Success"}, sent=True,
    )  # fmt: skip


def test_the_snapshot_falls_back_to_rerun_history_when_the_bulk_endpoint_is_refused() -> None:
    service = Service([echo_publish], {RULE_A: ["0A"]})

    def no_bulk(request: ApiRequest) -> Any:
        if request.endpoint == "get_job_status":
            return Refused(ClinicalOneValidationError("get_job_status: not found", status_code=404))
        service.read_fault = None
        try:
            return service.answer(request)
        finally:
            service.read_fault = no_bulk

    service.read_fault = no_bulk
    ledger = PublishLedger()
    publish(service, [RULE_A], ledger=ledger)
    assert ledger.endpoint == "rerun_history" and ledger.snapshot == {RULE_A: ["0A"]}


def test_future_data_takes_no_snapshot_and_is_retried_like_a_read() -> None:
    service = Service([echo_publish], {})
    exchange = pr.update_publish_run(STUDY, "test", "FutureData", [RULE_A])
    results = service.run(exchange)
    (put,) = service.requests()
    assert put.endpoint == "update_publish_run" and put.idempotent is True
    assert results[0].succeeded


def test_bad_attempts_settle_or_poll_endpoint_raise_value_error_before_any_request() -> None:
    with pytest.raises(ValueError, match="attempts"):
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A], attempts=0)
    with pytest.raises(ValueError, match="poll_endpoint"):
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A], poll_endpoint="guess")
    with pytest.raises(ValueError, match="settle_seconds"):
        pr.Settle(seconds=float("nan"))
    with pytest.raises(ValueError, match="settle_poll_seconds"):
        pr.Settle(poll=0)


@pytest.mark.parametrize(
    "body",
    [{"errorMessage": "Success"}, {"errorMessage": "Success", "jobStatus": None}],
    ids=["no-list", "null-list"],
)
def test_a_bulk_reply_without_its_list_is_no_evidence_and_the_snapshot_uses_rerun_history(
    body: dict[str, Any],
) -> None:
    service = Service([echo_publish], {RULE_A: ["0A"]})

    def listless(request: ApiRequest) -> Any:
        if request.endpoint == "get_job_status":
            return reply_for(request, make_response(request, 200, body))
        service.read_fault = None
        try:
            return service.answer(request)
        finally:
            service.read_fault = listless

    service.read_fault = listless
    ledger = PublishLedger()
    publish(service, [RULE_A], ledger=ledger)
    assert ledger.endpoint == "rerun_history" and ledger.snapshot == {RULE_A: ["0A"]}


def test_a_bulk_reply_with_one_object_for_jobstatus_is_read_as_one_entry() -> None:
    service = Service([echo_publish], {})

    def one_object(request: ApiRequest) -> Any:
        entry = {"ruleId": RULE_A, "jobId": "ab-12", "jobStatus": "Success", "jobStartDate": "x"}
        return reply_for(
            request, make_response(request, 200, {"errorMessage": "Success", "jobStatus": entry})
        )

    service.read_fault = one_object
    ledger = PublishLedger()
    publish(service, [RULE_A], ledger=ledger)
    assert ledger.snapshot == {RULE_A: ["AB12"]}  # ids compared compact and uppercase; dates never read


def test_a_ledger_that_cannot_be_saved_stops_the_publish_before_anything_is_sent() -> None:
    def broken(value: dict[str, Any]) -> None:
        raise OSError("state store unreachable")

    service = Service([echo_publish], {})
    ledger = PublishLedger(save=broken)
    with pytest.raises(OSError):
        publish(service, [RULE_A], ledger=ledger)
    assert service.puts() == [] and ledger.sent is False
