"""End to end: the asset-event example pair and the watcher DAG with real Airflow.

The publisher runs with ``dag.test()`` against the simulator (jobs finishing over time),
Airflow records its asset event, and the consumer runs with that event as its triggering
event (scripts/run_asset_dags.py). The watcher DAG is serialized the way the DAG
processor stores it (which is where Airflow deduplicates watchers by trigger hash).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID, LiveSimulator, SimulatorState

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ["8E2253D8E53A4A46BAE3E4952CBE9E5A", "938D23FA6B7241CCA41BD627E5DB60DA"]


def test_a_republish_event_carries_its_extra_to_the_consumer_dag(airflow_env: dict[str, str]) -> None:
    with LiveSimulator(SimulatorState(pending_seconds=0.3, running_seconds=3.0)) as sim:
        env = {
            **airflow_env,
            "CLINICAL_ONE_ASSET_HOST": urlsplit(sim.url).netloc,
            "AIRFLOW_CONN_CLINICAL_ONE_DEFAULT": json.dumps(
                {
                    "conn_type": "clinical_one",
                    "host": sim.url,
                    "login": "demo-user",
                    "password": "demo-password",
                    "extra": {"study_id": EXAMPLE_STUDY_ID, "study_mode": "test", "retry_backoff": 0.05},
                }
            ),
        }
        script = str(ROOT / "scripts" / "run_asset_dags.py")
        done = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=300)
        jobs = {r: sim.state.latest_job(EXAMPLE_STUDY_ID, "test", r) for r in RULES}
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-RESULT ")]
    assert lines, done.stdout[-4000:] + done.stderr[-4000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("DAG-RESULT "))
    assert result["publisher"]["state"] == "success"
    extra = result["asset_event"]["extra"]
    assert extra["rule_ids"] == RULES and extra["publish_run"] == "AllData"
    assert extra["job_ids"] == {r: job.job_id for r, job in jobs.items() if job is not None}
    assert result["consumer"]["state"] == "success"
    consumed = result["consumer"]["tasks"]["refresh_downstream"]["return_value"]
    assert consumed == {"republished": extra["job_ids"]}


def test_the_watcher_dag_serializes_with_its_event_trigger() -> None:
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    try:  # Airflow 3.3+
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    except ImportError:  # Airflow 3.0-3.2
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(ROOT / "example_dags" / "rule_job_watcher.py"))
    assert bag.import_errors == {}
    serialized = json.dumps(Serializer.to_dict(bag.dags["rule_job_watcher"]))
    assert "clinical_rules_provider.triggers.rule_job_event.ClinicalOneRuleJobEventTrigger" in serialized
