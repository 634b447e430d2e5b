"""P3c: coalesced polling. 1000 deferred rule-job triggers on one study in one event loop.

Each trigger watches 10 of 2000 distinct rules (trigger i: rules 2i .. 2i+9 modulo 2000, so
every rule is watched by 5 triggers), ``poll_endpoint="job_status"``, poll interval 10 s.
The child publishes the 2000 rules (their jobs run Pending for one interval, Running for
one more, then Success), rebuilds every trigger from ``serialize()`` and drives each as its
own task until it fires, as ``TriggerRunner.run_trigger`` does (then ``cleanup()``).

Run twice in this process: with the shared poll (measured), then with
``AIRFLOW__CLINICAL_RULES__COALESCE_TRIGGER_POLLS=False`` (the same-run baseline: every
trigger polls on its own, as before). Requests come from the simulator's request log;
poll times from a wrapper around ``ClinicalOneHook.alatest_jobs`` (the shared poll's hook
makes one call per cycle; without sharing, each trigger's hook makes one).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import math
import os
import statistics
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import psutil
from _common import (
    CONN_C1,
    MODE,
    P3C_STUDY,
    P3C_TAG,
    BenchConfig,
    Check,
    SimControl,
    TargetResult,
    child_main,
    count_delta,
    mib,
    percentile,
    rule_ids,
)
from p3_triggerer import Recorder, drive, import_string

TARGET, TITLE = "P3C", "coalesced polling: deferred rule-job triggers sharing polls"
SWITCH = "AIRFLOW__CLINICAL_RULES__COALESCE_TRIGGER_POLLS"
BULK_CHUNK = 500


def watched(cfg: BenchConfig) -> list[list[str]]:
    """Rules of each trigger: trigger i watches 10 consecutive of the 2000, from 2 x i."""
    every = rule_ids(P3C_TAG, cfg.p3c_rules)
    return [
        [every[(2 * i + k) % cfg.p3c_rules] for k in range(cfg.p3c_rules_per_trigger)]
        for i in range(cfg.p3c_triggers)
    ]


class TriggerPolls:
    """Start time of every ``poll()`` of every trigger (a trigger's own cadence)."""

    def __init__(self) -> None:
        self.starts: dict[int, list[float]] = defaultdict(list)

    def install(self) -> None:
        from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

        original = ClinicalOneRuleJobTrigger.poll
        polls = self

        async def poll(self: Any, hook: Any) -> Any:
            polls.starts[id(self)].append(time.monotonic())
            return await original(self, hook)

        ClinicalOneRuleJobTrigger.poll = poll  # type: ignore[method-assign]
        self._original = original

    def uninstall(self) -> None:
        from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

        ClinicalOneRuleJobTrigger.poll = self._original  # type: ignore[method-assign]


def serialized_triggers(cfg: BenchConfig, started_after: str) -> list[tuple[str, dict[str, Any]]]:
    """What the triggerer reads from its database: classpath and JSON kwargs per trigger."""
    from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

    serialized = []
    for rules in watched(cfg):
        classpath, kwargs = ClinicalOneRuleJobTrigger(
            study_id=P3C_STUDY,
            study_mode=MODE,
            rule_ids=rules,
            end_time=time.time() + 600,
            started_after=started_after,
            poll_interval=cfg.p3_poll_interval,
            poll_endpoint="job_status",
            clinical_one_conn_id=CONN_C1,
        ).serialize()
        serialized.append((classpath, json.loads(json.dumps(kwargs))))  # the DB stores JSON
    return serialized


async def scenario(serialized: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    events: list[dict[str, Any]] = []
    peak = [rss0]

    async def monitor() -> None:
        while True:
            await asyncio.sleep(0.25)
            peak[0] = max(peak[0], proc.memory_info().rss)

    t0 = time.monotonic()
    tasks = [asyncio.create_task(drive(import_string(cp)(**kw), events)) for cp, kw in serialized]
    watcher = asyncio.create_task(monitor())
    await asyncio.gather(*tasks)
    finished = time.monotonic() - t0
    watcher.cancel()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return {"rss0": rss0, "peak": peak[0], "events": events, "finished_s": finished}


def run_once(cfg: BenchConfig, coalesce: bool) -> dict[str, Any]:
    """Publish, drive every trigger until it fires, and count what it cost."""
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    os.environ[SWITCH] = "True" if coalesce else "False"
    interval = cfg.p3_poll_interval
    sim = SimControl(cfg.url)
    sim.settings(pending_seconds=interval, running_seconds=interval)
    started_after = (datetime.now(timezone.utc) - timedelta(seconds=2)).isoformat()
    serialized = serialized_triggers(cfg, started_after)
    publisher = ClinicalOneHook(CONN_C1)
    publisher.update_publish_run(P3C_STUDY, MODE, "AllData", rule_ids(P3C_TAG, cfg.p3c_rules))
    publisher.close()
    _, before = sim.requests()
    sim.close()

    hooks, triggers = Recorder(), TriggerPolls()
    hooks.install()
    triggers.install()
    raw = asyncio.run(scenario(serialized))

    sim = SimControl(cfg.url)
    _, after = sim.requests()
    sim.close()
    hooks.uninstall()
    triggers.uninstall()

    requests = count_delta(before, after, "/jobStatus")
    other = sum(after.values()) - sum(before.values()) - requests
    # Poll rounds: the mean number of calls per polling hook (one hook when shared, one per
    # trigger otherwise), so requests / rounds is what one round of every waiter costs.
    cycles = statistics.mean(len(s) for s in hooks.starts.values())
    poll_cycles = [b - a for s in hooks.starts.values() for a, b in itertools.pairwise(s)]
    trigger_cycles = [b - a for s in triggers.starts.values() for a, b in itertools.pairwise(s)]
    statuses: dict[str, int] = defaultdict(int)
    for event in raw["events"]:
        statuses[str(event.get("status"))] += 1
    return {
        "coalesce": coalesce,
        "hooks_polling": len(hooks.starts),
        "cycles": cycles,
        "job_status_requests": requests,
        "other_service_requests": other,
        "requests_per_cycle": requests / cycles,
        "poll_cycle_s": {
            "max": max(poll_cycles, default=math.inf),
            "p50": percentile(poll_cycles, 50) if poll_cycles else math.inf,
            "count": len(poll_cycles),
        },
        "trigger_poll_cycle_s": {
            "max": max(trigger_cycles, default=math.inf),
            "p50": percentile(trigger_cycles, 50) if trigger_cycles else math.inf,
            "p95": percentile(trigger_cycles, 95) if trigger_cycles else math.inf,
            "count": len(trigger_cycles),
        },
        "rss_growth_mib": mib(raw["peak"] - raw["rss0"]),
        "event_statuses": dict(statuses),
        "all_finished_s": raw["finished_s"],
    }


def measure(cfg: BenchConfig) -> TargetResult:
    interval = cfg.p3_poll_interval
    floor = math.ceil(cfg.p3c_rules / BULK_CHUNK)
    shared = run_once(cfg, coalesce=True)
    gc.collect()
    alone = run_once(cfg, coalesce=False)
    os.environ.pop(SWITCH, None)
    return TargetResult(
        TARGET,
        TITLE,
        checks=[
            Check(
                "jobStatus requests per poll cycle",
                shared["requests_per_cycle"],
                "req",
                1.05 * floor,
                baseline=alone["requests_per_cycle"],
                baseline_label="per-trigger polling (coalescing off), same run",
                note=f"physical floor ceil({cfg.p3c_rules}/{BULK_CHUNK}) = {floor}; "
                f"{shared['job_status_requests']} requests over {shared['cycles']:.3g} cycles; "
                f"baseline {alone['job_status_requests']} over {alone['cycles']:.3g} polls per trigger",
            ),
            Check(
                "worst shared poll cycle (start to start)",
                shared["poll_cycle_s"]["max"],
                "s",
                1.05 * interval,
                baseline=alone["poll_cycle_s"]["max"],
                baseline_label="worst per-trigger poll cycle, coalescing off",
                note=f"per-trigger poll() cycle with sharing: p50 {shared['trigger_poll_cycle_s']['p50']:.3f} s, "
                f"max {shared['trigger_poll_cycle_s']['max']:.3f} s",
            ),
            Check(
                "peak RSS growth",
                shared["rss_growth_mib"],
                "MiB",
                60.0,
                baseline=alone["rss_growth_mib"],
                baseline_label="coalescing off (run second, in the same process)",
            ),
            Check(
                "triggers that fired success",
                float(shared["event_statuses"].get("success", 0)),
                "triggers",
                float(cfg.p3c_triggers),
                op="==",
            ),
        ],
        parameters={
            "triggers": cfg.p3c_triggers,
            "distinct_rules": cfg.p3c_rules,
            "rules_per_trigger": cfg.p3c_rules_per_trigger,
            "poll_endpoint": "job_status",
            "poll_interval_s": interval,
            "L_ms": cfg.latency_ms,
            "job_pending_s": interval,
            "job_running_s": interval,
        },
        details={"coalesced": shared, "baseline_per_trigger": alone, "physical_floor_requests": floor},
    )


if __name__ == "__main__":
    child_main(TARGET, TITLE, measure)
