"""The publish ledger (``clients/publish_ledger.py``): what a publish has established, as JSON that
outlives the try that wrote it."""

from __future__ import annotations

from typing import Any

import pytest

from clinical_rules_provider.clients.publish_ledger import LEDGER_VERSION, PublishLedger, job_key

STUDY = "36753A48BBA048CB98A5F3278146118D"
RULE_A = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
RULE_B = "938D23FA6B7241CCA41BD627E5DB60DA"
RULE_C = "699EF3745FC545589F186D2198F3C65E"


def full_ledger(**kwargs: Any) -> PublishLedger:
    return PublishLedger(
        study_id=STUDY,
        mode="test",
        publish_run="AllData",
        endpoint="job_status",
        snapshot={RULE_A: ["J1"], RULE_B: []},
        applied={RULE_A: "job J2"},
        failed={RULE_B: "refused"},
        sent=True,
        **kwargs,
    )


def test_job_key_compares_both_uuid_forms_alike() -> None:
    assert job_key("8e2253d8-e53a-4a46-bae3-e4952cbe9e5a") == RULE_A
    assert job_key(12) == "12"


def test_to_json_writes_every_field_under_the_ledger_version() -> None:
    assert full_ledger().to_json() == {
        "version": LEDGER_VERSION,
        "study_id": STUDY,
        "mode": "test",
        "publish_run": "AllData",
        "endpoint": "job_status",
        "snapshot": {RULE_A: ["J1"], RULE_B: []},
        "applied": {RULE_A: "job J2"},
        "failed": {RULE_B: "refused"},
        "sent": True,
    }


def test_from_json_reads_back_what_to_json_wrote_and_keeps_the_save_callable() -> None:
    def save(value: dict[str, Any]) -> None: ...

    ledger = PublishLedger.from_json(full_ledger().to_json(), save=save)
    assert ledger == full_ledger()
    assert ledger is not None and ledger.save is save


def test_from_json_reads_job_ids_in_their_compared_form() -> None:
    data = full_ledger().to_json() | {"snapshot": {RULE_A: ["8e2253d8-e53a-4a46-bae3-e4952cbe9e5a"]}}
    ledger = PublishLedger.from_json(data)
    assert ledger is not None and ledger.snapshot == {RULE_A: [RULE_A]}


def test_from_json_keeps_a_missing_endpoint_unset() -> None:
    data = full_ledger().to_json() | {"endpoint": None}
    ledger = PublishLedger.from_json(data)
    assert ledger is not None and ledger.endpoint is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        "text",
        full_ledger().to_json() | {"version": LEDGER_VERSION + 1},
        {k: v for k, v in full_ledger().to_json().items() if k != "snapshot"},
        {k: v for k, v in full_ledger().to_json().items() if k != "sent"},
        full_ledger().to_json() | {"applied": ["not", "a", "mapping"]},
    ],
    ids=["none", "text", "other-version", "no-snapshot", "no-sent", "applied-list"],
)
def test_from_json_returns_none_for_anything_it_did_not_write(data: Any) -> None:
    assert PublishLedger.from_json(data) is None


def test_begin_keeps_the_state_of_the_same_publish() -> None:
    ledger = full_ledger()
    ledger.begin(STUDY, "test", "AllData")
    assert ledger == full_ledger()


@pytest.mark.parametrize(
    ("study", "mode", "run"),
    [(RULE_C, "test", "AllData"), (STUDY, "active", "AllData"), (STUDY, "test", "FutureData")],
)
def test_begin_starts_over_for_another_publish_and_keeps_the_save_callable(
    study: str, mode: str, run: str
) -> None:
    saved: list[dict[str, Any]] = []
    ledger = full_ledger(save=saved.append)
    ledger.begin(study, mode, run)
    assert ledger == PublishLedger(study_id=study, mode=mode, publish_run=run)
    ledger.checkpoint()
    assert saved == [PublishLedger(study_id=study, mode=mode, publish_run=run).to_json()]


@pytest.mark.parametrize("sent", [True, False])
def test_a_ledger_is_resumed_exactly_when_an_earlier_try_sent(sent: bool) -> None:
    assert PublishLedger(sent=sent).resumed is sent


def test_unsettled_rules_are_those_neither_applied_nor_failed_in_order() -> None:
    ledger = PublishLedger(applied={RULE_A: "job J"}, failed={RULE_B: "refused"})
    assert ledger.unsettled([RULE_C, RULE_B, RULE_A]) == [RULE_C]


def test_checkpoint_hands_the_json_to_save_and_is_quiet_without_one() -> None:
    saved: list[dict[str, Any]] = []
    full_ledger(save=saved.append).checkpoint()
    assert saved == [full_ledger().to_json()]
    full_ledger().checkpoint()  # no save: nothing to call
