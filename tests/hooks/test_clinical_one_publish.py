"""ClinicalOneHook.update_publish_run never runs a rule twice: blind retries only when the PUT
never arrived, reconciliation after anything ambiguous (respx and the live simulator)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest
import respx

from clinical_rules_provider.exceptions import (
    PublishRunUnconfirmedError,
    RateLimitedError,
    RenewedCredentialsRejectedError,
    TransientServiceError,
)
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.testing.job_audit import rule_job_counts, rules_run_twice
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.transport.retry import never_processed
from tests.conftest import RULE_A, RULE_B, STUDY, ConnFactory

BASE = "https://c1.test"
PUBLISH = f"{BASE}/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/AllData"
HISTORY_A = f"{BASE}/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE_A}"
JOB_STATUS = f"{BASE}/ec-rule-svc/rest/v2.0/studies/{STUDY}/test/jobStatus"


def _ok_items(request: httpx.Request) -> httpx.Response:
    ids = json.loads(request.content)["ruleIds"]
    return httpx.Response(
        200, json=[{"ruleId": r, "jobStatus": "Success", "ruleValidationStatus": True} for r in ids]
    )


def _now_stamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}"


def _history(start: str, job_id: str = "1E2428167F66445BAB544C7CDD884E87") -> httpx.Response:
    job = {
        "ruleId": RULE_A,
        "jobId": job_id,
        "jobStatus": "Running",
        "jobStartDate": start,
    }
    return httpx.Response(200, json={"status": "SUCCESS", "statusDetail": None, "ruleHistory": [job]})


# --- which failures are retried blindly -------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow handshake"), True),
        (httpx.PoolTimeout("no free connection"), True),
        (httpx.ReadTimeout("no reply"), False),
        (httpx.WriteTimeout("half sent"), False),
        (httpx.RemoteProtocolError("dropped"), False),
    ],
)
def test_only_failures_before_sending_count_as_never_processed(error: Exception, expected: bool) -> None:
    wrapped = TransientServiceError("update_publish_run: network")
    wrapped.__cause__ = error
    assert never_processed(wrapped) is expected


def test_429_counts_as_never_processed_but_5xx_and_refused_renewed_credentials_do_not() -> None:
    assert never_processed(RateLimitedError("throttled", status_code=429))
    # Refused fresh credentials fail fast (issue 13): never retried, not even blindly.
    assert not never_processed(RenewedCredentialsRejectedError("refused", status_code=401))
    assert not never_processed(TransientServiceError("gateway", status_code=504))


def _jobs(*job_ids: str) -> httpx.Response:
    entries = [
        {"ruleId": RULE_A, "jobId": j, "jobStatus": "Running", "jobStartDate": "2025-09-07 19:08:07.437"}
        for j in job_ids
    ]
    return httpx.Response(200, json={"errorMessage": "Success", "jobStatus": entries})


@pytest.fixture
def quick_conn(make_conn: ConnFactory) -> str:
    """No settle wait: a rule without a new job at the first read is decided not applied."""
    extra = {"publish_settle_seconds": 0, "retry_backoff": 0}
    return make_conn("c1_quick", "clinical_one", "c1.test", login="u", password="p", extra=extra)


@respx.mock
def test_publish_retries_connect_errors_and_429_blindly_but_reconciles_a_503(quick_conn: str) -> None:
    put = respx.put(PUBLISH).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(429), httpx.Response(503), _ok_items]
    )
    status = respx.put(JOB_STATUS).mock(return_value=_jobs("OLD"))
    (result,) = ClinicalOneHook(quick_conn).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    assert put.call_count == 4
    assert status.call_count == 2  # the snapshot, then once after the 503 (no new job: resent)
    assert result.succeeded and not result.reconciled


@respx.mock
@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503),
        httpx.Response(500, json={"status": "failed", "errorCode": "X", "errorMessage": "boom"}),
        httpx.Response(504, text="<html>504</html>"),
        httpx.Response(200, content=b'{"truncated":'),
        httpx.ReadTimeout("no reply"),
        httpx.RemoteProtocolError("dropped"),
    ],
    ids=["503", "500", "504", "malformed-2xx", "read-timeout", "dropped"],
)
def test_ambiguous_publish_failure_is_reconciled_not_resent(quick_conn: str, failure: object) -> None:
    put = respx.put(PUBLISH).mock(side_effect=[failure, _ok_items])
    status = respx.put(JOB_STATUS).mock(side_effect=[_jobs("OLD"), _jobs("NEW")])
    (result,) = ClinicalOneHook(quick_conn).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    assert put.call_count == 1
    assert status.call_count == 2
    assert result.succeeded and result.reconciled


@respx.mock
def test_reconcile_reads_rerun_history_when_asked(quick_conn: str) -> None:
    put = respx.put(PUBLISH).mock(side_effect=[httpx.Response(504), _ok_items])
    history = respx.get(HISTORY_A).mock(
        side_effect=[_history("2025-09-07 19:08:07.437"), _history("2025-09-07 19:08:07.437", "NEWJOB")]
    )
    results = ClinicalOneHook(quick_conn).update_publish_run(
        STUDY, "test", "AllData", [RULE_A], poll_endpoint="rerun_history"
    )
    assert history.call_count == 2 and put.call_count == 1
    assert [(r.rule_id, r.reconciled) for r in results] == [(RULE_A, True)]


@respx.mock
def test_publish_still_unconfirmed_after_the_attempts_raises_naming_the_rules(make_conn: ConnFactory) -> None:
    extra = {"max_retries": 1, "publish_settle_seconds": 0}
    conn = make_conn("c1_two", "clinical_one", "c1.test", login="u", password="p", extra=extra)
    put = respx.put(PUBLISH).mock(return_value=httpx.Response(503))
    respx.put(JOB_STATUS).mock(return_value=_jobs("OLD"))
    with pytest.raises(PublishRunUnconfirmedError, match=RULE_A) as caught:
        ClinicalOneHook(conn).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    assert put.call_count == 2
    assert caught.value.rule_ids == [RULE_A] and caught.value.applied == []


@respx.mock
def test_a_reconciling_read_that_fails_raises_unconfirmed_not_a_transport_error(quick_conn: str) -> None:
    respx.put(PUBLISH).mock(return_value=httpx.Response(504))
    respx.put(JOB_STATUS).mock(side_effect=[_jobs("OLD")] + [httpx.Response(500)] * 10)
    with pytest.raises(PublishRunUnconfirmedError) as caught:
        ClinicalOneHook(quick_conn).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    assert caught.value.unconfirmed == [RULE_A]
    assert "reconciling read failed" in str(caught.value)


@respx.mock
def test_a_failed_snapshot_read_raises_the_read_error_and_sends_nothing(quick_conn: str) -> None:
    put = respx.put(PUBLISH).mock(side_effect=_ok_items)
    respx.put(JOB_STATUS).mock(return_value=httpx.Response(503))
    with pytest.raises(TransientServiceError):
        ClinicalOneHook(quick_conn).update_publish_run(STUDY, "test", "AllData", [RULE_A])
    assert put.call_count == 0


# --- against the simulator: the service processed the PUT, the reply was lost ------------------


@pytest.fixture
def sim_conn(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    simulator.state.faults.configure(read_timeout_seconds=2.0, path_filter="/rulemgt/")
    return make_conn(
        "sim_publish",
        "clinical_one",
        simulator.url,
        login="demo-user",
        password="demo-password",
        extra={"timeout": 0.5, "publish_settle_seconds": 1, "publish_settle_poll_seconds": 0.2},
    )


def _publish(conn: str, driver: str) -> list[object]:
    hook = ClinicalOneHook(conn)
    if driver == "async":
        # run_async gives the pooled async client back when done.
        return hook.run_async(hook.aupdate_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B]))  # type: ignore[arg-type]
    return hook.update_publish_run(STUDY, "test", "AllData", [RULE_A, RULE_B])  # type: ignore[return-value]


@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize("kind", ["lost_reply_drop", "lost_reply_504", "lost_reply_timeout"])
def test_lost_publish_reply_leaves_each_rule_run_exactly_once(
    simulator: LiveSimulator, sim_conn: str, kind: str, driver: str
) -> None:
    before = simulator.state.now()
    simulator.state.faults.enqueue(kind)
    results = _publish(sim_conn, driver)
    assert rule_job_counts(simulator.state, since=before) == {RULE_A: 1, RULE_B: 1}
    assert [(r.rule_id, r.succeeded, r.reconciled) for r in results] == [  # type: ignore[attr-defined]
        (RULE_A, True, True),
        (RULE_B, True, True),
    ]
    assert len(simulator.state.requests_to("/AllData")) == 1


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_publish_not_processed_is_republished_once(
    simulator: LiveSimulator, sim_conn: str, driver: str
) -> None:
    before = simulator.state.now()
    simulator.state.faults.enqueue("503")
    results = _publish(sim_conn, driver)
    assert rules_run_twice(simulator.state, since=before) == {}
    assert rule_job_counts(simulator.state, since=before) == {RULE_A: 1, RULE_B: 1}
    assert [(r.succeeded, r.reconciled) for r in results] == [(True, False), (True, False)]  # type: ignore[attr-defined]
    assert len(simulator.state.requests_to("/AllData")) == 2
    # The snapshot, then the settle polls after the 503 (the job-id evidence never changed).
    assert len(simulator.state.requests_to("/jobStatus")) >= 2


@pytest.mark.parametrize(
    ("key", "value"),
    [("publish_settle_seconds", -1), ("publish_settle_seconds", "nan"), ("publish_settle_poll_seconds", 0)],
)
def test_bad_settle_extras_raise_value_error_naming_the_key(
    make_conn: ConnFactory, key: str, value: object
) -> None:
    conn = make_conn("c1_settle", "clinical_one", "c1.test", login="u", password="p", extra={key: value})
    with pytest.raises(ValueError, match=key):
        ClinicalOneHook(conn).config  # noqa: B018 - parsing the connection is the point


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_refused_chunk_never_cancels_the_chunk_in_flight_beside_it(
    simulator: LiveSimulator, sim_conn: str, driver: str
) -> None:
    ids = [simulator.state.add_rule(STUDY, "test").rule_id for _ in range(501)]
    before = simulator.state.now()
    simulator.state.faults.enqueue("400")  # the first publish PUT to arrive is refused as a whole
    hook = ClinicalOneHook(sim_conn)
    if driver == "async":
        results = hook.run_async(hook.aupdate_publish_run(STUDY, "test", "AllData", ids))
    else:
        results = hook.update_publish_run(STUDY, "test", "AllData", ids)
    counts = rule_job_counts(simulator.state, since=before)
    applied = [r.rule_id for r in results if r.succeeded]
    refused = [r.rule_id for r in results if not r.succeeded]
    assert [r.rule_id for r in results] == ids
    assert len(refused) in (1, 500) and all(
        "chunk refused" in (r.failure_reason or "") for r in results if not r.succeeded
    )
    assert counts == dict.fromkeys(applied, 1)  # every applied rule ran once, every refused one not at all
