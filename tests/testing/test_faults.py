"""Fault injection: config semantics, in-process behaviour and each kind over a real socket."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from clinical_rules_provider.testing import (
    EXAMPLE_STUDY_ID,
    FaultConfig,
    InjectedDrop,
    LiveSimulator,
    SimulatorState,
)

JOB = "/api/v26.1/services/jobs/1068044"
HISTORY = (
    f"/ec-rule-svc/rest/v1.0/studies/{EXAMPLE_STUDY_ID}/test/rerunhistory/704A7178208D44BC9AD52556B18933C3"
)
CREDENTIALS = {"username": "integration@sim.example", "password": "sim-password"}


# ----- FaultConfig --------------------------------------------------------------------------


def test_enqueued_faults_apply_to_the_next_requests_in_order() -> None:
    faults = FaultConfig()
    faults.enqueue("503", "429")
    assert [faults.next_fault("/x") for _ in range(3)] == ["503", "429", None]
    assert faults.injected == {"503": 1, "429": 1}


def test_seeded_random_faults_are_reproducible() -> None:
    def draws() -> list[str | None]:
        faults = FaultConfig(fault_rate=0.5, fault_kinds=frozenset({"500", "503"}), seed=7)
        return [faults.next_fault("/x") for _ in range(40)]

    first = draws()
    assert first == draws()
    assert {None, "500", "503"} == set(first)


def test_path_filter_limits_which_requests_are_faulted() -> None:
    faults = FaultConfig(fault_rate=1.0, path_filter=r"/jobStatus$")
    assert faults.next_fault("/x/cancelRuleJob") is None
    assert faults.next_fault("/x/jobStatus") is not None


def test_control_paths_are_never_faulted() -> None:
    faults = FaultConfig()
    faults.enqueue("500")
    assert faults.next_fault("/_sim/state") is None
    assert list(faults.script) == ["500"]


@pytest.mark.parametrize(
    "settings",
    [{"fault_rate": 1.5}, {"fault_kinds": ["418"]}, {"latency_ms": -1}, {"colour": "red"}],
)
def test_invalid_fault_settings_are_rejected(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        FaultConfig().configure(**settings)


def test_clear_restores_defaults_and_counters() -> None:
    faults = FaultConfig(latency_ms=50, fault_rate=0.3)
    faults.enqueue("drop")
    faults.next_fault("/x")
    faults.clear()
    assert faults.as_dict()["injected"] == {}
    assert (faults.latency_ms, faults.fault_rate, list(faults.script)) == (0.0, 0.0, [])


# ----- in-process (httpx.ASGITransport) -----------------------------------------------------


async def test_drop_in_process_raises_remote_protocol_error(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.faults.enqueue("drop")
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await client.get(HISTORY)
    assert isinstance(caught.value, InjectedDrop)
    assert caught.value.request.url.path == HISTORY


async def test_read_timeout_in_process_raises_read_timeout(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.faults.enqueue("read_timeout")
    with pytest.raises(httpx.ReadTimeout):
        await client.get(HISTORY)


async def test_fault_is_recorded_on_the_request_log(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.faults.enqueue("504")
    await client.get(HISTORY)
    assert (sim_state.request_log[0].fault, sim_state.request_log[0].status) == ("504", 504)


# ----- live simulator (uvicorn on loopback) -------------------------------------------------


@pytest.fixture
def http(simulator: LiveSimulator, c1_auth: httpx.Auth) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, timeout=5, auth=c1_auth) as c:
        yield c


def test_live_simulator_starts_fast_and_stops_without_leaving_a_thread() -> None:
    before = set(threading.enumerate())  # the session-wide simulator may already run
    started = time.perf_counter()
    with LiveSimulator() as sim:
        assert time.perf_counter() - started < 1.0
        assert httpx.get(f"{sim.url}/_sim/health").json() == {"status": "ok"}
    assert set(threading.enumerate()) <= before
    with pytest.raises(RuntimeError):
        _ = sim.url


def test_simulator_fixture_resets_state_and_faults_between_tests(simulator: LiveSimulator) -> None:
    assert simulator.state.request_count == 0
    assert not simulator.state.faults.script
    simulator.state.faults.enqueue("500")  # must not leak into the next test


def test_429_carries_retry_after_and_vault_failure_body(simulator: LiveSimulator, http: httpx.Client) -> None:
    simulator.state.faults.configure(retry_after=7)
    simulator.state.faults.enqueue("429")
    response = http.get(JOB)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert response.json()["errors"][0]["type"] == "API_LIMIT_EXCEEDED"


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_returns_the_rerun_history_server_error_envelope(
    simulator: LiveSimulator, http: httpx.Client, status: int
) -> None:
    simulator.state.faults.enqueue(str(status))
    response = http.get(HISTORY)
    assert response.status_code == status
    body = response.json()
    assert (body["status"], body["ruleHistory"]) == ("SERVER_ERROR", [])
    assert body["statusDetail"].startswith(f"Injected fault: {status}")


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_return_html(simulator: LiveSimulator, http: httpx.Client, status: int) -> None:
    simulator.state.faults.enqueue(str(status))
    response = http.get(HISTORY)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")


def test_drop_closes_the_connection_mid_response_and_server_keeps_serving(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    simulator.state.faults.enqueue("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(HISTORY)
    assert http.get(HISTORY).status_code == 200
    assert simulator.state.faults.injected["drop"] == 1


def test_malformed_json_is_200_with_truncated_json_body(simulator: LiveSimulator, http: httpx.Client) -> None:
    simulator.state.faults.enqueue("malformed_json")
    response = http.get(HISTORY)
    assert (response.status_code, response.text) == (200, '{"truncated":')
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_read_timeout_stalls_longer_than_the_client_read_timeout(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    simulator.state.faults.configure(read_timeout_seconds=0.5)
    simulator.state.faults.enqueue("read_timeout")
    with pytest.raises(httpx.ReadTimeout):
        http.get(HISTORY, timeout=httpx.Timeout(5, read=0.1))


def test_read_timeout_fault_still_answers_a_patient_client(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    simulator.state.faults.configure(read_timeout_seconds=0.2)
    simulator.state.faults.enqueue("read_timeout")
    assert http.get(HISTORY).status_code == 200


def test_session_expiry_invalidates_the_current_vault_session(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    session_id = http.post("/api/v26.1/auth", data=CREDENTIALS).json()["sessionId"]
    simulator.state.faults.enqueue("session_expiry")
    body = http.get(JOB, headers={"Authorization": session_id}).json()
    assert body["errors"][0]["type"] == "INVALID_SESSION_ID"


def test_latency_delays_every_service_response(simulator: LiveSimulator, http: httpx.Client) -> None:
    simulator.state.faults.configure(latency_ms=150)
    started = time.perf_counter()
    http.get(HISTORY)
    assert time.perf_counter() - started >= 0.15


def test_latency_holds_back_the_answer_while_the_work_is_done_on_arrival(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    session_id = http.post("/api/v26.1/auth", data=CREDENTIALS).json()["sessionId"]
    job = simulator.state.add_vault_job(status="QUEUED")
    simulator.state.faults.configure(latency_ms=600)
    answered: list[float] = []

    def cancel() -> None:
        http.post(
            "/api/v26.1/services/jobs/actions/cancel",
            json=[{"job_id": job.job_id}],
            headers={"Authorization": session_id},
        )
        answered.append(time.perf_counter())

    started = time.perf_counter()
    thread = threading.Thread(target=cancel)
    thread.start()
    while simulator.state.vault_job(job.job_id).status == "QUEUED" and time.perf_counter() - started < 5:  # type: ignore[union-attr]
        time.sleep(0.005)
    cancelled_after = time.perf_counter() - started
    thread.join(5)
    assert cancelled_after < 0.45 and answered and answered[0] - started >= 0.6


def test_concurrent_requests_are_each_answered_one_latency_after_arrival(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    simulator.state.faults.configure(latency_ms=200)
    with httpx.Client(base_url=simulator.url, timeout=5, auth=http.auth) as other:
        clients = [http, other]
        done: list[float] = []
        started = time.perf_counter()
        threads = [
            threading.Thread(target=lambda c=c: (c.get(HISTORY), done.append(time.perf_counter())))
            for c in clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert len(done) == 2 and all(0.2 <= t - started < 0.35 for t in done)


def test_full_fault_rate_faults_every_matching_request_with_chosen_kinds(
    simulator: LiveSimulator, http: httpx.Client
) -> None:
    simulator.state.faults.configure(fault_rate=1.0, fault_kinds=["503"], path_filter="rerunhistory")
    assert [http.get(HISTORY).status_code for _ in range(3)] == [503, 503, 503]
    assert http.post("/api/v26.1/auth", data=CREDENTIALS).status_code == 200
    assert simulator.state.faults.injected == {"503": 3}


def test_faults_can_be_set_over_http_control_route(simulator: LiveSimulator, http: httpx.Client) -> None:
    http.post("/_sim/faults", json={"enqueue": ["502"]})
    assert http.get(HISTORY).status_code == 502
    assert http.get("/_sim/state").json()["faults"]["injected"] == {"502": 1}


# ----- "processed, then the reply is lost" --------------------------------------------------

RULE = "938D23FA6B7241CCA41BD627E5DB60DA"
PUBLISH = f"/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{EXAMPLE_STUDY_ID}/test/AllData"
LOST_REPLY_ERRORS = {
    "lost_reply_drop": httpx.RemoteProtocolError,
    "lost_reply_timeout": httpx.ReadTimeout,
}


def test_lost_reply_kinds_are_selectable_for_random_faults() -> None:
    from clinical_rules_provider.testing.__main__ import build_parser
    from clinical_rules_provider.testing.faults import LOST_REPLY_FAULTS

    faults = FaultConfig(fault_rate=1.0, fault_kinds=LOST_REPLY_FAULTS, seed=1)
    assert {faults.next_fault("/x") for _ in range(30)} == set(LOST_REPLY_FAULTS)
    assert "lost_reply_504" in build_parser().format_help()


@pytest.mark.parametrize("kind", ["lost_reply_drop", "lost_reply_timeout", "lost_reply_504"])
async def test_lost_reply_in_process_starts_the_job_then_fails_the_reply(
    client: httpx.AsyncClient, sim_state: SimulatorState, kind: str
) -> None:
    from clinical_rules_provider.testing.job_audit import rule_job_counts

    before = sim_state.now()
    sim_state.faults.enqueue(kind)
    if kind in LOST_REPLY_ERRORS:
        with pytest.raises(LOST_REPLY_ERRORS[kind]):
            await client.put(PUBLISH, json={"ruleIds": [RULE]})
    else:
        assert (await client.put(PUBLISH, json={"ruleIds": [RULE]})).status_code == 504
    assert rule_job_counts(sim_state, since=before) == {RULE: 1}
    assert sim_state.rule(EXAMPLE_STUDY_ID, "test", RULE).publish_run == "AllData"  # type: ignore[union-attr]
    assert sim_state.request_log[0].fault == kind


@pytest.mark.parametrize("kind", ["lost_reply_drop", "lost_reply_timeout", "lost_reply_504"])
def test_lost_reply_over_a_socket_starts_the_job_then_fails_the_reply(
    simulator: LiveSimulator, http: httpx.Client, kind: str
) -> None:
    from clinical_rules_provider.testing.job_audit import rule_job_counts

    before = simulator.state.now()
    simulator.state.faults.configure(read_timeout_seconds=1.0)
    simulator.state.faults.enqueue(kind)
    timeout = httpx.Timeout(5, read=0.2)
    if kind in LOST_REPLY_ERRORS:
        with pytest.raises(LOST_REPLY_ERRORS[kind]):
            http.put(PUBLISH, json={"ruleIds": [RULE]}, timeout=timeout)
    else:
        response = http.put(PUBLISH, json={"ruleIds": [RULE]}, timeout=timeout)
        assert (response.status_code, response.headers["content-type"][:9]) == (504, "text/html")
    assert rule_job_counts(simulator.state, since=before) == {RULE: 1}
    assert http.get(HISTORY).status_code == 200  # the server keeps serving


async def test_job_audit_reports_rules_run_twice_and_jobs_per_publish(
    client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    from clinical_rules_provider.testing.job_audit import jobs_per_publish, rules_run_twice

    other = "704A7178208D44BC9AD52556B18933C3"
    before = sim_state.now()
    await client.put(PUBLISH, json={"ruleIds": [RULE, other]})
    assert rules_run_twice(sim_state, since=before) == {}
    await client.put(PUBLISH, json={"ruleIds": [RULE]})
    assert rules_run_twice(sim_state, since=before) == {RULE: 2}
    per_publish = sorted((dict(c) for c in jobs_per_publish(sim_state, since=before).values()), key=len)
    assert per_publish == [{RULE: 1}, {RULE: 1, other: 1}]
