"""RuleJobWatch / Vault evaluation: which jobs count, when a wait is done, what fails it."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider.job_options import failure_status_set, vault_failure_status_set
from clinical_rules_provider.job_watch import (
    RuleJobWatch,
    evaluate_vault_jobs,
    warn_unknown_status,
)
from clinical_rules_provider.models.clinical_one import RuleJob
from clinical_rules_provider.models.enums import (
    RULE_JOB_FAILURE_STATUSES,
    RuleJobStatus,
)
from tests.conftest import RULE_A, RULE_B, RULE_C

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
JOB_OLD = "0E2428167F66445BAB544C7CDD884E87"
JOB_NEW = "1E2428167F66445BAB544C7CDD884E87"
JOB_NEWER = "2E2428167F66445BAB544C7CDD884E87"


def job(rule: str, job_id: str, status: str | None, start: datetime | None) -> RuleJob:
    return RuleJob(rule_id=rule, job_id=job_id, job_status=status, job_start_date=start)


def watch(**kwargs: object) -> RuleJobWatch:
    kwargs.setdefault("started_after", T0)
    return RuleJobWatch.create([RULE_A], **kwargs)  # type: ignore[arg-type]


# --- relevance ---------------------------------------------------------------------------


def test_old_successful_job_before_started_after_does_not_satisfy_the_watch() -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_OLD, "Success", T0 - timedelta(seconds=1))]})
    assert not outcome.done
    assert outcome.waiting == {RULE_A: "no matching job yet"}
    assert outcome.succeeded == {}


def test_old_failed_job_before_started_after_does_not_fail_the_watch() -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_OLD, "Failed", T0 - timedelta(days=1))]})
    assert outcome.failed == {}
    assert not outcome.done


def test_job_started_exactly_at_started_after_counts() -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Success", T0)]})
    assert outcome.done
    assert outcome.succeeded[RULE_A].job_id == JOB_NEW


def test_job_reported_in_the_same_millisecond_as_started_after_counts() -> None:
    # jobStartDate has millisecond precision ("yyyy-MM-dd HH:mm:ss.SSS"): a job that started
    # 0.3 ms after a threshold taken at 12:00:00.000500 is reported as 12:00:00.000. It was
    # started after the threshold and must count; comparing at microsecond precision drops it
    # for good and the wait can only time out.
    started_after = T0 + timedelta(microseconds=500)
    reported = job(RULE_A, JOB_NEW, "Success", T0)
    outcome = watch(started_after=started_after).evaluate({RULE_A: [reported]})
    assert outcome.done
    assert outcome.succeeded[RULE_A].job_id == JOB_NEW


def test_started_after_compares_instants_across_time_zones() -> None:
    # 12:30 in UTC+1 is 11:30 UTC: before T0, so it must not count.
    plus_one = timezone(timedelta(hours=1))
    early = job(RULE_A, JOB_OLD, "Success", datetime(2026, 3, 1, 12, 30, tzinfo=plus_one))
    assert not watch().evaluate({RULE_A: [early]}).done


def test_newest_relevant_job_wins() -> None:
    jobs = [
        job(RULE_A, JOB_NEW, "Failed", T0 + timedelta(minutes=1)),
        job(RULE_A, JOB_NEWER, "Success", T0 + timedelta(minutes=2)),
        job(RULE_A, JOB_OLD, "Running", T0 - timedelta(minutes=5)),
    ]
    outcome = watch().evaluate({RULE_A: jobs})
    assert outcome.failed == {}
    assert outcome.succeeded[RULE_A].job_id == JOB_NEWER


def test_newest_relevant_job_wins_even_when_it_failed() -> None:
    jobs = [
        job(RULE_A, JOB_NEWER, "Failed", T0 + timedelta(minutes=2)),
        job(RULE_A, JOB_NEW, "Success", T0 + timedelta(minutes=1)),
    ]
    outcome = watch().evaluate({RULE_A: jobs})
    assert outcome.failed[RULE_A].job_id == JOB_NEWER


def test_job_ids_decide_relevance_and_started_after_is_ignored() -> None:
    w = RuleJobWatch.create([RULE_A], started_after=T0, job_ids=[JOB_OLD.lower()])
    assert w.started_after is None
    jobs = [
        job(RULE_A, JOB_OLD, "Success", T0 - timedelta(days=3)),
        job(RULE_A, JOB_NEW, "Failed", T0 + timedelta(minutes=1)),
    ]
    outcome = w.evaluate({RULE_A: jobs})
    assert outcome.done
    assert outcome.succeeded[RULE_A].job_id == JOB_OLD


def test_job_ids_accept_hyphenated_ids_from_the_service() -> None:
    hyphenated = f"{JOB_NEW[:8]}-{JOB_NEW[8:12]}-{JOB_NEW[12:16]}-{JOB_NEW[16:20]}-{JOB_NEW[20:]}".lower()
    w = RuleJobWatch.create([RULE_A], job_ids=[JOB_NEW])
    assert w.evaluate({RULE_A: [job(RULE_A, hyphenated, "Success", None)]}).done


def test_job_ids_not_listed_keep_the_rule_waiting() -> None:
    w = RuleJobWatch.create([RULE_A], job_ids=[JOB_NEWER])
    outcome = w.evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Success", T0)]})
    assert outcome.waiting == {RULE_A: "no matching job yet"}


def test_rule_with_no_jobs_keeps_waiting() -> None:
    outcome = RuleJobWatch.create([RULE_A, RULE_B], started_after=T0).evaluate(
        {RULE_A: [job(RULE_A, JOB_NEW, "Success", T0)]}
    )
    assert not outcome.done
    assert outcome.waiting == {RULE_B: "no matching job yet"}
    assert set(outcome.succeeded) == {RULE_A}


def test_job_without_start_date_is_not_relevant_by_time() -> None:
    assert not watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Success", None)]}).done


# --- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(RULE_JOB_FAILURE_STATUSES))
def test_every_terminal_failure_status_fails_by_default(status: str) -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, status, T0)]})
    assert outcome.done
    assert set(outcome.failed) == {RULE_A}


def test_cancelled_fails_by_default() -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Cancelled", T0)]})
    assert outcome.failed[RULE_A].status == "Cancelled"
    assert "Cancelled" in failure_status_set(None)


def test_custom_failure_statuses_without_cancelled_count_a_cancelled_job_as_done() -> None:
    w = watch(failure_statuses=["Failed", "Completed with errors"])
    outcome = w.evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Cancelled", T0)]})
    assert outcome.done
    assert outcome.failed == {}
    assert outcome.succeeded[RULE_A].status == "Cancelled"


def test_custom_failure_statuses_still_fail_on_a_listed_status() -> None:
    w = watch(failure_statuses=[RuleJobStatus.FAILED])
    outcome = w.evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Failed", T0)]})
    assert set(outcome.failed) == {RULE_A}


@pytest.mark.parametrize("status", ["Running", "Pending", "Failed to cancel job"])
def test_active_statuses_keep_waiting(status: str) -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, status, T0)]})
    assert not outcome.done
    assert outcome.waiting == {RULE_A: status}
    assert outcome.failed == {}


def test_failed_to_cancel_job_listed_in_failure_statuses_ends_the_wait() -> None:
    w = watch(failure_statuses=[*RULE_JOB_FAILURE_STATUSES, "Failed to cancel job"])
    outcome = w.evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Failed to cancel job", T0)]})
    assert outcome.done
    assert set(outcome.failed) == {RULE_A}


def test_unknown_status_keeps_waiting_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    status = f"Sleeping {uuid.uuid4().hex}"
    caplog.set_level(logging.WARNING, logger="clinical_rules_provider.job_watch")
    w = watch()
    first = w.evaluate({RULE_A: [job(RULE_A, JOB_NEW, status, T0)]})
    second = w.evaluate({RULE_A: [job(RULE_A, JOB_NEW, status, T0)]})
    assert first.waiting == {RULE_A: status} and not second.done
    assert sum(status in r.getMessage() for r in caplog.records) == 1


def test_one_failure_ends_the_wait_while_others_still_run() -> None:
    w = RuleJobWatch.create([RULE_A, RULE_B], started_after=T0)
    outcome = w.evaluate(
        {
            RULE_A: [job(RULE_A, JOB_NEW, "Running", T0)],
            RULE_B: [job(RULE_B, JOB_NEWER, "Rule is invalid", T0)],
        }
    )
    assert outcome.done
    assert set(outcome.failed) == {RULE_B}
    assert RULE_A in outcome.waiting


def test_failure_message_names_each_rule_job_and_status() -> None:
    w = RuleJobWatch.create([RULE_A, RULE_C], started_after=T0)
    outcome = w.evaluate(
        {
            RULE_A: [job(RULE_A, JOB_NEW, "Failed", T0)],
            RULE_C: [job(RULE_C, JOB_NEWER, "Completed with errors", T0)],
        }
    )
    message = outcome.failure_message()
    assert f"{RULE_A} (job {JOB_NEW}): Failed" in message
    assert f"{RULE_C} (job {JOB_NEWER}): Completed with errors" in message


def test_outcome_to_json_is_plain_data() -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, "Success", T0)]})
    assert outcome.to_json() == {
        "succeeded": {RULE_A: {"job_id": JOB_NEW, "status": "Success", "job_start_date": T0.isoformat()}},
        "failed": {},
        "waiting": {},
    }


def test_rule_ids_are_normalised_to_compact_uppercase() -> None:
    hyphenated = f"{RULE_A[:8]}-{RULE_A[8:12]}-{RULE_A[12:16]}-{RULE_A[16:20]}-{RULE_A[20:]}".lower()
    w = RuleJobWatch.create([hyphenated, RULE_A], started_after=T0)
    assert w.rule_ids == (RULE_A,)


# --- validation --------------------------------------------------------------------------


def test_naive_started_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="started_after"):
        RuleJobWatch.create([RULE_A], started_after=datetime(2026, 3, 1, 12, 0))


def test_missing_started_after_without_job_ids_is_rejected() -> None:
    with pytest.raises(ValueError, match="started_after"):
        RuleJobWatch.create([RULE_A])


def test_bare_string_rule_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="rule_ids"):
        RuleJobWatch.create(RULE_A, started_after=T0)


def test_empty_rule_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="rule_ids"):
        RuleJobWatch.create([], started_after=T0)


def test_bad_job_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="job_ids"):
        RuleJobWatch.create([RULE_A], job_ids=["not-a-job"])


# --- Vault --------------------------------------------------------------------------------


def test_vault_success_is_done() -> None:
    outcome = evaluate_vault_jobs({1: "SUCCESS"}, vault_failure_status_set(None))
    assert outcome.done and outcome.succeeded == {1: "SUCCESS"}


def test_vault_cancelled_fails_by_default() -> None:
    outcome = evaluate_vault_jobs({1: "SUCCESS", 2: "CANCELLED"}, vault_failure_status_set(None))
    assert outcome.done
    assert outcome.failed == {2: "CANCELLED"}
    assert "job 2: CANCELLED" in outcome.failure_message()


def test_vault_custom_failure_statuses_without_cancelled_count_cancelled_as_done() -> None:
    outcome = evaluate_vault_jobs({2: "CANCELLED"}, vault_failure_status_set(["ERRORS_ENCOUNTERED"]))
    assert outcome.done
    assert outcome.failed == {}
    assert outcome.succeeded == {2: "CANCELLED"}


@pytest.mark.parametrize("status", ["SCHEDULED", "QUEUED", "QUEUEING", "RUNNING", "CANCELLING", "PAUSED"])
def test_vault_in_progress_and_unknown_statuses_keep_waiting(status: str) -> None:
    outcome = evaluate_vault_jobs({1: "SUCCESS", 2: status}, vault_failure_status_set(None))
    assert not outcome.done
    assert outcome.waiting == {2: status}


def test_vault_missing_status_keeps_waiting_as_unknown() -> None:
    outcome = evaluate_vault_jobs({3: None}, vault_failure_status_set(None))
    assert outcome.waiting == {3: "unknown"}


def test_vault_failure_while_others_wait_ends_the_wait() -> None:
    outcome = evaluate_vault_jobs({1: "RUNNING", 2: "TIMEOUT"}, vault_failure_status_set(None))
    assert outcome.done and outcome.failed == {2: "TIMEOUT"}


def test_vault_outcome_json_uses_string_job_ids() -> None:
    outcome = evaluate_vault_jobs({1: "SUCCESS", 2: "RUNNING"}, vault_failure_status_set(None))
    assert outcome.to_json() == {"succeeded": {"1": "SUCCESS"}, "failed": {}, "waiting": {"2": "RUNNING"}}


# --- unknown statuses are logged once each, bounded -----------------------------------------


@pytest.fixture
def warned() -> Any:
    """The statuses already warned of (empty: every test starts with ``_state.reset()``)."""
    from clinical_rules_provider import _state

    return _state.WARNED_STATUSES


def unknown_status_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "clinical_rules_provider.job_watch"]


def test_an_unknown_status_is_logged_once_saying_it_counts_as_running(
    warned: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="clinical_rules_provider.job_watch"):
        warn_unknown_status("Frobnicating")
        warn_unknown_status("Frobnicating")
    assert unknown_status_warnings(caplog) == [
        "Unknown rule job status 'Frobnicating' treated as still running"
    ]


@pytest.mark.parametrize(
    ("length", "shown"),
    [(100, "S" * 100), (101, "S" * 97 + "...")],
    ids=["100-kept", "101-cut"],
)
def test_an_unknown_status_is_shown_up_to_100_characters(
    warned: Any, caplog: pytest.LogCaptureFixture, length: int, shown: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="clinical_rules_provider.job_watch"):
        warn_unknown_status("S" * length)
    assert unknown_status_warnings(caplog) == [f"Unknown rule job status {shown!r} treated as still running"]
    assert list(warned.snapshot()) == [shown]


def test_the_unknown_statuses_remembered_are_the_newest_256(warned: Any) -> None:
    for n in range(257):
        warn_unknown_status(f"status {n}")
    remembered = list(warned.snapshot())
    assert len(remembered) == 256
    assert remembered[0] == "status 1"
    assert remembered[-1] == "status 256"


# --- outcomes as messages and JSON ------------------------------------------------------------


def test_the_failure_message_names_every_failed_job_in_rule_order() -> None:
    outcome = RuleJobWatch.create([RULE_B, RULE_A], started_after=T0).evaluate(
        {RULE_A: [job(RULE_A, JOB_NEW, "Failed", T0)], RULE_B: [job(RULE_B, JOB_NEWER, "Failed", T0)]}
    )
    first, second = sorted([RULE_A, RULE_B])
    jobs = {RULE_A: JOB_NEW, RULE_B: JOB_NEWER}
    assert outcome.failure_message() == (
        f"2 rule job(s) ended in a failure status: {first} (job {jobs[first]}): Failed; "
        f"{second} (job {jobs[second]}): Failed"
    )


def test_outcome_json_keys_failed_jobs_by_their_id_as_text() -> None:
    outcome = evaluate_vault_jobs({7: "ERRORS_ENCOUNTERED"}, frozenset({"ERRORS_ENCOUNTERED"}))
    assert outcome.to_json()["failed"] == {"7": "ERRORS_ENCOUNTERED"}


def test_a_job_without_a_start_date_is_json_with_a_null_date() -> None:
    from clinical_rules_provider.job_watch import WatchOutcome

    assert WatchOutcome.value_json(job(RULE_A, JOB_NEW, "Success", None)) == {
        "job_id": JOB_NEW,
        "status": "Success",
        "job_start_date": None,
    }


def test_a_rule_without_a_job_does_not_stop_the_next_rule_being_classified() -> None:
    outcome = RuleJobWatch.create([RULE_A, RULE_B], started_after=T0).evaluate(
        {RULE_B: [job(RULE_B, JOB_NEW, "Success", T0)]}
    )
    assert outcome.waiting == {RULE_A: "no matching job yet"}
    assert list(outcome.succeeded) == [RULE_B]


def test_a_job_without_a_status_keeps_waiting_with_an_empty_reason() -> None:
    outcome = watch().evaluate({RULE_A: [job(RULE_A, JOB_NEW, None, T0)]})
    assert outcome.waiting == {RULE_A: ""}


def test_bad_watch_input_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^rule_ids"):
        RuleJobWatch.create(["nope"], started_after=T0)
    with pytest.raises(ValueError, match=r"^job_ids"):
        RuleJobWatch.create([RULE_A], job_ids=["nope"])
    with pytest.raises(ValueError) as info:
        RuleJobWatch.create([RULE_A])
    assert str(info.value) == "started_after: expected an aware datetime when no job_ids are given"
