"""P3: many deferred ``ClinicalOneRuleJobTrigger``s in one event loop, as a triggerer runs them.

Each trigger is rebuilt from its ``serialize()`` classpath and JSON-round-tripped kwargs and
its ``run()`` async generator is driven as its own task until it returns (then
``cleanup()``), like ``TriggerRunner.run_trigger``. The child first publishes the rules
(starting their jobs), so every trigger sees Pending -> Running -> Success over a few polls.

Each trigger polls on its own (``AIRFLOW__CLINICAL_RULES__COALESCE_TRIGGER_POLLS=False``):
the worst case for one triggerer, where the pool-wide semaphore pays (benchmarks/README.md).
Shared polls, the default, are P3c's subject.

Measured: per-trigger poll cycle (start of one poll to the start of the next) against
1.3 x poll interval, RSS growth, shared client pools, TCP connections to the simulator,
and file descriptors before/after. A wrapper around ``ClinicalOneHook.alatest_jobs`` in
this process records when each trigger polls (the provider code is not modified).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import itertools
import json
import math
import os
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import psutil
from _common import (
    CONN_C1,
    MODE,
    P3_STUDY,
    P3_TAG,
    BenchConfig,
    Check,
    SimControl,
    TargetResult,
    child_main,
    mib,
    percentile,
    rule_ids,
)

TARGET, TITLE = "P3", "triggerer footprint: deferred rule-job triggers in one event loop"
SAMPLE_EVERY = 0.25  # seconds between resource samples


class Recorder:
    """Poll start/end times per hook instance (one hook per trigger)."""

    def __init__(self) -> None:
        self.starts: dict[int, list[float]] = defaultdict(list)
        self.ends: dict[int, list[float]] = defaultdict(list)

    def install(self) -> None:
        from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

        original = ClinicalOneHook.alatest_jobs
        recorder = self

        async def alatest_jobs(self: Any, *args: Any, **kwargs: Any) -> Any:
            recorder.starts[id(self)].append(time.monotonic())
            try:
                return await original(self, *args, **kwargs)
            finally:
                recorder.ends[id(self)].append(time.monotonic())

        ClinicalOneHook.alatest_jobs = alatest_jobs  # type: ignore[method-assign]
        self._original = original

    def uninstall(self) -> None:
        from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

        ClinicalOneHook.alatest_jobs = self._original  # type: ignore[method-assign]


def sim_connections(proc: psutil.Process, port: int) -> tuple[int, int]:
    """TCP sockets of this process to the simulator's port: (live, half-closed).

    Half-closed is ``CLOSE_WAIT``: the simulator closed an idle keep-alive connection (after
    5 s; triggers polling alone every 10 s find them all closed) and httpcore drops the socket
    on its next look at the pool. They are counted apart: the pool's bound is on live ones.
    """
    states = [c.status for c in proc.net_connections(kind="tcp") if c.raddr and c.raddr.port == port]
    closing = states.count(psutil.CONN_CLOSE_WAIT)
    return len(states) - closing, closing


def import_string(classpath: str) -> Any:
    """The trigger class named by ``serialize()`` (what the triggerer's ``import_string`` does)."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


async def drive(trigger: Any, events: list[dict[str, Any]]) -> None:
    """What ``TriggerRunner.run_trigger`` does with a trigger, minus tracing and DB writes."""
    try:
        async for event in trigger.run():
            events.append(event.payload)
    finally:
        await trigger.cleanup()


async def scenario(cfg: BenchConfig, started_after: str) -> dict[str, Any]:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.transport.pool import open_clients
    from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

    proc = psutil.Process()
    # Warm-up in this loop: connection read, one request, pool closed again. One-time costs
    # (imports, pydantic schemas, httpx internals) are then not counted as trigger growth.
    warm = ClinicalOneHook(CONN_C1)
    await warm.alatest_jobs(P3_STUDY, MODE, rule_ids(P3_TAG, 1))
    await warm.aclose()
    gc.collect()
    await asyncio.sleep(0.2)
    fds0, rss0, conns0 = proc.num_fds(), proc.memory_info().rss, sum(sim_connections(proc, cfg.port))

    ids = rule_ids(P3_TAG, cfg.p3_triggers)
    serialized = []
    for rid in ids:
        original = ClinicalOneRuleJobTrigger(
            study_id=P3_STUDY,
            study_mode=MODE,
            rule_ids=[rid],
            end_time=time.time() + 600,
            started_after=started_after,
            poll_interval=cfg.p3_poll_interval,
            clinical_one_conn_id=CONN_C1,
        )
        classpath, kwargs = original.serialize()
        serialized.append((classpath, json.loads(json.dumps(kwargs))))  # the DB stores JSON
    del original

    events: list[dict[str, Any]] = []
    samples: list[dict[str, float]] = []
    lags: list[float] = []
    t_start = time.monotonic()
    tasks = [asyncio.create_task(drive(import_string(cp)(**kw), events)) for cp, kw in serialized]
    created = time.monotonic() - t_start

    async def monitor() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(SAMPLE_EVERY)
            lags.append(time.monotonic() - before - SAMPLE_EVERY)
            samples.append(
                {
                    "t": time.monotonic() - t_start,
                    "rss": proc.memory_info().rss,
                    "fds": proc.num_fds(),
                    "pools": open_clients(),
                    "tcp": sim_connections(proc, cfg.port),  # (live, half-closed)
                }
            )

    watcher = asyncio.create_task(monitor())
    await asyncio.gather(*tasks)
    finished = time.monotonic() - t_start
    watcher.cancel()
    del tasks
    await asyncio.sleep(0.5)  # let closed sockets leave the process
    gc.collect()
    return {
        "fds0": fds0,
        "rss0": rss0,
        "conns0": conns0,
        "fds1": proc.num_fds(),
        "rss1": proc.memory_info().rss,
        "conns1": sum(sim_connections(proc, cfg.port)),
        "pools1": open_clients(),
        "events": events,
        "samples": samples,
        "lags": lags,
        "create_s": created,
        "finished_s": finished,
    }


def bulk_poll_seconds(cfg: BenchConfig) -> float:
    """Reference point for a coalesced design: all watched rules in one bulk jobStatus poll."""
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    hook = ClinicalOneHook(CONN_C1)
    hook.config  # noqa: B018 - read the connection outside the timed part
    t0 = time.perf_counter()
    hook.latest_jobs(P3_STUDY, MODE, rule_ids(P3_TAG, cfg.p3_triggers), poll_endpoint="job_status")
    return time.perf_counter() - t0


def measure(cfg: BenchConfig) -> TargetResult:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    os.environ["AIRFLOW__CLINICAL_RULES__COALESCE_TRIGGER_POLLS"] = "False"  # this child only
    interval = cfg.p3_poll_interval
    # Jobs finish ~2.5 intervals after publishing: Pending, Running, Running, Success.
    sim = SimControl(cfg.url)
    sim.settings(pending_seconds=interval, running_seconds=1.5 * interval)
    started_after = (datetime.now(timezone.utc) - timedelta(seconds=2)).isoformat()
    publisher = ClinicalOneHook(CONN_C1)
    published = publisher.update_publish_run(P3_STUDY, MODE, "AllData", rule_ids(P3_TAG, cfg.p3_triggers))
    publisher.close()
    count0 = sim.request_count()
    sim.close()  # its keep-alive connection would count as a connection to the simulator

    recorder = Recorder()
    recorder.install()
    raw = asyncio.run(scenario(cfg, started_after))
    sim = SimControl(cfg.url)
    requests = sim.request_count() - count0
    sim.close()
    bulk_poll = bulk_poll_seconds(cfg)

    if not recorder.starts:
        raise RuntimeError("no polls recorded: the trigger no longer polls via ClinicalOneHook.alatest_jobs")
    cycles = [b - a for starts in recorder.starts.values() for a, b in itertools.pairwise(starts)]
    first_cycles = [s[1] - s[0] for s in recorder.starts.values() if len(s) > 1]
    later_cycles = [b - a for s in recorder.starts.values() for a, b in itertools.pairwise(s[1:])]
    polls = [
        end - start
        for hook, starts in recorder.starts.items()
        for start, end in zip(starts, recorder.ends[hook], strict=True)
    ]
    polls_per_trigger = [len(s) for s in recorder.starts.values()]
    samples = raw["samples"]
    peak_rss = max([s["rss"] for s in samples] + [raw["rss1"]])
    max_pools = max([int(s["pools"]) for s in samples] + [0])
    max_tcp = max([int(s["tcp"][0]) for s in samples] + [0])
    max_half_closed = max([int(s["tcp"][1]) for s in samples] + [0])
    statuses: dict[str, int] = defaultdict(int)
    for event in raw["events"]:
        statuses[str(event.get("status"))] += 1
    fd_leak = raw["fds1"] - raw["fds0"]
    cycle_limit = 1.3 * interval
    max_cycle = max(cycles) if cycles else math.inf
    rss_growth = mib(peak_rss - raw["rss0"])
    pool_size = 32  # TransportSettings default; the bench connection does not override it
    return TargetResult(
        TARGET,
        TITLE,
        checks=[
            Check(
                "max poll cycle (poll start to next poll start)",
                max_cycle,
                "s",
                cycle_limit,
                baseline=interval,
                baseline_label="poll interval",
                note=f"p50 {percentile(cycles, 50):.3f} s, p95 {percentile(cycles, 95):.3f} s over {len(cycles)} cycles",
            ),
            Check("peak RSS growth", rss_growth, "MiB", 60.0),
            Check("max shared AsyncClient pools open", float(max_pools), "pools", 1.0),
            Check(
                "max live TCP connections to simulator",
                float(max_tcp),
                "conns",
                float(pool_size),
                baseline=float(cfg.p3_triggers),
                baseline_label="one connection per trigger (naive)",
            ),
            Check(
                "max half-closed sockets (CLOSE_WAIT, dropped on the pool's next use)",
                float(max_half_closed),
                "conns",
                None,
            ),
            Check("fd leak after all triggers finished", float(fd_leak), "fds", 0.0),
            Check(
                "triggers that fired success",
                float(statuses.get("success", 0)),
                "triggers",
                float(cfg.p3_triggers),
                op="==",
            ),
        ],
        parameters={
            "triggers": cfg.p3_triggers,
            "rules_per_trigger": 1,
            "poll_interval_s": interval,
            "L_ms": cfg.latency_ms,
            "pool_size": pool_size,
            "max_concurrency_per_hook": cfg.concurrency,
            "job_pending_s": interval,
            "job_running_s": 1.5 * interval,
        },
        details={
            "published_rules": len(published),
            "service_requests_during_triggers": requests,
            "polls_per_trigger_min_max": [min(polls_per_trigger), max(polls_per_trigger)],
            "cycle_s": {
                "max": max_cycle,
                "p50": percentile(cycles, 50),
                "p95": percentile(cycles, 95),
                "first_cycle_max": max(first_cycles) if first_cycles else None,
                "later_cycles_max": max(later_cycles) if later_cycles else None,
            },
            "poll_duration_s": {
                "p50": percentile(polls, 50),
                "p95": percentile(polls, 95),
                "max": max(polls),
            },
            "burst_floor_s": math.ceil(cfg.p3_triggers / pool_size) * cfg.latency,
            "event_loop_lag_s": {"p50": percentile(raw["lags"], 50), "max": max(raw["lags"] + [0.0])},
            "rss_mib": {"before": mib(raw["rss0"]), "peak": mib(peak_rss), "after": mib(raw["rss1"])},
            "fds": {
                "before": raw["fds0"],
                "after": raw["fds1"],
                "max": max([int(s["fds"]) for s in samples] + [0]),
            },
            "tcp_to_sim": {"before": raw["conns0"], "max": max_tcp, "after": raw["conns1"]},
            "pools_after": raw["pools1"],
            "event_statuses": dict(statuses),
            "bulk_job_status_poll_of_all_rules_s": bulk_poll,
            "bulk_job_status_requests": math.ceil(cfg.p3_triggers / 500),
            "create_triggers_s": raw["create_s"],
            "all_finished_s": raw["finished_s"],
        },
    )


if __name__ == "__main__":
    child_main(TARGET, TITLE, measure)
