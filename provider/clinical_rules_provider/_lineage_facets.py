"""The provider's OpenLineage run facet; imported only when the OpenLineage provider is installed
(``clinical_rules_provider.lineage`` loads it inside the function that needs it)."""

from __future__ import annotations

from attrs import define
from openlineage.client.facet_v2 import RunFacet  # type: ignore[import-not-found,unused-ignore]


@define
class ClinicalOnePublishRunFacet(RunFacet):  # type: ignore[misc,unused-ignore]
    """What a ``ClinicalOneUpdatePublishRunOperator`` run did, in OpenLineage's camelCase; the
    fields are described in ``docs/guides/event-driven.md`` ("OpenLineage")."""

    publishRun: str | None
    studyId: str
    studyMode: str
    ruleCount: int
    failedRuleCount: int
    outcome: str
    jobsSucceeded: int | None = None
