"""P3W: 50 ``AssetWatcher`` triggers on one study, through Airflow 3.3's shared streams.

50 ``ClinicalOneRuleJobEventTrigger``s rebuilt from ``serialize()``, each watching 10 of the
500 rules of the P2 study (watcher i: rules 10i .. 10i+9), ``poll_endpoint="job_status"``,
poll interval 5 s, run by Airflow's own ``TriggerRunner.run_trigger`` (the triggerer's async
side: shared-stream grouping, fan-out, event queue) in one event loop for 6 cycles. One rule
of each watcher is published after the first cycle (its job runs Pending for one interval,
Running for one more, then Success), so each watcher must fire exactly one event.

Run twice in this process: through the shared streams (measured), then with
``shared_stream_key()`` returning ``None`` (the same-run baseline: every watcher polls its own
rules, as on Airflow 3.0 - 3.2). Requests come from the simulator's request log; cycles from
a wrapper around ``StudyPoller.poll`` (one poller per shared stream, one per lone watcher).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import time
from collections import defaultdict
from typing import Any

from _common import (
    CONN_C1,
    MODE,
    P2_STUDY,
    P2_TAG,
    BenchConfig,
    Check,
    SimControl,
    TargetResult,
    child_main,
    count_delta,
    rule_ids,
)
from p3_triggerer import import_string

TARGET, TITLE = "P3W", "watchers: 50 AssetWatcher triggers on one study (shared streams)"
WATCHERS, RULES_PER_WATCHER, INTERVAL, CYCLES = 50, 10, 5.0, 6


class PollCalls:
    """Start times of ``StudyPoller.poll`` per poller (a shared stream's, or a lone watcher's)."""

    def __init__(self) -> None:
        self.starts: dict[int, list[float]] = defaultdict(list)

    def install(self) -> None:
        from clinical_rules_provider.triggers._study_poll import StudyPoller

        original = self._original = StudyPoller.poll
        calls = self

        async def poll(self: Any, rules: Any) -> Any:
            calls.starts[id(self)].append(time.monotonic())
            return await original(self, rules)

        StudyPoller.poll = poll  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from clinical_rules_provider.triggers._study_poll import StudyPoller

        StudyPoller.poll = self._original  # type: ignore[method-assign]


def serialized_watchers() -> list[tuple[str, dict[str, Any]]]:
    from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger

    every = rule_ids(P2_TAG, WATCHERS * RULES_PER_WATCHER)
    serialized = []
    for i in range(WATCHERS):
        classpath, kwargs = ClinicalOneRuleJobEventTrigger(
            study_id=P2_STUDY,
            study_mode=MODE,
            rule_ids=every[i * RULES_PER_WATCHER : (i + 1) * RULES_PER_WATCHER],
            poll_interval=INTERVAL,
            poll_endpoint="job_status",
            clinical_one_conn_id=CONN_C1,
        ).serialize()
        serialized.append((classpath, json.loads(json.dumps(kwargs))))  # the DB stores JSON
    return serialized


async def scenario(cfg: BenchConfig, shared: bool, sim: SimControl, calls: PollCalls) -> dict[str, Any]:
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    runner = TriggerRunner()
    tasks = {}
    for trigger_id, (classpath, kwargs) in enumerate(serialized_watchers()):
        trigger = import_string(classpath)(**kwargs)
        if not shared:
            trigger.shared_stream_key = lambda: None  # as on Airflow 3.0 - 3.2
        trigger.trigger_id = trigger_id
        runner.triggers[trigger_id] = {"name": f"ID {trigger_id}", "events": 0, "is_watcher": True}
        tasks[trigger_id] = asyncio.create_task(runner.run_trigger(trigger_id, trigger))
    await asyncio.sleep(INTERVAL * 1.5)  # mid-cycle: no poll overlaps the publish below
    groups = len(runner._shared_streams._groups)
    published = [
        rule_ids(P2_TAG, WATCHERS * RULES_PER_WATCHER)[i * RULES_PER_WATCHER] for i in range(WATCHERS)
    ]
    hook = ClinicalOneHook(CONN_C1)
    polls_before, (_, before_publish) = sum(map(len, calls.starts.values())), sim.requests()
    await hook.aupdate_publish_run(P2_STUDY, MODE, "AllData", published)
    polls_after, (_, after_publish) = sum(map(len, calls.starts.values())), sim.requests()
    await hook.aclose()
    if polls_after != polls_before:
        raise RuntimeError("a poll overlapped the publish: its requests cannot be told apart")
    await asyncio.sleep(INTERVAL * (CYCLES - 1.5))
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await runner._shared_streams.stop_all()
    events: dict[int, list[str]] = defaultdict(list)
    for entry in runner.events:
        events[entry.trigger_id].append(entry.event.payload["rule_id"])
    # The publish reads its own job-status snapshot first (durable publishing): not a poll.
    publish_reads = count_delta(before_publish, after_publish, "/jobStatus")
    return {"groups": groups, "events": events, "published": published, "publish_reads": publish_reads}


def run_once(cfg: BenchConfig, shared: bool) -> dict[str, Any]:
    sim = SimControl(cfg.url)
    sim.settings(pending_seconds=INTERVAL, running_seconds=INTERVAL)
    _, before = sim.requests()
    calls = PollCalls()
    calls.install()
    began = time.monotonic()
    raw = asyncio.run(scenario(cfg, shared, sim, calls))
    elapsed = time.monotonic() - began
    calls.uninstall()
    _, after = sim.requests()
    sim.close()
    requests = count_delta(before, after, "/jobStatus") - raw["publish_reads"]
    listings = count_delta(before, after, "/filteredlist")
    cycles = statistics.mean(len(s) for s in calls.starts.values())
    expected = {i: [raw["published"][i]] for i in range(WATCHERS)}
    return {
        "shared": shared,
        "shared_stream_groups": raw["groups"],
        "pollers": len(calls.starts),
        "cycles": cycles,
        "job_status_requests": requests,
        "filteredlist_requests": listings,
        "requests_per_cycle": requests / cycles,
        "watchers_with_exactly_their_event": sum(
            raw["events"].get(i) == rules for i, rules in expected.items()
        ),
        "events": sum(len(v) for v in raw["events"].values()),
        "elapsed_s": elapsed,
    }


def measure(cfg: BenchConfig) -> TargetResult:
    os.environ["AIRFLOW_DISABLE_GREENBACK_PORTAL"] = "true"
    shared = run_once(cfg, shared=True)
    alone = run_once(cfg, shared=False)
    return TargetResult(
        TARGET,
        TITLE,
        checks=[
            Check(
                "jobStatus requests per poll cycle, 50 watchers",
                shared["requests_per_cycle"],
                "req",
                1.05,
                baseline=alone["requests_per_cycle"],
                baseline_label="every watcher polling alone (Airflow 3.0 - 3.2), same run",
                note=f"{shared['job_status_requests']} requests over {shared['cycles']:.3g} cycles, "
                f"{shared['shared_stream_groups']} shared-stream group; plus {shared['filteredlist_requests']} "
                "listing requests (the study's 500 rules, once per rule_refresh_interval)",
            ),
            Check(
                "watchers that fired exactly their one job",
                float(shared["watchers_with_exactly_their_event"]),
                "watchers",
                float(WATCHERS),
                op="==",
                baseline=float(alone["watchers_with_exactly_their_event"]),
                baseline_label="alone",
            ),
        ],
        parameters={
            "watchers": WATCHERS,
            "rules_per_watcher": RULES_PER_WATCHER,
            "study_rules": cfg.p2_rules,
            "poll_endpoint": "job_status",
            "poll_interval_s": INTERVAL,
            "cycles": CYCLES,
            "L_ms": cfg.latency_ms,
        },
        details={"shared_streams": shared, "baseline_alone": alone},
    )


if __name__ == "__main__":
    child_main(TARGET, TITLE, measure)
