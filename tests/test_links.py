"""Extra links: templates from the connection extra, pushed to XCom before any wait."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import clinical_rules_provider
from clinical_rules_provider._compat import TaskDeferred
from clinical_rules_provider.links import (
    ClinicalOneRulesLink,
    VaultJobLink,
    check_template,
    rules_url,
    vault_job_urls,
)
from clinical_rules_provider.operators.cancel import VaultCancelJobsOperator, VaultCancelStaleJobsOperator
from clinical_rules_provider.operators.publish_run import ClinicalOneUpdatePublishRunOperator
from clinical_rules_provider.sensors.rule_job import ClinicalOneRuleJobSensor
from clinical_rules_provider.sensors.vault_job import VaultJobSensor
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import RULE_A, STUDY, ConnFactory
from tests.operators.conftest import C1_LOGIN, C1_PASSWORD, VAULT_LOGIN, VAULT_PASSWORD, FakeTI, make_context
from tests.operators.conftest import slow_jobs as slow_jobs
from tests.operators.conftest import ti as ti

RULES_TEMPLATE = "/ui/studies/{study_id}/{study_mode}/rules"
JOB_TEMPLATE = "https://{host}/ui/#jobs/{job_id}"


def conn(host: str, **extra: Any) -> Any:
    return SimpleNamespace(conn_id="c", host=host, port=None, login=None, password=None, extra_dejson=extra)


# --- rendering -----------------------------------------------------------------------------


def test_a_path_template_is_joined_to_the_base_url_and_filled() -> None:
    url = rules_url(conn("c1.example.com", rules_url_template=RULES_TEMPLATE), STUDY, "test")
    assert url == f"https://c1.example.com/ui/studies/{STUDY}/test/rules"


def test_an_absolute_template_may_use_the_host_and_values_are_url_quoted() -> None:
    urls = vault_job_urls(conn("https://myvault.veevavault.com", job_url_template=JOB_TEMPLATE), [7, 8])
    assert urls == ["https://myvault.veevavault.com/ui/#jobs/7", "https://myvault.veevavault.com/ui/#jobs/8"]
    odd = rules_url(conn("c1.example.com", rules_url_template="/r?s={study_id}"), "a/b&c", "test")
    assert odd == "https://c1.example.com/r?s=a%2Fb%26c"


def test_a_template_may_start_with_the_base_url_and_quotes_every_value() -> None:
    odd = rules_url(conn("c1.example.com", rules_url_template="{base_url}/r/{study_mode}"), STUDY, "a b/?#")
    assert odd == "https://c1.example.com/r/a%20b%2F%3F%23"


@pytest.mark.parametrize("template", ["/jobs/{job_id:>100000000}", "/jobs/{job_id:%}", "/jobs/{job_id!r}"])
def test_a_format_trick_in_the_connection_extra_fails_naming_the_extra_before_rendering(
    template: str,
) -> None:
    with pytest.raises(ValueError, match=r"^connection extra job_url_template: ") as caught:
        vault_job_urls(conn("https://myvault.veevavault.com", job_url_template=template), [7])
    assert len(str(caught.value)) < 400


def test_a_template_saved_under_the_older_ui_prefixed_name_is_used() -> None:
    c1 = conn("c1.example.com", extra__clinical_one__rules_url_template=RULES_TEMPLATE)
    assert rules_url(c1, STUDY, "test") == f"https://c1.example.com/ui/studies/{STUDY}/test/rules"
    vault = conn("https://myvault.veevavault.com", extra__veeva_vault__job_url_template=JOB_TEMPLATE)
    assert vault_job_urls(vault, [7]) == ["https://myvault.veevavault.com/ui/#jobs/7"]


def test_without_a_template_there_is_no_link() -> None:
    assert rules_url(conn("c1.example.com"), STUDY, "test") is None
    assert vault_job_urls(conn("myvault.veevavault.com"), [7]) == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("/r/{rule_id}", "unknown placeholder"),
        ("/r/{study_id.__class__}", "unknown placeholder"),
        ("/r/{}", "unknown placeholder"),
        ("/r/{study_id", "not a valid template"),
        ("javascript:alert(1)", "http"),
        ("", "expected a URL template"),
        ("{study_id}/x", "http"),
        ("/r/{study_id:>100000000}", "format spec"),
        ("https://h.example/{study_mode:{study_id}}/r", "nested field"),
        ("/r/{study_id!r}", "conversion"),
        ("/r/{study_id!a}", "conversion"),
        ("/r/{study_id:%}", "format spec"),
        ("/r/{study_id}\n/x", "control characters"),
        ("/r/" + "a" * 3000, "at most 2048"),
    ],
)
def test_a_bad_template_is_refused_naming_the_extra(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f"rules_url_template.*{problem}"):
        check_template(template, frozenset({"study_id", "study_mode"}), "rules_url_template")


def test_get_link_returns_what_the_task_pushed_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time import xcom

    stored = {"clinical_one_rules_url": "https://c1.example.com/r"}
    monkeypatch.setattr(xcom.XCom, "get_value", staticmethod(lambda *, ti_key, key: stored.get(key)))
    assert ClinicalOneRulesLink().get_link(None, ti_key=None) == "https://c1.example.com/r"  # type: ignore[arg-type]
    assert VaultJobLink().get_link(None, ti_key=None) == ""  # type: ignore[arg-type]
    assert ClinicalOneRulesLink().xcom_key == "clinical_one_rules_url"


def test_links_are_declared_in_the_provider_info_and_on_each_task_class() -> None:
    declared = clinical_rules_provider.get_provider_info()["extra-links"]
    assert declared == [
        "clinical_rules_provider.links.ClinicalOneRulesLink",
        "clinical_rules_provider.links.VaultJobLink",
    ]
    for cls in (ClinicalOneUpdatePublishRunOperator, ClinicalOneRuleJobSensor):
        assert [type(link) for link in cls.operator_extra_links] == [ClinicalOneRulesLink]
    for cls in (VaultCancelJobsOperator, VaultCancelStaleJobsOperator, VaultJobSensor):
        assert [type(link) for link in cls.operator_extra_links] == [VaultJobLink]


# --- pushed before any wait ----------------------------------------------------------------


@pytest.fixture
def c1_linked(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    return make_conn(
        "c1_linked",
        "clinical_one",
        simulator.url,
        login=C1_LOGIN,
        password=C1_PASSWORD,
        extra={"study_id": STUDY, "study_mode": "test", "rules_url_template": RULES_TEMPLATE},
    )


@pytest.fixture
def vault_linked(simulator: LiveSimulator, make_conn: ConnFactory) -> str:
    return make_conn(
        "vault_linked",
        "veeva_vault",
        simulator.url,
        login=VAULT_LOGIN,
        password=VAULT_PASSWORD,
        extra={"job_url_template": "/jobs/{job_id}"},
    )


def test_publish_pushes_the_rules_link_before_it_defers(
    c1_linked: str, slow_jobs: LiveSimulator, ti: FakeTI
) -> None:
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        rule_ids=[RULE_A],
        wait_for_completion=True,
        deferrable=True,
        clinical_one_conn_id=c1_linked,
    )
    with pytest.raises(TaskDeferred):
        task.execute(make_context(ti))
    assert ti.pushed("clinical_one_rules_url") == f"{slow_jobs.url}/ui/studies/{STUDY}/test/rules"


def test_rule_job_sensor_pushes_the_rules_link_before_it_defers(
    c1_linked: str, slow_jobs: LiveSimulator, ti: FakeTI
) -> None:
    rule = slow_jobs.state.rule(STUDY, "test", RULE_A)
    assert rule is not None
    slow_jobs.state.start_job(rule)
    sensor = ClinicalOneRuleJobSensor(
        task_id="wait", rule_ids=[RULE_A], deferrable=True, clinical_one_conn_id=c1_linked
    )
    with pytest.raises(TaskDeferred):
        sensor.execute(make_context(ti))
    assert ti.pushed("clinical_one_rules_url").endswith(f"/ui/studies/{STUDY}/test/rules")


def test_vault_sensor_pushes_every_job_link_before_it_defers(vault_linked: str, ti: FakeTI) -> None:
    running = 1068337  # seeded RUNNING
    sensor = VaultJobSensor(
        task_id="wait", job_ids=[str(running), 1040001], deferrable=True, vault_conn_id=vault_linked
    )
    with pytest.raises(TaskDeferred):
        sensor.execute(make_context(ti))
    assert ti.pushed("vault_job_url").endswith(f"/jobs/{running}")
    assert [url.rsplit("/", 1)[1] for url in ti.pushed("vault_job_urls")] == [str(running), "1040001"]


def test_vault_cancel_pushes_job_links(vault_linked: str, ti: FakeTI) -> None:
    VaultCancelJobsOperator(
        task_id="cancel", job_ids=[1046892], vault_conn_id=vault_linked, fail_on_not_cancelled=False
    ).execute(make_context(ti))
    assert ti.pushed("vault_job_url").endswith("/jobs/1046892")


# --- no template: an empty link, so the end-of-task link read finds it ---------------------


def test_without_a_template_the_rules_link_is_pushed_empty(
    slow_jobs: LiveSimulator, make_conn: ConnFactory, ti: FakeTI
) -> None:
    # Airflow's task runner reads every extra link's XCom when a task ends; a key never
    # pushed makes it log "XCom not found" at error level in a run that went right.
    bare = make_conn(
        "c1_bare",
        "clinical_one",
        slow_jobs.url,
        login=C1_LOGIN,
        password=C1_PASSWORD,
        extra={"study_id": STUDY, "study_mode": "test"},
    )
    task = ClinicalOneUpdatePublishRunOperator(
        task_id="publish",
        publish_run="AllData",
        rule_ids=[RULE_A],
        wait_for_completion=True,
        deferrable=True,
        clinical_one_conn_id=bare,
    )
    with pytest.raises(TaskDeferred):
        task.execute(make_context(ti))
    assert ti.pushed("clinical_one_rules_url") == ""


def test_a_stale_vault_dry_run_pushes_the_link_of_the_jobs_it_would_cancel(
    vault_linked: str, ti: FakeTI
) -> None:
    report = VaultCancelStaleJobsOperator(task_id="stale", dry_run=True, vault_conn_id=vault_linked).execute(
        make_context(ti)
    )
    assert report["cancelled"] == []
    first = report["stale"][0]["job_id"]
    assert ti.pushed("vault_job_url").endswith(f"/jobs/{first}")


def test_a_vault_task_with_no_job_to_link_pushes_an_empty_link(
    simulator: LiveSimulator, make_conn: ConnFactory, ti: FakeTI
) -> None:
    bare = make_conn("vault_bare", "veeva_vault", simulator.url, login=VAULT_LOGIN, password=VAULT_PASSWORD)
    VaultCancelStaleJobsOperator(task_id="stale", dry_run=True, older_than=10**9, vault_conn_id=bare).execute(
        make_context(ti)
    )
    assert ti.keys == ["vault_job_url"] and ti.pushed("vault_job_url") == ""
