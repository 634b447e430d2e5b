"""Clinical One rule designer service: publish run, filtered list, rule job state machine."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from clinical_rules_provider.testing import (
    FAILING_RULE_ID,
    STALE_RULE_ID,
    ManualClock,
    SimulatorState,
)
from tests.testing.conftest import (
    DESIGNER,
    UNKNOWN_RULE,
    VISIT_RULE,
    S,
    hyphenate,
)


async def publish(client: httpx.AsyncClient, ids: Any, run: str = "AllData") -> httpx.Response:
    return await client.put(f"{DESIGNER}/{run}", json={"ruleIds": ids})


async def filtered(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(f"{DESIGNER}/filteredlist", json=body)


# ----- publish run --------------------------------------------------------------------------


async def test_publish_success_item_matches_reference_example(client: httpx.AsyncClient) -> None:
    response = await publish(client, [VISIT_RULE])
    assert response.status_code == 200
    assert response.json() == [
        {
            "ruleId": VISIT_RULE,
            "ruleName": "Out of Range Visit Date",
            "jobStatus": "Success",
            "ruleValidationMessage": "Rule updated successfully.",
            "ruleValidationStatus": True,
            "httpErrorCode": 200,
            "httpErrorMessage": "Success",
            "result": {"status": "success", "result": "Publish run updated to AllData"},
            "error": None,
        }
    ]


async def test_publish_sets_publish_run_and_starts_one_job_per_rule_in_one_group(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    rules = ["938D23FA6B7241CCA41BD627E5DB60DA", VISIT_RULE]
    await publish(client, [*rules, VISIT_RULE], run="AllData")
    jobs = [sim_state.latest_job(S, "test", r) for r in rules]
    assert all(job is not None and sim_state.job_status(job) == "Pending" for job in jobs)
    assert len({job.group_job_id for job in jobs if job}) == 1
    visit = sim_state.rule(S, "test", VISIT_RULE)
    assert visit is not None
    assert (len(visit.jobs), visit.publish_run) == (1, "AllData")


async def test_future_data_changes_the_publish_run_but_starts_no_job(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    visit = sim_state.rule(S, "test", VISIT_RULE)
    assert visit is not None
    before = len(visit.jobs)
    items = (await publish(client, [VISIT_RULE], run="FutureData")).json()
    assert [i["jobStatus"] for i in items] == ["Success"]
    assert (len(visit.jobs), visit.publish_run) == (before, "FutureData")


async def test_publish_unknown_rule_is_failed_item_with_404_error(
    client: httpx.AsyncClient,
) -> None:
    items = (await publish(client, [VISIT_RULE, UNKNOWN_RULE])).json()
    assert [i["jobStatus"] for i in items] == ["Success", "Failed"]
    missing = items[1]
    assert missing["ruleId"] == UNKNOWN_RULE
    assert missing["httpErrorCode"] == 404
    assert missing["ruleValidationStatus"] is False
    assert missing["error"]["status"] == "failed"
    assert missing["error"]["errorCode"] == "RULE-001"


async def test_publish_invalid_rule_fails_validation_without_starting_a_job(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    invalid = next(r for r in sim_state.rules(S, "test") if r.invalid)
    (item,) = (await publish(client, [invalid.rule_id])).json()
    assert item["jobStatus"] == "Failed"
    assert item["ruleValidationStatus"] is False
    assert item["ruleValidationMessage"] == invalid.validation_message
    assert invalid.jobs == []


@pytest.mark.parametrize(
    ("ids", "detail"),
    [
        ([], "at least one"),
        ("not-a-list", "at least one"),
        ([VISIT_RULE.lower()], "ruleIds[0]"),
        (["8E2253D8-E53A-4A46-BAE3-E4952CBE9E5A"], "ruleIds[0]"),
        ([VISIT_RULE, 42], "ruleIds[1]"),
        ([VISIT_RULE] * 501, "at most 500"),
    ],
)
async def test_publish_rejects_invalid_rule_ids_with_json_004_array(
    client: httpx.AsyncClient, ids: Any, detail: str
) -> None:
    response = await publish(client, ids)
    assert response.status_code == 400
    (item,) = response.json()
    assert item["jobStatus"] == "Failed"
    assert "ruleId" not in item  # the whole request failed: no rule to name
    assert item["httpErrorCode"] == 400
    assert item["error"]["errorCode"] == "JSON-004"
    assert detail in item["error"]["details"]


@pytest.mark.parametrize(
    ("path", "code", "field"),
    [
        (f"{DESIGNER}/alldata", "PATH-003", "publishRun"),
        (DESIGNER.replace("/test", "/TEST") + "/AllData", "PATH-002", "mode"),
        (DESIGNER.replace(S, "XYZ") + "/AllData", "PATH-001", "studyId"),
    ],
)
async def test_publish_rejects_bad_path_parameters_naming_the_field(
    client: httpx.AsyncClient, path: str, code: str, field: str
) -> None:
    response = await client.put(path, json={"ruleIds": [VISIT_RULE]})
    assert response.status_code == 400
    error = response.json()[0]["error"]
    assert (error["errorCode"], field in error["details"]) == (code, True)


async def test_publish_rejects_malformed_json_body(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{DESIGNER}/AllData", content=b"{nope")
    assert response.status_code == 400
    assert response.json()[0]["error"]["errorCode"] == "JSON-001"


async def test_publish_unknown_study_is_400_item(client: httpx.AsyncClient) -> None:
    response = await client.put(DESIGNER.replace(S, "A" * 32) + "/AllData", json={"ruleIds": [VISIT_RULE]})
    assert response.status_code == 400  # the seed lists only 200/400/500
    assert response.json()[0]["error"]["errorCode"] == "STUDY-001"


async def test_publish_accepts_hyphenated_lowercase_study_id(client: httpx.AsyncClient) -> None:
    path = DESIGNER.replace(S, hyphenate(S).lower()) + "/AllData"
    assert (await client.put(path, json={"ruleIds": [VISIT_RULE]})).status_code == 200


# ----- rule job state machine ---------------------------------------------------------------


async def test_new_job_goes_pending_running_then_rule_outcome(
    client: httpx.AsyncClient, sim_state: SimulatorState, sim_clock: ManualClock
) -> None:
    await publish(client, [VISIT_RULE, FAILING_RULE_ID])
    seen = []
    for step in (0.0, 0.6, 1.5):
        sim_clock.advance(step)
        jobs = [sim_state.latest_job(S, "test", r) for r in (VISIT_RULE, FAILING_RULE_ID)]
        seen.append([sim_state.job_status(j) for j in jobs if j])
    assert seen == [["Pending", "Pending"], ["Running", "Running"], ["Success", "Failed"]]


async def test_seeded_stale_job_started_three_hours_ago_and_keeps_running(
    sim_state: SimulatorState, sim_clock: ManualClock
) -> None:
    job = sim_state.latest_job(S, "test", STALE_RULE_ID)
    assert job is not None
    assert (sim_clock() - job.started).total_seconds() == pytest.approx(3 * 3600)
    sim_clock.advance(86400)
    assert sim_state.job_status(job) == "Running"


# ----- filtered list ------------------------------------------------------------------------


async def test_filter_without_criteria_returns_every_rule_with_paging_echo(
    client: httpx.AsyncClient,
) -> None:
    body = (await filtered(client)).json()
    assert (body["totalCount"], body["offset"], body["limit"]) == (12, 0, 100)
    assert len(body["resultData"]) == 12
    summary = next(r for r in body["resultData"] if r["ruleId"] == VISIT_RULE)
    assert summary["ruleState"] == "approved"
    assert summary["ruleValidationStatus"] == "true"
    assert summary["ruleEnabled"] == 1
    assert summary["ruleTrainingEnabled"] == "false"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", summary["lastModifiedDate"])


async def test_filter_sends_oracles_published_rule_field_names_and_no_invented_ones(
    client: httpx.AsyncClient,
) -> None:
    summary = next(r for r in (await filtered(client)).json()["resultData"] if r["ruleId"] == VISIT_RULE)
    published = {
        "lastModifiedDate",
        "ruleOrder",
        "ruleOriginType",
        "ruleDeleted",
        "ruleEverInProduction",
        "ruleActionTarget",
        "ruleActionTypeName",
        "versionStart",
    }
    assert published <= set(summary)
    retired = {"lastModified", "displayOrder", "ruleSource", "isDeleted", "executedInProduction"}
    assert not (retired | {"formId", "itemId"}) & set(summary)
    assert (summary["ruleOrder"], summary["ruleOriginType"], summary["ruleDeleted"]) == (10, "UI", 0)


async def test_filter_pages_by_offset_and_limit_without_overlap(client: httpx.AsyncClient) -> None:
    ids: list[str] = []
    for offset in range(0, 12, 5):
        page = (await filtered(client, offset=offset, limit=5)).json()["resultData"]
        ids.extend(r["ruleId"] for r in page)
    assert len(ids) == len(set(ids)) == 12


async def test_ignore_paging_returns_the_whole_list_for_every_page(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.ignore_paging = True
    first = (await filtered(client, offset=0, limit=5)).json()["resultData"]
    second = (await filtered(client, offset=5, limit=5)).json()["resultData"]
    assert len(first) == 12
    assert first == second


async def test_report_total_count_switch_omits_total_count(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.report_total_count = False
    assert "totalCount" not in (await filtered(client)).json()


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ({"ruleState": ["approved"]}, lambda r: r["ruleState"] == "approved"),
        ({"ruleEnabled": "0"}, lambda r: r["ruleEnabled"] == 0),
        ({"ruleTrainingEnabled": "true"}, lambda r: r["ruleTrainingEnabled"] == "true"),
        ({"publishRun": "AllData"}, lambda r: r["publishRun"] == "AllData"),
        (
            {"formId": "39903d6c-042d-4d9e-8977-3160488e6d3d"},
            lambda r: r["formName"] == "Screening Visit",
        ),
        (
            {"itemId": ["8A7B6C5D-4E3F-4A1B-9C8D-7E6F5A4B3C2D"]},
            lambda r: r["questionName"] == "Weight",
        ),
        ({"userName": "JSMITH"}, lambda r: r["userName"] == "jsmith"),
        ({"userId": "0000000000000000000000000000000b"}, lambda r: r["userName"] == "mlopez"),
    ],
)
async def test_filter_field_selects_only_matching_rules(
    client: httpx.AsyncClient, body: dict[str, Any], check: Any
) -> None:
    rows = (await filtered(client, **body)).json()["resultData"]
    assert rows
    assert all(check(r) for r in rows)


async def test_filter_sorts_by_column_and_order(client: httpx.AsyncClient) -> None:
    rows = (await filtered(client, sortColumn="ruleName", sortOrder="DESC")).json()["resultData"]
    names = [r["ruleName"].casefold() for r in rows]
    assert names == sorted(names, reverse=True)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"formId": "39903D6C042D4D9E89773160488E6D3D"}, "formId", "JSON-002"),
        ({"itemId": "not-a-list"}, "itemId", "JSON-002"),
        ({"publishRun": "alldata"}, "publishRun", "JSON-002"),
        ({"ruleEnabled": 1}, "ruleEnabled", "JSON-002"),
        ({"ruleState": ["published"]}, "ruleState", "JSON-002"),
        ({"ruleTrainingEnabled": "yes"}, "ruleTrainingEnabled", "JSON-002"),
        ({"sortColumn": "colour"}, "sortColumn", "JSON-002"),
        ({"sortOrder": "asc"}, "sortOrder", "JSON-002"),
        ({"userId": "jsmith"}, "userId", "JSON-002"),
        ({"limit": 1001}, "limit", "JSON-003"),
        ({"offset": -1}, "offset", "JSON-003"),
    ],
)
async def test_filter_rejects_invalid_value_with_object_envelope_naming_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, code: str
) -> None:
    response = await filtered(client, **body)
    assert response.status_code == 400
    error = response.json()
    assert (error["status"], error["result"], error["errorCode"]) == ("failed", None, code)
    assert field in error["errorMessage"]
    assert field in error["details"]


async def test_filter_unknown_study_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(DESIGNER.replace(S, "B" * 32) + "/filteredlist", json={})
    assert response.status_code == 400  # the seed lists only 200/400/500
    assert response.json()["errorCode"] == "STUDY-001"
