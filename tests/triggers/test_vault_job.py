"""VaultJobTrigger against the live simulator: serialization, events, deadline, on_kill."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.triggers.vault_job import VaultJobTrigger

# Seeded Vault jobs.
QUEUED_STALE = 1046892
RUNNING_STALE = 1068337
SUCCEEDED = 1040001
ERRORED = 1040002
CANCELLED = 1040003


def make_trigger(conn_id: str, job_ids: list[int], **kwargs: Any) -> VaultJobTrigger:
    kwargs.setdefault("end_time", time.time() + 10)
    return VaultJobTrigger(job_ids=job_ids, vault_conn_id=conn_id, **kwargs)


async def events(trigger: VaultJobTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), 10)


def test_serialize_round_trips_every_argument() -> None:
    trigger = VaultJobTrigger(
        job_ids=[SUCCEEDED, CANCELLED],
        end_time=1_900_000_000.25,
        failure_statuses=["ERRORS_ENCOUNTERED"],
        poll_interval=45,
        vault_conn_id="vault_other",
        cancel_on_kill=True,
        first_poll_delay=45,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "clinical_rules_provider.triggers.vault_job.VaultJobTrigger"
    assert kwargs == {
        "job_ids": [SUCCEEDED, CANCELLED],
        "end_time": 1_900_000_000.25,
        "failure_statuses": ["ERRORS_ENCOUNTERED"],
        "poll_interval": 45.0,
        "vault_conn_id": "vault_other",
        "cancel_on_kill": True,
        "first_poll_delay": 45.0,
    }
    assert VaultJobTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_numeric_string_job_ids_serialize_as_ints() -> None:
    _, kwargs = VaultJobTrigger(job_ids=["17"], end_time=0).serialize()  # type: ignore[list-item]
    assert kwargs["job_ids"] == [17]


async def test_success_event_when_every_job_succeeded(sim_vault: str) -> None:
    [event] = await events(make_trigger(sim_vault, [SUCCEEDED]))
    assert event["status"] == "success"
    assert event["outcome"]["succeeded"] == {str(SUCCEEDED): "SUCCESS"}


async def test_cancelled_job_is_a_failure_by_default(sim_vault: str) -> None:
    [event] = await events(make_trigger(sim_vault, [SUCCEEDED, CANCELLED]))
    assert event["status"] == "failure"
    assert f"job {CANCELLED}: CANCELLED" in event["message"]


async def test_cancelled_job_succeeds_when_not_a_failure_status(sim_vault: str) -> None:
    trigger = make_trigger(sim_vault, [CANCELLED], failure_statuses=["ERRORS_ENCOUNTERED"])
    [event] = await events(trigger)
    assert event["status"] == "success"


async def test_deadline_in_the_past_times_out_after_one_poll(
    sim_vault: str, simulator: LiveSimulator
) -> None:
    [event] = await events(make_trigger(sim_vault, [RUNNING_STALE], end_time=time.time() - 1))
    assert event["status"] == "timeout"
    assert f"job {RUNNING_STALE}: RUNNING" in event["message"]
    assert len(simulator.state.requests_to(f"/services/jobs/{RUNNING_STALE}")) == 1


async def test_unknown_job_yields_an_error_event(sim_vault: str) -> None:
    [event] = await events(make_trigger(sim_vault, [999]))
    assert event["status"] == "error"
    assert "999" in event["message"]


@pytest.mark.usefixtures("fast_vault_status")
async def test_one_transient_fault_does_not_end_the_trigger(
    sim_vault_no_retry: str, simulator: LiveSimulator
) -> None:
    simulator.state.faults.configure(path_filter=rf"/services/jobs/{SUCCEEDED}$")
    simulator.state.faults.enqueue("503")
    [event] = await events(make_trigger(sim_vault_no_retry, [SUCCEEDED], poll_interval=0.01))
    assert simulator.state.faults.injected["503"] == 1
    assert event["status"] == "success"
    assert len(simulator.state.requests_to(f"/services/jobs/{SUCCEEDED}")) == 2


async def test_on_kill_cancels_the_jobs_when_asked(sim_vault: str, simulator: LiveSimulator) -> None:
    await make_trigger(sim_vault, [QUEUED_STALE], cancel_on_kill=True).on_kill()
    assert len(simulator.state.requests_to("/actions/cancel")) == 1
    job = simulator.state.vault_job(QUEUED_STALE)
    assert job is not None and job.status in ("CANCELLING", "CANCELLED")


async def test_on_kill_leaves_jobs_alone_by_default(sim_vault: str, simulator: LiveSimulator) -> None:
    await make_trigger(sim_vault, [QUEUED_STALE]).on_kill()
    assert simulator.state.requests_to("/actions/cancel") == []
    job = simulator.state.vault_job(QUEUED_STALE)
    assert job is not None and job.status == "QUEUED"
