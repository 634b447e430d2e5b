"""Clinical One reply envelopes in the API references' shapes, shared by the routes and the
fault injector, so an injected error looks like the endpoint's own error reply.

The shapes are checked against the references by ``tests/testing/test_simulator_schema.py``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["error_document", "injected_error_body", "job_status_response"]


def job_status_response(outcome: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """JobStatusResponse: Oracle names the overall outcome `errorMessage` ("Success" or a
    1..512 character explanation)."""
    return {"errorMessage": outcome[:512], "jobStatus": entries}


def error_document(code: str, message: str, details: str) -> dict[str, Any]:
    """BulkRuleMgmtErrorDoc, the rule designer's error body."""
    return {
        "status": "failed",
        "result": None,
        "errorCode": code,
        "errorMessage": message,
        "details": details,
    }


def injected_error_body(status: int, path: str, reason: str, detail: str) -> Any:
    """The error reply of the endpoint at `path` for an injected HTTP `status`."""
    if path.endswith(("/cancelRuleJob", "/jobStatus")):
        return job_status_response(detail, [])
    if "/rerunhistory/" in path:  # RuleHistoryResponse
        kind = "VALIDATION_ERROR" if status == 400 else "SERVER_ERROR"
        return {"status": kind, "statusDetail": detail, "ruleHistory": []}
    error = error_document(f"HTTP-{status}", reason, detail)
    if "/rulemgt/" in path and not path.endswith("/filteredlist"):
        # Publish run: an array of BulkRulePublishRunResponseItemDoc; no ruleId, because
        # the whole request failed (a per-rule outcome would name its rule).
        item = {"jobStatus": "Error", "httpErrorCode": status, "httpErrorMessage": reason}
        return [{**item, "result": None, "error": error}]
    return error  # filteredlist: BulkRuleMgmtErrorDoc
