"""VaultCancelStaleJobsOperator: scope (owner, title, type), scheduled jobs and job age.

The simulator's seed holds jobs of two Vault users; see ``testing/_seed.py``.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pendulum
import pytest
import respx

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.operators.cancel import VaultCancelStaleJobsOperator
from clinical_rules_provider.testing._seed import VAULT_OTHER_USER_ID, VAULT_USER_ID
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import ConnFactory
from tests.operators.conftest import FakeTI

QUEUED_STALE = 1046892  # mine, QUEUED 3 h
SCHEDULED_LATER = 1043341  # mine, SCHEDULED 3 h ago to start in 6 h
RUNNING_STALE = 1068337  # mine, RUNNING 3 h (Vault cannot cancel it)
QUEUED_FRESH = 1068044  # mine, QUEUED a minute ago
OTHERS_QUEUED = 1046893  # another user's, QUEUED 3 h, "Safety narrative export"
OTHERS_SCHEDULED = 1043342  # another user's, SCHEDULED 3 h ago to start in 2 h
RECENTLY_QUEUED = 1046894  # mine, created 3 h ago, queued 10 minutes ago
RECENTLY_STARTED = 1068338  # mine, created 3 h ago, running for 5 minutes

VAULT_BASE = "https://vault.test/api/v26.1"


def vault_stale(conn_id: str, **kwargs: Any) -> VaultCancelStaleJobsOperator:
    kwargs.setdefault("older_than", timedelta(hours=1))
    return VaultCancelStaleJobsOperator(task_id="vault_stale", vault_conn_id=conn_id, **kwargs)


def vault_status(simulator: LiveSimulator, job_id: int) -> str:
    job = simulator.state.vault_job(job_id)
    assert job is not None
    return job.status


def cancel_requests(simulator: LiveSimulator) -> set[int]:
    return {item["job_id"] for r in simulator.state.requests_to("/actions/cancel") for item in r.json()}


def stale_ids(report: dict[str, Any]) -> set[int]:
    return {s["job_id"] for s in report["stale"]}


# --- the default scope: my jobs, queued or running too long ----------------------------------


def test_default_cancels_only_my_old_queued_job(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault).execute(context)
    assert report["scope"] == {
        "job_owner": [str(VAULT_USER_ID)],
        "title_pattern": [],
        "job_types": [],
        "include_scheduled": False,
    }
    assert report["checked_jobs"] == 8 and report["in_scope_jobs"] == 6
    assert report["cancelled"] == [QUEUED_STALE] and report["not_cancelled"] == []
    [entry] = report["stale"]
    assert entry["job_id"] == QUEUED_STALE and entry["created_by"] == str(VAULT_USER_ID)
    assert report["running_not_cancellable"] == [RUNNING_STALE]
    assert cancel_requests(simulator) == {QUEUED_STALE}
    assert vault_status(simulator, QUEUED_STALE) in ("CANCELLING", "CANCELLED")
    assert json.loads(json.dumps(report)) == report
    # The login reply named the user: no extra request to find it.
    assert simulator.state.requests_to("/objects/users/me") == []


def test_another_users_old_job_is_untouched_by_default(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault).execute(context)
    assert OTHERS_QUEUED not in stale_ids(report) | cancel_requests(simulator)
    assert vault_status(simulator, OTHERS_QUEUED) == "QUEUED"


def test_job_scheduled_for_later_is_untouched_by_default(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault).execute(context)
    assert SCHEDULED_LATER not in stale_ids(report) | cancel_requests(simulator)
    assert report["scheduled_not_included"] == [SCHEDULED_LATER]
    assert vault_status(simulator, SCHEDULED_LATER) == "SCHEDULED"


@pytest.mark.parametrize("flag", [True, "True"])
def test_include_scheduled_cancels_my_long_waiting_scheduled_jobs(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any], flag: bool | str
) -> None:
    report = vault_stale(sim_vault, include_scheduled=flag).execute(context)
    assert sorted(report["cancelled"]) == sorted([QUEUED_STALE, SCHEDULED_LATER])
    # The simulator's modified_date equals its created_date for this job: either names the age.
    assert {s["job_id"]: s["age_from"] for s in report["stale"]}[SCHEDULED_LATER] in (
        "created_date",
        "modified_date",
    )
    assert report["scheduled_not_included"] == []
    assert vault_status(simulator, SCHEDULED_LATER) in ("CANCELLING", "CANCELLED")
    assert vault_status(simulator, OTHERS_SCHEDULED) == "SCHEDULED"


def test_age_counts_from_queue_time_and_run_start_not_creation(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault, dry_run=True).execute(context)
    assert RECENTLY_QUEUED not in stale_ids(report)
    assert RECENTLY_STARTED not in report["running_not_cancellable"]
    shorter = vault_stale(sim_vault, older_than=timedelta(minutes=8), dry_run=True).execute(context)
    since = {s["job_id"]: s for s in shorter["stale"]}
    assert since[RECENTLY_QUEUED]["age_from"] == "modified_date"
    queued_at = pendulum.parse(since[RECENTLY_QUEUED]["since"])
    assert abs((pendulum.now("UTC") - queued_at).total_seconds() - 600) < 60  # type: ignore[operator]
    assert RECENTLY_STARTED not in shorter["running_not_cancellable"]  # running 5 min < 8 min
    assert simulator.state.requests_to("/actions/cancel") == []


def test_dry_run_reports_without_cancelling(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault, dry_run="true").execute(context)
    assert report["dry_run"] is True and stale_ids(report) == {QUEUED_STALE}
    assert report["cancelled"] == [] and simulator.state.requests_to("/actions/cancel") == []


def test_older_than_beyond_every_job_finds_nothing(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault, older_than=timedelta(hours=4), include_scheduled=True).execute(context)
    assert report["stale"] == [] and report["running_not_cancellable"] == []
    assert simulator.state.requests_to("/actions/cancel") == []


# --- explicit scopes: other users' jobs ------------------------------------------------------


def test_owner_any_with_title_pattern_reaches_other_users_matching_jobs(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault, job_owner="any", title_pattern="safety*", dry_run=True).execute(context)
    assert stale_ids(report) == {OTHERS_QUEUED}
    assert report["scope"]["job_owner"] == "any" and report["in_scope_jobs"] == 1
    assert simulator.state.requests_to("/objects/users/me") == []


@pytest.mark.parametrize("owner", [VAULT_OTHER_USER_ID, [str(VAULT_OTHER_USER_ID)]])
def test_owner_user_ids_reach_only_those_users_jobs(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any], owner: Any
) -> None:
    report = vault_stale(sim_vault, job_owner=owner).execute(context)
    assert report["cancelled"] == [OTHERS_QUEUED]
    assert vault_status(simulator, QUEUED_STALE) == "QUEUED"


def test_owner_me_and_another_user_together(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    report = vault_stale(sim_vault, job_owner=["me", VAULT_OTHER_USER_ID], dry_run=True).execute(context)
    assert stale_ids(report) == {QUEUED_STALE, OTHERS_QUEUED}


@pytest.mark.parametrize(
    "kwargs",
    [{"job_owner": "any"}, {"job_owner": "ANY", "title_pattern": ""}, {"job_owner": "any", "job_types": []}],
)
def test_owner_any_without_other_scope_is_refused_at_parse_time(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r'job_owner="any".*title_pattern.*job_types'):
        VaultCancelStaleJobsOperator(task_id="vault_stale", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"job_owner": "someone"}, "job_owner"),
        ({"job_owner": [0]}, "job_owner"),
        ({"job_owner": []}, "job_owner"),
        ({"job_owner": True}, "job_owner"),
        ({"title_pattern": ["ok", ""]}, "title_pattern"),
        ({"job_types": 5}, "job_types"),
        ({"include_scheduled": "maybe"}, "include_scheduled"),
    ],
)
def test_bad_scope_values_are_refused_at_parse_time_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: expected"):
        VaultCancelStaleJobsOperator(task_id="vault_stale", **kwargs)


def test_templated_scope_is_checked_again_before_any_request(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    task = vault_stale(sim_vault, job_owner="{{ params.owner }}", title_pattern="{{ params.pattern }}")
    task.job_owner, task.title_pattern = "any", ""  # what the templates rendered to
    with pytest.raises(ValueError, match=r'job_owner="any"'):
        task.execute(context)
    assert simulator.state.request_log == []


def test_a_40_kb_title_pattern_is_refused_quickly_at_parse_time_and_again_before_any_request(
    sim_vault: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"^title_pattern: .* at most 256"):
        vault_stale(sim_vault, title_pattern="[" * 40_000)
    task = vault_stale(sim_vault, title_pattern="{{ params.pattern }}")
    task.title_pattern = ["EDC*", "[" * 40_000]  # what the template rendered to
    with pytest.raises(ValueError, match=r"^title_pattern: .* at most 256"):
        task.execute(context)
    assert time.monotonic() - started < 1
    assert simulator.state.request_log == []


def test_airflow_task_owner_is_not_the_vault_job_owner() -> None:
    task = VaultCancelStaleJobsOperator(task_id="vault_stale", owner="data-platform")
    assert (task.owner, task.job_owner) == ("data-platform", "me")


def test_dag_with_templated_scope_and_default_args_owner_serializes() -> None:
    from airflow.sdk import DAG
    from airflow.serialization import serialized_objects

    serializer = getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG
    with DAG("vault_stale", schedule=None, default_args={"owner": "data-platform"}) as dag:
        task = VaultCancelStaleJobsOperator(
            task_id="vault_stale", job_owner="{{ params.owner }}", title_pattern="EDC*"
        )
    assert (task.owner, task.job_owner) == ("data-platform", "{{ params.owner }}")
    assert isinstance(serializer.to_dict(dag), dict)


def test_scope_parameters_are_template_fields() -> None:
    assert {"job_owner", "title_pattern", "job_types", "include_scheduled", "dry_run"} <= set(
        VaultCancelStaleJobsOperator.template_fields
    )


# --- a session_id connection (no login reply to name the user) -------------------------------


def test_session_id_connection_finds_its_user_with_users_me(
    simulator: LiveSimulator, make_conn: ConnFactory, context: dict[str, Any]
) -> None:
    session = simulator.state.create_session()
    conn = make_conn("sim_vault_session", "veeva_vault", simulator.url, extra={"session_id": session})
    report = vault_stale(conn).execute(context)
    assert report["cancelled"] == [QUEUED_STALE]
    assert len(simulator.state.requests_to("/objects/users/me")) == 1
    assert vault_status(simulator, OTHERS_QUEUED) == "QUEUED"


# --- rows read leniently; Vault refusals -----------------------------------------------------


def _mock_vault(rows: list[dict[str, Any]]) -> None:
    respx.post(f"{VAULT_BASE}/auth").mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "sessionId": "s1", "userId": 42, "vaultIds": []}
        )
    )
    respx.get(f"{VAULT_BASE}/services/jobs/monitors").mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "responseDetails": {"total": len(rows)}, "jobs": rows}
        )
    )


def _ago(hours: float) -> str:
    return (pendulum.now("UTC") - timedelta(hours=hours)).to_iso8601_string()


@respx.mock
def test_job_types_scope_reads_either_spelling(vault_conn: str, ti: FakeTI) -> None:
    _mock_vault(
        [
            {"job_id": 1, "status": "QUEUED", "createdBy": 7, "type": "Data_Export", "modifiedDate": _ago(2)},
            {
                "job_id": 2,
                "status": "QUEUED",
                "created_by": 8,
                "job_type": "data_export",
                "modified_date": _ago(2),
            },
            {
                "job_id": 3,
                "status": "QUEUED",
                "created_by": 7,
                "job_type": "report",
                "modified_date": _ago(2),
            },
            {"job_id": 4, "status": "QUEUED", "created_by": 7, "modified_date": _ago(2)},
        ]
    )
    report = vault_stale(vault_conn, job_owner="any", job_types="data_export", dry_run=True).execute(
        {"ti": ti}
    )
    assert {s["job_id"]: s["age_from"] for s in report["stale"]} == {1: "modified_date", 2: "modified_date"}


@respx.mock
def test_stale_fails_when_vault_refuses_a_cancel(vault_conn: str, ti: FakeTI) -> None:
    _mock_vault([{"job_id": 77, "status": "QUEUED", "created_by": 42, "created_date": _ago(2)}])
    refusal = {"type": "INVALID_DATA", "message": "Job [77] is not found in QUEUED or QUEUEING state"}
    respx.post(f"{VAULT_BASE}/services/jobs/actions/cancel").mock(
        return_value=httpx.Response(
            200,
            json={"responseStatus": "SUCCESS", "data": [{"responseStatus": "FAILURE", "errors": refusal}]},
        )
    )
    respx.get(f"{VAULT_BASE}/services/jobs/77").mock(
        return_value=httpx.Response(
            200, json={"responseStatus": "SUCCESS", "data": {"id": 77, "status": "QUEUED"}}
        )
    )
    with pytest.raises(AirflowException, match=r"77: .*not found in QUEUED"):
        vault_stale(vault_conn).execute({"ti": ti})
    report = ti.pushed("return_value")
    assert [s["job_id"] for s in report["stale"]] == [77]
    assert report["stale"][0]["age_from"] == "created_date"
    assert [n["job_id"] for n in report["not_cancelled"]] == [77]
