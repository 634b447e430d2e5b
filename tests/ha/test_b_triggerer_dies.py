"""A triggerer dies (``kill -9``) while 20 deferred sensors, a deadline-only wait and two
AssetWatchers wait on one study; the other triggerer takes them over.

Every sensor ends correctly within its absolute deadline, no rule job is cancelled (``on_kill``
is for user action only), the shared polls re-form in the survivor, and a job that finishes
while the dead triggerer's watches are down is still delivered once.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from tests.ha.dags.ha_sensors import NEVER_DONE_TIMEOUT, POLL_INTERVAL, SENSOR_TIMEOUT, SENSORS
from tests.ha.dags.ha_watchers import RULES as WATCHED
from tests.ha.helpers import kill_9, running, triggerer_job_id
from tests.stack.client import Airflow, StackProcess, requests_per_cycle, wait_until
from tests.stack.test_watchers import fired, publish

pytestmark = pytest.mark.ha
DAG = "ha_sensors"
TRIGGERERS = ("triggerer-1", "triggerer-2")


def _cycles(airflow: Airflow, start: datetime, end: datetime) -> list[int]:
    polls = [
        r
        for r in airflow.sim_requests_to("jobStatus", since=start)
        if datetime.fromisoformat(r["time"]) < end
    ]
    return requests_per_cycle(polls, POLL_INTERVAL)


def _seconds(ti: dict[str, str]) -> float:
    return (datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])).total_seconds()


def test_the_other_triggerer_takes_over_and_every_guarantee_holds(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    wait_until("the watchers to poll", lambda: airflow.sim_requests_to("jobStatus"), timeout=300, every=2)
    scenario_start = datetime.now(timezone.utc)
    airflow.sim_settings(running_seconds=120)  # the sensors' jobs outlast the triggerer's death
    run_id = airflow.trigger(DAG)

    def all_deferred() -> bool:
        tasks = airflow.tasks(DAG, run_id)
        return sum(ti["state"] == "deferred" for ti in tasks.values()) == SENSORS + 1

    wait_until(f"{SENSORS + 1} waits to be deferred at once", all_deferred, timeout=300, every=2)
    both_alive = datetime.now(timezone.utc)
    time.sleep(4 * POLL_INTERVAL)
    jobs = {name: triggerer_job_id(stack_process, name) for name in TRIGGERERS}
    on_job = Counter(
        (ti["triggerer_job"] or {}).get("id")
        for ti in airflow.tasks(DAG, run_id).values()
        if ti["state"] == "deferred"
    )
    victim = max(TRIGGERERS, key=lambda name: on_job.get(jobs[name], 0))
    dead_job = jobs[victim]
    watches = {name: running(stack_process, name) for name in TRIGGERERS}
    print(f"triggerer job ids {jobs}, deferred tasks per job {dict(on_job)}, {watches}; killing {victim}")
    assert dead_job is not None and on_job[dead_job] > 0
    assert sum(on_job.values()) == SENSORS + 1

    killed_at = datetime.now(timezone.utc)
    kill_9(stack_process, victim)
    airflow.sim_settings(running_seconds=1.5)
    during = {rule: publish(airflow, rule) for rule in WATCHED}  # done before anyone takes over

    def taken_over() -> bool:
        tasks = airflow.tasks(DAG, run_id).values()
        held = {(ti["triggerer_job"] or {}).get("id") for ti in tasks if ti["state"] == "deferred"}
        return bool(held) and dead_job not in held and None not in held

    wait_until(f"the other triggerer to run the {on_job[dead_job]} moved triggers", taken_over, 120, every=1)
    took_over_at = datetime.now(timezone.utc)
    print(f"taken over after {(took_over_at - killed_at).total_seconds():.0f} s")

    assert airflow.wait_run(DAG, run_id, timeout=420)["state"] == "failed"  # never_done, only
    tasks = airflow.tasks(DAG, run_id)
    waits = {task_id: ti for task_id, ti in tasks.items() if task_id.startswith("wait_")}
    assert {ti["state"] for ti in waits.values()} == {"success"}, {k: v["state"] for k, v in waits.items()}
    assert max(_seconds(ti) for ti in waits.values()) < SENSOR_TIMEOUT
    never_done = tasks["never_done"]
    assert never_done["state"] == "failed"
    # Its deadline passed after the takeover, on the survivor, and was kept, not restarted.
    deadline = datetime.fromisoformat(never_done["start_date"]).timestamp() + NEVER_DONE_TIMEOUT
    assert deadline > took_over_at.timestamp()
    print(
        f"never_done ended {_seconds(never_done):.0f} s after it started (deadline {NEVER_DONE_TIMEOUT:.0f} s)"
    )
    assert NEVER_DONE_TIMEOUT - 5 <= _seconds(never_done) < NEVER_DONE_TIMEOUT + 25

    assert airflow.sim_requests_to("cancelRuleJob", since=scenario_start) == []  # no user killed a task
    wait_until(
        "the jobs that finished while the watches were down to fire",
        lambda: all(job in fired(stack_process, WATCHED).get(rule, []) for rule, job in during.items()),
        timeout=120,
        every=2,
    )
    events = fired(stack_process, WATCHED)
    assert all(events[rule].count(job) == 1 for rule, job in during.items()), events

    ended = datetime.fromisoformat(tasks["never_done"]["end_date"])
    before, outage, after = (
        _cycles(airflow, both_alive, killed_at),
        _cycles(airflow, killed_at, took_over_at),
        _cycles(airflow, took_over_at, ended),
    )
    print(
        f"jobStatus requests per {POLL_INTERVAL:g} s cycle: two triggerers {before}, "
        f"outage {outage}, after the takeover {after}"
    )
    # One shared poll per study per triggerer (plus the watchers' own, every 3 s): after the
    # takeover the survivor polls for everything, so never more per cycle than two did.
    assert after and max(after) <= max(before) + 1, (before, after)
