"""Wait options checked at DAG-parse time: failure statuses and the poll endpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clinical_rules_provider.job_options import (
    check_poll_endpoint,
    failure_status_set,
    vault_failure_status_set,
)
from clinical_rules_provider.models.enums import VAULT_JOB_FAILURE_STATUSES


def test_default_failure_statuses_include_cancelled() -> None:
    assert "Cancelled" in failure_status_set(None)


@pytest.mark.parametrize("endpoint", ["rerun_history", "job_status"])
def test_both_poll_endpoints_are_accepted(endpoint: str) -> None:
    assert check_poll_endpoint(endpoint) == endpoint


def test_an_unknown_poll_endpoint_is_rejected_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="poll_endpoint: expected 'rerun_history' or 'job_status'"):
        check_poll_endpoint("jobs")


def test_importing_the_options_loads_no_pydantic_model_module() -> None:
    probe = (
        "import sys; import clinical_rules_provider.job_options; "
        "print(sorted(m for m in sys.modules if m.startswith(('clinical_rules_provider.models.clinical_one', "
        "'clinical_rules_provider.models.vault', 'httpx'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("status", ["Running", "Pending", " "])
def test_non_terminal_failure_status_is_rejected(status: str) -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        failure_status_set(["Failed", status])


def test_failed_to_cancel_job_may_be_listed_as_a_failure_status() -> None:
    # Active by default (the job still runs); listing it stops a wait on a history that keeps it.
    assert failure_status_set(["Failed", "Failed to cancel job"]) == {"Failed", "Failed to cancel job"}


def test_failure_statuses_as_a_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        failure_status_set("Failed")


def test_unknown_terminal_failure_status_is_accepted() -> None:
    assert failure_status_set(["Aborted by tenant"]) == frozenset({"Aborted by tenant"})


# --- Vault --------------------------------------------------------------------------------


def test_vault_failure_status_set_default_is_every_terminal_status_but_success() -> None:
    default = vault_failure_status_set(None)
    assert default == VAULT_JOB_FAILURE_STATUSES
    assert "CANCELLED" in default and "SUCCESS" not in default


def test_vault_failure_statuses_are_uppercased() -> None:
    assert vault_failure_status_set(["cancelled"]) == frozenset({"CANCELLED"})


@pytest.mark.parametrize("status", ["RUNNING", "queued", "CANCELLING", ""])
def test_vault_non_terminal_failure_status_is_rejected(status: str) -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        vault_failure_status_set(["ERRORS_ENCOUNTERED", status])


def test_vault_failure_statuses_as_a_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="failure_statuses"):
        vault_failure_status_set("CANCELLED")
