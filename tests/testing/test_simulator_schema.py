"""Every Clinical One reply of the simulator is a shape the API references (the seeds) show.

A scenario drives publish, job progress, cancel, rerun history, bulk jobStatus and the
filtered list, plus rejected requests (400) and injected server faults (500); an httpx
response hook validates each reply against the seed schema of its endpoint and status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest

from clinical_rules_provider.testing import (
    FAILING_RULE_ID,
    STALE_RULE_ID,
    UNCANCELLABLE_RULE_ID,
    ManualClock,
    SimulatorState,
)
from tests.testing.conftest import DESIGNER, EXEC, JOB_STATUS, UNKNOWN_RULE, VISIT_RULE, ClinicalOneBasic, S
from tests.testing.seed_schemas import (
    FILTER_RESPONSE,
    JOB_STATUS_RESPONSE,
    PUBLISH_RESPONSE,
    RULE_HISTORY_RESPONSE,
    check_reply,
    schema_for,
)


@pytest.fixture
async def checked(
    simulator_async_transport: httpx.ASGITransport,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[tuple[str, str, int]]]]:
    """A client whose every reply is validated against its seed schema; yields (client, replies seen)."""
    seen: list[tuple[str, str, int]] = []

    async def validate(response: httpx.Response) -> None:
        await response.aread()
        check_reply(response)
        seen.append((response.request.method, response.request.url.path, response.status_code))

    async with httpx.AsyncClient(
        transport=simulator_async_transport,
        base_url="http://sim",
        auth=ClinicalOneBasic(),
        event_hooks={"response": [validate]},
    ) as client:
        yield client, seen


async def test_every_clinical_one_reply_of_a_scenario_matches_its_seed_schema(
    checked: tuple[httpx.AsyncClient, list[tuple[str, str, int]]],
    sim_state: SimulatorState,
    sim_clock: ManualClock,
) -> None:
    client, seen = checked
    queued = sim_state.add_rule(S, "test", publish_status="Queued").rule_id
    active = sim_state.add_rule(S, "test", publish_status="InProgress").rule_id
    warned = sim_state.add_rule(
        S, "test", validation_status=False, validation_message="Item retired."
    ).rule_id
    never_run = sim_state.add_rule(S, "test").rule_id
    invalid = next(r.rule_id for r in sim_state.rules(S, "test") if r.invalid)
    published = [VISIT_RULE, queued, active, warned, FAILING_RULE_ID]

    # Publish: accepted, queued, in progress, warned, invalid and unknown rules; then rejections.
    await client.put(f"{DESIGNER}/AllData", json={"ruleIds": [*published, invalid, UNKNOWN_RULE]})
    await client.put(f"{DESIGNER}/AllData", json={"ruleIds": []})
    await client.put(f"{DESIGNER}/alldata", json={"ruleIds": [VISIT_RULE]})
    await client.put(DESIGNER.replace(S, "A" * 32) + "/FutureData", json={"ruleIds": [VISIT_RULE]})

    # Job progress seen through jobStatus (latest and full history) and rerun history.
    every = [*published, never_run, UNKNOWN_RULE, STALE_RULE_ID]
    for _ in range(3):
        await client.put(JOB_STATUS, json={"ruleIds": every})
        await client.put(f"{JOB_STATUS}?history=true", json={"ruleIds": every})
        for rule_id in (*published, never_run, UNKNOWN_RULE):
            await client.get(f"{EXEC}/rerunhistory/{rule_id}")
        sim_clock.advance(1.0)
    await client.put(f"{JOB_STATUS}?history=maybe", json={"ruleIds": every})
    await client.get(f"{EXEC}/rerunhistory/not-a-uuid")
    await client.get(f"{EXEC.replace(S, 'A' * 32)}/rerunhistory/{VISIT_RULE}")  # an unknown study

    # Cancel: running, uncancellable, finished, never run and unknown rules; then a rejection.
    cancel = f"{EXEC}/cancelRuleJob"
    await client.put(cancel, json={"ruleIds": [STALE_RULE_ID, UNCANCELLABLE_RULE_ID, VISIT_RULE, never_run]})
    await client.put(cancel, json={"ruleIds": [UNKNOWN_RULE]})
    await client.put(cancel, json={"ruleIds": ["nope"]})

    # Filtered list: pages, filters, a rejection.
    await client.post(f"{DESIGNER}/filteredlist", json={"offset": 0, "limit": 5, "sortColumn": "ruleName"})
    await client.post(f"{DESIGNER}/filteredlist", json={"ruleState": ["publish"], "ruleEnabled": "1"})
    await client.post(f"{DESIGNER}/filteredlist", json={"sortOrder": "SIDEWAYS"})

    # Injected server faults, one per endpoint.
    faulted = [
        ("PUT", f"{DESIGNER}/AllData", {"ruleIds": [VISIT_RULE]}),
        ("PUT", cancel, {"ruleIds": [VISIT_RULE]}),
        ("PUT", JOB_STATUS, {"ruleIds": [VISIT_RULE]}),
        ("GET", f"{EXEC}/rerunhistory/{VISIT_RULE}", None),
        ("POST", f"{DESIGNER}/filteredlist", {}),
    ]
    for method, path, body in faulted:
        sim_state.faults.enqueue("500")
        await client.request(method, path, json=body)

    statuses = {(method, status) for method, _, status in seen}
    assert statuses == {
        ("PUT", 200),
        ("PUT", 400),
        ("PUT", 500),
        ("GET", 200),
        ("GET", 400),
        ("GET", 500),
    } | {
        ("POST", 200),
        ("POST", 400),
        ("POST", 500),
    }
    assert len(seen) == 4 + 3 * (2 + 7) + 3 + 3 + 3 + len(faulted)


async def test_the_scenario_client_rejects_a_reply_outside_the_seed_schema(
    checked: tuple[httpx.AsyncClient, list[tuple[str, str, int]]], sim_state: SimulatorState
) -> None:
    client, _ = checked
    sim_state.faults.enqueue("429")  # the references list no 429 reply for any endpoint
    with pytest.raises(AssertionError, match="HTTP 429 is not a status the reference lists"):
        await client.put(JOB_STATUS, json={"ruleIds": [VISIT_RULE]})


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        # What the simulator used to send: a null job status, and "status" for the outcome.
        (
            JOB_STATUS_RESPONSE,
            {"errorMessage": "Success", "jobStatus": [{"ruleId": VISIT_RULE, "jobStatus": None}]},
        ),
        (JOB_STATUS_RESPONSE, {"status": "Success", "jobStatus": []}),
        (
            RULE_HISTORY_RESPONSE,
            {"status": "failed", "errorCode": "HTTP-500", "errorMessage": "Internal Server Error"},
        ),
        (
            PUBLISH_RESPONSE,
            {"status": "failed", "errorCode": "HTTP-500", "errorMessage": "Internal Server Error"},
        ),
        (PUBLISH_RESPONSE, [{"ruleId": None, "jobStatus": "Failed"}]),
        (PUBLISH_RESPONSE, [{"ruleId": VISIT_RULE, "jobStatus": "Missing"}]),
        # What the simulator used to send in rule summaries: names Oracle does not publish.
        (FILTER_RESPONSE, {"resultData": [{"ruleId": VISIT_RULE, "lastModified": "2025-11-02T14:45:22Z"}]}),
        (FILTER_RESPONSE, {"resultData": [{"ruleId": VISIT_RULE, "displayOrder": 10}]}),
        (
            FILTER_RESPONSE,
            {"resultData": [{"ruleId": VISIT_RULE, "formId": "39903D6C-042D-4D9E-8977-3160488E6D3D"}]},
        ),
    ],
)
def test_seed_schemas_reject_shapes_the_references_do_not_show(schema: dict[str, Any], body: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema)


def test_a_404_reply_has_no_seed_schema() -> None:
    with pytest.raises(AssertionError, match="HTTP 404 is not a status the reference lists"):
        schema_for("GET", f"{EXEC}/rerunhistory/{VISIT_RULE}", 404)
