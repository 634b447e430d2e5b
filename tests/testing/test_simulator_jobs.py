"""Clinical One rule execution service: cancelRuleJob, rerun history and jobStatus."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinical_rules_provider.testing import (
    FAILING_RULE_ID,
    SECOND_STUDY_ID,
    STALE_RULE_ID,
    UNCANCELLABLE_RULE_ID,
    ManualClock,
    SimulatorState,
    create_app,
)
from tests.testing.conftest import (
    EXEC,
    HISTORY_RULE,
    JOB_STATUS,
    START_DATE,
    UNKNOWN_RULE,
    VISIT_RULE,
    S,
    hyphenate,
)

# ----- cancel rule job ----------------------------------------------------------------------


async def cancel(client: httpx.AsyncClient, ids: Any) -> httpx.Response:
    return await client.put(f"{EXEC}/cancelRuleJob", json={"ruleIds": ids})


async def test_cancel_active_job_reports_cancelled_and_job_stays_cancelled(
    client: httpx.AsyncClient, sim_state: SimulatorState, sim_clock: ManualClock
) -> None:
    body = (await cancel(client, [STALE_RULE_ID])).json()
    assert body["errorMessage"] == "Success"  # Oracle's name for the overall outcome
    (entry,) = body["jobStatus"]
    job = sim_state.latest_job(S, "test", STALE_RULE_ID)
    assert job is not None
    assert entry == {
        "ruleId": STALE_RULE_ID,
        "jobId": job.job_id,
        "jobStatus": "Cancelled",
        "ruleName": "onesection - create query with form submit dates",
        "jobStartDate": sim_state.format_job_start(job.started),
        "groupJobId": job.group_job_id,
    }
    sim_clock.advance(3600)
    assert sim_state.job_status(job) == "Cancelled"


async def test_cancel_uncancellable_rule_reports_failed_to_cancel_and_job_keeps_running(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    (entry,) = (await cancel(client, [UNCANCELLABLE_RULE_ID])).json()["jobStatus"]
    assert entry["jobStatus"] == "Failed to cancel job"
    job = sim_state.latest_job(S, "test", UNCANCELLABLE_RULE_ID)
    assert job is not None and sim_state.job_status(job) == "Running"


async def test_cancel_unknown_rule_reports_rule_doesnt_exist_without_job_id(
    client: httpx.AsyncClient,
) -> None:
    (entry,) = (await cancel(client, [UNKNOWN_RULE])).json()["jobStatus"]
    assert entry["ruleId"] == UNKNOWN_RULE
    assert entry == {"ruleId": UNKNOWN_RULE, "jobStatus": "Rule doesn't exist"}  # no null job fields


async def test_cancel_leaves_out_a_rule_without_any_job_instead_of_a_null_status(
    client: httpx.AsyncClient,
) -> None:
    body = (await cancel(client, [VISIT_RULE, STALE_RULE_ID])).json()
    assert [e["ruleId"] for e in body["jobStatus"]] == [STALE_RULE_ID]


async def test_cancel_rule_without_active_job_reports_latest_status_unchanged(
    client: httpx.AsyncClient,
) -> None:
    (entry,) = (await cancel(client, [FAILING_RULE_ID])).json()["jobStatus"]
    assert entry["jobStatus"] == "Failed"


async def test_cancel_keeps_request_order_and_accepts_hyphenated_lowercase_ids(
    client: httpx.AsyncClient,
) -> None:
    ids = [UNKNOWN_RULE, hyphenate(STALE_RULE_ID).lower()]
    entries = (await cancel(client, ids)).json()["jobStatus"]
    assert [e["ruleId"] for e in entries] == [UNKNOWN_RULE, STALE_RULE_ID]


@pytest.mark.parametrize(
    ("ids", "detail"),
    [([], "ruleIds"), (["nope"], "ruleIds[0]"), ([STALE_RULE_ID] * 501, "ruleIds")],
)
async def test_cancel_rejects_invalid_rule_ids_with_error_message_naming_field(
    client: httpx.AsyncClient, ids: list[str], detail: str
) -> None:
    response = await cancel(client, ids)
    assert response.status_code == 400
    body = response.json()
    assert body["jobStatus"] == []
    assert detail in body["errorMessage"]


async def test_cancel_rejects_uppercase_mode_naming_mode(client: httpx.AsyncClient) -> None:
    response = await client.put(
        EXEC.replace("/test", "/Test") + "/cancelRuleJob", json={"ruleIds": [STALE_RULE_ID]}
    )
    assert response.status_code == 400
    assert "mode" in response.json()["errorMessage"]


# ----- rerun history and jobStatus ----------------------------------------------------------


async def test_rerun_history_lists_jobs_newest_first_with_reference_fields(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get(f"{EXEC}/rerunhistory/{STALE_RULE_ID}")).json()
    assert (body["status"], body["statusDetail"]) == ("SUCCESS", None)
    history = body["ruleHistory"]
    assert [h["jobStatus"] for h in history] == ["Running", "Success"]
    assert history[1]["jobStartDate"] == "2025-09-07 19:12:08.747"
    assert set(history[0]) == {
        "ruleId",
        "jobId",
        "jobStatus",
        "ruleName",
        "jobStartDate",
        "userId",
        "countPassedSubjects",
        "countFailedSubjects",
    }
    assert all(START_DATE.match(h["jobStartDate"]) for h in history)


async def test_rerun_history_of_reference_example_matches_its_counts(
    client: httpx.AsyncClient,
) -> None:
    study_two = EXEC.replace(S, SECOND_STUDY_ID)
    (entry,) = (await client.get(f"{study_two}/rerunhistory/{HISTORY_RULE}")).json()["ruleHistory"]
    assert entry["jobStartDate"] == "2025-09-07 19:08:07.437"
    assert (entry["countPassedSubjects"], entry["countFailedSubjects"]) == (1, 0)


async def test_rerun_history_of_rule_without_jobs_is_not_found_with_http_200(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{EXEC}/rerunhistory/{VISIT_RULE.lower()}")
    assert response.status_code == 200
    assert response.json() == {
        "status": "NOT_FOUND",  # the seed: "no matching history records"
        "statusDetail": "No rule execution history found for the supplied rule identifier.",
        "ruleHistory": [],
    }


async def test_rerun_history_of_unknown_rule_is_not_found_with_http_200(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{EXEC}/rerunhistory/{UNKNOWN_RULE}")
    assert response.status_code == 200  # the seed lists only 200/400/500
    assert response.json() == {
        "status": "NOT_FOUND",
        "statusDetail": "Rule execution job not found for the supplied identifier.",
        "ruleHistory": [],
    }


async def test_rerun_history_of_an_unknown_study_is_rejected_as_on_every_other_route(
    client: httpx.AsyncClient,
) -> None:
    unknown = EXEC.replace(S, "A" * 32)
    history = await client.get(f"{unknown}/rerunhistory/{VISIT_RULE}")
    cancel = await client.put(f"{unknown}/cancelRuleJob", json={"ruleIds": [VISIT_RULE]})
    assert history.status_code == cancel.status_code == 400
    assert (history.json()["status"], history.json()["ruleHistory"]) == ("VALIDATION_ERROR", [])
    assert history.json()["statusDetail"] == cancel.json()["errorMessage"]


@pytest.mark.parametrize(
    ("path", "field"),
    [("/test/rerunhistory/xyz", "ruleId"), ("/prod/rerunhistory/" + VISIT_RULE, "mode")],
)
async def test_rerun_history_rejects_bad_path_with_validation_error(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    response = await client.get(EXEC.replace("/test", "") + path)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["ruleHistory"]) == ("VALIDATION_ERROR", [])
    assert field in body["statusDetail"]


async def test_job_start_date_is_rendered_in_the_service_timezone(
    sim_clock: ManualClock, c1_auth: httpx.Auth
) -> None:
    state = SimulatorState(clock=sim_clock, service_timezone="Asia/Tokyo")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(state)), base_url="http://sim", auth=c1_auth
    ) as c:
        history = (await c.get(f"{EXEC}/rerunhistory/{STALE_RULE_ID}")).json()["ruleHistory"]
    assert history[-1]["jobStartDate"] == "2025-09-08 04:12:08.747"


async def test_job_status_returns_latest_job_per_rule_in_request_order(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    ids = [STALE_RULE_ID, VISIT_RULE, UNKNOWN_RULE]
    body = (await client.put(JOB_STATUS, json={"ruleIds": ids})).json()
    assert body["errorMessage"] == "Success"
    stale, unknown = body["jobStatus"]  # VISIT_RULE has no job: no entry, never a null status
    latest = sim_state.latest_job(S, "test", STALE_RULE_ID)
    assert latest is not None and stale["jobId"] == latest.job_id
    assert stale["jobStatus"] == "Running"
    assert unknown == {"ruleId": UNKNOWN_RULE, "jobStatus": "Rule doesn't exist"}


async def test_job_status_with_history_returns_every_job_newest_first(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.put(f"{JOB_STATUS}?history=true", json={"ruleIds": [STALE_RULE_ID]})).json()
    assert [e["jobStatus"] for e in body["jobStatus"]] == ["Running", "Success"]


async def test_job_status_rejects_non_boolean_history(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{JOB_STATUS}?history=maybe", json={"ruleIds": [STALE_RULE_ID]})
    assert response.status_code == 400
    assert "history" in response.json()["errorMessage"]
