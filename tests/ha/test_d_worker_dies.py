"""A worker dies (``kill -9``) in the middle of a publish on the CeleryExecutor stack.

The simulator does the work of a three-rule ``AllData`` PUT on arrival and holds the reply;
while the task waits for it, the Celery worker that runs it is killed with its whole process
tree (its pool, the task's supervisor and the task process), as when its host dies. The
scheduler fails the try once its heartbeat stops, Airflow retries it on the other worker, and
the retry reconciles from the publish ledger in the task state store (Airflow 3.3+): each rule
gets exactly one new job (by job id) and the service sees one publish PUT.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.ha.helpers import component_of, kill_9
from tests.stack.client import (
    Airflow,
    StackProcess,
    airflow_3_3_or_later,
    alive,
    requests_per_cycle,
    task_process,
    wait_until,
)
from tests.stack.test_watchers import hook

pytestmark = pytest.mark.ha
DAG = "stack_durable_publish"
STUDY = "36753A48BBA048CB98A5F3278146118D"  # the stack connection's study
RULES = [
    "938D23FA6B7241CCA41BD627E5DB60DA",
    "704A7178208D44BC9AD52556B18933C3",
    "8E2253D8E53A4A46BAE3E4952CBE9E5A",
]
PUBLISH = "/AllData"  # the publish-run PUT's path ends with the publish run
CYCLE = 5.0  # seconds per reported cycle of simulator requests


def _job_ids(airflow: Airflow) -> dict[str, set[str]]:
    """Every job id of each rule, as the service reports them (``jobStatus`` with history)."""
    with hook(airflow) as c1:
        jobs = c1.latest_jobs(STUDY, "test", RULES, poll_endpoint="job_status", history=True)
    return {rule: {str(job.job_id) for job in jobs[rule]} for rule in RULES}


def _ran(stack: StackProcess, worker: str, run_id: str) -> list[int]:
    """The tries of this run's publish that Celery handed ``worker`` (each try of a task is a
    new task instance id; its log path names the run, the task and the attempt)."""
    log = (stack.home / "logs" / f"{worker}.log").read_text(errors="replace")
    attempt = re.compile(re.escape(f"run_id={run_id}/task_id=publish/attempt=") + r"(\d+)\.log")
    return [
        int(found.group(1))
        for line in log.splitlines()
        if "Executing workload in Celery" in line and (found := attempt.search(line))
    ]


def _kinds(requests: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(f"{r['method']} {r['path'].rsplit('/', 1)[-1]}" for r in requests))


@pytest.mark.skipif(not airflow_3_3_or_later(), reason="the task state store arrives in Airflow 3.3")
def test_a_worker_killed_mid_publish_is_retried_on_the_other_worker_without_republishing(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    workers = {name for name in stack_process.state()["pids"] if name.startswith("worker-")}
    assert workers == {"worker-1", "worker-2"}
    before = _job_ids(airflow)
    first = len(airflow.sim_requests())  # this phase's requests are the log from here on
    jobs_before = airflow.sim_rule_jobs()
    # The service does the work on arrival and answers in two minutes: the kill lands in between.
    airflow.sim_faults(latency_ms=120_000, path_filter="AllData$")
    try:
        run_id = airflow.trigger(DAG, {"rule_ids": RULES})
        wait_until(
            "the publish to start the rules' jobs", lambda: airflow.sim_rule_jobs() >= jobs_before + 3, 180
        )
        port = urlsplit(airflow.sim_url).port
        assert port is not None
        ti_id = airflow.tasks(DAG, run_id)["publish"]["id"]
        (task,) = wait_until(
            "the task process waiting on its PUT", lambda: task_process(stack_process, ti_id, port), 30
        )
        victim = component_of(stack_process, task.pid)
        assert victim in workers, victim
        killed = kill_9(stack_process, victim)
        killed_at = time.monotonic()
        assert task.pid in {p.pid for p in killed}
    finally:
        airflow.sim_faults(clear=True, latency_ms=0)
    survivor = (workers - {victim}).pop()
    print(
        f"killed {victim} mid-PUT: {len(killed)} processes (worker, its pool, the task's supervisor and task)"
    )
    wait_until(f"{victim} to be gone", lambda: victim not in stack_process.state()["pids"], 30)
    wait_until("every process of the killed worker to exit", lambda: not alive(killed), 30)

    wait_until(
        "the scheduler to fail the dead try and schedule the retry",
        lambda: airflow.tasks(DAG, run_id)["publish"]["try_number"] >= 2,
        timeout=180,
    )
    failed_after = time.monotonic() - killed_at
    result = airflow.wait_run(DAG, run_id, timeout=240)
    ended_after = time.monotonic() - killed_at
    publish = airflow.tasks(DAG, run_id)["publish"]
    assert result["state"] == "success", airflow.tasks(DAG, run_id)
    assert publish["try_number"] == 2  # the dead try, then its retry
    assert _ran(stack_process, victim, run_id) == [1]
    assert _ran(stack_process, survivor, run_id) == [2]

    phase = airflow.sim_requests()[first:]
    after = _job_ids(airflow)
    new = {rule: sorted(after[rule] - before[rule]) for rule in RULES}
    puts = [r for r in phase if r["method"] == "PUT" and r["path"].endswith(PUBLISH)]
    print(
        f"try 1 failed {failed_after:.0f} s after the kill, run green {ended_after:.0f} s after it; "
        f"new jobs per rule { ({r[:8]: len(j) for r, j in new.items()}) }; publish PUTs {len(puts)}; "
        f"requests in the phase {_kinds(phase)}; per {CYCLE:g} s cycle {requests_per_cycle(phase, CYCLE)}"
    )
    assert {rule: len(jobs) for rule, jobs in new.items()} == dict.fromkeys(RULES, 1)  # one job each
    assert len(puts) == 1  # the retry sent nothing: it reconciled from the ledger
