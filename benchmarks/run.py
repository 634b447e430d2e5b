"""`make bench`: measure P1-P6 (and P3c) against their limits and same-run baselines.

P1 runs fresh interpreters directly. P2-P5 each run in a fresh child interpreter against
the simulator, which runs in a third process (``sim_server.py``) on 127.0.0.1 with
injected per-request latency L, so its CPU and memory stay out of the client's numbers.
Prints a table and writes ``benchmarks/results.json``. Exit status is 0 when every target
was measured (even if one missed its limit; use ``--strict`` to fail on a miss) and 1 when
a target could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import p1_imports
from _common import BENCH_DIR, BenchConfig, TargetResult, connection_env, environment, run_child

CHILD_TARGETS = (
    ("P2", "p2_sensor_poke", "sensor poke over N rules, concurrency C", 240.0),
    ("P3", "p3_triggerer", "triggerer footprint: deferred rule-job triggers in one event loop", 240.0),
    ("P3C", "p3c_coalesced", "coalesced polling: deferred rule-job triggers sharing polls", 300.0),
    ("P3W", "p3c_watchers", "watchers: 50 AssetWatcher triggers on one study (shared streams)", 240.0),
    ("P4", "p4_bulk_cancel", "bulk cancel of Vault jobs", 120.0),
    ("P5", "p5_paging", "filter paging: stream rules through list_rules", 240.0),
    ("P6", "p6_publish_snapshot", "publish-run snapshot: job ids read before the first send", 180.0),
)


def parse_args() -> argparse.Namespace:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--latency-ms", type=float, default=defaults.latency_ms, help="injected latency L per request"
    )
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="max_concurrency C")
    parser.add_argument(
        "--p1-runs", type=int, default=defaults.p1_runs, help="fresh processes per P1 variant"
    )
    parser.add_argument("--p3-triggers", type=int, default=defaults.p3_triggers)
    parser.add_argument("--p3-poll-interval", type=float, default=defaults.p3_poll_interval)
    parser.add_argument(
        "--only", default="P1,P2,P3,P3C,P3W,P4,P5,P6", help="comma-separated targets, e.g. P2,P4"
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target misses its limit")
    return parser.parse_args()


def base_env(workdir: Path) -> dict[str, str]:
    """Environment of every child: private Airflow home, quiet logs, no bytecode writes."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(workdir / "airflow-home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONPYCACHEPREFIX", None)
    return env


class SimServer:
    """The simulator process: started here, stopped here (by its pid), bounded lifetime."""

    def __init__(self, cfg: BenchConfig, env: dict[str, str], workdir: Path) -> None:
        self.port_file = workdir / "sim.json"
        self.log_path = workdir / "sim_server.log"
        command = [
            sys.executable,
            str(BENCH_DIR / "sim_server.py"),
            "--port-file",
            str(self.port_file),
            "--latency-ms",
            str(cfg.latency_ms),
            "--p2-rules",
            str(cfg.p2_rules),
            "--p3-rules",
            str(cfg.p3_triggers),
            "--p3c-rules",
            str(cfg.p3c_rules),
            "--vault-jobs",
            str(cfg.vault_jobs_needed),
            "--p5-rules",
            str(cfg.p5_rules),
            "--p6-rules",
            str(cfg.p6_rules),
            "--max-seconds",
            "900",
        ]
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.info: dict[str, Any] = {}

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        import httpx

        deadline = time.monotonic() + timeout
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not start; see {self.log_path}")
            time.sleep(0.1)
        self.info = json.loads(self.port_file.read_text())
        httpx.get(f"http://127.0.0.1:{self.info['port']}/_sim/health", timeout=10).raise_for_status()
        return self.info

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "bool":
        return "yes" if value else "no"
    text = f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"
    return f"{text} {unit}".strip()


