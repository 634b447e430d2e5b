"""The three user jobs as one reliability run, each followed by checks of the simulator's state."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.testing import (
    EXAMPLE_STUDY_ID,
    FAILING_RULE_ID,
    STALE_RULE_ID,
    UNCANCELLABLE_RULE_ID,
    LiveSimulator,
)
from clinical_rules_provider.testing.job_audit import rule_job_counts, rules_run_twice
from reliability.harness import context_for, run_task

STUDY, MODE = EXAMPLE_STUDY_ID, "test"
SCREENING_FORM = "39903D6C-042D-4D9E-8977-3160488E6D3D"
SUCCESS_RULE = "938D23FA6B7241CCA41BD627E5DB60DA"
FAST = {"poll_interval": 0.1, "timeout": 60}


class Checks:
    """Named pass/fail checks of one run, with details for the failures."""

    def __init__(self) -> None:
        self.results: dict[str, bool] = {}
        self.details: dict[str, str] = {}

    def check(self, name: str, ok: bool, detail: Any = "") -> None:
        self.results[name] = bool(ok)
        if not ok:
            self.details[name] = str(detail)[:500]

    @property
    def ok(self) -> bool:
        return all(self.results.values())


def _expect_failure(task: Any, context: dict[str, Any], upstream: tuple[str, ...] = ()) -> str:
    try:
        run_task(task, context, upstream)
    except AirflowException as exc:
        return str(exc)
    return ""


def republish(sim: LiveSimulator, checks: Checks, xcoms: dict[tuple[str, str], Any]) -> None:
    """Filter -> publish -> deferrable sensor; only the filtered rules change scope."""
    from clinical_rules_provider.operators.filter_rules import ClinicalOneFilterRulesOperator
    from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

    before = {r.rule_id: r.publish_run for r in sim.state.rules(STUDY, MODE)}
    start = utc_now()
    find = ClinicalOneFilterRulesOperator(
        task_id="find_rules",
        form_id=SCREENING_FORM,
        user_name="jsmith",
        rule_states=["publish", "approved"],
        enabled=True,
    )
    ids = run_task(find, context_for("find_rules", xcoms, start))
    publish = ClinicalOneUpdatePublishRunOperator(task_id="publish", publish_run="AllData", rule_ids=ids)
    report = run_task(publish, context_for("publish", xcoms, start))
    sensor = ClinicalOneRuleJobSensor(task_id="wait", rule_ids=report["rule_ids"], deferrable=True, **FAST)
    outcome = run_task(sensor, context_for("wait", xcoms, start), upstream=("publish",))
    checks.check(
        "republish: filter found the 2 screening rules of jsmith",
        sorted(ids) == sorted(["704A7178208D44BC9AD52556B18933C3", "8E2253D8E53A4A46BAE3E4952CBE9E5A"]),
        ids,
    )
    checks.check(
        "republish: every selected rule updated",
        sorted(report["rule_ids"]) == sorted(ids) and not report["failed"],
        report["failed"],
    )
    checks.check(
        "republish: sensor saw every new job succeed", sorted(outcome["succeeded"]) == sorted(ids), outcome
    )
    after = {r.rule_id: r.publish_run for r in sim.state.rules(STUDY, MODE)}
    wrong = {
        r: (before[r], after[r])
        for r in after
        if (after[r] == "AllData") != (r in ids or before[r] == "AllData")
    }
    checks.check("republish: no rule republished to the wrong scope", not wrong, wrong)
    twice = rules_run_twice(sim.state, since=start)
    checks.check("republish: no rule run twice by the publish task", not twice, twice)


def gate(sim: LiveSimulator, checks: Checks, xcoms: dict[tuple[str, str], Any]) -> None:
    """A failed rule job stops the gate with a message naming the rule."""
    from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
    from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor

    start = utc_now()
    rerun = ClinicalOneUpdatePublishRunOperator(
        task_id="rerun", publish_run="AllData", rule_ids=[FAILING_RULE_ID, SUCCESS_RULE]
    )
    report = run_task(rerun, context_for("rerun", xcoms, start))
    runs = rule_job_counts(sim.state, since=start)
    checks.check(
        "gate: each published rule ran exactly once",
        runs == {FAILING_RULE_ID: 1, SUCCESS_RULE: 1},
        dict(runs),
    )
    sensor = ClinicalOneRuleJobSensor(task_id="gate", rule_ids=report["rule_ids"], deferrable=True, **FAST)
    message = _expect_failure(sensor, context_for("gate", xcoms, start), upstream=("rerun",))
    checks.check(
        "gate: failed rule job fails the gate naming the rule",
        FAILING_RULE_ID in message and "Failed" in message,
        message,
    )


def cancel_stale(sim: LiveSimulator, checks: Checks, xcoms: dict[tuple[str, str], Any]) -> None:
    """Stale rule and Vault jobs cancelled once each; the uncancellable one reported."""
    from clinical_rules_provider.operators.cancel import (
        ClinicalOneCancelStaleRuleJobsOperator,
        VaultCancelStaleJobsOperator,
    )

    start = utc_now()
    rules = ClinicalOneCancelStaleRuleJobsOperator(task_id="stale_rules", older_than=timedelta(hours=1))
    message = _expect_failure(rules, context_for("stale_rules", xcoms, start))
    report = xcoms.get(("stale_rules", "return_value")) or {}
    cancelled = {c["rule_id"] for c in report.get("cancelled", [])}
    checks.check(
        "cancel: stale rule jobs cancelled",
        {STALE_RULE_ID, "903EDE6051966B4AB439DFBDEDA22BD9"} <= cancelled,
        report,
    )
    checks.check(
        "cancel: uncancellable job reported, task failed",
        UNCANCELLABLE_RULE_ID in message and "Failed to cancel job" in message,
        message,
    )
    job = sim.state.latest_job(STUDY, MODE, STALE_RULE_ID)
    checks.check(
        "cancel: simulator shows the stale job Cancelled",
        job is not None and sim.state.job_status(job) == "Cancelled",
        job,
    )
    vault = VaultCancelStaleJobsOperator(task_id="stale_vault", older_than=timedelta(hours=1))
    vault_report = run_task(vault, context_for("stale_vault", xcoms, start))
    checks.check(
        "cancel: stale Vault jobs cancelled",
        sorted(vault_report["cancelled"]) == [1046892],
        vault_report,
    )
    statuses = {j.job_id: j.status for j in sim.state.vault_jobs()}
    left = {j: s for j, s in statuses.items() if j == 1046892 and s not in ("CANCELLING", "CANCELLED")}
    checks.check("cancel: nothing left uncancelled in Vault", not left, left)
    # Fresh, running, scheduled-for-later and another user's jobs are out of the default scope.
    checks.check(
        "cancel: fresh, running, scheduled and other users' Vault jobs untouched",
        (statuses[1068044], statuses[1068337], statuses[1043341], statuses[1046893])
        == ("QUEUED", "RUNNING", "SCHEDULED", "QUEUED"),
        statuses,
    )
    twice = cancelled_twice(sim)
    checks.check("cancel: nothing cancelled twice", not twice, twice)


def cancelled_twice(sim: LiveSimulator) -> dict[str, int]:
    """Ids that reached a cancel handler more than once.

    Faulted requests never reach a handler: injected errors answer before it, and an
    expired session or token is refused by the auth check before the handler runs. A
    request whose reply was lost (``lost_reply_*``) did reach it, but is not counted: its
    resend (cancels are safe to repeat) is.
    """
    seen: Counter[str] = Counter()
    for record in sim.state.request_log:
        if record.fault is not None or record.status != 200:
            continue
        if record.path.endswith("/cancelRuleJob"):
            seen.update(json.loads(record.body or b"{}").get("ruleIds", []))
        elif record.path.endswith("/jobs/actions/cancel"):
            seen.update(str(item["job_id"]) for item in json.loads(record.body or b"[]"))
    return {key: count for key, count in seen.items() if count > 1}


def one_run(sim: LiveSimulator) -> Checks:
    """All three user jobs against the simulator's current state."""
    checks = Checks()
    xcoms: dict[tuple[str, str], Any] = {}
    for scenario in (republish, gate, cancel_stale):
        try:
            scenario(sim, checks, xcoms)
        except Exception as exc:  # a crash is a failed run, reported with its cause
            checks.check(f"{scenario.__name__}: ran to completion", False, f"{type(exc).__name__}: {exc}")
    checks.xcoms = xcoms  # type: ignore[attr-defined]
    return checks
