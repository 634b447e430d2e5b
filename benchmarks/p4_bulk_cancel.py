"""P4: cancel 10 000 QUEUED Vault jobs with async ``acancel_jobs`` and ``max_concurrency`` C.

Expect exactly ceil(N/500) = 20 cancel requests and wall time <= 1.5 x ceil(20/C) x L.
The Vault session is opened before timing (a worker's hook logs in once per process, and
the session is cached process-wide); the login request is reported separately. Each
timed repeat cancels a fresh block of jobs in a fresh event loop (new connection pool, as
a task would). Baseline, same run: ``cancel_jobs`` with ``max_concurrency=1`` (chunks one
after another). The sync ``cancel_jobs`` runs the async one (``transport/blocking.py``): its
wall time with C is reported as a detail.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import _ablation
from _common import (
    CANCEL_PATH,
    CONN_VAULT,
    VAULT_AUTH_PATH,
    VAULT_JOB_BASE,
    BenchConfig,
    Check,
    SimControl,
    TargetResult,
    child_main,
    count_delta,
    median,
)

TARGET, TITLE = "P4", "bulk cancel of Vault jobs"
CHUNK = 500


def measure(cfg: BenchConfig) -> TargetResult:
    import gc

    from clinical_rules_provider.hooks.vault import VaultHook

    # As in a LocalExecutor worker: Airflow freezes the collector before forking tasks, so
    # the objects imported with Airflow are not rescanned by every full collection.
    gc.freeze()
    n, c, latency = cfg.p4_jobs, cfg.concurrency, cfg.latency
    blocks = [
        list(range(VAULT_JOB_BASE + i * n, VAULT_JOB_BASE + (i + 1) * n)) for i in range(cfg.p4_repeats + 1)
    ]
    sim = SimControl(cfg.url)

    _, before_login = sim.requests()
    warm = VaultHook(CONN_VAULT)
    next(iter(warm.list_job_monitors(page_size=1)), None)  # logs in; the session is cached
    warm.close()
    _, after_login = sim.requests()

    async def cancel(ids: list[int]) -> tuple[float, int, int]:
        hook = VaultHook(CONN_VAULT, max_concurrency=c)
        try:
            t0 = time.perf_counter()
            results = await hook.acancel_jobs(ids)
            elapsed = time.perf_counter() - t0
            return elapsed, sum(1 for r in results if r.cancelled), hook.requests_sent
        finally:
            await hook.aclose()

    runs: list[dict[str, Any]] = []
    fresh = iter(blocks[:-1])

    def timed_cancel() -> float:
        _, before = sim.requests()
        elapsed, ok, sent = asyncio.run(cancel(next(fresh)))
        _, after = sim.requests()
        runs.append(
            {
                "variant": _ablation.current,
                "wall_s": elapsed,
                "cancelled": ok,
                "client_requests": sent,
                "cancel_requests": count_delta(before, after, CANCEL_PATH),
                "auth_requests": count_delta(before, after, VAULT_AUTH_PATH),
            }
        )
        return elapsed

    if _ablation.ab_variants():  # ablate.py: the repeats are shared round-robin by the variants
        ablation = _ablation.alternate(cfg.p4_repeats // len(_ablation.ab_variants()), timed_cancel)
        runs = [r for r in runs if r["variant"] == "with"]
    else:
        ablation = None
        for _ in blocks[:-1]:
            timed_cancel()

    # Baseline: the same 20 chunks one after another (one request in flight).
    hook = VaultHook(CONN_VAULT, max_concurrency=1)
    _, before = sim.requests()
    t0 = time.perf_counter()
    sync_results = hook.cancel_jobs(blocks[-1])
    sequential = time.perf_counter() - t0
    _, after = sim.requests()
    hook.close()
    # The sync method with C (it drives the async one): about the async wall time.
    hook = VaultHook(CONN_VAULT, max_concurrency=c)
    t0 = time.perf_counter()
    hook.cancel_jobs([job + n * (cfg.p4_repeats + 1) for job in blocks[-1]])
    sync_concurrent = time.perf_counter() - t0
    hook.close()
    sim.close()

    expected_requests = math.ceil(n / CHUNK)
    floor = math.ceil(expected_requests / c) * latency
    limit = 1.5 * floor
    measured = median([r["wall_s"] for r in runs])
    return TargetResult(
        TARGET,
        TITLE,
        checks=[
            Check(
                "cancel requests per bulk cancel (max over repeats)",
                max(r["cancel_requests"] for r in runs),
                "req",
                float(expected_requests),
                op="==",
                baseline=float(n),
                baseline_label="one request per job (naive)",
            ),
            Check(
                "wall time (median of repeats)",
                measured,
                "s",
                limit,
                baseline=sequential,
                baseline_label="cancel_jobs, max_concurrency=1 (chunks sequential)",
                note=f"floor ceil(20/C)*L = {floor:.3f} s; measured/floor = {measured / floor:.2f}",
            ),
            Check(
                "jobs reported cancelled (min over repeats)",
                min(r["cancelled"] for r in runs),
                "jobs",
                float(n),
                op="==",
            ),
        ],
        parameters={"jobs": n, "C": c, "L_ms": cfg.latency_ms, "chunk": CHUNK, "repeats": cfg.p4_repeats},
        details={
            "floor_s": floor,
            "limit_s": limit,
            "runs": runs,
            "login_requests_before_timing": count_delta(before_login, after_login, VAULT_AUTH_PATH),
            "sequential_baseline_s": sequential,
            "sequential_cancel_requests": count_delta(before, after, CANCEL_PATH),
            "sequential_cancelled": sum(1 for r in sync_results if r.cancelled),
            "speedup_vs_sequential": sequential / measured if measured else None,
            "sync_cancel_jobs_with_C_s": sync_concurrent,
            **({"ablation": ablation} if ablation else {}),
        },
    )


if __name__ == "__main__":
    child_main(TARGET, TITLE, measure)