def table(results: list[TargetResult]) -> str:
    header = (
        "Target",
        "Criterion",
        "Measured",
        "Limit",
        "Baseline (same run)",
        "Meas/Limit",
        "Meas/Base",
        "Pass",
    )
    rows: list[tuple[str, ...]] = []
    for result in results:
        if result.error:
            rows.append(
                (
                    result.target,
                    f"ERROR: {result.error.splitlines()[0][:70]}",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "FAIL",
                )
            )
            continue
        for check in result.checks:
            limit = (
                "-"
                if check.limit is None
                else f"{'=' if check.op == '==' else '<='} {fmt(check.limit, check.unit)}"
            )
            base = fmt(check.baseline, check.unit) if check.baseline is not None else "-"
            rows.append(
                (
                    result.target,
                    check.name,
                    fmt(check.measured, check.unit),
                    limit,
                    base,
                    "-" if check.ratio is None or check.op == "==" else f"{check.ratio:.2f}",
                    "-" if check.baseline_ratio is None else f"{check.baseline_ratio:.3g}",
                    "info" if check.limit is None else ("pass" if check.passed else "FAIL"),
                )
            )
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def notes(results: list[TargetResult]) -> str:
    lines = []
    for result in results:
        for check in result.checks:
            if check.note:
                lines.append(f"  {result.target} {check.name}: {check.note}")
            if check.baseline_label:
                lines.append(f"  {result.target} baseline = {check.baseline_label}")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    cfg = BenchConfig(
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        p1_runs=args.p1_runs,
        p3_triggers=args.p3_triggers,
        p3_poll_interval=args.p3_poll_interval,
    )
    wanted = {t.strip().upper() for t in args.only.split(",") if t.strip()}
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="clinical-rules-bench-"))
    env = base_env(workdir)
    results: list[TargetResult] = []
    server: SimServer | None = None
    try:
        if "P1" in wanted:
            print("P1: import cost in fresh interpreters ...", flush=True)
            t0 = time.perf_counter()
            try:
                p1 = p1_imports.measure(cfg, env, workdir)
            except Exception as exc:
                p1 = TargetResult("P1", p1_imports.TITLE, error=f"{type(exc).__name__}: {exc}")
            p1.seconds = time.perf_counter() - t0
            results.append(p1)
        children = [t for t in CHILD_TARGETS if t[0] in wanted]
        if children:
            print("starting the simulator (separate process) and seeding it ...", flush=True)
            server = SimServer(cfg, env, workdir)
            info = server.wait_ready()
            cfg.port = int(info["port"])
            cfg.url = f"http://127.0.0.1:{cfg.port}"
            child_env = {**env, **connection_env(cfg)}
            for target, module, title, timeout in children:
                print(f"{target}: {title} ...", flush=True)
                results.append(run_child(module, target, title, cfg, child_env, workdir, timeout))
    finally:
        if server is not None:
            server.stop()
    runtime = time.perf_counter() - started

    print()
    print(table(results))
    print()
    print("Notes:")
    print(notes(results))
    errors = [r.target for r in results if r.error]
    # A subset run (--only) merges into the file: targets not run this time keep their results.
    previous: dict[str, Any] = {}
    if args.out.exists():
        try:
            previous = dict(json.loads(args.out.read_text()).get("targets", {}))
        except (ValueError, AttributeError):
            previous = {}
    measured_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    targets = {**previous, **{r.target: {**r.to_json(), "measured_at": measured_at} for r in results}}
    missed = [name for name, data in targets.items() if not data.get("passed")]
    parameters: dict[str, Any] = {
        "L_ms": cfg.latency_ms,
        "C": cfg.concurrency,
        **{k: v for k, v in asdict(cfg).items() if k not in ("url", "port", "latency_ms", "concurrency")},
        "simulator": "separate process, uvicorn on 127.0.0.1, FaultConfig.latency_ms = L",
        "airflow_logging_level": "WARNING",
    }
    if server is not None:
        parameters["simulator_seed"] = server.info.get("seeded")
        parameters["simulator_memoized_p5_filtered_list"] = server.info.get("memoized_filtered_list")
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runtime_seconds": round(runtime, 1),
        "all_passed": not missed,
        "missed": missed,
        "errors": errors,
        "parameters": parameters,
        "environment": environment(),
        "targets_this_run": [r.target for r in results],
        "targets": targets,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\nresults: {args.out}   runtime: {runtime:.0f} s   missed (all targets in the file): {', '.join(missed) or 'none'}"
    )
    if errors:
        print(f"could not measure: {', '.join(errors)}; logs were in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if (args.strict and any(not r.passed for r in results)) else 0


if __name__ == "__main__":
    sys.exit(main())
