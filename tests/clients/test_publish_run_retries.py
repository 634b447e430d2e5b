"""How a publish sends, resends and settles (``clients/publish_run.py``): attempts, earlier failures,
refusals and the ledger's reasons."""

from __future__ import annotations

from typing import Any

import pytest

from clinical_rules_provider.clients import publish_run as pr
from clinical_rules_provider.clients.base import Refused
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import (
    ClinicalOneServerError,
    ClinicalOneValidationError,
    PublishRunUnconfirmedError,
)
from tests.clients.test_clinical_one import RULE_A, RULE_B, STUDY, echo_publish, publish_item
from tests.clients.test_publish_run import LOST, Service, publish

IDS = [f"{i:032X}" for i in range(1, 502)]


@pytest.mark.parametrize("attempts", [0, True, 1.0], ids=["zero", "bool", "float"])
def test_attempts_must_be_a_positive_integer_and_the_error_shows_the_value(attempts: Any) -> None:
    with pytest.raises(ValueError) as info:
        pr.update_publish_run(STUDY, "test", "AllData", [RULE_A], attempts=attempts)
    assert str(info.value) == f"attempts: expected a positive integer, got {attempts!r}"


def test_one_attempt_sends_once() -> None:
    service = Service([lambda request: LOST], {})
    with pytest.raises(PublishRunUnconfirmedError, match=r"sent 1 time\(s\)"):
        publish(service, [RULE_A], attempts=1)
    assert service.puts() == [[RULE_A]]


def test_a_publish_sends_at_most_five_times_by_default() -> None:
    service = Service([lambda request: LOST] * 6, {})
    with pytest.raises(PublishRunUnconfirmedError) as info:
        publish(service, [RULE_A])
    assert len(service.puts()) == 5
    assert info.value.results == []


def test_the_unconfirmed_error_carries_the_results_known() -> None:
    service = Service([lambda request: LOST, echo_publish], {})
    with pytest.raises(PublishRunUnconfirmedError) as info:
        publish(service, IDS, attempts=1)
    assert [r.rule_id for r in info.value.results] == IDS[500:]


def test_publish_requests_read_a_500_listing_items_as_data() -> None:
    (request,) = [r for r in pr.update_publish_run(STUDY, "test", "FutureData", [RULE_A]).send(None)]
    assert request.data_on_500 is not None
    assert request.data_on_500([{"ruleId": RULE_A}]) is True


def test_every_rule_refused_raises_the_first_chunks_error() -> None:
    first = Refused(ClinicalOneValidationError("update_publish_run: bad payload", status_code=400))
    second = Refused(ClinicalOneServerError("update_publish_run: down", status_code=500))
    service = Service([lambda request: first, lambda request: second], {})
    with pytest.raises(ClinicalOneValidationError) as info:
        publish(service, IDS)
    assert info.value is first.error


def test_a_failed_rule_is_recorded_with_the_services_reason() -> None:
    ledger = PublishLedger()
    publish(Service([lambda r: [publish_item(RULE_A, "Failed")]], {}), [RULE_A], ledger=ledger)
    assert ledger.failed == {RULE_A: "jobStatus=Failed: Rule updated successfully."}


def test_a_rule_failed_by_an_earlier_try_is_sent_again_with_the_unsettled_ones_and_its_failure_cleared() -> (
    None
):
    ledger = PublishLedger(
        study_id=STUDY,
        mode="test",
        publish_run="AllData",
        endpoint="job_status",
        snapshot={RULE_A: [], RULE_B: []},
        failed={RULE_A: "refused"},
        sent=True,
    )
    service = Service([echo_publish], {})
    publish(service, [RULE_A, RULE_B], ledger=ledger)
    assert service.puts() == [[RULE_A, RULE_B]]
    assert ledger.failed == {}
    assert set(ledger.applied) == {RULE_A, RULE_B}


@pytest.mark.parametrize(("seconds", "poll"), [(0, 0.001), (0.5, 1.0005)], ids=["lowest", "below-one"])
def test_settle_accepts_zero_seconds_and_polls_down_to_a_millisecond(seconds: float, poll: float) -> None:
    assert pr.Settle(seconds=seconds, poll=poll).seconds == seconds


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seconds": True}, "settle_seconds: expected a finite number of seconds, got True"),
        ({"poll": float("inf")}, "settle_poll_seconds: expected a finite number of seconds, got inf"),
        ({"seconds": -0.5}, "settle_seconds: expected a number >= 0, got -0.5"),
        ({"poll": 0.0005}, "settle_poll_seconds: expected a number >= 0.001, got 0.0005"),
    ],
    ids=["bool", "infinite", "negative", "poll-too-small"],
)
def test_bad_settle_values_are_named_with_what_was_given(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        pr.Settle(**kwargs)
    assert str(info.value) == message
