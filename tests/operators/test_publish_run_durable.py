"""Issue 21's scenarios against the simulator's "realistic" tenant: a rule is never applied twice
and never skipped, whatever the service's clock, zone, stamps and queue, and across a lost reply,
a failed reconciling read, a refused chunk, or a worker killed between the PUT and its reply.

Every scenario runs the operator as Airflow would; a retry is a second ``execute()`` with the
same task state store (``InMemoryTaskStateStore``, the stand-in for Airflow 3.3's).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from clinical_rules_provider._compat import AirflowException, AirflowFailException
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.operators._publish_state import LEDGER_KEY
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.testing import LiveSimulator, SimulatorState
from clinical_rules_provider.testing.job_audit import rule_job_counts
from clinical_rules_provider.testing.task_state import InMemoryTaskStateStore
from tests.conftest import RULE_A, RULE_B, STUDY, ConnFactory
from tests.operators.conftest import C1_LOGIN, C1_PASSWORD, FakeTI, make_context

RULES = [RULE_A, RULE_B]
# The DST fall-back night in the service's zone (America/New_York): 01:00-02:00 happens twice.
FALL_BACK_SECOND_PASS = datetime(2026, 11, 1, 6, 10, tzinfo=timezone.utc)  # 01:10 EST


class WorkerKilled(BaseException):
    """The task process dying (SIGKILL): nothing after it runs, nothing catches it."""


@pytest.fixture(scope="module")
def tenant() -> Iterator[LiveSimulator]:
    state = SimulatorState(
        profile="realistic", pending_seconds=0.1, running_seconds=0.2, job_queue_seconds=0.6
    )
    with LiveSimulator(state) as sim:
        yield sim


@pytest.fixture
def sim(tenant: LiveSimulator) -> LiveSimulator:
    tenant.state.reset()
    tenant.state.faults.configure(fault_rate=0.0)  # each scenario scripts its own faults
    return tenant


@pytest.fixture
def conn(sim: LiveSimulator, make_conn: ConnFactory) -> str:
    extra = {
        "study_id": STUDY,
        "study_mode": "test",
        "service_timezone": "America/New_York",  # the worker knows the zone; its clock may still differ
        "timeout": 1.0,
        "retry_backoff": 0.01,
        "publish_settle_seconds": 3,
        "publish_settle_poll_seconds": 0.2,
    }
    return make_conn(
        "realistic_c1", "clinical_one", sim.url, login=C1_LOGIN, password=C1_PASSWORD, extra=extra
    )


def run(
    conn: str, store: InMemoryTaskStateStore, rule_ids: list[str] = RULES, **kwargs: Any
) -> dict[str, Any]:
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish", publish_run="AllData", rule_ids=rule_ids, clinical_one_conn_id=conn, **kwargs
    )
    context = make_context(FakeTI())
    context["task_state_store"] = store
    result: dict[str, Any] = task.execute(context)
    return result


def jobs_since(sim: LiveSimulator, start: datetime) -> dict[str, int]:
    """Jobs started per rule since ``start`` (service time), queued ones included.

    Jobs seeded "in the future" of a service clock moved back (the DST case) are not counted.
    """
    counts = rule_job_counts(sim.state, since=start)
    later = rule_job_counts(sim.state, since=sim.state.now() + timedelta(minutes=5))
    return {rule: n - later.get(rule, 0) for rule, n in counts.items() if n - later.get(rule, 0)}


def publishes(sim: LiveSimulator) -> int:
    return len(sim.state.requests_to("/AllData"))


@pytest.mark.parametrize("offset_minutes", [-5, 5])
def test_a_lost_reply_applies_each_rule_once_whatever_the_service_clock(
    sim: LiveSimulator, conn: str, offset_minutes: int
) -> None:
    sim.state.clock_offset_seconds = offset_minutes * 60
    start = sim.state.now()
    sim.state.faults.enqueue("lost_reply_504")
    report = run(conn, InMemoryTaskStateStore())
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    assert sorted(report["rule_ids"]) == sorted(RULES) and report["unconfirmed"] == []
    assert publishes(sim) == 1


def test_an_update_that_never_arrived_is_sent_despite_another_users_newer_looking_job(
    sim: LiveSimulator, conn: str
) -> None:
    # The service clock runs 5 min ahead, and another user's job started a minute before ours.
    sim.state.clock_offset_seconds = 300
    rule = sim.state.rule(STUDY, "test", RULE_A)
    assert rule is not None
    other = sim.state.start_job(rule, started=sim.state.now() - timedelta(minutes=1))
    start = sim.state.now()
    sim.state.faults.enqueue("504")  # a gateway answered; the service never saw the update
    report = run(conn, InMemoryTaskStateStore(), rule_ids=[RULE_A])
    assert jobs_since(sim, start) == {RULE_A: 1}
    assert rule.jobs[-1].job_id != other.job_id
    assert report["rule_ids"] == [RULE_A] and publishes(sim) == 2


def test_a_lost_reply_in_the_dst_fall_back_hour_applies_each_rule_once(sim: LiveSimulator, conn: str) -> None:
    # Service time: 01:10 EST, second pass; an earlier job of the rule is stamped 01:50 (EDT).
    sim.state.clock_offset_seconds = (FALL_BACK_SECOND_PASS - datetime.now(timezone.utc)).total_seconds()
    rule = sim.state.rule(STUDY, "test", RULE_A)
    assert rule is not None
    sim.state.start_job(rule, started=FALL_BACK_SECOND_PASS - timedelta(minutes=20))
    start = sim.state.now()
    sim.state.faults.enqueue("lost_reply_drop")
    report = run(conn, InMemoryTaskStateStore())
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    assert sorted(report["reconciled"]) == sorted(RULES)


def test_whole_second_stamps_do_not_hide_a_job_started_in_the_same_second(
    sim: LiveSimulator, conn: str
) -> None:
    assert sim.state.second_precision_stamps
    sim.state.job_queue_seconds = 0.0
    start = sim.state.now()
    sim.state.faults.enqueue("lost_reply_timeout")
    run(conn, InMemoryTaskStateStore())
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    assert publishes(sim) == 1


def test_a_queued_update_whose_job_starts_later_is_not_sent_again(sim: LiveSimulator, conn: str) -> None:
    sim.state.job_queue_seconds = 1.5  # within the connection's 3 s settle time
    start = sim.state.now()
    sim.state.faults.enqueue("lost_reply_504")
    report = run(conn, InMemoryTaskStateStore())
    assert publishes(sim) == 1
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    assert sorted(report["reconciled"]) == sorted(RULES)


def test_a_failed_reconciling_read_names_the_rules_and_the_retry_settles_them(
    sim: LiveSimulator, conn: str
) -> None:
    start = sim.state.now()
    faults = sim.state.faults

    def reads_fail_once_sent(key: str, ledger: dict[str, Any]) -> None:
        if store.writes > 1 and faults.path_filter != "/jobStatus":  # the write after the send
            faults.configure(path_filter="/jobStatus", fault_kinds=["500"], fault_rate=1.0)

    store = InMemoryTaskStateStore(on_set=reads_fail_once_sent)
    faults.configure(path_filter="/AllData$")
    faults.enqueue("lost_reply_504")
    with pytest.raises(AirflowException) as caught:
        run(conn, store)
    assert "unconfirmed" in str(caught.value) and RULE_A in str(caught.value) and RULE_B in str(caught.value)
    faults.configure(fault_rate=0.0)
    store.on_set = None
    report = run(conn, store)  # Airflow's retry: same task state store
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    assert sorted(report["rule_ids"]) == sorted(RULES) and publishes(sim) == 1


def test_501_rules_with_a_refused_chunk_report_each_group_and_the_retry_applies_nothing_twice(
    sim: LiveSimulator, conn: str
) -> None:
    ids = [sim.state.add_rule(STUDY, "test").rule_id for _ in range(501)]
    start = sim.state.now()
    sim.state.faults.configure(path_filter="/AllData$")
    sim.state.faults.enqueue("400")  # whichever chunk arrives first is refused as a whole
    store = InMemoryTaskStateStore()
    with pytest.raises(AirflowException) as caught:
        run(conn, store, rule_ids=ids)
    counts = jobs_since(sim, start)
    refused = [r for r in ids if r not in counts]
    assert len(refused) in (1, 500) and all(counts[r] == 1 for r in ids if r not in refused)
    assert f"{len(refused)} rule(s) were not updated" in str(caught.value)
    report = run(conn, store, rule_ids=ids)  # the retry sends only the refused chunk
    assert jobs_since(sim, start) == dict.fromkeys(ids, 1)
    assert sorted(report["rule_ids"]) == sorted(ids) and publishes(sim) == 3


def test_a_worker_killed_between_the_put_and_its_reply_is_retried_without_applying_twice(
    sim: LiveSimulator, conn: str
) -> None:
    start = sim.state.now()

    def die_once_the_put_is_answered(key: str, ledger: dict[str, Any]) -> None:
        if ledger["sent"] and store.writes > 1:  # the write after the send: the reply is in hand
            raise WorkerKilled

    store = InMemoryTaskStateStore(on_set=die_once_the_put_is_answered)
    with pytest.raises(WorkerKilled):
        run(conn, store)
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    store.on_set = None
    report = run(conn, store)  # the retried try
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1}
    assert sorted(report["reconciled"]) == sorted(RULES) and publishes(sim) == 1


def test_the_ledger_reaches_the_store_before_the_first_publish(sim: LiveSimulator, conn: str) -> None:
    seen: list[int] = []
    store = InMemoryTaskStateStore(on_set=lambda key, ledger: seen.append(publishes(sim)))
    run(conn, store)
    assert seen[0] == 0 and store.get(LEDGER_KEY)["snapshot"].keys() == set(RULES)


def test_without_a_task_state_store_a_failure_after_applying_is_not_retried_blindly(
    sim: LiveSimulator, conn: str
) -> None:
    # Airflow 3.0-3.2: no store in the context, so a retry could not tell what was applied.
    invalid = sim.state.add_rule(
        STUDY, "test", invalid=True, validation_message="Bad rule expression."
    ).rule_id
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish", publish_run="AllData", rule_ids=[RULE_A, invalid], clinical_one_conn_id=conn
    )
    with pytest.raises(AirflowFailException, match="Not retried automatically"):
        task.execute(make_context(FakeTI()))


def test_a_store_holding_another_publish_is_not_resumed(sim: LiveSimulator, conn: str) -> None:
    store = InMemoryTaskStateStore()
    other = {"study_id": STUDY, "mode": "test", "publish_run": "FutureData", "applied": {RULE_A: "reply"}}
    store.set(LEDGER_KEY, {**PublishLedger(**other).to_json(), "sent": True})  # type: ignore[arg-type]
    start = sim.state.now()
    report = run(conn, store)
    assert jobs_since(sim, start) == {RULE_A: 1, RULE_B: 1} and report["reconciled"] == []


def test_future_data_starts_no_job_and_the_wait_does_not_wait_for_one(sim: LiveSimulator, conn: str) -> None:
    start = sim.state.now()
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="FutureData",
        rule_ids=RULES,
        wait_for_completion=True,
        timeout=5,  # a wait for a job that never starts would fail here, not hang
        clinical_one_conn_id=conn,
    )
    report = task.execute(make_context(FakeTI()))
    assert sorted(report["rule_ids"]) == sorted(RULES) and "jobs" not in report
    assert jobs_since(sim, start) == {}
