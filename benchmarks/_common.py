"""What every benchmark module shares: scenario constants, result records, child-process glue.

Nothing here imports Airflow or the provider at module level, so the simulator server
(``sim_server.py``) and the orchestrator (``run.py``) stay light.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

# --- scenario: dedicated studies so targets never see each other's data --------------------
MODE = "test"
P2_STUDY = "B2000000000000000000000000000002"
P3_STUDY = "B3000000000000000000000000000003"
P5_STUDY = "B5000000000000000000000000000005"
P3C_STUDY = "B3C00000000000000000000000000003"
P2_TAG, P3_TAG, P5_TAG = 0xA2, 0xA3, 0xA5
P3C_TAG = 0xC3
P6_STUDY = "B6000000000000000000000000000006"
P6_TAG = 0xA6
VAULT_JOB_BASE = 5_000_001  # Vault job ids of P4 start here

CONN_C1 = "bench_clinical_one"
CONN_VAULT = "bench_vault"
VAULT_API_VERSION = "v26.1"
CANCEL_PATH = f"/api/{VAULT_API_VERSION}/services/jobs/actions/cancel"
VAULT_AUTH_PATH = f"/api/{VAULT_API_VERSION}/auth"


def rule_id(tag: int, index: int) -> str:
    """Deterministic uppercase compact rule id, so server and clients agree without a lookup."""
    return f"{tag:02X}{index:030X}"


def rule_ids(tag: int, count: int) -> list[str]:
    return [rule_id(tag, i) for i in range(count)]


def filtered_list_path(study: str) -> str:
    return f"/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study}/{MODE}/filteredlist"


@dataclass
class BenchConfig:
    """Parameters of one run; every child gets the same JSON copy."""

    url: str = ""
    port: int = 0
    latency_ms: float = 50.0
    concurrency: int = 16
    p1_runs: int = 11
    p2_rules: int = 500
    p2_repeats: int = 5
    p3_triggers: int = 1000
    p3_poll_interval: float = 10.0
    p3c_triggers: int = 1000
    p3c_rules: int = 2000
    p3c_rules_per_trigger: int = 10
    p4_jobs: int = 10_000
    p4_repeats: int = 7
    p5_rules: int = 100_000
    p5_page_size: int = 1000
    p6_rules: int = 2000
    p6_repeats: int = 7

    @property
    def latency(self) -> float:
        return self.latency_ms / 1000.0

    @property
    def vault_jobs_needed(self) -> int:
        """Fresh QUEUED jobs for each timed async repeat, the sequential baseline and the sync run."""
        return self.p4_jobs * (self.p4_repeats + 2)


@dataclass
class Check:
    """One pass/fail criterion: ``measured`` against ``limit`` (and a same-run ``baseline``)."""

    name: str
    measured: float
    unit: str
    limit: float | None
    op: str = "<="  # "<=" or "=="
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""

    @property
    def passed(self) -> bool:
        if self.limit is None:
            return True
        if self.op == "==":
            return math.isclose(self.measured, self.limit)
        return self.measured <= self.limit

    @property
    def ratio(self) -> float | None:
        """measured / limit (<= 1 passes for '<=' checks)."""
        if self.limit is None or self.limit == 0:
            return None
        return self.measured / self.limit

    @property
    def baseline_ratio(self) -> float | None:
        """measured / baseline (below 1: better than the baseline)."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.measured / self.baseline

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(passed=self.passed, ratio=self.ratio, baseline_ratio=self.baseline_ratio)
        return data


@dataclass
class TargetResult:
    """Everything one target measured; ``details`` holds raw numbers for the JSON file."""

    target: str
    title: str
    checks: list[Check] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "title": self.title,
            "passed": self.passed,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "parameters": self.parameters,
            "checks": [c.to_json() for c in self.checks],
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetResult:
        checks = [
            Check(**{k: v for k, v in c.items() if k not in ("passed", "ratio", "baseline_ratio")})
            for c in data.get("checks", [])
        ]
        return cls(
            target=data["target"],
            title=data["title"],
            checks=checks,
            parameters=data.get("parameters", {}),
            details=data.get("details", {}),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
        )


# --- connections (AIRFLOW_CONN_* JSON, as a deployment would set them) ------------------------


def connection_env(cfg: BenchConfig) -> dict[str, str]:
    """Both connections as ``AIRFLOW_CONN_*`` variables pointing at the loopback simulator."""
    c1 = {
        "conn_type": "clinical_one",
        "host": cfg.url,
        "login": "demo-user",
        "password": "demo-password",
        "extra": {"study_id": P2_STUDY, "study_mode": MODE, "max_concurrency": cfg.concurrency},
    }
    vault = {
        "conn_type": "veeva_vault",
        "host": cfg.url,
        "login": "integration@sim.example",
        "password": "sim-password",
        "extra": {"api_version": VAULT_API_VERSION, "max_concurrency": cfg.concurrency},
    }
    return {
        f"AIRFLOW_CONN_{CONN_C1.upper()}": json.dumps(c1),
        f"AIRFLOW_CONN_{CONN_VAULT.upper()}": json.dumps(vault),
    }


