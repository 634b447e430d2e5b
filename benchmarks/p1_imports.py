"""P1: what importing the provider's operators and sensors adds to a DAG file's parse time.

Each sample is a fresh interpreter that times ``import airflow.sdk`` and then the imports
under test with ``perf_counter``; the variants run interleaved so drift hits them equally.
Limit: the provider's imports add <= 15 ms (median) over ``import airflow.sdk`` alone.
For comparison, the same is measured for ``apache-airflow-providers-http``'s
``HttpOperator`` (installed into the venv with pip if it is missing).

Bytecode: a deployed provider is a wheel whose modules pip byte-compiled at install time,
while ``make`` exports ``PYTHONDONTWRITEBYTECODE=1`` and an editable install is never
compiled. So the measured runs use a private ``PYTHONPYCACHEPREFIX`` (filled by untimed
warm-up runs, nothing is written into the source tree); the provider import as ``make``
runs it (provider compiled from source each time) is an extra, informational row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import ROOT, BenchConfig, Check, TargetResult, median

TARGET, TITLE = "P1", "DAG-file import cost of the provider's operators and sensors"
LIMIT_MS = 15.0
HTTP_DIST = "apache-airflow-providers-http"

PROVIDER_IMPORTS = """
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.operators.filter_rules import ClinicalOneFilterRulesOperator
from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelRuleJobsOperator, ClinicalOneCancelStaleRuleJobsOperator,
    VaultCancelJobsOperator, VaultCancelStaleJobsOperator)
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
"""
HTTP_IMPORTS = "from airflow.providers.http.operators.http import HttpOperator\n"

# Runs in the fresh interpreter: {imports} is one of the blocks above (or nothing).
PROBE = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
n1 = len(sys.modules)
{imports}
t2 = time.perf_counter()
print("P1RESULT " + json.dumps({{"sdk_ms": (t1 - t0) * 1000, "extra_ms": (t2 - t1) * 1000,
      "new_modules": len(sys.modules) - n1}}))
"""


def ensure_http_provider() -> dict[str, Any]:
    """Install the HTTP provider into this venv if missing, pinning installed Airflow packages."""
    try:
        return {"version": metadata.version(HTTP_DIST), "installed_by_benchmark": False}
    except metadata.PackageNotFoundError:
        pass
    pins = []
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("apache-airflow") and name != HTTP_DIST:
            pins.append(f"{name}=={dist.version}")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(pins) + "\n")
    command = [sys.executable, "-m", "pip", "install", "-q", HTTP_DIST, "-c", constraints.name]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    os.unlink(constraints.name)
    if proc.returncode != 0:
        return {"version": None, "installed_by_benchmark": False, "pip_error": proc.stderr[-2000:]}
    return {
        "version": metadata.version(HTTP_DIST),
        "installed_by_benchmark": True,
        "pip_command": " ".join(command[1:-2]) + " -c <installed apache-airflow* pins>",
    }


def sample(imports: str, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("P1RESULT "):
            return dict(json.loads(line.removeprefix("P1RESULT ")))
    raise RuntimeError(f"import probe failed (exit {proc.returncode}): {proc.stderr[-1500:]}")


def measure(cfg: BenchConfig, base_env: dict[str, str], workdir: Path) -> TargetResult:
    http = ensure_http_provider()
    have_http = http.get("version") is not None
    compiled = {**base_env, "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
    compiled.pop("PYTHONDONTWRITEBYTECODE", None)
    # As `make` runs it: site-packages bytecode is used, the editable provider is compiled
    # from source on every import (unless a __pycache__ happens to exist in the tree).
    as_make_runs = {**base_env, "PYTHONDONTWRITEBYTECODE": "1"}
    as_make_runs.pop("PYTHONPYCACHEPREFIX", None)
    provider_pycache = any((ROOT / "provider").rglob("__pycache__"))

    variants: dict[str, tuple[str, dict[str, str]]] = {
        "airflow.sdk only": ("", compiled),
        "provider": (PROVIDER_IMPORTS, compiled),
        "provider, as make runs it": (PROVIDER_IMPORTS, as_make_runs),
    }
    if have_http:
        variants["HttpOperator"] = (HTTP_IMPORTS, compiled)
    # Untimed warm-up: fills the private bytecode cache for every module each variant loads.
    for imports, env in variants.values():
        sample(imports, env)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(cfg.p1_runs):
        for name, (imports, env) in variants.items():
            runs[name].append(sample(imports, env))

    def med(name: str, key: str) -> float:
        return median([r[key] for r in runs[name]])

    sdk_ms = med("airflow.sdk only", "sdk_ms")
    provider_ms = med("provider", "extra_ms")
    checks = [
        Check(
            "provider operators+sensors import, added over import airflow.sdk (median)",
            provider_ms,
            "ms",
            LIMIT_MS,
            baseline=med("HttpOperator", "extra_ms") if have_http else None,
            baseline_label="HttpOperator import (apache-airflow-providers-http)" if have_http else "",
            note=f"import airflow.sdk alone: {sdk_ms:.0f} ms; added = {100 * provider_ms / sdk_ms:.1f}% of it",
        ),
        Check(
            "same, provider compiled from source (PYTHONDONTWRITEBYTECODE=1, as make runs it) [info]",
            med("provider, as make runs it", "extra_ms"),
            "ms",
            None,
            note="an editable install is never byte-compiled and make exports PYTHONDONTWRITEBYTECODE=1; "
            "a wheel install is byte-compiled by pip"
            + (" (a provider __pycache__ existed during this run)" if provider_pycache else ""),
        ),
    ]
    if have_http:
        checks.append(
            Check(
                "HttpOperator import, added over import airflow.sdk [comparison]",
                med("HttpOperator", "extra_ms"),
                "ms",
                None,
            )
        )
    return TargetResult(
        TARGET,
        TITLE,
        checks=checks,
        parameters={"fresh_processes_per_variant": cfg.p1_runs, "statistic": "median", "limit_ms": LIMIT_MS},
        details={
            "http_provider": http,
            "median_airflow_sdk_ms": sdk_ms,
            "cross_process_check_ms": median([r["sdk_ms"] + r["extra_ms"] for r in runs["provider"]])
            - sdk_ms,
            "provider_pycache_in_source_tree": provider_pycache,
            "variants": {
                name: {
                    "median_added_ms": med(name, "extra_ms"),
                    "median_airflow_sdk_ms": med(name, "sdk_ms"),
                    "new_modules": runs[name][0]["new_modules"],
                    "added_ms_samples": [round(r["extra_ms"], 3) for r in runs[name]],
                }
                for name in variants
            },
        },
    )
