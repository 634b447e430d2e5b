"""Each value is validated once, when its trigger is built; a poll validates none again.

Every check of an input value ends in one of four parsers (ids, choices, Vault job ids, the
poll endpoint). A profiler counts their calls in this thread (the simulator runs in another)
by the field they check; the reply's own ids (``ruleId``, ``jobId``), which come from the
service and are read on every reply, are not input values and are left out.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

from clinical_rules_provider.job_options import check_poll_endpoint
from clinical_rules_provider.models.enums import parse_choice
from clinical_rules_provider.models.ids import compact_id, vault_job_id
from clinical_rules_provider.triggers import coalesced_poll
from clinical_rules_provider.triggers._study_stream import WatchState, study_stream, watch_cycles
from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger
from clinical_rules_provider.triggers.vault_job import VaultJobTrigger
from tests.conftest import RULE_A, RULE_B, STUDY
from tests.operators.conftest import hours_ago
from tests.triggers.test_rule_job import FAILING_RULE, OLD_SUCCESS_RULE, STALE_RULE, make_trigger
from tests.triggers.test_vault_job import CANCELLED, SUCCEEDED

PARSERS = {compact_id.__code__, parse_choice.__code__, vault_job_id.__code__, check_poll_endpoint.__code__}
REPLY_FIELDS = {"ruleId", "jobId"}
POLLS = 3


@contextmanager
def validations() -> Iterator[Counter[str]]:
    """Calls of the parsers while the block runs, by the input field they check."""
    counts: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in PARSERS:
            field = str(frame.f_locals.get("field", "poll_endpoint"))
            if field not in REPLY_FIELDS:
                counts[re.sub(r"\[\d+\]$", "", field).replace("study_mode", "mode")] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(previous)


@pytest.mark.parametrize("endpoint", ["job_status", "rerun_history"])
@pytest.mark.parametrize("coalesce", [True, False])
async def test_a_rule_job_trigger_validates_each_value_once_and_its_polls_none(
    sim_c1: str, monkeypatch: pytest.MonkeyPatch, coalesce: bool, endpoint: str
) -> None:
    monkeypatch.setattr(coalesced_poll, "coalescing_enabled", lambda: coalesce)
    rules = [OLD_SUCCESS_RULE, FAILING_RULE, STALE_RULE]
    with validations() as built:
        trigger = make_trigger(sim_c1, rules, started_after=hours_ago(72), poll_endpoint=endpoint)
    assert built == {"study_id": 1, "mode": 1, "rule_ids": 3, "poll_endpoint": 1}
    hook = trigger.open_hook()
    try:
        with validations() as polled:
            for _ in range(POLLS):
                outcome = await trigger.poll(hook)
                assert set(outcome.to_json()["waiting"]) == {STALE_RULE}  # type: ignore[union-attr]
    finally:
        await trigger.cleanup()
        await hook.aclose()
    assert polled == {}


async def test_a_vault_job_trigger_validates_each_id_once_and_its_polls_none(
    sim_vault: str, fast_vault_status: None
) -> None:
    with validations() as built:
        trigger = VaultJobTrigger(
            job_ids=[SUCCEEDED, str(CANCELLED)], end_time=time.time() + 10, vault_conn_id=sim_vault
        )  # type: ignore[list-item]
    assert built == {"job_ids": 2}
    hook = trigger.open_hook()
    try:
        with validations() as polled:
            for _ in range(POLLS):
                assert (await trigger.poll(hook)).done
    finally:
        await hook.aclose()
    assert polled == {}


@pytest.mark.parametrize("shared", [False, True])
async def test_a_watcher_validates_each_value_once_and_its_polls_none(sim_c1: str, shared: bool) -> None:
    with validations() as built:
        trigger = ClinicalOneRuleJobEventTrigger(
            study_id=STUDY,
            study_mode="test",
            rule_ids=[RULE_A, RULE_B],
            poll_interval=0.05,
            poll_endpoint="job_status",
            clinical_one_conn_id=sim_c1,
        )
    assert built == {"study_id": 1, "mode": 1, "rule_ids": 2, "poll_endpoint": 1}
    state = await WatchState.begin(trigger)
    answers = study_stream(trigger) if shared else watch_cycles(trigger, state.source)
    try:
        with validations() as polled:
            for _ in range(POLLS):
                answer = await anext(answers)
                assert not hasattr(answer, "message"), answer  # an answer, not a Failure
                await state.take(answer)
    finally:
        await answers.aclose()
        await state.aclose()
    assert polled == {}
