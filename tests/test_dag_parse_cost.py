"""A DAG file that builds the provider's operators and sensors loads no model, client or hook.

Those load at execute time; the scheduler's DAG processor parses DAG files over and over,
so what a DAG file imports (and what constructors import) is paid on every parse.
"""

from __future__ import annotations

import subprocess
import sys

DAG_FILE = """
import sys
from datetime import datetime
from airflow.sdk import DAG
from clinical_rules_provider.operators.cancel import (
    ClinicalOneCancelRuleJobsOperator,
    ClinicalOneCancelStaleRuleJobsOperator,
    VaultCancelJobsOperator,
    VaultCancelStaleJobsOperator,
)
from clinical_rules_provider.operators.filter_rules import ClinicalOneFilterRulesOperator
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
from airflow.sdk import Asset, AssetWatcher
from clinical_rules_provider.assets import clinical_one_rules_asset
from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger

rule = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
study = "36753A48BBA048CB98A5F3278146118D"
watcher = AssetWatcher(name="jobs", trigger=ClinicalOneRuleJobEventTrigger(
    study_id=study, study_mode="test", rule_ids=[rule]))
with DAG("parse_cost", start_date=datetime(2026, 1, 1), schedule=[Asset("jobs", watchers=[watcher])]):
    ClinicalOneUpdatePublishRunOperator(task_id="publish", rule_ids=[rule], publish_run="AllData",
                                        wait_for_completion=True, failure_statuses=["Failed"],
                                        outlets=[clinical_one_rules_asset("c1.example.com", study, "test")])
    ClinicalOneFilterRulesOperator(task_id="filter", user_name="jsmith", publish_run="AllData")
    ClinicalOneCancelRuleJobsOperator(task_id="cancel", rule_ids=[rule])
    ClinicalOneCancelStaleRuleJobsOperator(task_id="stale", older_than=3600, poll_endpoint="job_status")
    VaultCancelJobsOperator(task_id="vault_cancel", job_ids=[1])
    VaultCancelStaleJobsOperator(task_id="vault_stale", older_than=3600)
    ClinicalOneRuleJobSensor(task_id="sense", rule_ids=[rule], started_after=datetime(2026, 1, 1),
                             failure_statuses=["Failed"], poll_endpoint="job_status")
    VaultJobSensor(task_id="vault_sense", job_ids=[1], failure_statuses=["CANCELLED"])

heavy = ("clinical_rules_provider.models.clinical_one", "clinical_rules_provider.models.vault",
         "clinical_rules_provider.clients", "clinical_rules_provider.hooks", "clinical_rules_provider.job_watch")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""


def test_building_every_operator_and_sensor_in_a_dag_loads_no_model_client_or_hook() -> None:
    done = subprocess.run([sys.executable, "-c", DAG_FILE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
