"""Where a publish keeps its ledger between tries (``operators/_publish_state.py``)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.operators._publish_state import (
    LEDGER_KEY,
    load_ledger,
    resumed_targets,
    task_state_store,
)
from clinical_rules_provider.testing.task_state import InMemoryTaskStateStore

STUDY = "36753A48BBA048CB98A5F3278146118D"
STUDY_HYPHENATED = "36753a48-bba0-48cb-98a5-f3278146118d"
RULE_A = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
RULE_B = "938D23FA6B7241CCA41BD627E5DB60DA"
RULE_C = "699EF3745FC545589F186D2198F3C65E"
LOG = logging.getLogger("test_publish_state")


class GetOnly:
    def get(self, key: str) -> Any:
        return None


class SetNotCallable(GetOnly):
    set = None


def test_the_task_state_store_is_taken_from_the_context() -> None:
    store = InMemoryTaskStateStore()
    assert task_state_store({"task_state_store": store}) is store


@pytest.mark.parametrize(
    "context",
    [{}, {"task_state_store": None}, {"task_state_store": GetOnly()}, {"task_state_store": SetNotCallable()}],
    ids=["absent", "none", "get-only", "set-not-callable"],
)
def test_no_store_or_one_without_get_and_set_is_no_store(context: dict[str, Any]) -> None:
    assert task_state_store(context) is None


def test_without_a_store_the_ledger_is_fresh_and_not_durable(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOG.name):
        ledger, durable = load_ledger({}, LOG)
    assert (ledger, durable) == (PublishLedger(), False)
    assert ledger.save is None
    assert caplog.messages == [
        "No task state store in the task context (Airflow < 3.3): a retry of this task cannot tell which "
        "rules an earlier try applied, so a failure after rules were applied is not retried automatically"
    ]


def test_an_empty_store_gives_a_fresh_ledger_that_saves_under_the_ledger_key() -> None:
    store = InMemoryTaskStateStore()
    ledger, durable = load_ledger({"task_state_store": store}, LOG)
    assert (ledger, durable) == (PublishLedger(), True)
    ledger.sent = True
    ledger.checkpoint()
    assert store.get(LEDGER_KEY) == ledger.to_json()
    assert LEDGER_KEY == "clinical_one_publish_run"


def test_a_saved_ledger_is_resumed_saving_to_the_same_store(caplog: pytest.LogCaptureFixture) -> None:
    store = InMemoryTaskStateStore()
    earlier = PublishLedger(
        study_id=STUDY,
        mode="test",
        publish_run="AllData",
        snapshot={RULE_A: [], RULE_B: [], RULE_C: []},
        applied={RULE_A: "job J"},
        failed={RULE_B: "refused"},
        sent=True,
    )
    store.set(LEDGER_KEY, earlier.to_json())
    with caplog.at_level(logging.INFO, logger=LOG.name):
        ledger, durable = load_ledger({"task_state_store": store}, LOG)
    assert (ledger, durable) == (earlier, True)
    assert caplog.messages == [
        "Resuming the publish of an earlier try: 1 rule(s) applied, 1 failed, 1 to reconcile"
    ]
    ledger.applied[RULE_C] = "job K"
    ledger.checkpoint()
    assert store.get(LEDGER_KEY)["applied"] == {RULE_A: "job J", RULE_C: "job K"}


def ledger_of(study: str = STUDY, mode: str = "test", run: str = "AllData") -> PublishLedger:
    return PublishLedger(study_id=study, mode=mode, publish_run=run, snapshot={RULE_B: [], RULE_A: []})


def test_a_retry_keeps_the_earlier_tries_rules_first_then_the_newly_selected() -> None:
    assert resumed_targets(ledger_of(), STUDY_HYPHENATED, "TEST", "AllData", [RULE_C, RULE_A]) == [
        RULE_B,
        RULE_A,
        RULE_C,
    ]


@pytest.mark.parametrize(
    "ledger",
    [ledger_of(study=RULE_C), ledger_of(mode="active"), ledger_of(run="FutureData"), PublishLedger()],
    ids=["other-study", "other-mode", "other-run", "fresh"],
)
def test_a_ledger_of_another_publish_leaves_the_selection_as_it_is(ledger: PublishLedger) -> None:
    assert resumed_targets(ledger, STUDY, "test", "AllData", [RULE_C]) == [RULE_C]