# --- simulator control over /_sim (never faulted, never counted as service requests) --------


class SimControl:
    """Tiny client for the simulator's control routes."""

    def __init__(self, url: str) -> None:
        import httpx

        self._client = httpx.Client(base_url=url, timeout=30.0)

    def requests(self) -> tuple[int, dict[str, int]]:
        """(total service requests, count per ``METHOD path``) seen by the simulator so far."""
        body = self._client.get("/_sim/requests", params={"limit": "0"}).json()
        return int(body["count"]), {str(k): int(v) for k, v in body["byPath"].items()}

    def request_count(self) -> int:
        return self.requests()[0]

    def settings(self, **values: Any) -> dict[str, Any]:
        response = self._client.post("/_sim/settings", json=values)
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        self._client.close()


def count_delta(before: dict[str, int], after: dict[str, int], needle: str) -> int:
    """Requests whose ``METHOD path`` key contains ``needle`` between two snapshots."""
    return sum(v for k, v in after.items() if needle in k) - sum(v for k, v in before.items() if needle in k)


# --- child processes -------------------------------------------------------------------------


def child_main(target: str, title: str, body: Callable[[BenchConfig], TargetResult]) -> None:
    """Entry point of a target module run as a child: ``--config in.json --out out.json``."""
    parser = argparse.ArgumentParser(description=f"{target}: {title} (run by benchmarks/run.py)")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    cfg = BenchConfig(**json.loads(args.config.read_text()))
    started = time.perf_counter()
    from _ablation import apply_whole_child

    without = apply_whole_child()  # ablate.py only: a mechanism switched off for this child
    try:
        result = body(cfg)
        if without:
            result.parameters["without"] = without
    except Exception as exc:  # reported in the table instead of a bare traceback
        import traceback

        traceback.print_exc()
        result = TargetResult(target, title, error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    args.out.write_text(json.dumps(result.to_json(), indent=2))


def run_child(
    module: str, target: str, title: str, cfg: BenchConfig, env: dict[str, str], workdir: Path, timeout: float
) -> TargetResult:
    """Run ``benchmarks/<module>.py`` in a fresh interpreter and read back its result."""
    config_path, out_path = workdir / f"{module}.config.json", workdir / f"{module}.result.json"
    log_path = workdir / f"{module}.log"
    config_path.write_text(json.dumps(asdict(cfg)))
    out_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(BENCH_DIR / f"{module}.py"),
        "--config",
        str(config_path),
        "--out",
        str(out_path),
    ]
    started = time.perf_counter()
    with log_path.open("w") as log:
        try:
            proc = subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
    if out_path.exists():
        return TargetResult.from_json(json.loads(out_path.read_text()))
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
    why = f"timed out after {timeout:.0f} s" if code is None else f"exited with {code}"
    result = TargetResult(target, title, error=f"{module} {why}; log tail:\n{tail}")
    result.seconds = time.perf_counter() - started
    return result


# --- small measurement helpers ---------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for an empty sequence (e.g. P3 when no
    trigger polled twice: its max cycle is then infinite and fails its check)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100.0 * len(ordered)) - 1, 0)
    return float(ordered[min(rank, len(ordered) - 1)])


def mib(n_bytes: float) -> float:
    return n_bytes / (1024.0 * 1024.0)


def environment() -> dict[str, Any]:
    """Machine, interpreter and package versions, plus the provider's git commit."""
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            )
            return out.stdout.strip()
        except OSError:
            return ""

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": {
            name: version(name)
            for name in (
                "airflow-provider-clinical-rules",
                "apache-airflow",
                "apache-airflow-task-sdk",
                "apache-airflow-providers-http",
                "httpx",
                "httpcore",
                "pydantic",
                "tenacity",
                "uvicorn",
                "starlette",
                "psutil",
            )
        },
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty_files": len([ln for ln in git("status", "--porcelain").splitlines() if ln.strip()]),
    }
    try:
        import psutil

        info["memory_total_mib"] = round(mib(psutil.virtual_memory().total))
        freq = psutil.cpu_freq()
        info["cpu_freq_mhz"] = round(freq.current) if freq else None
    except (ImportError, OSError):
        pass
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = {ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")}
        info["cpu_model"] = ", ".join(sorted(models)) or None
    except OSError:
        pass
    return info
