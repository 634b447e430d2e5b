"""The watch's memory (one event per job, bounded), bad reply entries, canonical filters."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

from clinical_rules_provider.models.clinical_one import RuleJob
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers import _job_events
from clinical_rules_provider.triggers.rule_job_event import (
    ClinicalOneRuleJobEventTrigger,
    RuleJobEventTracker,
)
from tests.conftest import RULE_A, RULE_B, RULE_C, STUDY
from tests.triggers.test_rule_job_event import hyphenated, make_trigger, start_job, watch

BEGAN = datetime.fromisoformat("2026-03-01T12:00:00+00:00")


def job(number: int, status: str = "Success", minutes: float = 1.0, job_id: Any = "") -> RuleJob:
    """A job started ``minutes`` after the watch began, with a job id made from ``number``."""
    return RuleJob.model_construct(
        job_id=f"{number:032X}" if job_id == "" else job_id,
        job_status=status,
        job_start_date=BEGAN + timedelta(minutes=minutes),
    )


def rule(number: int) -> str:
    return f"A{number:031X}"


# --- one event per job ------------------------------------------------------------------------


def test_a_job_listed_dropped_and_listed_again_fires_once() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    first, second = job(1, minutes=1), job(2, minutes=2)
    assert [j.job_id for _, j in tracker.update({RULE_A: [first]})] == [first.job_id]
    assert [j.job_id for _, j in tracker.update({RULE_A: [second]})] == [
        second.job_id
    ]  # first left the reply
    assert tracker.update({RULE_A: [first, second]}) == []  # and came back: no second event
    assert tracker.update({RULE_A: [first]}) == []


def test_a_job_seen_running_still_fires_when_it_finishes_below_the_watermark() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    slow = job(1, status="Running", minutes=1)
    tracker.update({RULE_A: [slow, job(2, minutes=2)]})
    tracker.update({RULE_A: [slow]})  # job 2 left the reply: the watermark is at its start
    assert [j.job_id for _, j in tracker.update({RULE_A: [job(1, minutes=1)]})] == [slow.job_id]


def test_a_job_seen_running_fires_when_it_finishes_under_another_spelling_of_its_id() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    compact = job(1, status="Running", minutes=-5)  # started before the watch: fires only if seen running
    tracker.update({RULE_A: [compact]})
    done = job(1, minutes=-5, job_id=hyphenated(str(compact.job_id)))
    assert [r for r, _ in tracker.update({RULE_A: [done]})] == [RULE_A]


def test_memory_is_bounded_by_the_current_reply_not_by_every_job_ever_seen() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    fired = 0
    for listing in range(54):
        rules = [rule(listing * 100 + i) for i in range(100)]  # the listing moved on
        jobs = {r: [job(listing * 100 + i, minutes=listing + 1)] for i, r in enumerate(rules)}
        fired += len(tracker.update(jobs, requested=rules))
        assert tracker.remembered_jobs() <= 100
    assert fired == 5400
    # a window of one rule's history sliding over 54 x 100 jobs
    tracker = RuleJobEventTracker(BEGAN)
    for window in range(54):
        tracker.update({RULE_A: [job(window * 100 + i, minutes=window + i / 1000) for i in range(100)]})
        assert tracker.remembered_jobs() <= 100


def test_a_rule_that_leaves_and_returns_does_not_fire_its_old_jobs_again() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    assert len(tracker.update({RULE_A: [job(1)], RULE_B: [job(2)]}, requested=[RULE_A, RULE_B])) == 2
    tracker.update({RULE_A: [job(1)]}, requested=[RULE_A])  # RULE_B left the listing
    assert tracker.remembered_jobs() == 1
    assert tracker.update({RULE_A: [job(1)], RULE_B: [job(2)]}, requested=[RULE_A, RULE_B]) == []


def test_forgotten_rules_keep_at_most_a_bounded_number_of_watermarks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_job_events, "MAX_FORGOTTEN_RULES", 10)
    tracker = RuleJobEventTracker(BEGAN)
    for i in range(30):
        tracker.update({rule(i): [job(i)]}, requested=[rule(i)])
    assert len(tracker.watermarks()) <= 11


# --- bad entries --------------------------------------------------------------------------------


def test_entries_for_rules_not_asked_for_or_without_ids_are_dropped_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=_job_events.__name__)
    tracker = RuleJobEventTracker(BEGAN)
    reply = {
        RULE_A: [job(1), job(2, job_id=None), job(3, job_id="not-an-id")],
        RULE_B: [job(4)],  # not asked for
        "": [job(5)],  # no rule id
        "nonsense": [job(6)],
    }
    for _ in range(3):
        fired = tracker.update(reply, requested=[RULE_A])
    assert tracker.update({RULE_A: [job(1)]}, requested=[RULE_A]) == []
    tracker = RuleJobEventTracker(BEGAN)
    fired = tracker.update(reply, requested=[RULE_A])
    assert [(r, j.job_id) for r, j in fired] == [(RULE_A, job(1).job_id)]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not asked for" in m for m in messages) == 2  # once per watch (two watches here)
    assert sum("no valid ruleId" in m for m in messages) == 2
    assert sum("no valid jobId" in m for m in messages) == 2


def test_reply_rule_ids_in_another_spelling_are_the_same_rule() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    fired = tracker.update({hyphenated(RULE_A): [job(1)]}, requested=[RULE_A])
    assert [r for r, _ in fired] == [RULE_A]


def test_a_malformed_rule_id_in_a_listing_is_skipped_and_the_watch_goes_on(
    fast_jobs: LiveSimulator, sim_c1: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    broken = fast_jobs.state.add_rule(STUDY, "test", rule_id="B" * 32)
    broken.rule_id = "not-a-rule-id"
    started: list[str] = []

    async def publish() -> None:
        started.append(start_job(fast_jobs, RULE_A))

    trigger = make_trigger(sim_c1, rule_ids=None, rule_filter={}, poll_endpoint="job_status")
    events = asyncio.run(watch(trigger, 0.8, publish))
    assert [(e["rule_id"], e["job_id"]) for e in events] == [(RULE_A, started[0])]
    assert "malformed id 'not-a-rule-id'" in caplog.text


# --- canonical serialization --------------------------------------------------------------------


FORM = "0C0C0C0C0C0C4C0C8C0C0C0C0C0C0C0C"
ITEM_1, ITEM_2 = "1D1D1D1D1D1D4D1D8D1D1D1D1D1D1D1D", "2E2E2E2E2E2E4E2E8E2E2E2E2E2E2E2E"


@pytest.mark.parametrize(
    "spelling",
    [
        {"rule_states": ["publish", "draft"], "form_id": FORM, "item_ids": [ITEM_1, ITEM_2]},  # key order
        {"item_ids": [ITEM_2, ITEM_1], "form_id": FORM, "rule_states": ["draft", "publish"]},  # list order
        {"form_id": FORM.lower(), "item_ids": [ITEM_1, ITEM_2], "rule_states": ["PUBLISH", "Draft"]},  # case
        {
            "form_id": hyphenated(FORM),
            "item_ids": [hyphenated(ITEM_1), ITEM_2, ITEM_2],
            "rule_states": ["draft", "publish"],
            "user_name": None,
        },
    ],
)
def test_spellings_of_one_rule_filter_serialize_and_hash_alike(spelling: dict[str, Any]) -> None:
    reference = ClinicalOneRuleJobEventTrigger(
        study_id=STUDY,
        study_mode="test",
        rule_filter={"form_id": FORM, "item_ids": [ITEM_1, ITEM_2], "rule_states": ["draft", "publish"]},
    )
    trigger = ClinicalOneRuleJobEventTrigger(study_id=STUDY, study_mode="test", rule_filter=spelling)
    assert trigger.serialize() == reference.serialize()
    assert BaseEventTrigger.hash(*trigger.serialize()) == BaseEventTrigger.hash(*reference.serialize())
    assert ClinicalOneRuleJobEventTrigger(**trigger.serialize()[1]).serialize() == trigger.serialize()


def test_choices_and_a_user_id_in_any_case_or_form_serialize_alike() -> None:
    user = "3F3F3F3F3F3F4F3F8F3F3F3F3F3F3F3F"

    def serialized(**spelling: Any) -> tuple[str, dict[str, Any]]:
        return ClinicalOneRuleJobEventTrigger(
            study_id=STUDY, study_mode="test", rule_filter=spelling
        ).serialize()

    canonical = serialized(publish_run="AllData", sort_order="DESC", user_id=user)
    assert serialized(user_id=hyphenated(user), sort_order="desc", publish_run="alldata") == canonical
    assert canonical[1]["rule_filter"] == {"publish_run": "AllData", "sort_order": "DESC", "user_id": user}


def test_the_default_endpoint_is_the_references_rerun_history() -> None:
    trigger = ClinicalOneRuleJobEventTrigger(study_id=STUDY, study_mode="test", rule_ids=[RULE_A])
    assert trigger.poll_endpoint == "rerun_history"


# --- the watermark ------------------------------------------------------------------------------


def test_a_tracker_restored_from_its_snapshot_repeats_nothing_and_catches_up() -> None:
    tracker = RuleJobEventTracker(BEGAN)
    tracker.update({RULE_A: [job(1, minutes=1)], RULE_B: [job(2, status="Running", minutes=-60)]})
    stored = json.loads(json.dumps(tracker.snapshot()))  # what the asset state store keeps
    restored = RuleJobEventTracker.restore(stored)
    assert restored.began == BEGAN
    reply = {RULE_A: [job(3, minutes=5)], RULE_B: [job(2, minutes=-60)]}  # job 1 gone, 3 finished meanwhile
    assert sorted(j.job_id for _, j in restored.update(reply)) == [job(2).job_id, job(3).job_id]
    assert restored.update({RULE_A: [job(1, minutes=1), job(3, minutes=5)]}) == []


def test_a_version_1_watermark_restores_and_goes_on_without_a_new_baseline() -> None:
    """As the previous release stored it (``began``: its worker's clock, here 5 min ahead of
    the service's): a rule with a watermark is judged by that service date alone."""
    stored = {
        "version": 1,
        "began": BEGAN.isoformat(),
        "rules": {RULE_A: int((BEGAN - timedelta(minutes=8)).timestamp() * 1000)},
        "active": {RULE_B: [job(2).job_id]},
    }
    restored = RuleJobEventTracker.restore(stored)
    assert restored.began == BEGAN
    reply = {
        RULE_A: [job(1, minutes=-8), job(3, minutes=-9), job(4, minutes=-4)],  # 4: done during the restart
        RULE_B: [job(2, minutes=-20)],  # seen running before the restart
        RULE_C: [job(5, minutes=-30), job(6, minutes=1)],  # no watermark: after ``began``
    }
    fired = restored.update(reply)
    assert sorted(j.job_id for _, j in fired) == sorted(job(n).job_id for n in (2, 4, 6))
    assert restored.update(reply) == []


# --- the baseline: service dates only ------------------------------------------------------------


def test_the_first_reply_is_the_baseline_and_fires_nothing_however_new_its_dates() -> None:
    tracker = RuleJobEventTracker()
    assert tracker.snapshot() is None  # nothing to store before the baseline
    first = {RULE_A: [job(1, minutes=600), job(2, status="Running", minutes=-60)], RULE_B: [job(3)]}
    assert tracker.update(first) == []
    assert tracker.began == BEGAN + timedelta(minutes=600)  # the newest start in it
    assert tracker.watermarks() == {
        RULE_A: BEGAN + timedelta(minutes=600),
        RULE_B: BEGAN + timedelta(minutes=1),
    }
    assert tracker.update(first) == []
    fired = tracker.update({RULE_A: [job(1, minutes=600), job(2, minutes=-60)], RULE_B: [job(4, minutes=2)]})
    assert sorted(j.job_id for _, j in fired) == [job(2).job_id, job(4).job_id]  # seen running; new


def test_a_job_started_and_done_between_polls_fires_once_by_its_rules_service_dates() -> None:
    tracker = RuleJobEventTracker()
    tracker.update({RULE_A: [job(1, minutes=-600)]})
    assert [j.job_id for _, j in tracker.update({RULE_A: [job(1, minutes=-600), job(2, minutes=-599)]})] == [
        job(2).job_id
    ]
    assert tracker.update({RULE_A: [job(2, minutes=-599)]}) == []


def test_a_rule_absent_from_the_baseline_fires_jobs_started_after_its_newest_start() -> None:
    tracker = RuleJobEventTracker()
    tracker.update({RULE_A: [job(1, minutes=10)], RULE_B: []}, requested=[RULE_A, RULE_B])
    later = {
        RULE_A: [job(1, minutes=10)],
        RULE_B: [job(2, minutes=9), job(3, minutes=11)],  # no job at the first poll
        RULE_C: [job(4, minutes=5), job(5, minutes=12)],  # created (or listed) later
    }
    fired = tracker.update(later, requested=[RULE_A, RULE_B, RULE_C])
    assert sorted(j.job_id for _, j in fired) == [job(3).job_id, job(5).job_id]


@pytest.mark.parametrize("first", [{RULE_A: []}, {}], ids=["no-job", "no-rule"])
def test_a_first_reply_without_a_dated_job_makes_every_later_job_new(first: dict[str, Any]) -> None:
    tracker = RuleJobEventTracker()
    assert tracker.update(first, requested=list(first)) == []
    assert tracker.began == _job_events.EPOCH
    assert [j.job_id for _, j in tracker.update({RULE_A: [job(1, minutes=-6000)]}, requested=[RULE_A])] == [
        job(1).job_id
    ]


def test_a_reply_in_which_no_rule_answered_is_not_the_baseline() -> None:
    tracker = RuleJobEventTracker()
    assert tracker.update({}, requested=[RULE_A]) == []  # every rule failed
    assert tracker.began is None
    assert tracker.update({RULE_A: [job(1)]}, requested=[RULE_A]) == []  # the baseline


def test_a_baselined_rule_without_a_finished_job_fires_every_later_job() -> None:
    tracker = RuleJobEventTracker()
    tracker.update({RULE_A: [job(1, status="Running", minutes=5)], RULE_B: [job(2, minutes=60)]})
    assert tracker.watermarks()[RULE_A] == _job_events.EPOCH  # stored: 0 ms
    fired = tracker.update({RULE_A: [job(1, minutes=5), job(3, minutes=6)], RULE_B: [job(2, minutes=60)]})
    assert sorted(j.job_id for _, j in fired) == [job(1).job_id, job(3).job_id]  # 3 started before ``began``
