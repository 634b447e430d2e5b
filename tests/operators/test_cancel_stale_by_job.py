"""The stale rule-job canceller cancels jobs, not rules: re-read before the cancel, job ids compared.

The cancel endpoint takes rule ids, so between detection and the cancel a stale job can end
and a fresh one start on the same rule. These tests change the simulator at exactly those
moments (after the detecting read, after the re-read) by wrapping the hook's reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.operators.cancel import ClinicalOneCancelStaleRuleJobsOperator
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A, RULE_B, STUDY, warnings_logged
from tests.operators.conftest import FakeTI

STALE_RULE = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # seeded: Running since 3 h, cancellable
UNCANCELLABLE_RULE = "0E1A63683F884B13A3E7BEE9CA4FF1EA"  # seeded: Running since 3 h, ignores cancel


def cancel_stale(conn_id: str, **kwargs: Any) -> ClinicalOneCancelStaleRuleJobsOperator:
    kwargs.setdefault("older_than", timedelta(hours=1))
    return ClinicalOneCancelStaleRuleJobsOperator(
        task_id="cancel_stale", clinical_one_conn_id=conn_id, **kwargs
    )


def after_read(monkeypatch: pytest.MonkeyPatch, number: int, change: Callable[[], None]) -> None:
    """Run ``change`` right after the hook's ``number``-th ``latest_jobs`` read (1: detection)."""
    original = ClinicalOneHook.latest_jobs
    reads = 0

    def wrapped(self: ClinicalOneHook, *args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        jobs = original(self, *args, **kwargs)
        reads += 1
        if reads == number:
            change()
        return jobs

    monkeypatch.setattr(ClinicalOneHook, "latest_jobs", wrapped)


def replace_stale_job(simulator: LiveSimulator, rule_id: str, *, fresh: bool = True) -> list[str]:
    """The rule's stale job ends (``Success``); with ``fresh``, a new never-ending job starts.

    Returns ``[stale job id]`` or ``[stale job id, fresh job id]``.
    """
    rule = simulator.state.rule(STUDY, "test", rule_id)
    assert rule is not None and rule.latest_job is not None
    stale = rule.latest_job
    stale.fixed_status = "Success"
    ids = [stale.job_id]
    if fresh:
        ids.append(simulator.state.start_job(rule, stuck=True).job_id)
    return ids


def rule_status(simulator: LiveSimulator, rule_id: str) -> str:
    job = simulator.state.latest_job(STUDY, "test", rule_id)
    assert job is not None
    return simulator.state.job_status(job)


def test_a_stale_job_replaced_between_detection_and_cancel_is_not_cancelled(
    sim_c1: str, simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    ids: list[str] = []
    after_read(monkeypatch, 1, lambda: ids.extend(replace_stale_job(simulator, STALE_RULE)))
    task = cancel_stale(sim_c1, rule_ids=[STALE_RULE, UNCANCELLABLE_RULE], fail_on_not_cancelled=False)
    report = task.execute(context)
    stale_id, fresh_id = ids
    assert rule_status(simulator, STALE_RULE) == "Running"  # the fresh job runs on
    [skipped] = report["skipped"]
    assert skipped["rule_id"] == STALE_RULE and skipped["job_id"] == stale_id
    assert (skipped["latest_job_id"], skipped["latest_status"]) == (fresh_id, "Running")
    assert fresh_id in skipped["reason"] and stale_id in skipped["reason"]
    [request] = simulator.state.requests_to("cancelRuleJob")
    assert request.json() == {"ruleIds": [UNCANCELLABLE_RULE]}
    assert report["outcomes"] == {STALE_RULE: "skipped", UNCANCELLABLE_RULE: "not_cancelled"}
    assert report["job_mismatch"] == []


def test_a_stale_job_that_ended_before_the_cancel_is_already_finished_and_sends_no_cancel(
    sim_c1: str, simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    after_read(monkeypatch, 1, lambda: replace_stale_job(simulator, STALE_RULE, fresh=False))
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE]).execute(context)
    [finished] = report["already_finished"]
    assert (finished["rule_id"], finished["status"]) == (STALE_RULE, "Success")
    assert report["cancelled"] == [] and report["skipped"] == []
    assert simulator.state.requests_to("cancelRuleJob") == []
    assert report["outcomes"] == {STALE_RULE: "already_finished"}


def test_the_reread_asks_only_for_the_stale_rules_in_one_bulk_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    rules = [STALE_RULE, UNCANCELLABLE_RULE, RULE_A, RULE_B]
    task = cancel_stale(sim_c1, rule_ids=rules, poll_endpoint="job_status", fail_on_not_cancelled=False)
    report = task.execute(context)
    detect, reread = simulator.state.requests_to("jobStatus")
    assert sorted(detect.json()["ruleIds"]) == sorted(rules)
    assert sorted(reread.json()["ruleIds"]) == sorted([STALE_RULE, UNCANCELLABLE_RULE])
    assert report["outcomes"] == {STALE_RULE: "cancelled", UNCANCELLABLE_RULE: "not_cancelled"}


def test_a_cancel_reply_naming_another_job_fails_the_task_after_pushing_the_report(
    sim_c1: str,
    simulator: LiveSimulator,
    monkeypatch: pytest.MonkeyPatch,
    ti: FakeTI,
    context: dict[str, Any],
) -> None:
    # The stale job ends and a fresh one starts after the re-read: the cancel hits the fresh one.
    ids: list[str] = []
    after_read(monkeypatch, 2, lambda: ids.extend(replace_stale_job(simulator, STALE_RULE)))
    with pytest.raises(AirflowException) as caught:
        cancel_stale(sim_c1, rule_ids=[STALE_RULE]).execute(context)
    stale_id, fresh_id = ids
    message = str(caught.value)
    assert "1 cancel(s) acted on another job than the stale one" in message
    assert STALE_RULE in message and fresh_id in message and stale_id in message
    report = ti.pushed("return_value")
    [mismatch] = report["job_mismatch"]
    assert (mismatch["job_id"], mismatch["reply_job_id"]) == (stale_id, fresh_id)
    assert mismatch["reply_status"] == "Cancelled"
    assert report["cancelled"] == []  # the stale job was not the one cancelled
    assert report["outcomes"] == {STALE_RULE: "job_mismatch"}


def test_a_job_mismatch_only_warns_when_fail_on_job_mismatch_is_false(
    sim_c1: str,
    simulator: LiveSimulator,
    monkeypatch: pytest.MonkeyPatch,
    ti: FakeTI,
    context: dict[str, Any],
) -> None:
    ids: list[str] = []
    after_read(monkeypatch, 2, lambda: ids.extend(replace_stale_job(simulator, STALE_RULE)))
    task = cancel_stale(sim_c1, rule_ids=[STALE_RULE], fail_on_job_mismatch=False)
    with warnings_logged() as warnings:
        report = task.execute(context)
    [mismatch] = report["job_mismatch"]
    assert mismatch["reply_job_id"] == ids[1]
    assert any(STALE_RULE in w and ids[1] in w for w in warnings), warnings
    assert ti.pushes == []


def test_a_reply_naming_the_stale_job_in_the_other_uuid_form_is_no_mismatch(
    sim_c1: str, simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    from clinical_rules_provider.testing import clinical_one_routes

    original = clinical_one_routes.ClinicalOneApi._entry
    cancel_reply = []  # set after the re-read: only the cancel reply is hyphenated

    def hyphenated(self: Any, *args: Any) -> dict[str, Any]:
        entry = original(self, *args)
        job_id = entry.get("jobId")
        if job_id and cancel_reply:
            entry["jobId"] = (
                f"{job_id[:8]}-{job_id[8:12]}-{job_id[12:16]}-{job_id[16:20]}-{job_id[20:]}".lower()
            )
        return entry

    monkeypatch.setattr(clinical_one_routes.ClinicalOneApi, "_entry", hyphenated)
    after_read(monkeypatch, 2, lambda: cancel_reply.append(True))
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE]).execute(context)
    assert report["outcomes"] == {STALE_RULE: "cancelled"}
    assert report["job_mismatch"] == []


