"""`make demo`: the simulator on loopback, every hook method, then the three example DAGs.

Real HTTP over 127.0.0.1 and connections from ``AIRFLOW_CONN_*``, as a deployment would
use; the DAGs run with ``dag.test()`` (deferral included) against a local SQLite Airflow
home. Exits non-zero if anything differs from what the simulator's seed implies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from clinical_rules_provider.testing import (  # noqa: E402 - Airflow reads the env above on import
    EXAMPLE_STUDY_ID,
    STALE_RULE_ID,
    UNCANCELLABLE_RULE_ID,
    LiveSimulator,
    SimulatorState,
)

STUDY, MODE = EXAMPLE_STUDY_ID, "test"
problems: list[str] = []


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def check(ok: bool, what: str) -> None:
    print(f"   [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        problems.append(what)


def configure_connections(url: str) -> None:
    os.environ["AIRFLOW_CONN_CLINICAL_ONE_DEFAULT"] = json.dumps(
        {
            "conn_type": "clinical_one",
            "host": url,
            "login": "demo-user",
            "password": "demo-password",
            "extra": {"study_id": STUDY, "study_mode": MODE, "service_timezone": "UTC"},
        }
    )
    os.environ["AIRFLOW_CONN_VEEVA_VAULT_DEFAULT"] = json.dumps(
        {
            "conn_type": "veeva_vault",
            "host": url,
            "login": "integration@sim.example",
            "password": "sim-password",
            "extra": {"client_id": "airflow-demo"},
        }
    )


def clinical_one(sim: LiveSimulator) -> None:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.models.enums import rule_job_phase

    hook = ClinicalOneHook()
    section("Clinical One: test_connection")
    ok, message = hook.test_connection()
    check(ok, message)

    section("Clinical One: list_rules (filter: enabled, state publish/approved)")
    rules = list(hook.list_rules(STUDY, MODE, enabled=True, rule_states=["publish", "approved"], page_size=5))
    for rule in rules:
        print(f"   {rule.rule_id}  {rule.rule_state:<10} {rule.rule_name}")
    expected = [
        r for r in sim.state.rules(STUDY, MODE) if r.enabled and r.rule_state in ("publish", "approved")
    ]
    check(
        len(rules) == len(expected),
        f"{len(rules)} rules listed over pages of 5; simulator holds {len(expected)} matching",
    )

    section("Clinical One: update_publish_run -> AllData")
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    targets = [r.rule_id for r in rules if r.rule_id not in (STALE_RULE_ID, UNCANCELLABLE_RULE_ID)]
    results = hook.update_publish_run(STUDY, MODE.upper(), "alldata", [t.lower() for t in targets])
    for result in results:
        print(
            f"   {result.rule_id}  {'updated' if result.succeeded else 'FAILED: ' + str(result.failure_reason)}"
        )
    updated = [r.rule_id for r in results if r.succeeded and r.rule_id]
    check(
        len(results) == len(targets),
        f"{len(updated)}/{len(results)} rules switched to AllData, failures reported per rule",
    )

    section("Clinical One: get_rerun_history until the new jobs are terminal")
    deadline = time.monotonic() + 30
    latest: dict[str, str] = {}
    while time.monotonic() < deadline:
        for rule_id in updated:
            jobs = hook.get_rerun_history(STUDY, MODE, rule_id).jobs_since(started)
            latest[rule_id] = jobs[0].status if jobs else "no job yet"  # type: ignore[assignment]
        if all(rule_job_phase(s) in ("success", "failure") for s in latest.values()):
            break
        time.sleep(0.5)
    for rule_id, status in latest.items():
        print(f"   {rule_id}  {status}")
    check(
        all(rule_job_phase(s) in ("success", "failure") for s in latest.values()),
        "every new rule job reached a terminal status",
    )

    section("Clinical One: get_job_status (bulk v2.0 jobStatus)")
    bulk = hook.get_job_status(STUDY, MODE, updated)
    check(
        len(bulk.job_status) == len(updated) and not bulk.missing_rule_ids,
        f"{len(bulk.job_status)} latest jobs in one request",
    )

    section("Clinical One: async aget_rerun_history for all rules concurrently")

    async def all_histories() -> list[int]:
        async with ClinicalOneHook() as ahook:
            histories = await asyncio.gather(*(ahook.aget_rerun_history(STUDY, MODE, r) for r in updated))
        return [len(h.rule_history) for h in histories]

    counts = asyncio.run(all_histories())
    check(len(counts) == len(updated), f"{sum(counts)} history entries across {len(counts)} rules")

    section("Clinical One: cancel_rule_jobs on the stale rules")
    cancel = hook.cancel_rule_jobs(STUDY, MODE, [STALE_RULE_ID, UNCANCELLABLE_RULE_ID])
    for entry in cancel.job_status:
        print(f"   {entry.rule_id}  {entry.status}")
    statuses = {e.rule_id: e.status for e in cancel.job_status}
    check(statuses.get(STALE_RULE_ID) == "Cancelled", "stale job cancelled")
    check(
        statuses.get(UNCANCELLABLE_RULE_ID) == "Failed to cancel job",
        "'Failed to cancel job' reported, not hidden",
    )
    hook.close()


def vault(sim: LiveSimulator) -> None:
    from clinical_rules_provider.hooks.vault import VaultHook

    hook = VaultHook()
    section("Vault: test_connection")
    ok, message = hook.test_connection()
    check(ok, message)

    section("Vault: list_job_monitors (unfinished jobs)")
    # Scoped the way VaultCancelStaleJobsOperator scopes by default: only this connection's
    # user's jobs, SCHEDULED ones left alone, age from queueing or run start (not creation).
    from clinical_rules_provider.operators._vault_scope import age_since

    me = hook.current_user_id()
    now = datetime.now(timezone.utc)
    jobs = list(hook.list_job_monitors())
    stale = []
    for job in jobs:
        since = age_since(job)
        age = (now - since[1]).total_seconds() / 60 if since else float("nan")
        mine = str(job.created_by) == me
        print(
            f"   job {job.job_id:<8} {job.status_text:<11} {'mine ' if mine else 'other'} "
            f"{age:6.0f} min since {since[0] if since else '-':<14} {job.title or ''}"
        )
        if mine and job.status_text != "SCHEDULED" and since and now - since[1] > timedelta(hours=1):
            stale.append(job)
    check(
        bool(stale),
        f"{len(stale)} of {len(jobs)} unfinished jobs are mine, not scheduled, and waiting > 1 hour",
    )

    section("Vault: cancel_jobs on the stale jobs")
    results = hook.cancel_jobs([j.job_id for j in stale])
    for result in results:
        print(
            f"   job {result.job_id:<8} {'cancelling' if result.cancelled else 'NOT cancelled: ' + str(result.reason)}"
        )
    cancelled = [r.job_id for r in results if r.cancelled]
    check(
        len(results) == len(stale),
        f"{len(cancelled)} cancelled, {len(results) - len(cancelled)} refused, each reported",
    )

    section("Vault: get_job_status of a cancelled job")
    if cancelled:
        job = hook.get_job_status(cancelled[0])
        check(job.status_text in ("CANCELLING", "CANCELLED"), f"job {job.job_id} is {job.status_text}")
    hook.close()


def run_dag(dag_id: str, conf: dict[str, Any] | None = None, *, scheduled: bool = False) -> dict[str, Any]:
    """Run a DAG in its own process (scripts/run_dag.py) and return its JSON result.

    ``scheduled``: a run with a data interval (its timetable's, around now), like the
    scheduler's, instead of a manual run without one.
    """
    args = [sys.executable, str(ROOT / "scripts" / "run_dag.py"), dag_id] + (
        [json.dumps(conf)] if conf else []
    )
    if scheduled:
        args += ["--logical-date", "now"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-RESULT ")]
    if not lines:
        print(done.stdout[-3000:], done.stderr[-3000:])
        return {"dag_id": dag_id, "state": "crashed", "tasks": {}}
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("DAG-RESULT "))
    errors = [
        line.split("Exception: ", 1)[1]
        for line in done.stdout.splitlines()
        if "AirflowException: " in line or "AirflowFailException: " in line
    ]
    result["errors"] = list(dict.fromkeys(errors))
    return result


def show(result: dict[str, Any], expected_state: str, expected_tasks: dict[str, str]) -> dict[str, Any]:
    print(f"   dag run: {result['state']} in {result.get('seconds', '?')} s")
    for task_id, info in result["tasks"].items():
        print(f"   - {task_id:<26} {info.get('state')}")
    for error in result.get("errors", []):
        print(f"     ! {error[:300]}")
    check(result["state"] == expected_state, f"DAG run {result['state']} (expected {expected_state})")
    states = {t: i.get("state") for t, i in result["tasks"].items()}
    check(
        all(states.get(t) == s for t, s in expected_tasks.items()),
        f"task states as expected: {expected_tasks}",
    )
    return result["tasks"]


# The demo's own choices for the example DAGs' params: the seed's form and user, and a poll
# every second (the DAGs default to minutes, for real jobs).
REPUBLISH_CONF = {
    "form_id": "39903D6C-042D-4D9E-8977-3160488E6D3D",
    "user_name": "jsmith",
    "poll_interval_seconds": 1,
}
GATED_RULES = ["938D23FA6B7241CCA41BD627E5DB60DA", "704A7178208D44BC9AD52556B18933C3"]


def start_rule_jobs(rule_ids: list[str]) -> None:
    """What the gate DAG waits on is started outside it: here, by a publish from this process."""
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    with ClinicalOneHook() as hook:
        results = hook.update_publish_run(STUDY, MODE, "AllData", rule_ids)
    print(f"   started outside the DAG: jobs of {[r.rule_id for r in results]}")


def dags(sim: LiveSimulator) -> None:
    from clinical_rules_provider.testing import FAILING_RULE_ID

    state = sim.state
    state.reset()
    state.pending_seconds, state.running_seconds = 0.5, 4.0  # outlasts the sensor's first poke

    section("DAG republish_rules: filter -> update publish run -> deferrable sensor -> report")
    result = run_dag("republish_rules", REPUBLISH_CONF)
    tasks = show(result, "success", {"wait_for_rule_jobs": "success", "report": "success"})
    check(
        result.get("triggers") == ["ClinicalOneRuleJobTrigger"],
        f"the sensor deferred; triggers run: {result.get('triggers')}",
    )
    state.running_seconds = 1.5
    report = tasks.get("report", {}).get("xcom", {}).get("return_value", {})
    print(f"   report: {json.dumps(report)}")
    updated = report.get("updated", [])
    rules = {r: state.rule(STUDY, MODE, r) for r in updated}
    check(
        bool(updated) and all(r and r.publish_run == "AllData" for r in rules.values()),
        f"simulator: {len(updated)} rules now AllData",
    )

    section("DAG gate_on_rule_jobs: rule jobs started outside succeed -> downstream step runs")
    start_rule_jobs(GATED_RULES)
    show(
        run_dag("gate_on_rule_jobs", {"rule_ids": GATED_RULES, "poll_interval_seconds": 1}, scheduled=True),
        "success",
        {"rule_jobs_succeeded": "success", "load_downstream": "success"},
    )

    section("DAG gate_on_rule_jobs with a failing rule: the gate stops the pipeline")
    failing = [FAILING_RULE_ID, GATED_RULES[0]]
    start_rule_jobs(failing)
    result = run_dag("gate_on_rule_jobs", {"rule_ids": failing, "poll_interval_seconds": 1}, scheduled=True)
    show(result, "failed", {"rule_jobs_succeeded": "failed", "load_downstream": "upstream_failed"})
    check(
        any(FAILING_RULE_ID in e for e in result["errors"]),
        "the failure message names the failed rule and its status",
    )

    section("DAG cancel_stale_jobs, dry_run=true: report only")
    tasks = show(
        run_dag("cancel_stale_jobs", {"dry_run": True}), "success", {"cancel_stale_rule_jobs": "success"}
    )
    found = tasks["cancel_stale_rule_jobs"]["xcom"]["return_value"]["stale"]
    vault_found = tasks["cancel_stale_vault_jobs"]["xcom"]["return_value"]["stale"]
    print(
        f"   would cancel rule jobs of {[s['rule_id'] for s in found]} and Vault jobs {[s['job_id'] for s in vault_found]}"
    )
    job = state.latest_job(STUDY, MODE, STALE_RULE_ID)
    check(
        job is not None and state.job_status(job) == "Running", "simulator: nothing cancelled by the dry run"
    )

    section("DAG cancel_stale_jobs: cancel for real")
    tasks = show(
        run_dag("cancel_stale_jobs"),
        "failed",
        {"cancel_stale_rule_jobs": "failed", "cancel_stale_vault_jobs": "success"},
    )
    rule_report = tasks["cancel_stale_rule_jobs"]["xcom"]["return_value"]
    vault_report = tasks["cancel_stale_vault_jobs"]["xcom"]["return_value"]
    print(f"   rule jobs cancelled: {[c['rule_id'] for c in rule_report['cancelled']]}")
    print(
        f"   rule jobs not cancelled: {[(c['rule_id'], c['reason']) for c in rule_report['not_cancelled']]}"
    )
    print(
        f"   Vault jobs cancelled: {vault_report['cancelled']}; running, not cancellable: {vault_report['running_not_cancellable']}"
    )
    job = state.latest_job(STUDY, MODE, STALE_RULE_ID)
    check(job is not None and state.job_status(job) == "Cancelled", "simulator: stale rule job cancelled")
    stuck = state.latest_job(STUDY, MODE, UNCANCELLABLE_RULE_ID)
    check(
        stuck is not None and state.job_status(stuck) == "Running",
        "simulator: the uncancellable job still runs, and the task says so",
    )
    statuses = {j.job_id: j.status for j in state.vault_jobs()}
    check(
        all(statuses[j] in ("CANCELLING", "CANCELLED") for j in vault_report["cancelled"]),
        "simulator: stale Vault jobs cancelling",
    )


# --- Issue 15: event-driven (asset events on republish, the rule-job AssetWatcher trigger) ---


def event_driven(sim: LiveSimulator) -> None:
    """The asset-event DAG pair through real Airflow, and the watcher's trigger in-process."""
    import importlib.util
    from urllib.parse import urlsplit

    state = sim.state
    state.reset()
    state.pending_seconds, state.running_seconds = 0.3, 3.0
    os.environ["CLINICAL_ONE_ASSET_HOST"] = urlsplit(sim.url).netloc

    section("DAGs rules_asset_publisher -> rules_asset_consumer: an asset event per republish")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_asset_dags.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-RESULT ")]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("DAG-RESULT ")) if lines else {}
    if not lines:
        print(done.stdout[-3000:], done.stderr[-3000:])
    event = result.get("asset_event") or {}
    print(f"   asset: {event.get('uri')}")
    print(f"   event extra: {json.dumps(event.get('extra'))}")
    consumer = result.get("consumer") or {}
    consumed = consumer.get("tasks", {}).get("refresh_downstream", {}).get("return_value")
    print(f"   consumer read: {json.dumps(consumed)}")
    check(result.get("publisher", {}).get("state") == "success", "publisher DAG succeeded")
    extra = event.get("extra") or {}
    check(
        bool(extra.get("rule_ids")) and set(extra.get("job_ids", {})) == set(extra["rule_ids"]),
        "the asset event's extra names the republished rules and each rule's job",
    )
    check(
        consumer.get("state") == "success" and consumed == {"republished": extra.get("job_ids")},
        "consumer DAG ran on that event and read the extra from triggering_asset_events",
    )

    section("AssetWatcher trigger (rule_job_watcher), run in-process: one event per finished job")
    spec = importlib.util.spec_from_file_location(
        "rule_job_watcher", ROOT / "example_dags" / "rule_job_watcher.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    watcher = module.RULE_JOBS.watchers[0]
    classpath, kwargs = watcher.trigger.serialize()
    # The DAG polls every 30 s; here every second, the floor a real service gets.
    trigger = type(watcher.trigger)(**{**kwargs, "poll_interval": 1.0})
    state.pending_seconds, state.running_seconds = 0.5, 2.0
    started: list[str] = []

    async def watch() -> list[dict[str, Any]]:
        from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

        payloads: list[dict[str, Any]] = []

        async def consume() -> None:
            async for fired in trigger.run():
                payloads.append(fired.payload)
                print(
                    f"   event: rule {fired.payload['rule_id']} job {fired.payload['job_id']} {fired.payload['status']}"
                )

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(1.0)
        async with ClinicalOneHook() as hook:
            for _ in range(2):  # two republishes, 3 s apart: two jobs per rule, finishing over time
                before = {r: state.latest_job(STUDY, MODE, r) for r in kwargs["rule_ids"]}
                await hook.aupdate_publish_run(STUDY, MODE, "AllData", kwargs["rule_ids"])
                started.extend(
                    j.job_id
                    for r in kwargs["rule_ids"]
                    if (j := state.latest_job(STUDY, MODE, r)) is not None and j is not before[r]
                )
                await asyncio.sleep(3.0)
        await asyncio.sleep(3.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return payloads

    payloads = asyncio.run(watch())
    print(f"   watcher {watcher.name!r} -> {classpath.rsplit('.', 1)[1]}({', '.join(sorted(kwargs))})")
    fired = [p["job_id"] for p in payloads]
    check(
        sorted(fired) == sorted(started),
        f"{len(fired)} events for the {len(started)} jobs started while watching",
    )
    check(
        len(set(fired)) == len(fired), "no job fired twice; no job that had finished before the watch fired"
    )


def main() -> int:
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    if migrate.returncode:
        print(migrate.stdout[-2000:], migrate.stderr[-2000:])
        return 1
    state = SimulatorState(pending_seconds=0.3, running_seconds=0.7)
    with LiveSimulator(state) as sim:
        print(
            f"Simulator of Clinical One + Vault listening on {sim.url}; Airflow home {os.environ['AIRFLOW_HOME']}"
        )
        configure_connections(sim.url)
        clinical_one(sim)
        vault(sim)
        served = state.request_count
        dags(sim)
        event_driven(sim)
        served += state.request_count
    section("Summary")
    print(f"   requests served by the simulator: {served}")
    print(f"   checks failed: {len(problems)}")
    for problem in problems:
        print(f"   - {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
