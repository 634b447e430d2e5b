"""Both pagers end on hostile page orders and yield each item once (issue 13, class 4).

The servers (respx) answer every page with a full page, so neither a short page nor a
total can stop the walk: only "this page brings nothing seen on no earlier page" can.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.clients import filtered_list, vault
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from tests.conftest import STUDY, ConnFactory
from tests.hostile._pages import ORDERS, PageOrder, check_walk, monitor_row, rule_row

FILTERED = f"https://c1.test/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/filteredlist"
VAULT = "https://vault.test/api/v26.1"
PAGE = 3
# A correct pager needs at most DISTINCT pages plus one; the server stops answering well after.
SAFETY = 40
ROWS = 4 * PAGE
RULE_IDS = [rule_row(n)["ruleId"] for n in range(1, ROWS + 1)]
JOB_IDS = list(range(1, ROWS + 1))


def _rule_server(order: PageOrder) -> Callable[[httpx.Request], httpx.Response]:
    rows = [rule_row(n) for n in range(1, ROWS + 1)]
    calls = [0]

    def answer(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] > SAFETY:
            return httpx.Response(500, json={"errorMessage": "pager did not stop"})
        size = json.loads(request.content)["limit"]
        return httpx.Response(200, json={"resultData": order(calls[0] - 1, rows, size), "hasMore": True})

    return answer


def _monitor_server(order: PageOrder, *, next_link: bool) -> Callable[[httpx.Request], httpx.Response]:
    rows = [monitor_row(n) for n in range(1, ROWS + 1)]
    calls = [0]

    def answer(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] > SAFETY:
            return httpx.Response(500, json={"responseStatus": "FAILURE", "errors": [{"type": "STOP"}]})
        size = int(request.url.params["limit"])
        details: dict[str, Any] = {"total": 10**6, "limit": size}
        if next_link:  # an endless "next" link, always pointing at the same page
            details["next_page"] = f"/api/v26.1/services/jobs/monitors?offset=0&limit={size}"
        body = {
            "responseStatus": "SUCCESS",
            "responseDetails": details,
            "jobs": order(calls[0] - 1, rows, size),
        }
        return httpx.Response(200, json=body)

    return answer


@pytest.fixture
def c1(make_conn: ConnFactory) -> str:
    return make_conn("c1_pages", "clinical_one", "c1.test", login="u", password="p", extra={"max_retries": 0})


@pytest.fixture
def vlt(make_conn: ConnFactory) -> str:
    return make_conn(
        "vault_pages", "veeva_vault", "vault.test", extra={"session_id": "sess-pages", "max_retries": 0}
    )


@pytest.mark.parametrize("name", list(ORDERS))
@respx.mock
def test_rule_pager_ends_on_hostile_page_orders_yielding_each_rule_once(c1: str, name: str) -> None:
    route = respx.post(FILTERED).mock(side_effect=_rule_server(ORDERS[name]))
    ids = [r.rule_id for r in ClinicalOneHook(c1).list_rules(STUDY, "test", page_size=PAGE)]
    check_walk(name, ids, RULE_IDS, PAGE, route.call_count)


@pytest.mark.parametrize("name", list(ORDERS))
@respx.mock
async def test_async_rule_pager_ends_on_hostile_page_orders(c1: str, name: str) -> None:
    route = respx.post(FILTERED).mock(side_effect=_rule_server(ORDERS[name]))
    async with ClinicalOneHook(c1) as hook:
        ids = [r.rule_id async for r in hook.alist_rules(STUDY, "test", page_size=PAGE)]
    check_walk(name, ids, RULE_IDS, PAGE, route.call_count)


@pytest.mark.parametrize("next_link", [False, True], ids=["offset-only", "endless-next-link"])
@pytest.mark.parametrize("name", list(ORDERS))
@respx.mock
def test_job_monitor_pager_ends_on_hostile_page_orders_yielding_each_job_once(
    vlt: str, name: str, next_link: bool
) -> None:
    route = respx.get(f"{VAULT}/services/jobs/monitors").mock(
        side_effect=_monitor_server(ORDERS[name], next_link=next_link)
    )
    ids = [job.job_id for job in VaultHook(vlt).list_job_monitors(page_size=PAGE)]
    check_walk(name, ids, JOB_IDS, PAGE, route.call_count)


@respx.mock
async def test_async_job_monitor_pager_ends_on_alternating_pages(vlt: str) -> None:
    respx.get(f"{VAULT}/services/jobs/monitors").mock(
        side_effect=_monitor_server(ORDERS["alternating"], next_link=True)
    )
    async with VaultHook(vlt) as hook:
        ids = [job.job_id async for job in hook.alist_job_monitors(page_size=PAGE)]
    assert sorted(ids) == list(range(1, 2 * PAGE + 1))


def test_rule_pager_yields_a_rule_repeated_within_one_page_once() -> None:
    pager = filtered_list.RulePager.create(STUDY, "test", page_size=PAGE)
    request = pager.next_request()
    assert request is not None
    rows = [rule_row(1), rule_row(2), rule_row(1)]
    response = httpx.Response(200, json={"resultData": rows}, request=httpx.Request("POST", FILTERED))
    assert [r.rule_id for r in pager.feed(response)] == [rule_row(1)["ruleId"], rule_row(2)["ruleId"]]


def test_pagers_refuse_a_service_that_invents_ids_without_end(monkeypatch: pytest.MonkeyPatch) -> None:
    from clinical_rules_provider.clients import base
    from clinical_rules_provider.exceptions import VaultAPIError

    monkeypatch.setattr(base, "MAX_DISTINCT_ITEMS", 5)
    pager = vault.JobMonitorPager.create(page_size=PAGE)

    def page(number: int) -> httpx.Response:
        rows = [monitor_row(number * PAGE + n) for n in range(1, PAGE + 1)]
        body = {"responseStatus": "SUCCESS", "jobs": rows}
        return httpx.Response(200, json=body, request=httpx.Request("GET", VAULT))

    assert len(pager.feed(page(0))) == PAGE
    with pytest.raises(VaultAPIError, match="more than 5 distinct"):
        pager.feed(page(1))
