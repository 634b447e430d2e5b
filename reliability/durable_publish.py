"""Publishing against the simulator's "realistic" tenant: no rule applied twice, none skipped.

The tenant's clock runs 3 minutes behind, it stamps jobs in New York time with whole seconds,
an accepted update waits in a queue before its job starts, and replies (publish-run replies
above all) are lost after the service has processed the request. Each run publishes a set of
rules with the operator as Airflow would (even runs lose 80% of the publish replies after
processing; odd runs draw every fault kind on every request at the given rate), retrying the task (a new ``execute()`` with the same
task state store) until it ends green; one run in four "kills the worker" between the PUT and
the moment its reply is recorded. Then it counts, per rule, the jobs the service started.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from clinical_rules_provider.testing.fault_config import LOST_REPLY_FAULTS

CONN_ID = "realistic_c1"
TRIES = 6  # a task's tries (Airflow retries); a run still failing after them is reported
FAULTS = sorted(LOST_REPLY_FAULTS | {"429", "502", "503", "504", "drop", "read_timeout"})


class WorkerKilled(BaseException):
    """The task process dying between the PUT and the moment its reply is recorded."""


def _connection(url: str) -> None:
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {
            "conn_type": "clinical_one",
            "host": url,
            "login": "demo-user",
            "password": "demo-password",
            "extra": {
                "study_id": "36753A48BBA048CB98A5F3278146118D",
                "study_mode": "test",
                "service_timezone": "America/New_York",
                "timeout": 0.75,
                "max_retries": 6,
                "retry_backoff": 0.02,
                "retry_max_backoff": 0.2,
                "publish_settle_seconds": 1.5,
                "publish_settle_poll_seconds": 0.1,
            },
        }
    )


def _one_run(sim: Any, run: int, fault_rate: float) -> dict[str, Any]:
    from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
    from clinical_rules_provider.testing.job_audit import rule_job_counts
    from clinical_rules_provider.testing.task_state import InMemoryTaskStateStore
    from reliability.harness import context_for

    state = sim.state
    state.reset()
    study = "36753A48BBA048CB98A5F3278146118D"
    size = 501 if run % 10 == 9 else 12  # every tenth run spans two 500-id chunks
    rules = [state.add_rule(study, "test").rule_id for _ in range(size)]
    if run % 2:  # every kind of fault on every request
        state.faults.configure(
            fault_rate=fault_rate, fault_kinds=FAULTS, seed=run, path_filter=None, retry_after=0
        )
    else:  # replies lost after processing, on most publish-run PUTs
        lost = sorted(LOST_REPLY_FAULTS)
        state.faults.configure(fault_rate=0.8, fault_kinds=lost, seed=run, path_filter="/AllData$")
    start = state.now()
    kill = run % 4 == 0

    def maybe_kill(key: str, value: Any) -> None:
        if kill and store.writes == 2:  # the first write after a send: its reply is in hand
            raise WorkerKilled

    store = InMemoryTaskStateStore(on_set=maybe_kill)
    tries, report, errors = 0, None, []
    while tries < TRIES and report is None:
        tries += 1
        task = ClinicalOneUpdatePublishRunOperator(
            task_id="publish", publish_run="AllData", rule_ids=rules, clinical_one_conn_id=CONN_ID
        )
        context = context_for("publish", {}, start)
        context["task_state_store"] = store
        try:
            report = task.execute(context)
        except (Exception, WorkerKilled) as exc:  # a failed try: Airflow retries the task
            errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
    state.faults.configure(fault_rate=0.0)
    time.sleep(state.job_queue_seconds)  # let queued jobs start before counting
    counts = rule_job_counts(state, since=start)
    return {
        "run": run,
        "rules": size,
        "tries": tries,
        "worker_killed": kill,
        "green": report is not None,
        "applied_twice": sorted(r for r in rules if counts.get(r, 0) > 1),
        "skipped": sorted(r for r in rules if counts.get(r, 0) == 0),
        "lost_publish_replies": sum(
            1 for r in state.request_log if r.fault in LOST_REPLY_FAULTS and "/AllData" in r.path
        ),
        "errors": errors[:3],
    }


def durable_runs(runs: int, fault_rate: float) -> dict[str, Any]:
    """``runs`` publishes under the realistic profile; every rule must end with exactly one job."""
    from clinical_rules_provider import job_options, task_helpers

    # Fast polls for jobs that finish within a second, restored after: this runs inside the
    # test suite's own process too (tests/reliability_runs), where later tests need the floors.
    saved = task_helpers.MIN_RULE_POLL_INTERVAL, job_options.MIN_FIRST_POLL_DELAY
    task_helpers.MIN_RULE_POLL_INTERVAL, job_options.MIN_FIRST_POLL_DELAY = 0.05, 0.0
    try:
        return _durable_runs(runs, fault_rate)
    finally:
        task_helpers.MIN_RULE_POLL_INTERVAL, job_options.MIN_FIRST_POLL_DELAY = saved


def _durable_runs(runs: int, fault_rate: float) -> dict[str, Any]:
    from clinical_rules_provider.testing import LiveSimulator, SimulatorState

    state = SimulatorState(
        profile="realistic", pending_seconds=0.1, running_seconds=0.2, job_queue_seconds=0.3
    )
    started = time.monotonic()
    per_run = []
    with LiveSimulator(state) as sim:
        _connection(sim.url)
        for run in range(runs):
            entry = _one_run(sim, run, fault_rate)
            per_run.append(entry)
            print(
                f"realistic publish {run + 1}/{runs}: tries={entry['tries']} twice={len(entry['applied_twice'])} "
                f"skipped={len(entry['skipped'])} lost={entry['lost_publish_replies']}",
                flush=True,
            )
    return {
        "runs": runs,
        "fault_rate": fault_rate,
        "fault_kinds": FAULTS,
        "profile": {
            "service_clock_offset_seconds": state.clock_offset_seconds,
            "service_timezone": state.service_timezone,
            "job_queue_seconds": state.job_queue_seconds,
            "second_precision_stamps": state.second_precision_stamps,
        },
        "rules_published": sum(r["rules"] for r in per_run),
        "rules_applied_twice": sum(len(r["applied_twice"]) for r in per_run),
        "rules_skipped": sum(len(r["skipped"]) for r in per_run),
        "runs_green": sum(1 for r in per_run if r["green"]),
        "workers_killed": sum(1 for r in per_run if r["worker_killed"]),
        "task_tries": sum(r["tries"] for r in per_run),
        "publish_replies_lost": sum(r["lost_publish_replies"] for r in per_run),
        "seconds": round(time.monotonic() - started, 1),
        "failures": [r for r in per_run if r["applied_twice"] or r["skipped"] or not r["green"]][:10],
    }


__all__ = ["durable_runs"]
