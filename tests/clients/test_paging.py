"""What makes the pagers end (``clients/base.py``): ids seen over every page, and a bound."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinical_rules_provider.clients import base, filtered_list, vault
from clinical_rules_provider.clients.base import fresh_items
from clinical_rules_provider.exceptions import ClinicalOneAPIError, VaultAPIError
from tests.conftest import STUDY
from tests.hostile._pages import monitor_row, rule_row


def test_fresh_items_keeps_new_items_in_page_order_once_each() -> None:
    seen: set[int] = set()
    assert fresh_items(seen, [3, 1, 3], lambda i: i, "list_rules", ClinicalOneAPIError) == [3, 1]
    assert fresh_items(seen, [1, 2], lambda i: i, "list_rules", ClinicalOneAPIError) == [2]
    assert seen == {1, 2, 3}


def test_exactly_the_maximum_of_distinct_items_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "MAX_DISTINCT_ITEMS", 3)
    assert fresh_items(set(), [1, 2, 3], lambda i: i, "list_rules", ClinicalOneAPIError) == [1, 2, 3]


def test_one_more_distinct_item_than_the_maximum_is_the_given_error_naming_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "MAX_DISTINCT_ITEMS", 3)
    with pytest.raises(VaultAPIError) as info:
        fresh_items(set(), [1, 2, 3, 4], lambda i: i, "list_job_monitors", VaultAPIError)
    assert info.value.message == (
        "list_job_monitors: the service paged out more than 3 distinct items; stopping "
        "(it looks like it never ends)"
    )


def rows_page(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body, request=httpx.Request("GET", "https://service.test/x"))


def test_the_rule_pager_stops_a_service_inventing_rules_with_its_endpoints_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "MAX_DISTINCT_ITEMS", 2)
    pager = filtered_list.RulePager.create(STUDY, "test")
    with pytest.raises(ClinicalOneAPIError) as info:
        pager.feed(rows_page({"resultData": [rule_row(n) for n in (1, 2, 3)]}))
    assert info.value.message.startswith("list_rules: the service paged out more than 2 distinct items")


def test_the_job_monitor_pager_stops_a_service_inventing_jobs_with_its_endpoints_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "MAX_DISTINCT_ITEMS", 2)
    pager = vault.JobMonitorPager.create()
    with pytest.raises(VaultAPIError) as info:
        pager.feed(rows_page({"responseStatus": "SUCCESS", "jobs": [monitor_row(n) for n in (1, 2, 3)]}))
    assert info.value.message.startswith("list_job_monitors: the service paged out more than 2 distinct")
