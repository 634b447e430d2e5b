"""P5: stream 100 000 rules through ``list_rules`` and check memory stays flat.

Three passes over the same study, each on a fresh hook with the connection already read:

* streaming under ``tracemalloc`` (peak of Python allocations while iterating),
* streaming without tracemalloc, sampling RSS once per page (peak RSS growth),
* the naive full materialization ``list(list_rules(...))`` under ``tracemalloc`` (baseline).

Requests are counted by the simulator and must equal ceil(N / page_size).
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from typing import Any

import psutil
from _common import (
    CONN_C1,
    MODE,
    P5_STUDY,
    BenchConfig,
    Check,
    SimControl,
    TargetResult,
    child_main,
    filtered_list_path,
    mib,
)

TARGET, TITLE = "P5", "filter paging: stream rules through list_rules"


def fresh_hook() -> Any:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

    hook = ClinicalOneHook(CONN_C1)
    hook.config  # noqa: B018 - read the connection before measuring
    return hook


def stream_traced(page_size: int) -> dict[str, float]:
    hook = fresh_hook()
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    count, last = 0, None
    for rule in hook.list_rules(P5_STUDY, MODE, page_size=page_size):
        count += 1
        last = rule.rule_id
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hook.close()
    return {"rules": count, "peak_bytes": peak, "seconds": elapsed, "last_rule": bool(last)}


def stream_rss(page_size: int) -> dict[str, float]:
    proc = psutil.Process()
    hook = fresh_hook()
    gc.collect()
    rss0 = peak = proc.memory_info().rss
    t0 = time.perf_counter()
    count = 0
    for _ in hook.list_rules(P5_STUDY, MODE, page_size=page_size):
        count += 1
        if count % page_size == 1:  # once per page, right after it was parsed
            peak = max(peak, proc.memory_info().rss)
    elapsed = time.perf_counter() - t0
    peak = max(peak, proc.memory_info().rss)
    hook.close()
    return {"rules": count, "rss_growth_bytes": peak - rss0, "rss_before_bytes": rss0, "seconds": elapsed}


def materialize_traced(page_size: int) -> dict[str, float]:
    hook = fresh_hook()
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    rules = list(hook.list_rules(P5_STUDY, MODE, page_size=page_size))
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    count = len(rules)
    del rules
    hook.close()
    return {"rules": count, "peak_bytes": peak, "seconds": elapsed}


def measure(cfg: BenchConfig) -> TargetResult:
    n, page_size = cfg.p5_rules, cfg.p5_page_size
    sim = SimControl(cfg.url)
    path = filtered_list_path(P5_STUDY)
    passes: dict[str, dict[str, Any]] = {}
    for name, run in (
        ("stream_tracemalloc", stream_traced),
        ("stream_rss", stream_rss),
        ("materialize_tracemalloc", materialize_traced),
    ):
        _, before = sim.requests()
        passes[name] = run(page_size)
        _, after = sim.requests()
        passes[name]["requests"] = after.get(f"POST {path}", 0) - before.get(f"POST {path}", 0)
    sim.close()

    expected_requests = math.ceil(n / page_size)
    traced = mib(passes["stream_tracemalloc"]["peak_bytes"])
    materialized = mib(passes["materialize_tracemalloc"]["peak_bytes"])
    rss_growth = mib(passes["stream_rss"]["rss_growth_bytes"])
    return TargetResult(
        TARGET,
        TITLE,
        checks=[
            Check(
                "tracemalloc peak while streaming",
                traced,
                "MiB",
                20.0,
                baseline=materialized,
                baseline_label="list(list_rules(...)) peak (naive)",
            ),
            Check("peak RSS growth while streaming", rss_growth, "MiB", 20.0),
            Check(
                "requests per full stream (max over passes)",
                float(max(p["requests"] for p in passes.values())),
                "req",
                float(expected_requests),
                op="==",
            ),
            Check(
                "rules yielded (min over passes)",
                float(min(p["rules"] for p in passes.values())),
                "rules",
                float(n),
                op="==",
            ),
        ],
        parameters={
            "N": n,
            "page_size": page_size,
            "L_ms": cfg.latency_ms,
            "transport": "sync list_rules over the async driver (transport/blocking.py)",
        },
        details={
            **{name: {k: v for k, v in p.items()} for name, p in passes.items()},
            "bytes_per_materialized_rule": passes["materialize_tracemalloc"]["peak_bytes"] / max(n, 1),
        },
    )


if __name__ == "__main__":
    child_main(TARGET, TITLE, measure)
