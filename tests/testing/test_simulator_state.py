"""Simulator state: seeding, reset, helpers, request log, and the `/_sim` control routes."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from clinical_rules_provider.testing import (
    EXAMPLE_RULE_IDS,
    EXAMPLE_STUDY_ID,
    ManualClock,
    SimulatorState,
    create_app,
)

V = "/api/v26.1"
CREDENTIALS = {"username": "integration@sim.example", "password": "sim-password"}


# ----- state, seeding and helpers -----------------------------------------------------------


def test_same_seed_gives_same_rules_and_other_seed_differs() -> None:
    ids = [[r.rule_id for r in SimulatorState(seed=s).rules(EXAMPLE_STUDY_ID, "test")] for s in (1, 1, 2)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0][:6] == list(EXAMPLE_RULE_IDS)


def test_rule_count_and_vault_job_count_control_seeding() -> None:
    state = SimulatorState(rule_count=40, vault_job_count=12)
    assert len(state.rules(EXAMPLE_STUDY_ID, "production")) == 40
    assert len(state.vault_jobs()) == 12


def test_rules_are_separate_per_study_and_mode(sim_state: SimulatorState) -> None:
    in_test = sim_state.rule(EXAMPLE_STUDY_ID, "test", EXAMPLE_RULE_IDS[0])
    in_design = sim_state.rule(EXAMPLE_STUDY_ID, "design", EXAMPLE_RULE_IDS[0])
    assert in_test is not None and in_design is not None and in_test is not in_design
    in_test.publish_run = "FutureData"
    assert in_design.publish_run == "AllData"


def test_reset_restores_seed_data_and_settings(sim_state: SimulatorState) -> None:
    sim_state.ignore_paging = True
    sim_state.add_rule(EXAMPLE_STUDY_ID, "test", name="Extra rule")
    sim_state.faults.enqueue("503")
    sim_state.reset()
    assert sim_state.ignore_paging is False
    assert len(sim_state.rules(EXAMPLE_STUDY_ID, "test")) == 12
    assert not sim_state.faults.script


def test_add_rule_and_add_vault_job_helpers_create_usable_entries(
    sim_state: SimulatorState, sim_clock: ManualClock
) -> None:
    rule = sim_state.add_rule("AB" * 16, "production", name="New rule", outcome="Failed")
    job = sim_state.start_job(rule)
    sim_clock.advance(5)
    assert sim_state.job_status(job) == "Failed"
    vault_job = sim_state.add_vault_job(status="QUEUEING", created=sim_clock() - timedelta(hours=5))
    assert sim_state.vault_job(vault_job.job_id) is vault_job
    assert sim_state.cancel_vault_job(vault_job.job_id) is True


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(TypeError, match="ignore_pageing"):
        SimulatorState(ignore_pageing=True)


async def test_request_log_records_method_path_headers_and_body(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    await client.put(
        f"/ec-rule-svc/rest/v1.0/studies/{EXAMPLE_STUDY_ID}/test/cancelRuleJob",
        json={"ruleIds": [EXAMPLE_RULE_IDS[0]]},
    )
    (record,) = sim_state.request_log
    assert (record.method, record.status, record.fault) == ("PUT", 200, None)
    assert record.path.endswith("/cancelRuleJob")
    assert record.json() == {"ruleIds": [EXAMPLE_RULE_IDS[0]]}
    assert record.headers["content-type"] == "application/json"
    assert sim_state.request_count == 1


# ----- control routes -----------------------------------------------------------------------


async def test_control_health_and_state_summary(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sim/health")).json() == {"status": "ok"}
    summary = (await client.get("/_sim/state")).json()
    assert summary["manualClock"] is True
    assert summary["vaultJobs"]["QUEUED"] == 4
    assert summary["ruleJobs"]["Running"] > 0
    assert summary["settings"]["vault_password"] == "***"


async def test_control_routes_are_neither_logged_nor_faulted(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.faults.configure(fault_rate=1.0, fault_kinds=["503"])
    assert (await client.get("/_sim/health")).status_code == 200
    assert sim_state.request_count == 0


async def test_control_faults_configures_and_enqueues(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    body = {"latency_ms": 5, "fault_kinds": ["429"], "enqueue": ["503", "drop"], "retry_after": 3}
    view = (await client.post("/_sim/faults", json=body)).json()
    assert view["script"] == ["503", "drop"]
    assert (sim_state.faults.latency_ms, sim_state.faults.retry_after) == (5.0, 3)


async def test_control_faults_rejects_unknown_kind(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sim/faults", json={"enqueue": ["418"]})
    assert response.status_code == 400
    assert "418" in response.json()["error"]


async def test_control_settings_flip_switches(client: httpx.AsyncClient, sim_state: SimulatorState) -> None:
    await client.post("/_sim/settings", json={"ignore_paging": True})
    assert sim_state.ignore_paging is True
    assert (await client.post("/_sim/settings", json={"nope": 1})).status_code == 400


async def test_control_reset_reseeds_state(client: httpx.AsyncClient, sim_state: SimulatorState) -> None:
    sim_state.add_vault_job(status="QUEUED")
    await client.post("/_sim/reset")
    assert len(sim_state.vault_jobs()) == 12


async def test_control_clock_advance_moves_a_manual_clock(
    client: httpx.AsyncClient, sim_clock: ManualClock
) -> None:
    before = sim_clock()
    await client.post("/_sim/clock/advance", json={"seconds": 90})
    assert (sim_clock() - before).total_seconds() == 90


async def test_control_clock_advance_is_409_on_real_time() -> None:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        assert (await c.post("/_sim/clock/advance", json={"seconds": 1})).status_code == 409


async def test_control_requests_summarises_the_log(client: httpx.AsyncClient) -> None:
    await client.post(f"{V}/auth", data=CREDENTIALS)
    body = (await client.get("/_sim/requests")).json()
    assert body["count"] == 1
    assert body["byPath"] == {f"POST {V}/auth": 1}
    assert body["requests"][0]["status"] == 200
