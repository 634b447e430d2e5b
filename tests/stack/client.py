"""What the stack tests drive: the stack process, Airflow's REST API and the simulator's log.

Every wait here has a timeout; nothing blocks without one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


def airflow_3_3_or_later() -> bool:
    """Airflow 3.3+ (shared streams, the asset and task state stores)."""
    from importlib.metadata import version

    return tuple(int(p) for p in re.findall(r"\d+", version("apache-airflow-core"))[:2]) >= (3, 3)


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """``check()``'s first truthy value; ``TimeoutError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(every)


class StackProcess:
    """``scripts/stack.py`` as ``make up`` runs it (or ``stack_ha.py``, ``make up-ha``, leaving a
    killed component down), in its own session; ``stop()`` is Ctrl-C."""

    def __init__(
        self, home: Path, script: str = "stack.py", dags: tuple[Path, ...] = (ROOT / "example_dags", DAGS)
    ) -> None:
        self.home = home
        self.state_file = home / "stack.json"
        self.state_file.unlink(missing_ok=True)
        self.log = (home.parent / f"{home.name}.out").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / script),
                *("--home", str(home), "--port", "0", "--sim-port", "0", "--password", "stack-test"),
                *(arg for folder in dags for arg in ("--dags", str(folder))),
                *(["--no-restart"] if script == "stack_ha.py" else []),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if data.get("supervisor_pid") == self.proc.pid else {}

    def wait_ready(self, timeout: float = 900) -> dict[str, Any]:
        def ready() -> dict[str, Any]:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the stack exited ({self.proc.returncode}); see {self.log.name}")
            state = self.state()
            return state if state.get("ready") else {}

        return dict(wait_until("the stack to be ready", ready, timeout))

    def family(self) -> list[psutil.Process]:
        """The supervisor's descendants, whatever process group they are in."""
        try:
            return list(psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 120) -> int:
        """Ctrl-C (SIGINT); SIGKILL the supervisor's group and family if it overstays."""
        if self.proc.poll() is None:
            family = self.family()
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for member in [*family, psutil.Process(self.proc.pid)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        member.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode


class Airflow:
    """The REST API of the stack's api-server, as the simple auth manager's admin."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.url = state["api_url"]
        self.sim_url = state["sim_url"]
        token = httpx.post(
            f"{self.url}/auth/token",
            json={"username": state["user"], "password": state["password"]},
            timeout=30,
        ).json()["access_token"]
        self.http = httpx.Client(
            base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None
    ) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        reply = self.http.post(f"/dags/{dag_id}/dagRuns", json=body)
        reply.raise_for_status()
        return str(reply.json()["dag_run_id"])

    def fail_unfinished_runs(self, dag_id: str) -> list[str]:
        """Mark the DAG's queued and running runs failed (a scheduled run may hold
        ``max_active_runs``); the ids of the runs it ended."""
        reply = self.http.get(f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})
        reply.raise_for_status()
        ended = [str(run["dag_run_id"]) for run in reply.json()["dag_runs"]]
        for run_id in ended:
            self.http.patch(
                f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}", json={"state": "failed"}
            ).raise_for_status()
        return ended

    def dags(self) -> dict[str, dict[str, Any]]:
        reply = self.http.get("/dags", params={"limit": 1000})
        reply.raise_for_status()
        return {d["dag_id"]: d for d in reply.json()["dags"]}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.http.patch(f"/dags/{dag_id}", json={"is_paused": paused}).raise_for_status()

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        reply = self.http.get(f"/dags/{dag_id}/dagRuns", params={"limit": 1000})
        reply.raise_for_status()
        return list(reply.json()["dag_runs"])

    def unpause(self, dag_id: str, timeout: float = 120) -> str:
        """Unpause a DAG the stack keeps paused; the id of the scheduled run that unpausing starts."""
        self.set_paused(dag_id, False)
        scheduled = wait_until(
            f"{dag_id}'s scheduled run",
            lambda: [r for r in self.runs(dag_id) if r["run_type"] == "scheduled"],
            timeout,
        )
        return str(scheduled[0]["dag_run_id"])

    def unpause_past_its_scheduled_run(self, dag_id: str, timeout: float = 120) -> None:
        """Unpause and end the scheduled run that unpausing starts (it would hold
        ``max_active_runs``), so a test's own run goes next."""
        self.unpause(dag_id, timeout)
        self.fail_unfinished_runs(dag_id)

    def sim_reset(self) -> None:
        """Re-seed the simulator: its seeded jobs are back as they started."""
        httpx.post(f"{self.sim_url}/_sim/reset", timeout=30).raise_for_status()

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links"
        reply = self.http.get(path)
        reply.raise_for_status()
        return dict(reply.json()["extra_links"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        reply = self.http.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        reply.raise_for_status()
        return dict(reply.json())

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """The finished run (``state`` success or failed)."""

        def finished() -> dict[str, Any]:
            run = self.run(dag_id, run_id)
            return run if run["state"] in TERMINAL_RUN_STATES else {}

        return dict(wait_until(f"{dag_id} run {run_id} to finish", finished, timeout))

    def tasks(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        reply = self.http.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        reply.raise_for_status()
        return {ti["task_id"]: ti for ti in reply.json()["task_instances"]}

    def wait_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 180
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            ti = self.tasks(dag_id, run_id).get(task_id, {})
            return ti if ti.get("state") == state else {}

        return dict(wait_until(f"{dag_id}.{task_id} to be {state}", reached, timeout, every=0.5))

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        self.http.patch(path, json={"new_state": state}).raise_for_status()

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/v2/monitor/health", timeout=30).json())

    # --- the simulator ----------------------------------------------------------------------

    def sim_settings(self, **values: Any) -> None:
        httpx.post(f"{self.sim_url}/_sim/settings", json=values, timeout=30).raise_for_status()

    def sim_faults(self, **values: Any) -> dict[str, Any]:
        """Set the simulator's faults (``POST /_sim/faults``: ``latency_ms``, ``path_filter``,
        ``clear``, ...); the faults now in force."""
        reply = httpx.post(f"{self.sim_url}/_sim/faults", json=values, timeout=30)
        reply.raise_for_status()
        return dict(reply.json())

    def sim_rule_jobs(self) -> int:
        """How many rule jobs the simulator holds, all studies (``GET /_sim/state``)."""
        reply = httpx.get(f"{self.sim_url}/_sim/state", timeout=30)
        reply.raise_for_status()
        return sum(reply.json()["ruleJobs"].values())

    def sim_requests(self, limit: int = 100_000) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.sim_url}/_sim/requests", params={"limit": limit}, timeout=30)
        return list(reply.json()["requests"])

    def sim_requests_to(self, fragment: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Requests whose path contains ``fragment`` (any case), at/after ``since``."""
        return [
            r
            for r in self.sim_requests()
            if fragment.lower() in r["path"].lower()
            and (since is None or datetime.fromisoformat(r["time"]) >= since)
        ]


def alive(processes: list[psutil.Process]) -> list[str]:
    """Those of ``processes`` still running (a zombie only waits to be reaped: not running)."""
    left = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {' '.join(process.cmdline()[:3])}")
    return left


def ctrl_c_leaves_nothing(stack: StackProcess, timeout: float) -> list[str]:
    """Ctrl-C the stack and wait until every process it had started has exited; their command
    lines. ``AssertionError`` naming the survivors when one is still running 10 s later."""
    family, commands = [], []
    for process in stack.family():
        try:
            commands.append(" ".join(process.cmdline()[:3]))
            family.append(process)
        except psutil.Error:  # exited (a zombie until reaped) since it was listed
            pass
    assert stack.stop(timeout=timeout) == 0
    try:
        wait_until("every process of the stack to exit", lambda: not alive(family), timeout=10, every=0.5)
    except TimeoutError:
        raise AssertionError(f"still running after Ctrl-C: {alive(family)}") from None
    print(f"processes started: {len(family)}; left running after Ctrl-C: {len(alive(family))}")
    return commands


def task_process(stack: StackProcess, ti_id: str, port: int) -> list[psutil.Process]:
    """The task's own process while a request of it waits for the reply: titled after the task
    instance (``airflow worker -- <ti id>``) and holding a connection to ``port`` (its
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


def requests_per_cycle(requests: list[dict[str, Any]], interval: float) -> list[int]:
    """Simulator requests grouped into poll cycles of ``interval`` s (from the first request).

    The coalescing check of issue 16 (item 4) compares these counts with the physical floor
    (⌈distinct rules / 500⌉ with ``poll_endpoint="job_status"``); without coalescing every
    deferred sensor adds its own requests to each cycle.
    """
    if not requests:
        return []
    times = sorted(datetime.fromisoformat(r["time"]).timestamp() for r in requests)
    cycles = [0] * (math.floor((times[-1] - times[0]) / interval) + 1)
    for t in times:
        cycles[math.floor((t - times[0]) / interval)] += 1
    return cycles


def trigger_log(home: Path, dag_id: str, run_id: str, task_id: str) -> str:
    """What the triggerer logged for this task's triggers (``attempt=N.log.trigger.<job>.log``)."""
    folder = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "".join(p.read_text(errors="replace") for p in sorted(folder.glob("attempt=*.log.trigger.*")))


def race_runs(airflow: Airflow, runs: int, batch: int, first_poll_delay: float | None) -> list[str]:
    """Run ``stack_race`` ``runs`` times (``batch`` at a time); the ids of the runs that failed.

    ``first_poll_delay=None`` keeps the provider's choice, ``0`` polls at once (as before
    issue 16). A failed run here is the scheduler race of apache/airflow #66374: the
    simulator's jobs always succeed.
    """
    failed = []
    for start in range(0, runs, batch):
        ids = [
            airflow.trigger("stack_race", {"first_poll_delay": first_poll_delay})
            for _ in range(min(batch, runs - start))
        ]
        failed += [r for r in ids if airflow.wait_run("stack_race", r, timeout=300)["state"] != "success"]
    return failed


if __name__ == "__main__":  # python -m tests.stack.client <stack home> <runs> <delay|default>
    home, count, delay = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    client = Airflow(json.loads((home / "stack.json").read_text()))
    started = time.monotonic()
    lost = race_runs(client, count, 4, None if delay == "default" else float(delay))
    print(json.dumps({"first_poll_delay": delay, "runs": count, "failed": len(lost), "failed_runs": lost}))
    print(f"{time.monotonic() - started:.0f} s")
