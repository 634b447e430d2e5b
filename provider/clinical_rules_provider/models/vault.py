"""Requests and responses of the Vault job endpoints (auth, job status, job monitors, cancel)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)
from pydantic.alias_generators import to_camel

from clinical_rules_provider.models._base import OpenEnum, aka, parse_service_time
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


VaultErrors = Annotated[list[VaultError], BeforeValidator(as_error_list), Field(default_factory=list)]


class VaultEnvelope(SnakeModel):
    """The ``responseStatus``/``errors`` envelope every Vault response carries."""

    response_status: str
    response_message: str | None = None
    errors: VaultErrors


class VaultAuthResponse(VaultEnvelope):
    """``POST /api/{v}/auth``; the session id is a secret and never appears in reprs."""

    session_id: SecretStr | None = None
    user_id: int | str | None = None
    vault_id: int | str | None = None


# The date fields Vault documents for a job; see :func:`vault_time` for what counts as a date.
VAULT_JOB_DATE_FIELDS = ("created_date", "modified_date", "run_start_date", "run_end_date")
# Before this, a "date" is a placeholder (0, -1, 0001-01-01), not a time a Vault job had.
_EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)


def vault_time(value: Any) -> datetime | None:
    """A Vault timestamp (ISO 8601 with a date and a time) as an aware datetime, else ``None``:
    numbers, numeric strings, other text and dates before 2000 (placeholders) are no dates."""
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    when = parse_service_time(value, "UTC") if isinstance(value, (str, datetime)) else None
    return when if isinstance(when, datetime) and when >= _EARLIEST_DATE else None


class VaultJob(SnakeModel):
    """A Vault job instance (``GET /api/{v}/services/jobs/{job_id}`` or a job monitor row);
    ``job_name`` and ``job_type`` are inferences (``docs/inferences.md``). A date field present
    but no date (``0``, ``"-1"``, unparsable text) reads as ``None`` and is named in
    ``unreadable_dates``, so nothing decides on a made-up 1970 date."""

    job_id: int = Field(validation_alias=AliasChoices("job_id", "id", "jobId"))
    status: OpenEnum[VaultJobStatus] = None
    title: str | None = aka("title", "job_title")
    job_name: str | None = aka("job_name", "name")
    job_type: str | None = aka("job_type", "type")
    method: str | None = None
    created_by: int | str | None = None
    created_date: datetime | None = None
    modified_date: datetime | None = None
    # For a SCHEDULED job Vault's monitor example shows its planned start here.
    run_start_date: datetime | None = None
    run_end_date: datetime | None = None
    # Set by the provider: the documented date fields present in the reply but not readable.
    unreadable_dates: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _read_dates(cls, data: Any) -> Any:
        """Read each documented date leniently (either spelling); note those that are no date."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        unreadable = []
        for name in VAULT_JOB_DATE_FIELDS:
            for key in (name, to_camel(name)):
                if key in data:
                    raw = data[key]
                    data[key] = vault_time(raw)
                    if raw not in (None, "") and data[key] is None:
                        unreadable.append(name)
        data["unreadable_dates"] = list(dict.fromkeys(unreadable))
        return data

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
    errors: VaultErrors

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
