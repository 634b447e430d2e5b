"""Five AssetWatchers on one study in the stack's triggerer (issue 22, Airflow 3.3+).

One shared ``jobStatus`` poll per cycle for all five, one asset event per finished job, and
a job that finishes while the triggerer restarts fires after the restart (the watermark in
the asset state store).

Events are counted per asset in the metadata database (what a consumer sees), not from the
triggerer's log: the stack also runs ``example_dags/rule_job_watcher.py``, another trigger
that watches ``RULES[0]`` and ``RULES[2]`` of the same study, whose log lines carry the same
payload. Counting every "Trigger fired event" line once added its event (it fires the job
once, after the restart, when it had lived long enough to store its own watermark: in the
full ``-m stack`` sequence, not alone) to this watcher's own repeat, and showed three.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import time
from contextlib import closing
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


def events(stack: StackProcess) -> dict[str, list[str]]:
    """Job ids of the asset events of the stack's watchers, per rule (``stack_rule_jobs_N``
    holds the events of ``RULES[N]``), from the metadata database (the REST API's asset-event
    list fails while a run it created is queued)."""
    with closing(sqlite3.connect(f"file:{stack.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute(
            "SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
            " WHERE a.name LIKE 'stack_rule_jobs_%' ORDER BY e.id"
        ).fetchall()
    jobs: dict[str, list[str]] = {}
    for name, extra in rows:
        jobs.setdefault(RULES[int(name.rsplit("_", 1)[1])], []).append(json.loads(extra)["payload"]["job_id"])
    return jobs


def watermark_covers(stack: StackProcess, asset: str, rule_id: str, started: datetime) -> bool:
    """Whether the watermark stored for ``asset`` already covers a job of ``rule_id`` that
    started at ``started`` (so a restart now must not repeat it)."""
    with closing(sqlite3.connect(f"file:{stack.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)) as db:
        row = db.execute(
            "SELECT s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id"
            " WHERE a.name = ? AND s.key = 'clinical_rules.rule_job_watch'",
            (asset,),
        ).fetchone()
    mark = json.loads(row[0]) if row else {}
    if isinstance(mark, str):
        mark = json.loads(mark)
    return int(mark.get("rules", {}).get(rule_id, 0)) >= math.floor(started.timestamp() * 1000)


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
    wait_until("the first job's event", lambda: first in events(stack_process).get(RULES[0], []), timeout=120)
    with hook(airflow) as c1:
        first_started = latest(c1, RULES[0]).job_start_date

    old = stack_process.state()["pids"]["triggerer"]
    # Read before the stop: a watermark is only ever moved forward, so if it covers the job
    # now, it covers it at the stop too.
    covered = watermark_covers(stack_process, "stack_rule_jobs_0", RULES[0], first_started)
    os.killpg(old, signal.SIGTERM)  # as a redeploy would; the stack starts a new triggerer
    during = publish(airflow, RULES[1])  # Pending 0.5 s, Running 1.5 s: done before a triggerer is back
    wait_until("a new triggerer", lambda: stack_process.state()["pids"]["triggerer"] != old, timeout=120)
    with hook(airflow) as c1:
        assert latest(c1, RULES[1]).status == "Success"  # it finished while no watch ran
    wait_until("the restart's event", lambda: during in events(stack_process).get(RULES[1], []), timeout=180)
    time.sleep(3 * POLL_INTERVAL)  # room for a repeat to show
    fired = events(stack_process)
    assert fired[RULES[1]].count(during) == 1, fired[RULES[1]]
    logs = "".join(
        p.read_text(errors="replace") for p in (stack_process.home / "logs").glob("triggerer*.log")
    )
    assert "Resuming rule jobs" in logs  # the new triggerer read the watermarks back
    # At least once, at most one repeat per restart. The watermark is written one poll cycle
    # (3 s here) after the events it covers were handed to the triggerer (Airflow gives a
    # trigger no word of when its events are stored), and this test stops the triggerer as
    # soon as the event is stored: usually inside that cycle, so the new triggerer resumes
    # from the watermark before it and fires the job once more. Never a third time: the new
    # watch remembers it fired it, and stores that a cycle later.
    count = fired[RULES[0]].count(first)
    print(f"first job's asset events: {count} (its watermark was stored before the stop: {covered})")
    assert 1 <= count <= (1 if covered else 2), fired[RULES[0]]
