"""The publish exchange after an ambiguous failure: reconcile from the latest jobs, never resend blindly.

Driven by hand: a publish reply may be an ``Ambiguous`` marker (what the transport hands a
non-idempotent request that failed after it may have reached the service).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider.clients import publish_run as pr
from clinical_rules_provider.clients.base import Ambiguous, ApiRequest, reply_for
from clinical_rules_provider.exceptions import PublishRunUnconfirmedError, TransientServiceError
from tests.clients.test_clinical_one import RULE_A, RULE_B, RULE_C, STUDY, echo_publish, make_response

LOST = Ambiguous(TransientServiceError("update_publish_run: HTTP 504 from the service", status_code=504))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def history(rule_id: str, *starts: datetime) -> dict[str, Any]:
    jobs = [
        {"ruleId": rule_id, "jobId": f"{i:032X}", "jobStatus": "Running", "jobStartDate": stamp(s)}
        for i, s in enumerate(starts)
    ]
    return {"status": "SUCCESS", "statusDetail": None, "ruleHistory": jobs}


class Service:
    """Answers publish PUTs from ``publish`` (a list per call) and reads from ``jobs`` (rule -> starts)."""

    def __init__(self, publish: list[Callable[[ApiRequest], Any]], jobs: dict[str, list[datetime]]) -> None:
        self.publish = publish
        self.jobs = jobs
        self.steps: list[list[ApiRequest]] = []

    def answer(self, request: ApiRequest) -> Any:
        if request.endpoint == "update_publish_run":
            reply = self.publish.pop(0)(request)
            return (
                reply
                if isinstance(reply, Ambiguous)
                else reply_for(request, make_response(request, 200, reply))
            )
        if request.endpoint == "get_rerun_history":
            rule_id = request.path.rsplit("/", 1)[1]
            if not self.jobs.get(rule_id):
                body = {
                    "status": "NOT_FOUND",
                    "statusDetail": "no matching history records",
                    "ruleHistory": [],
                }
                return reply_for(request, make_response(request, 200, body))
            return reply_for(request, make_response(request, 200, history(rule_id, *self.jobs[rule_id])))
        assert request.endpoint == "get_job_status"
        entries = [
            history(r, *self.jobs[r])["ruleHistory"][-1] for r in request.json["ruleIds"] if self.jobs.get(r)
        ]
        return reply_for(request, make_response(request, 200, {"status": "Success", "jobStatus": entries}))

    def run(self, exchange: Generator[Any, Any, Any]) -> Any:
        step = exchange.send(None)
        while True:
            self.steps.append(step)
            try:
                step = exchange.send([self.answer(r) for r in step])
            except StopIteration as stop:
                return stop.value

    def puts(self) -> list[list[str]]:
        return [r.json["ruleIds"] for step in self.steps for r in step if r.endpoint == "update_publish_run"]

    def reads(self) -> list[ApiRequest]:
        return [r for step in self.steps for r in step if r.endpoint != "update_publish_run"]


def lost_after_processing(service: Service) -> Callable[[ApiRequest], Any]:
    """The service starts a job for each rule of the PUT, then the reply is lost."""

    def answer(request: ApiRequest) -> Any:
        for rule_id in request.json["ruleIds"]:
            service.jobs.setdefault(rule_id, []).append(datetime.now(timezone.utc))
        return LOST

    return answer


def test_publish_requests_are_marked_not_idempotent() -> None:
    (request,) = pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]).send(None)
    assert request.idempotent is False


@pytest.mark.parametrize("poll_endpoint", ["rerun_history", "job_status"])
def test_lost_reply_after_processing_is_reconciled_without_resending(poll_endpoint: str) -> None:
    service = Service([], {RULE_A: [datetime.now(timezone.utc) - timedelta(days=1)]})
    service.publish.append(lost_after_processing(service))
    exchange = pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B], poll_endpoint=poll_endpoint)
    results = service.run(exchange)
    assert service.puts() == [[RULE_A, RULE_B]]
    assert [(r.rule_id, r.succeeded, r.reconciled) for r in results] == [
        (RULE_A, True, True),
        (RULE_B, True, True),
    ]
    assert results[0].result is not None and results[0].result.status == "reconciled"


@pytest.mark.parametrize("poll_endpoint", ["rerun_history", "job_status"])
def test_only_rules_without_a_job_since_the_first_send_are_republished_once(poll_endpoint: str) -> None:
    before = datetime.now(timezone.utc) - timedelta(minutes=5)
    service = Service([], {RULE_B: [before]})

    def only_a_processed(request: ApiRequest) -> Any:
        service.jobs[RULE_A] = [datetime.now(timezone.utc)]
        return LOST

    service.publish.extend([only_a_processed, echo_publish])
    exchange = pr.update_publish_run(
        STUDY, "test", "AllData", [RULE_A, RULE_B, RULE_C], poll_endpoint=poll_endpoint
    )
    results = service.run(exchange)
    assert service.puts() == [[RULE_A, RULE_B, RULE_C], [RULE_B, RULE_C]]
    assert [(r.rule_id, r.reconciled) for r in results] == [(RULE_A, True), (RULE_B, False), (RULE_C, False)]
    assert all(r.succeeded for r in results)


def test_threshold_is_compared_at_millisecond_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    sent_at = datetime(2025, 9, 8, 10, 0, 0, 437_999, tzinfo=timezone.utc)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return sent_at

    monkeypatch.setattr(pr, "datetime", Clock)
    # jobStartDate has milliseconds: A started in the send's millisecond, B one millisecond before.
    service = Service([lambda request: LOST, echo_publish], {})
    service.jobs = {
        RULE_A: [sent_at.replace(microsecond=437_000)],
        RULE_B: [sent_at.replace(microsecond=436_000)],
    }
    results = service.run(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B]))
    assert service.puts() == [[RULE_A, RULE_B], [RULE_B]]
    assert [(r.rule_id, r.reconciled) for r in results] == [(RULE_A, True), (RULE_B, False)]


def test_ambiguous_failures_stop_after_the_attempts_with_an_error_naming_the_rules() -> None:
    service = Service([lambda request: LOST] * 3, {})
    with pytest.raises(PublishRunUnconfirmedError) as caught:
        service.run(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B], attempts=3))
    assert service.puts() == [[RULE_A, RULE_B]] * 3
    assert len(service.reads()) == 6  # one read per rule after each of the three sends
    assert caught.value.rule_ids == [RULE_A, RULE_B]
    assert RULE_A in str(caught.value) and "3 attempt(s)" in str(caught.value)
    assert caught.value.status_code == 504


def test_bad_attempts_or_poll_endpoint_raise_value_error_before_any_request() -> None:
    with pytest.raises(ValueError, match="attempts"):
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A], attempts=0)
    with pytest.raises(ValueError, match="poll_endpoint"):
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A], poll_endpoint="guess")


def test_reconciled_result_keeps_the_reply_lost_note_in_its_wire_form() -> None:
    service = Service([], {})
    service.publish.append(lost_after_processing(service))
    (result,) = service.run(pr.update_publish_run(STUDY, "test", "AllData", [RULE_A]))
    dumped = result.model_dump(mode="json")
    assert dumped["reconciled"] is True
    assert dumped["jobStatus"] == "Success"
    assert "Reply lost" in dumped["result"]["result"]
