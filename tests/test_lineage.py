"""OpenLineage: the clinical-one:// converter and the publish operator's facets.

The OpenLineage provider is the optional ``openlineage`` extra; without it these tests skip
(only the first two run, checking that nothing here needs it).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import clinical_rules_provider
from clinical_rules_provider.assets import clinical_one_rules_asset
from clinical_rules_provider.lineage import convert_asset_to_openlineage, publish_outcome
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from tests.conftest import RULE_A, STUDY
from tests.operators.conftest import FakeTI, make_context
from tests.operators.conftest import sim_c1 as sim_c1
from tests.operators.conftest import ti as ti

CONVERTER = "clinical_rules_provider.lineage.convert_asset_to_openlineage"
needs_openlineage = pytest.mark.skipif(
    subprocess.run(
        [sys.executable, "-c", "import airflow.providers.openlineage"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="the openlineage extra (apache-airflow-providers-openlineage) is not installed",
)


def test_the_provider_info_declares_the_converter_for_the_asset_scheme() -> None:
    (uris,) = clinical_rules_provider.get_provider_info()["asset-uris"]
    assert uris["schemes"] == ["clinical-one"] and uris["to_openlineage_converter"] == CONVERTER


def test_the_lineage_module_loads_without_openlineage() -> None:
    # Airflow imports the converter's module whenever it reads the provider info.
    code = "import sys, clinical_rules_provider.lineage; print(any('openlineage' in m for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("report", "outcome"),
    [
        ({"publish_run": "AllData", "rule_ids": ["A"], "failed": []}, "updated"),
        ({"publish_run": "AllData", "rule_ids": ["A"], "failed": [{"rule_id": "B"}]}, "partially_updated"),
        ({"publish_run": None, "rule_ids": [], "failed": []}, "nothing_selected"),
    ],
)
def test_the_publish_outcome_names_what_happened(report: dict[str, Any], outcome: str) -> None:
    assert publish_outcome(report) == outcome


@needs_openlineage
def test_the_openlineage_provider_translates_a_rules_asset_through_the_converter() -> None:
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    try:  # Airflow 3.3+: the task SDK's registry
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:
        from airflow.providers_manager import ProvidersManager as Manager  # type: ignore[assignment]

    assert Manager().asset_to_openlineage_converters["clinical-one"] is convert_asset_to_openlineage
    asset = clinical_one_rules_asset("Tenant.Example.com", STUDY.lower(), "test")
    dataset = translate_airflow_asset(asset, lineage_context=None)
    assert (dataset.namespace, dataset.name) == ("clinical-one://tenant.example.com", f"{STUDY}/test/rules")


@needs_openlineage
def test_the_converter_refuses_another_scheme() -> None:
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match="clinical-one"):
        convert_asset_to_openlineage(Asset("s3://bucket/key"))


@needs_openlineage
def test_publish_reports_the_study_in_the_rules_out_and_a_run_facet(sim_c1: str, ti: FakeTI) -> None:
    from airflow.providers.openlineage.extractors.base import DefaultExtractor
    from openlineage.client.serde import Serde

    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish", publish_run="AllData", rule_ids=[RULE_A], clinical_one_conn_id=sim_c1
    )
    ti.pulls["return_value"] = task.execute(make_context(ti))
    # The OpenLineage provider's own extractor for operators that define the method.
    lineage = DefaultExtractor(task).extract_on_complete(ti)
    host = task.hook.config.transport.base_url.split("://", 1)[1]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"clinical-one://{host}", f"{STUDY}/test")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"clinical-one://{host}", f"{STUDY}/test/rules")
    ]
    facet = Serde.to_dict(lineage.run_facets["clinicalOnePublishRun"])
    assert {k: v for k, v in facet.items() if not k.startswith("_")} == {
        "publishRun": "AllData",
        "studyId": STUDY,
        "studyMode": "test",
        "ruleCount": 1,
        "failedRuleCount": 0,
        "outcome": "updated",
    }
    assert ti.pull_calls[-1] == {"task_ids": "publish", "key": "return_value"}


@needs_openlineage
def test_publish_without_a_report_has_no_lineage(sim_c1: str) -> None:
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish", publish_run="AllData", rule_ids=[RULE_A], clinical_one_conn_id=sim_c1
    )
    assert task.get_openlineage_facets_on_complete(FakeTI()) is None
