"""Veeva Vault routes: auth and sessions, burst headers, job cancel, job status, monitors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from clinical_rules_provider.testing import ManualClock, SimulatorState
from clinical_rules_provider.testing._seed import VAULT_OTHER_USER_ID, VAULT_USER_ID

V = "/api/v26.1"
CREDENTIALS = {"username": "integration@sim.example", "password": "sim-password"}
JOBS = f"{V}/services/jobs"
STALE_QUEUED, STALE_SCHEDULED, STALE_RUNNING, FRESH_QUEUED = 1046892, 1043341, 1068337, 1068044
OTHER_USERS_QUEUED, OTHER_USERS_SCHEDULED = 1046893, 1043342  # created by another Vault user
RECENTLY_QUEUED, RECENTLY_STARTED = 1046894, 1068338  # created 3 h ago, queued/started minutes ago


async def cancel_jobs(client: httpx.AsyncClient, auth: dict[str, str], ids: list[Any]) -> Any:
    body = [{"job_id": i} for i in ids]
    return (await client.post(f"{JOBS}/actions/cancel", json=body, headers=auth)).json()


# ----- auth and sessions --------------------------------------------------------------------


async def test_auth_with_configured_credentials_returns_session(client: httpx.AsyncClient) -> None:
    body = (await client.post("/api/v25.2/auth", data=CREDENTIALS)).json()
    assert body["responseStatus"] == "SUCCESS"
    assert len(body["sessionId"]) == 64
    assert body["vaultId"] == 1000
    assert body["vaultIds"][0]["id"] == 1000
    assert isinstance(body["userId"], int)


async def test_auth_with_wrong_password_fails_without_echoing_it(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{V}/auth", data={**CREDENTIALS, "password": "hunter2"})
    assert response.status_code == 200
    assert response.json() == {
        "responseStatus": "FAILURE",
        "errors": [
            {
                "type": "USERNAME_OR_PASSWORD_INCORRECT",
                "message": "Authentication failed for user: integration@sim.example",
            }
        ],
    }
    assert "hunter2" not in response.text


async def test_auth_with_json_body_is_rejected(client: httpx.AsyncClient) -> None:
    body = (await client.post(f"{V}/auth", json=CREDENTIALS)).json()
    assert body["errors"][0]["type"] == "INVALID_DATA"


@pytest.mark.parametrize("header", [None, "not-a-session", "Bearer not-a-session"])
async def test_missing_or_unknown_session_is_invalid_session_id(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get(f"{JOBS}/{FRESH_QUEUED}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "responseStatus": "FAILURE",
        "errors": [{"type": "INVALID_SESSION_ID", "message": "Invalid or expired session ID."}],
    }


async def test_bearer_prefixed_session_is_accepted(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {auth['Authorization']}"}
    body = (await client.get(f"{JOBS}/{FRESH_QUEUED}", headers=headers)).json()
    assert body["responseStatus"] == "SUCCESS"


async def test_idle_session_expires_after_ttl(
    client: httpx.AsyncClient, auth: dict[str, str], sim_clock: ManualClock
) -> None:
    sim_clock.advance(1201)
    body = (await client.get(f"{JOBS}/{FRESH_QUEUED}", headers=auth)).json()
    assert body["errors"][0]["type"] == "INVALID_SESSION_ID"


async def test_client_id_header_is_recorded(
    client: httpx.AsyncClient, auth: dict[str, str], sim_state: SimulatorState
) -> None:
    headers = {**auth, "X-VaultAPI-ClientID": "acme-airflow-provider"}
    await client.get(f"{JOBS}/{FRESH_QUEUED}", headers=headers)
    assert sim_state.vault_client_ids["acme-airflow-provider"] == 1


async def test_invalid_api_version_is_malformed_url(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/latest/auth", data=CREDENTIALS)
    assert response.status_code == 404
    assert response.json()["errors"][0]["type"] == "MALFORMED_URL"


async def test_burst_limit_headers_count_down_on_every_vault_response(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first = await client.get(f"{JOBS}/{FRESH_QUEUED}", headers=auth)
    second = await client.get(f"{JOBS}/999", headers={})
    assert first.headers["X-VaultAPI-BurstLimit"] == "2000"
    remaining = [int(r.headers["x-vaultapi-burstlimitremaining"]) for r in (first, second)]
    assert remaining[0] - remaining[1] == 1
    assert first.headers["X-VaultAPI-ResponseDelay"] == "0"


async def test_burst_window_resets_after_five_minutes(
    client: httpx.AsyncClient, auth: dict[str, str], sim_clock: ManualClock
) -> None:
    sim_clock.advance(301)
    response = await client.get(f"{JOBS}/{FRESH_QUEUED}", headers=auth)
    assert response.headers["X-VaultAPI-BurstLimitRemaining"] == "1999"


async def test_exhausted_burst_limit_reports_a_response_delay(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.burst_limit, sim_state.burst_exhausted_delay_ms = 1, 1
    await client.get(f"{JOBS}/1")
    response = await client.get(f"{JOBS}/1")
    assert response.headers["X-VaultAPI-BurstLimitRemaining"] == "0"
    assert response.headers["X-VaultAPI-ResponseDelay"] == "1"


# ----- cancel -------------------------------------------------------------------------------


async def test_cancel_reports_each_item_in_request_order_with_reference_shape(
    client: httpx.AsyncClient, auth: dict[str, str], sim_state: SimulatorState
) -> None:
    body = await cancel_jobs(client, auth, [STALE_QUEUED, STALE_RUNNING, 424242])
    assert body == {
        "responseStatus": "SUCCESS",
        "data": [
            {"responseStatus": "SUCCESS", "data": {"id": STALE_QUEUED}},
            {
                "responseStatus": "FAILURE",
                "errors": {
                    "type": "INVALID_DATA",
                    "message": f"Job [{STALE_RUNNING}] is not found in QUEUED or QUEUEING state",
                },
            },
            {
                "responseStatus": "FAILURE",
                "errors": {
                    "type": "INVALID_DATA",
                    "message": "Job [424242] is not found in QUEUED or QUEUEING state",
                },
            },
        ],
    }
    assert sim_state.vault_job(STALE_RUNNING).status == "RUNNING"  # type: ignore[union-attr]


async def test_cancelled_job_is_cancelling_then_cancelled(
    client: httpx.AsyncClient, auth: dict[str, str], sim_clock: ManualClock
) -> None:
    await cancel_jobs(client, auth, [STALE_SCHEDULED])
    statuses = [(await client.get(f"{JOBS}/{STALE_SCHEDULED}", headers=auth)).json()]
    sim_clock.advance(1.0)
    statuses.append((await client.get(f"{JOBS}/{STALE_SCHEDULED}", headers=auth)).json())
    assert [s["data"]["status"] for s in statuses] == ["CANCELLING", "CANCELLED"]
    assert statuses[1]["data"]["run_end_date"].endswith("Z")


async def test_item_errors_as_list_switch_returns_errors_arrays(
    client: httpx.AsyncClient, auth: dict[str, str], sim_state: SimulatorState
) -> None:
    sim_state.vault_item_errors_as_list = True
    (item,) = (await cancel_jobs(client, auth, [STALE_RUNNING]))["data"]
    assert isinstance(item["errors"], list)
    assert item["errors"][0]["type"] == "INVALID_DATA"


async def test_cancel_with_non_json_content_type_is_415_failure(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Content-Type": "text/plain"}
    response = await client.post(f"{JOBS}/actions/cancel", content=b"1046892", headers=headers)
    assert response.status_code == 415
    assert response.json()["responseStatus"] == "FAILURE"
    assert "Content-Type" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "between 1 and 500"),
        ([{"job_id": n} for n in range(1, 502)], "between 1 and 500"),
        ([{"job_id": "abc"}], "Item [0]"),
        ([{"job_id": 1}, {"id": 2}], "Item [1]"),
        ({"job_id": 1}, "JSON array"),
    ],
)
async def test_cancel_rejects_invalid_body_with_invalid_data(
    client: httpx.AsyncClient, auth: dict[str, str], body: Any, fragment: str
) -> None:
    response = await client.post(f"{JOBS}/actions/cancel", json=body, headers=auth)
    error = response.json()["errors"][0]
    assert (response.json()["responseStatus"], error["type"]) == ("FAILURE", "INVALID_DATA")
    assert fragment in error["message"]


# ----- job status and monitors --------------------------------------------------------------


async def test_job_status_returns_job_fields_with_iso_dates(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = (await client.get(f"{JOBS}/{STALE_RUNNING}", headers=auth)).json()
    data = body["data"]
    assert (body["responseStatus"], data["id"], data["status"]) == (
        "SUCCESS",
        STALE_RUNNING,
        "RUNNING",
    )
    assert set(data) >= {"method", "links", "created_by", "created_date", "run_start_date", "title"}
    assert data["created_date"].endswith("Z") and data["run_end_date"] is None


@pytest.mark.parametrize("job_id", ["424242", "abc"])
async def test_job_status_of_unknown_or_malformed_job_is_invalid_data(
    client: httpx.AsyncClient, auth: dict[str, str], job_id: str
) -> None:
    body = (await client.get(f"{JOBS}/{job_id}", headers=auth)).json()
    assert body["errors"][0]["type"] == "INVALID_DATA"


async def test_job_status_rate_limit_allows_one_read_per_ten_seconds_per_job(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sim_state: SimulatorState,
    sim_clock: ManualClock,
) -> None:
    sim_state.enforce_job_status_rate_limit = True
    url = f"{JOBS}/{FRESH_QUEUED}"
    first = (await client.get(url, headers=auth)).json()
    second = (await client.get(url, headers=auth)).json()
    other = (await client.get(f"{JOBS}/{STALE_QUEUED}", headers=auth)).json()
    sim_clock.advance(10)
    third = (await client.get(url, headers=auth)).json()
    assert [b["responseStatus"] for b in (first, second, other, third)] == [
        "SUCCESS",
        "FAILURE",
        "SUCCESS",
        "SUCCESS",
    ]
    assert second["errors"][0]["type"] == "API_LIMIT_EXCEEDED"


async def test_monitors_list_only_unfinished_jobs_oldest_first(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = (await client.get(f"{JOBS}/monitors", headers=auth)).json()
    assert body["responseStatus"] == "SUCCESS"
    assert body["responseDetails"] == {"total": 8, "offset": 0, "limit": 50}
    assert {j["job_id"] for j in body["jobs"]} == {
        STALE_QUEUED,
        STALE_SCHEDULED,
        STALE_RUNNING,
        FRESH_QUEUED,
        OTHER_USERS_QUEUED,
        RECENTLY_QUEUED,
        RECENTLY_STARTED,
        OTHER_USERS_SCHEDULED,
    }
    assert body["jobs"][-1]["job_id"] == FRESH_QUEUED
    assert set(body["jobs"][0]) >= {
        "job_id",
        "job_name",
        "job_type",
        "title",
        "status",
        "created_by",
        "created_date",
        "modified_date",
        "run_start_date",
    }


async def test_monitors_pages_with_next_page_link(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    first = (await client.get(f"{JOBS}/monitors?limit=1&status=QUEUED", headers=auth)).json()
    assert len(first["jobs"]) == 1
    next_page = first["responseDetails"]["next_page"]
    assert "offset=1" in next_page and "status=QUEUED" in next_page
    second = (await client.get(next_page, headers=auth)).json()
    assert len(second["jobs"]) == 1 and "offset=2" in second["responseDetails"]["next_page"]
    assert second["responseDetails"]["previous_page"].startswith(f"{JOBS}/monitors?")


async def test_monitors_filter_by_status_and_created_dates(
    client: httpx.AsyncClient, auth: dict[str, str], sim_clock: ManualClock
) -> None:
    since = (sim_clock() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (
        await client.get(f"{JOBS}/monitors", params={"status": "queued", "start_date": since}, headers=auth)
    ).json()
    assert [j["job_id"] for j in body["jobs"]] == [FRESH_QUEUED]


@pytest.mark.parametrize(
    "query",
    ["limit=201", "limit=0", "offset=-1", "status=DONE", "status=QUEUED,RUNNING", "start_date=yesterday"],
)
async def test_monitors_reject_invalid_parameters(
    client: httpx.AsyncClient, auth: dict[str, str], query: str
) -> None:
    body = (await client.get(f"{JOBS}/monitors?{query}", headers=auth)).json()
    assert (body["responseStatus"], body["errors"][0]["type"]) == ("FAILURE", "INVALID_DATA")


# ----- the session's user and job ownership (scoped stale cancels) ---------------------------


async def test_users_me_names_the_user_the_auth_reply_named(client: httpx.AsyncClient) -> None:
    login = (await client.post(f"{V}/auth", data=CREDENTIALS)).json()
    body = (await client.get(f"{V}/objects/users/me", headers={"Authorization": login["sessionId"]})).json()
    assert body["responseStatus"] == "SUCCESS"
    assert body["users"][0]["user"]["id"] == login["userId"] == VAULT_USER_ID
    assert body["users"][0]["user"]["user_name__v"] == CREDENTIALS["username"]


async def test_users_me_without_a_session_is_invalid_session_id(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{V}/objects/users/me")).json()
    assert body["errors"][0]["type"] == "INVALID_SESSION_ID"


def _parse(when: str) -> datetime:
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def _about(delta: timedelta, expected: timedelta) -> bool:
    """Equal to the millisecond (Vault timestamps carry milliseconds)."""
    return abs(delta - expected) < timedelta(milliseconds=1)


async def test_monitor_rows_carry_owner_queue_time_run_start_and_scheduled_start(
    client: httpx.AsyncClient, auth: dict[str, str], sim_clock: ManualClock
) -> None:
    rows = {j["job_id"]: j for j in (await client.get(f"{JOBS}/monitors", headers=auth)).json()["jobs"]}
    now = sim_clock()
    assert rows[OTHER_USERS_QUEUED]["created_by"] == VAULT_OTHER_USER_ID != rows[STALE_QUEUED]["created_by"]
    assert rows[STALE_QUEUED]["created_by"] == VAULT_USER_ID
    queued = rows[RECENTLY_QUEUED]
    assert _about(now - _parse(queued["created_date"]), timedelta(hours=3))
    assert _about(now - _parse(queued["modified_date"]), timedelta(minutes=10))
    started = rows[RECENTLY_STARTED]
    assert _about(now - _parse(started["run_start_date"]), timedelta(minutes=5))
    # A SCHEDULED row's run_start_date is its planned start (as in Vault's example).
    assert _about(_parse(rows[STALE_SCHEDULED]["run_start_date"]) - now, timedelta(hours=6))
    assert rows[STALE_QUEUED]["run_start_date"] is None


async def test_cancel_stamps_the_jobs_modified_date(
    client: httpx.AsyncClient, auth: dict[str, str], sim_clock: ManualClock
) -> None:
    sim_clock.advance(30)
    await cancel_jobs(client, auth, [STALE_QUEUED])
    job = (await client.get(f"{JOBS}/monitors", headers=auth)).json()["jobs"]
    row = next(j for j in job if j["job_id"] == STALE_QUEUED)
    assert row["status"] == "CANCELLING"
    assert _about(sim_clock() - _parse(row["modified_date"]), timedelta(0))
