"""Choices and job-status semantics (``clinical_rules_provider.models.enums``)."""

from __future__ import annotations

import pytest

from clinical_rules_provider.models.enums import (
    VAULT_JOB_CANCELLABLE_STATUSES,
    PublishJobStatus,
    PublishRun,
    RuleJobStatus,
    RuleState,
    SortOrder,
    StudyMode,
    VaultJobStatus,
    parse_choice,
    parse_choices,
    rule_job_phase,
    status_value,
    vault_job_phase,
)

# --- parse_choice ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("design", StudyMode.DESIGN),
        ("TEST", StudyMode.TEST),
        ("Training", StudyMode.TRAINING),
        ("pRoDuCtIoN", StudyMode.PRODUCTION),
        ("active", StudyMode.ACTIVE),
        (StudyMode.TEST, StudyMode.TEST),
    ],
)
def test_parse_choice_accepts_study_modes_in_any_case(value: object, expected: StudyMode) -> None:
    assert parse_choice(value, StudyMode, "mode") is expected


def test_str_and_format_of_a_member_give_its_wire_value() -> None:
    assert (str(RuleJobStatus.SUCCESS), f"{StudyMode.TEST}", f"[{PublishRun.ALL_DATA:>9}]") == (
        "Success",
        "test",
        "[  AllData]",
    )


def test_study_modes_are_sent_lowercase() -> None:
    assert {m.value for m in StudyMode} == {"design", "test", "training", "production", "active"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AllData", PublishRun.ALL_DATA),
        ("alldata", PublishRun.ALL_DATA),
        ("ALLDATA", PublishRun.ALL_DATA),
        ("futureData", PublishRun.FUTURE_DATA),
    ],
)
def test_parse_choice_accepts_publish_runs_in_any_case_and_returns_the_wire_spelling(
    value: str, expected: PublishRun
) -> None:
    member = parse_choice(value, PublishRun, "publish_run")
    assert member is expected
    assert member.value in ("AllData", "FutureData")


@pytest.mark.parametrize(("value", "expected"), [("asc", SortOrder.ASC), ("Desc", SortOrder.DESC)])
def test_parse_choice_accepts_sort_orders_in_any_case(value: str, expected: SortOrder) -> None:
    assert parse_choice(value, SortOrder, "sort_order") is expected


def test_parse_choice_can_be_case_sensitive() -> None:
    assert parse_choice("AllData", PublishRun, "publish_run", case_insensitive=False) is PublishRun.ALL_DATA
    with pytest.raises(ValueError, match=r"^publish_run:"):
        parse_choice("alldata", PublishRun, "publish_run", case_insensitive=False)


