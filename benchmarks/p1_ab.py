"""P1 with and without an import-time mechanism: source trees compared in fresh interpreters.

    .venv/bin/python benchmarks/p1_ab.py --runs 15 with=provider without-lazy=/tmp/variant/provider

Each ``NAME=DIR`` is a directory holding a ``clinical_rules_provider`` package, put first on
``PYTHONPATH``. Variants run interleaved, with bytecode compiled once per variant into a
private ``PYTHONPYCACHEPREFIX`` (as a wheel install would be). Two probes per variant:
P1's own (the provider's operator and sensor imports, added over ``import airflow.sdk``)
and a DAG file that also builds every operator and sensor (what the DAG processor pays).
Prints medians, min/max and the ratio of each variant to the first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import ROOT
from p1_imports import PROBE, PROVIDER_IMPORTS, sample
from run import base_env

BUILD = """
from datetime import datetime
from airflow.sdk import DAG
rule = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
with DAG("parse_cost", start_date=datetime(2026, 1, 1), schedule=None):
    ClinicalOneUpdatePublishRunOperator(task_id="publish", rule_ids=[rule], publish_run="AllData",
                                        wait_for_completion=True, failure_statuses=["Failed"])
    ClinicalOneFilterRulesOperator(task_id="filter", user_name="jsmith", publish_run="AllData")
    ClinicalOneCancelRuleJobsOperator(task_id="cancel", rule_ids=[rule])
    ClinicalOneCancelStaleRuleJobsOperator(task_id="stale", older_than=3600, poll_endpoint="job_status")
    VaultCancelJobsOperator(task_id="vault_cancel", job_ids=[1])
    VaultCancelStaleJobsOperator(task_id="vault_stale", older_than=3600)
    ClinicalOneRuleJobSensor(task_id="sense", rule_ids=[rule], started_after=datetime(2026, 1, 1),
                             failure_statuses=["Failed"], poll_endpoint="job_status")
    VaultJobSensor(task_id="vault_sense", job_ids=[1], failure_statuses=["CANCELLED"])
"""
PROBES = {"P1 imports": PROVIDER_IMPORTS, "imports + build 8 tasks": PROVIDER_IMPORTS + BUILD}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("variants", nargs="+", help="NAME=DIR")
    args = parser.parse_args()
    assert "{imports}" in PROBE
    workdir = Path(tempfile.mkdtemp(prefix="clinical-rules-p1ab-"))
    env0 = base_env(workdir)
    env0.pop("PYTHONDONTWRITEBYTECODE", None)
    envs = {}
    for spec in args.variants:
        name, _, where = spec.partition("=")
        path = (ROOT / where).resolve()
        envs[name] = {
            **env0,
            "PYTHONPATH": os.pathsep.join([str(path), env0.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "PYTHONPYCACHEPREFIX": str(workdir / f"pycache-{name}"),
        }
    results: dict[str, dict[str, list[float]]] = {p: {n: [] for n in envs} for p in PROBES}
    modules: dict[str, dict[str, float]] = {p: {} for p in PROBES}
    for probe, code in PROBES.items():  # warm-up: compile every module once per variant
        for name, env in envs.items():
            modules[probe][name] = sample(code, env)["new_modules"]
    for r in range(args.runs):
        names = list(envs)
        names = names[r % len(names) :] + names[: r % len(names)]
        for probe, code in PROBES.items():
            for name in names:
                results[probe][name].append(sample(code, envs[name])["extra_ms"])
    report = {}
    for probe, per_variant in results.items():
        first = statistics.median(next(iter(per_variant.values())))
        for name, values in per_variant.items():
            med = statistics.median(values)
            report[f"{probe} | {name}"] = {
                "median_ms": round(med, 2),
                "min_ms": round(min(values), 2),
                "max_ms": round(max(values), 2),
                "ratio_to_first": round(med / first, 3),
                "new_modules": modules[probe][name],
            }
            print(
                f"{probe:26} {name:28} median {med:6.2f} ms  [{min(values):6.2f}-{max(values):6.2f}]"
                f"  x{med / first:.3f}  modules {modules[probe][name]:.0f}"
            )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
