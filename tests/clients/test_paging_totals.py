"""Pagers page until the reply's total or ``hasMore`` is satisfied (issue 23, item 4).

The servers (respx) cap every page at 50 rows whatever size is asked, as a real service may:
a short page must not end paging while ``totalCount``/``total``/``hasMore`` say more rows
exist, or rules silently drop out of publish and cancel selections.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from tests.conftest import STUDY, ConnFactory
from tests.hostile._pages import monitor_row, rule_row

FILTERED = f"https://c1.test/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/filteredlist"
MONITORS = "https://vault.test/api/v26.1/services/jobs/monitors"
CAP = 50
ROWS = 120


@pytest.fixture
def c1(make_conn: ConnFactory) -> str:
    return make_conn(
        "c1_totals", "clinical_one", "c1.test", login="u", password="p", extra={"max_retries": 0}
    )


@pytest.fixture
def vlt(make_conn: ConnFactory) -> str:
    return make_conn(
        "vault_totals", "veeva_vault", "vault.test", extra={"session_id": "sess-totals", "max_retries": 0}
    )


def capped_rules(counter: str | None) -> Callable[[httpx.Request], httpx.Response]:
    """A filteredlist that serves at most CAP rows a page and reports the rest by ``counter``."""
    rows = [rule_row(n) for n in range(1, ROWS + 1)]

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        offset, limit = body["offset"], body["limit"]
        page = rows[offset : offset + min(limit, CAP)]
        reply: dict[str, Any] = {"resultData": page}
        if counter == "hasMore":
            reply["hasMore"] = offset + len(page) < ROWS
        elif counter is not None:
            reply[counter] = ROWS
        return httpx.Response(200, json=reply)

    return answer


@pytest.mark.parametrize("counter", ["totalCount", "total", "hasMore"])
@respx.mock
def test_rule_pager_reads_every_rule_of_a_server_capping_pages_below_the_page_size(
    c1: str, counter: str
) -> None:
    route = respx.post(FILTERED).mock(side_effect=capped_rules(counter))
    ids = [r.rule_id for r in ClinicalOneHook(c1).list_rules(STUDY, "test", page_size=100)]
    assert ids == [rule_row(n)["ruleId"] for n in range(1, ROWS + 1)]
    assert [json.loads(c.request.content)["offset"] for c in route.calls] == [0, 50, 100]


@respx.mock
async def test_async_rule_pager_reads_every_rule_of_a_capping_server(c1: str) -> None:
    respx.post(FILTERED).mock(side_effect=capped_rules("totalCount"))
    async with ClinicalOneHook(c1) as hook:
        ids = [r.rule_id async for r in hook.alist_rules(STUDY, "test", page_size=100)]
    assert len(ids) == len(set(ids)) == ROWS


@respx.mock
def test_rule_pager_without_a_total_still_ends_on_a_short_page(c1: str) -> None:
    route = respx.post(FILTERED).mock(side_effect=capped_rules(None))
    ids = [r.rule_id for r in ClinicalOneHook(c1).list_rules(STUDY, "test", page_size=100)]
    assert len(ids) == CAP and route.call_count == 1


@respx.mock
def test_rule_pager_a_total_that_is_reached_ends_paging_on_a_full_page(c1: str) -> None:
    rows = [rule_row(n) for n in range(1, 4)]
    route = respx.post(FILTERED).mock(
        return_value=httpx.Response(200, json={"resultData": rows, "totalCount": 3})
    )
    assert len(list(ClinicalOneHook(c1).list_rules(STUDY, "test", page_size=3))) == 3
    assert route.call_count == 1


@respx.mock
def test_job_monitor_pager_reads_every_job_of_a_server_capping_pages_below_the_limit(vlt: str) -> None:
    rows = [monitor_row(n) for n in range(1, ROWS + 1)]

    def answer(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        page = rows[offset : offset + min(limit, CAP)]
        details = {"total": ROWS, "offset": offset, "limit": CAP}
        return httpx.Response(
            200, json={"responseStatus": "SUCCESS", "responseDetails": details, "jobs": page}
        )

    route = respx.get(MONITORS).mock(side_effect=answer)
    ids = [job.job_id for job in VaultHook(vlt).list_job_monitors()]
    assert ids == list(range(1, ROWS + 1))
    assert [int(c.request.url.params["offset"]) for c in route.calls] == [0, 50, 100]
