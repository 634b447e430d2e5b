"""Turn Clinical One error envelopes into typed exceptions.

Three envelope shapes (see the API references): the rule-designer ``BulkRuleMgmtErrorDoc``
(``errorMessage``/``errorCode``, maybe wrapped in a list of items), the rerun-history
``status`` with ``statusDetail`` (``NOT_FOUND`` with HTTP 200 or 404), and the job-status
outcome sentence, an error only on a non-2xx reply. A 404 without an envelope is a
:class:`ClinicalOneAPIError`, never the :class:`ClinicalOneNotFoundError` callers may read as
"no history" (docs/inferences.md).
"""

from __future__ import annotations

from typing import Any

import httpx

from clinical_rules_provider.exceptions import (
    AuthenticationError,
    ClinicalOneAPIError,
    ClinicalOneNotFoundError,
    ClinicalOneServerError,
    ClinicalOneValidationError,
)

_STATUS_CLASSES: dict[str, type[ClinicalOneAPIError]] = {
    "VALIDATION_ERROR": ClinicalOneValidationError,
    "NOT_FOUND": ClinicalOneNotFoundError,
    "SERVER_ERROR": ClinicalOneServerError,
}


def error_class_for(status_code: int) -> type[ClinicalOneAPIError]:
    """Pick the exception class for an HTTP status."""
    if status_code == 404:
        return ClinicalOneNotFoundError
    if status_code >= 500:
        return ClinicalOneServerError
    return ClinicalOneValidationError if status_code >= 400 else ClinicalOneAPIError


def envelope_error(body: Any, status_code: int, endpoint: str) -> ClinicalOneAPIError | None:
    """Return the typed error an envelope describes, or ``None`` if ``body`` is not an error."""
    if isinstance(body, list):
        if body and all(isinstance(i, dict) and not i.get("ruleId") and i.get("error") for i in body):
            return envelope_error(body[0]["error"], status_code, endpoint)
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if isinstance(status, str) and status.upper() in _STATUS_CLASSES:
        detail = body.get("statusDetail") or status
        return _STATUS_CLASSES[status.upper()](
            f"{endpoint}: {detail}",
            code=status.upper(),
            status_code=status_code,
            details=body.get("statusDetail"),
        )
    if body.get("errorMessage") or body.get("errorCode") or status == "failed":
        return error_class_for(status_code)(
            f"{endpoint}: {body.get('errorMessage') or body.get('details') or 'request failed'}",
            code=body.get("errorCode"),
            status_code=status_code,
            details=body.get("details"),
        )
    if status_code >= 400 and isinstance(status, str) and status and status.lower() != "success":
        return error_class_for(status_code)(f"{endpoint}: {status}", status_code=status_code)
    return None


def raise_for_error(response: httpx.Response, body: Any, endpoint: str) -> None:
    """Raise the typed error for an error envelope or a non-2xx status; return quietly otherwise."""
    error = envelope_error(body, response.status_code, endpoint)
    if response.status_code in (401, 403):
        raise AuthenticationError(
            f"{endpoint}: the service refused the credentials (HTTP {response.status_code})"
            + (f": {error.message.split(': ', 1)[-1]}" if error is not None else ""),
            code=error.code if error is not None else None,
            status_code=response.status_code,
        )
    if error is not None:
        raise error
    if response.status_code >= 400:
        text = response.text.strip().replace("\n", " ")
        bare_404 = response.status_code == 404
        cls = ClinicalOneAPIError if bare_404 else error_class_for(response.status_code)
        raise cls(
            f"{endpoint}: HTTP {response.status_code} without a recognised error envelope"
            + (" (not a NOT_FOUND answer: a wrong path, a gateway or a proxy page?)" if bare_404 else ""),
            status_code=response.status_code,
            details=text if len(text) <= 200 else text[:197] + "...",
        )
