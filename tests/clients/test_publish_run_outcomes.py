"""What a publish reports per rule (``clients/publish_run.py``): refused chunks, rules an earlier
try applied, rules reconciled from a new job, and the error naming the unconfirmed ones."""

from __future__ import annotations

from typing import Any

import pytest

from clinical_rules_provider.clients import publish_run as pr
from clinical_rules_provider.clients.base import Ambiguous, ApiRequest, Refused
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import (
    ClinicalOneServerError,
    ClinicalOneValidationError,
    PublishRunUnconfirmedError,
)
from clinical_rules_provider.models.enums import PublishJobStatus
from tests.clients.test_clinical_one import RULE_A, RULE_B, RULE_C, STUDY, echo_publish, publish_item
from tests.clients.test_publish_run import LOST, Service, processed_then_lost, publish

IDS = [f"{i:032X}" for i in range(1, 502)]  # two chunks: 500 and 1
REFUSED = Refused(
    ClinicalOneValidationError("update_publish_run: Incorrect payload", code="JSON-004", status_code=400)
)


def future_data(service: Service, ids: list[str]) -> Any:
    return service.run(pr.update_publish_run(STUDY, "test", "FutureData", ids))


def test_a_refused_chunk_reports_each_rule_failed_with_the_services_error() -> None:
    service = Service([lambda request: REFUSED, echo_publish], {})
    results = publish(service, IDS)
    refused = results[0]
    assert refused.rule_id == IDS[0]
    assert refused.job_status is PublishJobStatus.FAILED
    assert refused.http_error_code == 400
    assert refused.error is not None
    assert (refused.error.status, refused.error.error_code) == ("failed", "JSON-004")
    assert refused.error.error_message == (
        "chunk refused: update_publish_run: Incorrect payload | code=JSON-004 | http=400"
    )
    assert results[500].succeeded


def test_future_data_reports_a_refused_chunk_rule_by_rule_beside_the_other_chunk() -> None:
    def with_extra(request: ApiRequest) -> list[dict[str, Any]]:
        return [*echo_publish(request), publish_item(RULE_C)]

    service = Service([lambda request: REFUSED, with_extra], {})
    results = future_data(service, IDS)
    assert [r.rule_id for r in results] == [*IDS, RULE_C]
    assert all(r.job_status is PublishJobStatus.FAILED for r in results[:500])
    assert results[0].error is not None and results[0].error.error_code == "JSON-004"
    assert results[500].succeeded and results[501].rule_id == RULE_C


def test_future_data_refused_in_every_chunk_raises_the_first_chunks_error() -> None:
    second = Refused(ClinicalOneServerError("update_publish_run: down", status_code=500))
    service = Service([lambda request: REFUSED, lambda request: second], {})
    with pytest.raises(ClinicalOneValidationError) as info:
        future_data(service, IDS)
    assert info.value is REFUSED.error


def test_future_data_leaves_the_callers_ledger_untouched() -> None:
    # FutureData reconciles nothing: the publish state a task keeps (its ledger) is not its to write.
    ledger = PublishLedger(study_id=STUDY, mode="test", publish_run="AllData", applied={RULE_B: "job 0B"})
    before = ledger.to_json()
    service = Service([lambda request: REFUSED, echo_publish], {})
    service.run(pr.update_publish_run(STUDY, "test", "FutureData", IDS, ledger=ledger))
    assert ledger.to_json() == before


def test_future_data_reports_an_ambiguous_chunk_rule_by_rule_never_as_lost() -> None:
    # FutureData is idempotent, so a driver never answers it ambiguously; if one did, its rules
    # are reported failed like a refused chunk's, not dropped or reconciled.
    ambiguous = Ambiguous(ClinicalOneServerError("update_publish_run: down", status_code=502))
    results = future_data(Service([lambda request: ambiguous, echo_publish], {}), IDS)
    assert [r.rule_id for r in results] == IDS
    assert results[0].job_status is PublishJobStatus.FAILED and not results[0].reconciled
    assert results[0].error is not None and results[0].error.error_message == (
        "chunk refused: update_publish_run: down | http=502"
    )
    assert results[500].succeeded


