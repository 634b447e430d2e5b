"""A worker killed mid-publish on a real stack: the task process is SIGKILLed after its
``AllData`` PUT reached the service and before the reply came back. Airflow retries the task,
and the retry applies no rule twice (Airflow 3.3+: the publish ledger in the task state store)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from tests.stack.client import Airflow, StackProcess, wait_until

pytestmark = pytest.mark.stack
DAG = "stack_durable_publish"
RULES = [
    "938D23FA6B7241CCA41BD627E5DB60DA",
    "704A7178208D44BC9AD52556B18933C3",
    "8E2253D8E53A4A46BAE3E4952CBE9E5A",
]
PUBLISH = "/AllData"  # the publish-run PUT's path ends with the publish run


def _airflow_3_3_or_later() -> bool:
    from importlib.metadata import version

    return tuple(int(p) for p in re.findall(r"\d+", version("apache-airflow-core"))[:2]) >= (3, 3)


def _sim(airflow: Airflow, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = f"{airflow.sim_url}/_sim/{path}"
    reply = httpx.post(url, json=body, timeout=30) if body is not None else httpx.get(url, timeout=30)
    reply.raise_for_status()
    return dict(reply.json())


def _rule_jobs(airflow: Airflow) -> int:
    return sum(_sim(airflow, "state")["ruleJobs"].values())


def _task_process(stack: StackProcess, ti_id: str, port: int) -> list[psutil.Process]:
    """The task's own process while its publish PUT waits for the reply: titled after the task
    instance (``airflow worker -- <ti id>``) and holding a connection to the simulator (its
    supervisor never calls the service; the triggerer's watchers do, but are not this task)."""
    found = []
    for process in stack.family():
        try:
            if ti_id not in " ".join(process.cmdline()):
                continue
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(c.raddr and c.raddr.port == port and c.status == "ESTABLISHED" for c in connections):
            found.append(process)
    return found


@pytest.mark.skipif(not _airflow_3_3_or_later(), reason="the task state store arrives in Airflow 3.3")
def test_a_task_killed_after_its_publish_reached_the_service_is_retried_without_republishing(
    airflow: Airflow, stack_process: StackProcess
) -> None:
    airflow.sim_reset()
    jobs_before = _rule_jobs(airflow)
    # The service does the work on arrival and answers a minute later: the kill lands in between.
    _sim(airflow, "faults", {"latency_ms": 60_000, "path_filter": "AllData$"})
    try:
        run_id = airflow.trigger(DAG, {"rule_ids": RULES})
        wait_until(
            "the publish to start the rules' jobs", lambda: _rule_jobs(airflow) == jobs_before + 3, 120
        )
        port = urlsplit(airflow.sim_url).port
        assert port is not None
        ti_id = airflow.tasks(DAG, run_id)["publish"]["id"]
        (task,) = wait_until(
            "the task process waiting on its PUT", lambda: _task_process(stack_process, ti_id, port), 30
        )
        task.kill()  # SIGKILL: no finally, no on_kill, nothing recorded after the PUT
    finally:
        _sim(airflow, "faults", {"clear": True, "latency_ms": 0})
    result = airflow.wait_run(DAG, run_id, timeout=300)
    assert result["state"] == "success", airflow.tasks(DAG, run_id)
    publish = airflow.tasks(DAG, run_id)["publish"]
    assert publish["try_number"] == 2  # the kill failed the first try; Airflow retried it
    assert _rule_jobs(airflow) == jobs_before + 3  # each rule ran once: the retry resent nothing
    assert len(airflow.sim_requests_to(PUBLISH)) == 1
