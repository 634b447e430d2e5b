"""transport/pool.py: one pooled async client per event loop and host, the concurrency caps,
and how a session's Lane holds replies back until its requests are written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.testing import LiveSimulator
from clinical_rules_provider.transport.pool import Lane, Pooled, Trace, open_clients
from tests.conftest import RULE_A, STUDY, ConnFactory

HISTORY = f"https://c1.test/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
OK = {"status": "SUCCESS", "ruleHistory": []}


@respx.mock
async def test_hooks_in_one_event_loop_share_one_async_client_per_host(c1_conn: str) -> None:
    respx.get(HISTORY).mock(return_value=httpx.Response(200, json=OK))
    hooks = [ClinicalOneHook(c1_conn) for _ in range(5)]
    for hook in hooks:
        await hook.aget_rerun_history(STUDY, "test", RULE_A)
    clients = {id((await hook.ahttp()).aclient) for hook in hooks}
    assert len(clients) == 1
    assert open_clients() == 1
    for hook in hooks:
        await hook.aclose()
    assert open_clients() == 0


@respx.mock
async def test_shared_client_applies_each_hooks_own_credentials(make_conn: object) -> None:
    first = make_conn("c1_one", "clinical_one", "c1.test", extra={"token": "token-one"})  # type: ignore[operator]
    second = make_conn("c1_two", "clinical_one", "c1.test", extra={"token": "token-two"})  # type: ignore[operator]
    route = respx.get(HISTORY).mock(return_value=httpx.Response(200, json=OK))
    one, two = ClinicalOneHook(first), ClinicalOneHook(second)
    await one.aget_rerun_history(STUDY, "test", RULE_A)
    await two.aget_rerun_history(STUDY, "test", RULE_A)
    assert [c.request.headers["authorization"] for c in route.calls] == [
        "Bearer token-one",
        "Bearer token-two",
    ]
    await one.aclose()
    await two.aclose()


@respx.mock
async def test_requests_in_flight_never_exceed_the_hooks_concurrency_cap(make_conn: object) -> None:
    conn = make_conn(
        "c1_cap", "clinical_one", "c1.test", login="u", password="p", extra={"max_concurrency": 3}
    )  # type: ignore[operator]
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json=OK)

    respx.get(url__regex=r".*/rerunhistory/.*").mock(side_effect=slow)
    hook = ClinicalOneHook(conn)
    jobs = await hook.alatest_jobs(STUDY, "test", [f"{i:032X}" for i in range(1, 21)])
    await hook.aclose()
    assert len(jobs) == 20
    assert peak == 3


def _lane() -> Lane:
    return Lane(Pooled(httpx.AsyncClient(), asyncio.Semaphore(4)), concurrency=2)


async def test_a_lane_lets_replies_through_at_once_when_nothing_is_being_sent() -> None:
    await asyncio.wait_for(_lane().written(), timeout=1)


async def test_a_reply_waits_until_the_request_holding_a_slot_has_written_its_body() -> None:
    lane = _lane()
    async with lane.slot() as trace:
        waiter = asyncio.ensure_future(lane.written())
        await trace("http11.send_request_headers.complete", {})
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await trace("http11.send_request_body.complete", {})
        await asyncio.wait_for(waiter, timeout=1)


async def test_a_request_that_fails_before_writing_stops_holding_replies_back() -> None:
    lane = _lane()
    waiters: list[asyncio.Future[None]] = []

    async def send_and_fail() -> None:
        async with lane.slot():
            waiters.append(asyncio.ensure_future(lane.written()))
            await asyncio.sleep(0.01)
            assert not waiters[0].done()
            raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        await send_and_fail()
    await asyncio.wait_for(waiters[0], timeout=1)


async def test_a_lane_holds_at_most_its_concurrency_of_slots_and_gives_them_back() -> None:
    lane = _lane()
    async with lane.slot(), lane.slot():
        third = asyncio.ensure_future(lane.slot().__aenter__())
        await asyncio.sleep(0.01)
        assert not third.done()
    await asyncio.wait_for(third, timeout=1)


async def test_requests_sent_over_a_socket_report_their_body_written(
    simulator: LiveSimulator, make_conn: ConnFactory
) -> None:
    conn = make_conn("c1_live", "clinical_one", simulator.url, login="demo-user", password="demo-password")
    simulator.state.start_job(simulator.state.add_rule(STUDY, "test", rule_id=RULE_A))  # has history

    events: list[str] = []
    original = Lane.slot

    @contextlib.asynccontextmanager
    async def spy(self: Lane) -> AsyncIterator[Trace]:
        async with original(self) as trace:

            async def recording(event: str, info: dict[str, Any]) -> None:
                events.append(event)
                await trace(event, info)

            yield recording
        events.append("exit")

    hook = ClinicalOneHook(conn)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Lane, "slot", spy)
        await hook.aget_rerun_history(STUDY, "test", RULE_A)
    await hook.aclose()
    assert "http11.send_request_body.complete" in events
    assert events.index("http11.send_request_body.complete") < events.index("exit")
