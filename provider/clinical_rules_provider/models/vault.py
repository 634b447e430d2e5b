"""Requests and responses of the Vault job endpoints (auth, job status, job monitors, cancel)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

from clinical_rules_provider.models._base import OpenEnum, UtcTime
from clinical_rules_provider.models.enums import VaultJobStatus, status_value, vault_job_phase


class SnakeModel(BaseModel):
    """A Vault model: the Vault API uses snake_case for most fields and camelCase for some
    (``responseStatus``, ``sessionId``), so every field reads both spellings."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_camel(name))),
        extra="allow",
        populate_by_name=True,
    )


class VaultError(SnakeModel):
    """One entry of a Vault ``errors`` array."""

    type: str | None = None
    message: str | None = None


def as_error_list(value: Any) -> Any:
    """Vault sends ``errors`` as one object or as a list; always expose a list."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return value


class VaultEnvelope(SnakeModel):
    """The ``responseStatus``/``errors`` envelope every Vault response carries."""

    response_status: str
    response_message: str | None = None
    errors: list[VaultError] = Field(default_factory=list)

    _errors = field_validator("errors", mode="before")(as_error_list)


class VaultAuthResponse(VaultEnvelope):
    """``POST /api/{v}/auth``; the session id is a secret and never appears in reprs."""

    session_id: SecretStr | None = None
    user_id: int | str | None = None
    vault_id: int | str | None = None


class VaultJob(SnakeModel):
    """A Vault job instance (``GET /api/{v}/services/jobs/{job_id}`` or a job monitor row).

    Vault documents ``id``/``job_id``, ``status``, ``title``, ``created_by``,
    ``created_date``, ``modified_date``, ``run_start_date`` and ``run_end_date``; the
    other fields (``job_name``, ``job_type``, a queue date) are inferences read under
    both likely spellings (see ``docs/inferences.md``).
    """

    job_id: int = Field(validation_alias=AliasChoices("job_id", "id", "jobId"))
    status: OpenEnum[VaultJobStatus] = None
    title: str | None = Field(default=None, validation_alias=AliasChoices("title", "job_title"))
    job_name: str | None = Field(default=None, validation_alias=AliasChoices("job_name", "name"))
    job_type: str | None = Field(default=None, validation_alias=AliasChoices("job_type", "type"))
    method: str | None = None
    created_by: int | str | None = None
    created_date: UtcTime = None
    modified_date: UtcTime = None
    queued_date: UtcTime = Field(default=None, validation_alias=AliasChoices("queued_date", "queue_date"))
    # For a SCHEDULED job Vault's monitor example shows its planned start here.
    run_start_date: UtcTime = None
    run_end_date: UtcTime = None

    @property
    def status_text(self) -> str | None:
        """The status as its wire string."""
        return status_value(self.status)

    @property
    def is_terminal(self) -> bool:
        """True once the job reached a final status."""
        return vault_job_phase(self.status) in ("success", "failure")


class VaultJobCancelResult(SnakeModel):
    """One job's outcome of ``cancel_jobs``, reported item by item."""

    job_id: int
    response_status: str
    errors: list[VaultError] = Field(default_factory=list)

    _errors = field_validator("errors", mode="before")(as_error_list)

    @property
    def cancelled(self) -> bool:
        """True when Vault accepted the cancel (the job moves to ``CANCELLING``)."""
        return self.response_status == "SUCCESS"

    @property
    def reason(self) -> str | None:
        """The service's reason when the cancel was refused."""
        if self.cancelled:
            return None
        text = "; ".join(f"{e.type}: {e.message}" for e in self.errors if e.type or e.message)
        return text or self.response_status