@pytest.mark.parametrize(
    "value",
    [
        "prod",
        "",
        " design",
        "design ",
        "All Data",
        "../design",
        None,
        1,
        True,
        ["design"],
        PublishRun.ALL_DATA,
    ],
    ids=repr,
)
def test_parse_choice_rejects_other_values_naming_the_field_and_listing_the_choices(value: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_choice(value, StudyMode, "mode")
    message = str(info.value)
    assert message.startswith("mode: ")
    assert repr(value) in message
    assert "expected one of: design, test, training, production, active" in message


def test_parse_choice_error_for_publish_run_lists_the_wire_spellings() -> None:
    with pytest.raises(
        ValueError, match=r"^publish_run: 'Everything' is not accepted; expected one of: AllData, FutureData$"
    ):
        parse_choice("Everything", PublishRun, "publish_run")


def test_parse_choices_validates_each_item_and_drops_duplicates_in_order() -> None:
    assert parse_choices(["publish", "DRAFT", "Publish", "uat"], RuleState, "rule_states") == [
        RuleState.PUBLISH,
        RuleState.DRAFT,
        RuleState.UAT,
    ]


def test_parse_choices_names_the_index_of_a_bad_item() -> None:
    with pytest.raises(ValueError, match=r"^rule_states\[1\]: 'retired' is not accepted"):
        parse_choices(["draft", "retired"], RuleState, "rule_states")


@pytest.mark.parametrize("values", ["draft", None], ids=["bare-string", "None"])
def test_parse_choices_refuses_a_bare_string_or_none(values: object) -> None:
    with pytest.raises(ValueError, match=r"^rule_states: expected a list of values"):
        parse_choices(values, RuleState, "rule_states")


# --- rule job statuses (DESIGN.md "Job status semantics") ------------------------------------

RULE_SUCCESS = ["Success"]
RULE_FAILURE = [
    "Failed",
    "Cancelled",
    "Completed with errors",
    "Rule is not in publish state",
    "Rule is invalid",
    "Rule is disabled",
    "Rule doesn't exist",
    "Skipped because subject is locked",
]
RULE_ACTIVE = ["Running", "Pending", "Failed to cancel job"]


def test_every_documented_rule_job_status_is_an_enum_member() -> None:
    assert {s.value for s in RuleJobStatus} == set(RULE_SUCCESS + RULE_FAILURE + RULE_ACTIVE)


@pytest.mark.parametrize("status", RULE_SUCCESS)
def test_rule_job_phase_success(status: str) -> None:
    assert rule_job_phase(status) == "success"


@pytest.mark.parametrize("status", RULE_FAILURE)
def test_rule_job_phase_terminal_failures(status: str) -> None:
    assert rule_job_phase(status) == "failure"


@pytest.mark.parametrize("status", RULE_ACTIVE)
def test_rule_job_phase_non_terminal_statuses_are_active(status: str) -> None:
    assert rule_job_phase(status) == "active"


def test_failed_to_cancel_job_means_the_job_is_still_running() -> None:
    assert rule_job_phase(RuleJobStatus.FAILED_TO_CANCEL) == "active"


@pytest.mark.parametrize("status", list(RuleJobStatus), ids=lambda s: s.value)
def test_rule_job_phase_is_the_same_for_enum_members_and_their_strings(status: RuleJobStatus) -> None:
    assert rule_job_phase(status) == rule_job_phase(status.value) != "unknown"


@pytest.mark.parametrize("status", ["Queued", "SUCCESS", "success", "", None, "Succeeded"], ids=repr)
def test_rule_job_phase_unknown_values_are_unknown(status: object) -> None:
    assert rule_job_phase(status) == "unknown"  # type: ignore[arg-type]


def test_publish_job_statuses_are_not_rule_job_statuses() -> None:
    assert rule_job_phase(PublishJobStatus.IN_PROGRESS) == "unknown"


# --- Vault job statuses ----------------------------------------------------------------------

VAULT_ACTIVE = ["SCHEDULED", "QUEUED", "QUEUEING", "RUNNING", "CANCELLING"]
VAULT_FAILURE = [
    "ERRORS_ENCOUNTERED",
    "CANCELLED",
    "TIMEOUT",
    "COMPLETED_DUE_TO_INACTIVITY",
    "MISSED_SCHEDULE",
]


def test_every_documented_vault_job_status_is_an_enum_member() -> None:
    assert {s.value for s in VaultJobStatus} == set(VAULT_ACTIVE + VAULT_FAILURE + ["SUCCESS"])


@pytest.mark.parametrize("status", VAULT_ACTIVE)
def test_vault_job_phase_in_progress_statuses_are_active(status: str) -> None:
    assert vault_job_phase(status) == "active"


def test_vault_job_phase_success() -> None:
    assert vault_job_phase("SUCCESS") == "success"
    assert vault_job_phase(VaultJobStatus.SUCCESS) == "success"


@pytest.mark.parametrize("status", VAULT_FAILURE)
def test_vault_job_phase_other_terminal_statuses_are_failures(status: str) -> None:
    assert vault_job_phase(status) == "failure"
    assert vault_job_phase(VaultJobStatus(status)) == "failure"


@pytest.mark.parametrize("status", ["PAUSED", "running", "Success", "", None], ids=repr)
def test_vault_job_phase_unknown_values_are_unknown(status: object) -> None:
    assert vault_job_phase(status) == "unknown"  # type: ignore[arg-type]


def test_only_scheduled_queued_and_queueing_vault_jobs_are_cancellable() -> None:
    assert {"SCHEDULED", "QUEUED", "QUEUEING"} == VAULT_JOB_CANCELLABLE_STATUSES


def test_status_value_returns_wire_strings_for_members_strings_and_none() -> None:
    assert status_value(RuleJobStatus.COMPLETED_WITH_ERRORS) == "Completed with errors"
    assert status_value("Brand new status") == "Brand new status"
    assert status_value(None) is None