def test_a_dry_run_names_each_stale_rule_and_reads_once(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = cancel_stale(sim_c1, rule_ids=[STALE_RULE, RULE_B], dry_run=True).execute(context)
    assert report["outcomes"] == {STALE_RULE: "dry_run"}
    assert len(simulator.state.requests_to("rerunhistory")) == 2  # detection only


def test_fail_on_job_mismatch_defaults_to_true() -> None:
    assert ClinicalOneCancelStaleRuleJobsOperator(task_id="s").fail_on_job_mismatch is True


def test_a_rule_without_a_job_on_re_read_or_without_a_stale_job_id_is_skipped_with_a_reason() -> None:
    from clinical_rules_provider.models.clinical_one import RuleJob
    from clinical_rules_provider.operators._reports import recheck_stale

    running = RuleJob(rule_id=RULE_A, job_id="1E2428167F66445BAB544C7CDD884E87", job_status="Running")
    stale = [
        {"rule_id": RULE_A, "job_id": None},
        {"rule_id": RULE_B, "job_id": "2E2428167F66445BAB544C7CDD884E87"},
    ]
    meant, skipped, finished = recheck_stale(stale, {RULE_A: running, RULE_B: None})
    assert meant == {} and finished == []
    reasons = {item["rule_id"]: item["reason"] for item in skipped}
    assert reasons == {
        RULE_A: "the stale job has no job id to check the cancel against",
        RULE_B: "no job found when re-read just before the cancel",
    }


def test_a_job_mismatch_decides_a_rules_outcome_over_its_other_entries(
    sim_c1: str, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    # A reply with a second entry per rule naming another job: the mismatch is the outcome,
    # whether the rule's own entry says Cancelled or Failed to cancel job.
    original = ClinicalOneHook.cancel_rule_jobs
    other = "9F2428167F66445BAB544C7CDD884E87"

    def with_strays(self: ClinicalOneHook, *args: Any) -> Any:
        result = original(self, *args)
        strays = [job.model_copy(update={"job_id": other}) for job in result.job_status]
        return result.model_copy(update={"job_status": [*result.job_status, *strays]})

    monkeypatch.setattr(ClinicalOneHook, "cancel_rule_jobs", with_strays)
    task = cancel_stale(
        sim_c1,
        rule_ids=[STALE_RULE, UNCANCELLABLE_RULE],
        fail_on_job_mismatch=False,
        fail_on_not_cancelled=False,
    )
    report = task.execute(context)
    assert [i["rule_id"] for i in report["cancelled"]] == [STALE_RULE]
    assert [i["rule_id"] for i in report["not_cancelled"]] == [UNCANCELLABLE_RULE]
    assert report["outcomes"] == {STALE_RULE: "job_mismatch", UNCANCELLABLE_RULE: "job_mismatch"}