def test_a_rule_an_earlier_try_applied_is_reported_reconciled_with_that_evidence() -> None:
    ledger = PublishLedger(
        study_id=STUDY, mode="test", publish_run="AllData", snapshot={RULE_A: []}, applied={RULE_A: "job 0A"}
    )
    exchange = pr.update_publish_run(STUDY, "test", "AllData", [RULE_A], ledger=ledger)
    with pytest.raises(StopIteration) as stop:  # nothing to read or send
        exchange.send(None)
    (result,) = stop.value.value
    assert (result.rule_id, result.job_status, result.reconciled) == (RULE_A, PublishJobStatus.SUCCESS, True)
    assert result.result is not None
    assert (result.result.status, result.result.result) == (
        "reconciled",
        "Applied by an earlier try (job 0A).",
    )


def test_a_lost_reply_with_a_new_job_is_reported_reconciled_naming_the_job() -> None:
    service = Service([], {})
    service.publish.append(processed_then_lost(service))
    (result,) = publish(service, [RULE_A])
    job_id = service.jobs[RULE_A][-1]
    assert (result.rule_id, result.job_status, result.reconciled) == (RULE_A, PublishJobStatus.SUCCESS, True)
    assert result.result is not None
    assert result.result.status == "reconciled"
    assert result.result.result == (
        f"Reply lost; job {job_id}, not there before the first send, shows the update."
    )


def test_the_unconfirmed_error_names_every_group_and_what_not_to_do() -> None:
    ledger = PublishLedger(applied={RULE_A: "job X"}, failed={RULE_B: "refused"})
    error = pr.unconfirmed_error(
        ledger, [RULE_A, RULE_B, RULE_C, "D" * 32], {RULE_C: "why 2", "D" * 32: "why 1"}
    )
    assert error.message == (
        f"update_publish_run: 2 rule(s) unconfirmed (why 1; why 2): {RULE_C}, {'D' * 32}. "
        f"Applied (1): {RULE_A}. Failed (1): {RULE_B} (refused). "
        "Do not resend the unconfirmed rules before their rerun history shows whether they ran."
    )
    assert (error.rule_ids, error.applied, error.failed, error.results) == (
        [RULE_C, "D" * 32],
        [RULE_A],
        {RULE_B: "refused"},
        [],
    )


def test_the_unconfirmed_error_lists_several_applied_and_failed_rules_comma_separated() -> None:
    ledger = PublishLedger(applied={RULE_A: "job X", RULE_B: "job Y"}, failed={RULE_C: "no", "E" * 32: "bad"})
    error = pr.unconfirmed_error(ledger, [RULE_A, RULE_B, RULE_C, "E" * 32, "D" * 32], {"D" * 32: "lost"})
    assert f"Applied (2): {RULE_A}, {RULE_B}. Failed (2): {RULE_C} (no), {'E' * 32} (bad). " in error.message


def test_the_unconfirmed_error_shows_empty_groups_as_a_dash_and_carries_the_results() -> None:
    results = [pr.PublishRunResult(rule_id=RULE_B)]
    error = pr.unconfirmed_error(PublishLedger(), [RULE_A], {RULE_A: "lost"}, results)
    assert "Applied (0): -. Failed (0): -. " in error.message
    assert error.results == results


def test_lost_replies_until_the_last_attempt_name_the_rules_in_the_error() -> None:
    service = Service([lambda request: LOST] * 2, {})
    with pytest.raises(PublishRunUnconfirmedError) as info:
        publish(service, [RULE_A, RULE_B], attempts=2)
    assert info.value.message.startswith(
        "update_publish_run: 2 rule(s) unconfirmed (sent 2 time(s), every reply lost, and no new job "
        f"appeared): {RULE_A}, {RULE_B}. "
    )
