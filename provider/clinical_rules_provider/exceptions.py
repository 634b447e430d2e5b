"""Exceptions raised by the provider.

Every error from a service (or from talking to it) derives from :class:`ClinicalRulesError`;
``ValueError`` is reserved for input rejected *before* anything was sent, so callers tell "my
DAG is wrong" from "the service said no" without parsing messages.
"""

from __future__ import annotations

from typing import Any

from clinical_rules_provider._redact import redact


class ClinicalRulesError(Exception):
    """Base class for every service-side or transport error raised by the provider."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: str | None = None,
    ) -> None:
        # Servers echo text back (error envelopes, snippets): known secrets never ride along.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.code = redact(code) if code else code
        self.status_code = status_code
        self.details = redact(details) if details else details

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status_code is not None:
            parts.append(f"http={self.status_code}")
        if self.details and self.details != self.message:
            parts.append(f"details={self.details}")
        return " | ".join(parts)


class TransientServiceError(ClinicalRulesError):
    """A fault worth retrying: throttling, a gateway error, a dropped connection, bad JSON."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class RateLimitedError(TransientServiceError):
    """HTTP 429 or Vault ``API_LIMIT_EXCEEDED``; ``retry_after`` holds the server's hint in seconds."""


class AuthenticationError(ClinicalRulesError):
    """Credentials were refused, a token could not be obtained, or a session could not be renewed."""


class RenewedCredentialsRejectedError(AuthenticationError):
    """A token or session was refused right after it was renewed: the credentials are wrong, so
    hooks, sensors and triggers fail at once instead of logging in again until their timeout."""


class DeadlineExceededError(TransientServiceError):
    """A hook call (retries and server-directed waits included) ran past its total deadline;
    transient, so a sensor or trigger polls again while its own deadline allows."""


class WaitTooLongError(TransientServiceError):
    """The service asked for a wait (``Retry-After``, a Vault burst-limit pause) longer than
    the connection's ``max_wait``: failing now beats sleeping for as long as a server says."""


class ResponseTooLargeError(ClinicalRulesError):
    """A reply body exceeded the connection's ``max_body_bytes`` and was not read further."""


class UnexpectedResponseError(ClinicalRulesError):
    """A reply could not be read as the API reference describes it (wrong JSON types, absurd
    values, JSON nested too deep, a protocol violation); never retried blindly."""


class ClinicalOneAPIError(ClinicalRulesError):
    """Clinical One returned an error envelope (``errorMessage``/``errorCode`` or ``status``)."""


class ClinicalOneValidationError(ClinicalOneAPIError):
    """Clinical One rejected the request (HTTP 400 or ``VALIDATION_ERROR``)."""


class ClinicalOneNotFoundError(ClinicalOneAPIError):
    """Clinical One found no such study, rule or history: a ``NOT_FOUND`` status, or a 404
    carrying an error envelope. Only ``code == "NOT_FOUND"`` means "no history"; a bare 404
    (an HTML page, a gateway, a wrong path) is a plain :class:`ClinicalOneAPIError`."""


class ClinicalOneServerError(ClinicalOneAPIError):
    """Clinical One failed on its side (``SERVER_ERROR``, or a 5xx that is not retried or
    outlasted its retries, which end as :class:`TransientServiceError`)."""


class PublishRunUnconfirmedError(ClinicalRulesError):
    """A publish could not settle every rule (a reply lost and no new job id seen, or the
    reconciling read failed). A publish-run PUT starts rule jobs, so it is never resent blindly:
    the error names ``rule_ids`` (alias ``unconfirmed``), ``applied``, ``failed`` (rule id ->
    reason; safe to send again) and the known ``results`` (``docs/guides/republish-rules.md``)."""

    def __init__(
        self,
        message: str,
        *,
        rule_ids: list[str],
        status_code: int | None = None,
        applied: list[str] | None = None,
        failed: dict[str, str] | None = None,
        results: list[Any] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.rule_ids = rule_ids
        self.applied = list(applied or [])
        self.failed = dict(failed or {})
        self.results = list(results or [])

    @property
    def unconfirmed(self) -> list[str]:
        """The rules whose update is unconfirmed (the same list as ``rule_ids``)."""
        return self.rule_ids


class VaultAPIError(ClinicalRulesError):
    """Vault answered ``responseStatus`` ``FAILURE``/``EXCEPTION``; ``code`` is ``errors[0].type``."""


class VaultSessionError(VaultAPIError, AuthenticationError):
    """The Vault session was refused even after one fresh login."""
