"""What each performance mechanism is worth: the same target with and without it.

    .venv/bin/python benchmarks/ablate.py --target P4 --mechanisms unsent_reordering,json_bodies --rounds 7
    .venv/bin/python benchmarks/ablate.py --target P3 --mechanisms pool_semaphore,config_cache --rounds 2

The mechanisms are switched off in memory by ``_ablation.py`` (never by ``make bench``).
P2 and P4 alternate "with" and every "without" round-robin inside one child process, on
fresh Vault jobs for every P4 repeat; P3 and P5 run one child per variant, interleaved
round by round. Medians, spread and the ratio to "with" go to the table and to
``benchmarks/ablation.json`` under ``--key`` (default: the target's name; an existing entry
is replaced, so give a new key to keep the samples an older README row cites).
P1 (imports) compares source trees, not patches: see ``p1_ab.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, BenchConfig, connection_env, environment, run_child
from run import SimServer, base_env

MODULES = {"P2": "p2_sensor_poke", "P3": "p3_triggerer", "P4": "p4_bulk_cancel", "P5": "p5_paging"}
IN_PROCESS = {"P2", "P4"}
OUT = BENCH_DIR / "ablation.json"


def per_child_metrics(target: str, details: dict[str, Any], checks: list[Any]) -> dict[str, float]:
    """The numbers compared across P3/P5 children."""
    if target == "P3":
        return {
            "poll_duration_p50_s": details["poll_duration_s"]["p50"],
            "poll_duration_p95_s": details["poll_duration_s"]["p95"],
            "poll_duration_max_s": details["poll_duration_s"]["max"],
            "max_cycle_s": details["cycle_s"]["max"],
            "rss_growth_mib": details["rss_mib"]["peak"] - details["rss_mib"]["before"],
            "event_loop_lag_max_s": details["event_loop_lag_s"]["max"],
        }
    return {
        "stream_tracemalloc_peak_mib": details["stream_tracemalloc"]["peak_bytes"] / 2**20,
        "stream_rss_growth_mib": details["stream_rss"]["rss_growth_bytes"] / 2**20,
        "stream_seconds": details["stream_rss"]["seconds"],
    }


def summarize(samples: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = samples["with"]
    for name, runs in samples.items():
        out[name] = {}
        for metric in runs[0]:
            values = [r[metric] for r in runs]
            ref = statistics.median([r[metric] for r in base])
            out[name][metric] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "ratio_to_with": statistics.median(values) / ref if ref else None,
                "samples": values,
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", required=True, choices=sorted(MODULES))
    parser.add_argument("--mechanisms", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--p3-poll-interval", type=float, default=BenchConfig().p3_poll_interval)
    parser.add_argument("--key", help="the entry in ablation.json to write (default: the target)")
    args = parser.parse_args()
    names = [n.strip() for n in args.mechanisms.split(",") if n.strip()]
    variants = ["with", *names]
    target, module = args.target, MODULES[args.target]

    cfg = BenchConfig(p3_poll_interval=args.p3_poll_interval)
    if target == "P2":
        cfg = replace(cfg, p2_repeats=args.rounds)
    if target == "P4":
        cfg = replace(cfg, p4_repeats=args.rounds * len(variants))
    workdir = Path(tempfile.mkdtemp(prefix="clinical-rules-ablate-"))
    env = base_env(workdir)
    server = SimServer(cfg, env, workdir)
    result: dict[str, Any]
    try:
        info = server.wait_ready()
        cfg.port = int(info["port"])
        cfg.url = f"http://127.0.0.1:{cfg.port}"
        child_env = {**env, **connection_env(cfg)}
        if target in IN_PROCESS:
            res = run_child(
                module, target, module, cfg, {**child_env, "BENCH_AB": ",".join(names)}, workdir, 600
            )
            if res.error:
                raise RuntimeError(res.error)
            result = {
                "mode": "in-process round-robin",
                "metric": "wall_s",
                "variants": res.details["ablation"],
            }
        else:
            samples: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            for r in range(args.rounds):
                order = variants[r % len(variants) :] + variants[: r % len(variants)]
                for variant in order:
                    extra = {} if variant == "with" else {"BENCH_WITHOUT": variant}
                    print(f"{target} round {r + 1}: {variant} ...", flush=True)
                    res = run_child(module, target, module, cfg, {**child_env, **extra}, workdir, 300)
                    if res.error:
                        raise RuntimeError(res.error)
                    samples[variant].append(per_child_metrics(target, res.details, res.checks))
            result = {"mode": "one child per variant, interleaved", "variants": summarize(samples)}
    finally:
        server.stop()
    result.update(
        rounds=args.rounds,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        parameters={"L_ms": cfg.latency_ms, "C": cfg.concurrency, "p3_poll_interval": cfg.p3_poll_interval},
        environment=environment(),
    )
    report = json.loads(OUT.read_text()) if OUT.exists() else {}
    report[args.key or target] = result
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1)[:6000])
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
