"""OpenLineage with the optional ``openlineage`` extra: what is reported is in
``docs/guides/event-driven.md`` ("OpenLineage"), the dataset names in ``docs/inferences.md``.

Importing this module needs no OpenLineage package (Airflow imports the converter's module
when it reads the provider info); the OpenLineage classes load inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinical_rules_provider.assets import SCHEME, parse_rules_asset_uri, rules_asset_uri

if TYPE_CHECKING:
    from airflow.sdk import Asset

__all__ = [
    "convert_asset_to_openlineage",
    "publish_lineage",
    "publish_outcome",
    "publish_task_lineage",
    "rules_dataset",
    "study_dataset",
]


def _dataset(host: str, study_id: str, study_mode: str, suffix: str) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    key = parse_rules_asset_uri(rules_asset_uri(host, study_id, study_mode))
    assert key is not None  # a clinical-one:// URI, built just above
    return Dataset(namespace=f"{SCHEME}://{key.host}", name=f"{key.study_id}/{key.study_mode}{suffix}")


def rules_dataset(host: str, study_id: str, study_mode: str) -> Any:
    """The OpenLineage dataset of a study's rules (the ``clinical-one://`` asset)."""
    return _dataset(host, study_id, study_mode, "/rules")


def study_dataset(host: str, study_id: str, study_mode: str) -> Any:
    """The OpenLineage dataset of a study in one mode (what a publish run reads)."""
    return _dataset(host, study_id, study_mode, "")


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any = None) -> Any:
    """``asset-uris`` converter: ``clinical-one://<host>/<study>/<mode>/rules`` as a dataset; any
    other URI raises ``ValueError`` (the OpenLineage provider leaves it out, logging why)."""
    key = parse_rules_asset_uri(asset.uri)
    if key is None:
        raise ValueError(f"asset uri: {asset.uri!r} is not a {SCHEME}:// URI")
    return rules_dataset(key.host, key.study_id, key.study_mode)


def publish_outcome(report: dict[str, Any]) -> str:
    """``updated`` (every selected rule), ``partially_updated`` (some refused, the task
    still succeeded) or ``nothing_selected``."""
    if report.get("publish_run") is None and not report.get("rule_ids"):
        return "nothing_selected"
    return "partially_updated" if report.get("failed") else "updated"


def publish_lineage(host: str, report: dict[str, Any]) -> Any:
    """``OperatorLineage`` of a finished publish from its report (the task's return value)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    from clinical_rules_provider._lineage_facets import ClinicalOnePublishRunFacet

    study, mode = report["study_id"], report["study_mode"]
    jobs = report.get("jobs") or {}
    facet = ClinicalOnePublishRunFacet(
        publishRun=report.get("publish_run"),
        studyId=study,
        studyMode=mode,
        ruleCount=len(report.get("rule_ids") or []),
        failedRuleCount=len(report.get("failed") or []),
        outcome=publish_outcome(report),
        jobsSucceeded=len(jobs.get("succeeded") or {}) if jobs else None,
    )
    return OperatorLineage(
        inputs=[study_dataset(host, study, mode)],
        outputs=[rules_dataset(host, study, mode)],
        run_facets={"clinicalOnePublishRun": facet},
    )


def publish_task_lineage(operator: Any, task_instance: Any) -> Any:
    """The publish task's lineage, from its return value (the report, pushed before Airflow
    asks) and its connection's host; ``None`` (no lineage) when there is no report."""
    report = task_instance.xcom_pull(task_ids=operator.task_id, key="return_value")
    if not isinstance(report, dict) or not report.get("study_id"):
        return None
    return publish_lineage(operator.hook.config.transport.base_url, report)
