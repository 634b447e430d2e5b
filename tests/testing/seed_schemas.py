"""JSON schemas of the Clinical One replies, transcribed from the API references (the seeds).

Field names, enums, lengths, ranges and patterns are the references' own. Where a reference
hides a name ("Show Source"), the schema uses Oracle's published one and says so:
``errorMessage`` for the ``JobStatusResponse`` outcome, and Oracle's published
``RulesSimpleDTOV2`` names for the rule-summary fields other than the four the reference
names (docs: "Inferences and overrides").
Objects the references spell out completely reject unknown fields.

:func:`schema_for` picks the schema of a reply by endpoint (method + path) and HTTP status;
a status the reference does not list has no schema.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema

UUID_PATTERN = (
    r"^[0-9A-Fa-f]{32}$|^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)
UUID: dict[str, Any] = {"type": "string", "minLength": 32, "maxLength": 36, "pattern": UUID_PATTERN}
JOB_START_DATE = {
    "type": "string",
    "minLength": 23,
    "maxLength": 23,
    "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$",
}
RULE_JOB_STATUSES = [
    "Running",
    "Success",
    "Failed",
    "Cancelled",
    "Completed with errors",
    "Pending",
    "Rule is not in publish state",
    "Rule is invalid",
    "Rule is disabled",
    "Rule doesn't exist",
    "Failed to cancel job",
    "Skipped because subject is locked",
]


def _string(low: int, high: int) -> dict[str, Any]:
    return {"type": "string", "minLength": low, "maxLength": high}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _enum(low: int, high: int, values: list[str]) -> dict[str, Any]:
    """An enum with the reference's lengths, unless its own values break them (``publishRun``
    allows 7..8 characters yet lists ``FutureData``; ``ruleState`` 5..8 yet lists ``uat``):
    then the listed values win."""
    if all(low <= len(v) <= high for v in values):
        return {**_string(low, high), "enum": values}
    return {"type": "string", "enum": values}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


RULE_JOB_STATUS = _enum(4, 64, RULE_JOB_STATUSES)

# --- cancelRuleJob and v2.0 jobStatus: JobStatusResponse (200, 400 and 500 alike) ----------

JOB_STATUS_ENTRY = _closed(
    {
        "groupJobId": UUID,
        "jobId": UUID,
        "jobStartDate": JOB_START_DATE,
        "jobStatus": RULE_JOB_STATUS,
        "ruleId": UUID,
        "ruleName": _string(1, 256),
    }
)
JOB_STATUS_RESPONSE = _closed(
    {
        # The reference hides this name; Oracle's published JobStatusResponse calls it errorMessage.
        "errorMessage": _string(1, 512),
        "jobStatus": {"type": "array", "items": JOB_STATUS_ENTRY},
    },
    required=("errorMessage", "jobStatus"),
)

# --- rerunhistory: RuleHistoryResponse (200, 400 and 500 alike) -----------------------------

INT32_COUNT = {"type": "integer", "minimum": 0, "maximum": 2147483647}
RULE_HISTORY_ENTRY = _closed(
    {
        "countFailedSubjects": INT32_COUNT,
        "countPassedSubjects": INT32_COUNT,
        "jobId": UUID,
        "jobStartDate": JOB_START_DATE,
        "jobStatus": RULE_JOB_STATUS,
        "ruleId": UUID,
        "ruleName": _string(1, 256),
        "userId": UUID,
    },
    required=("jobId", "ruleId"),
)
RULE_HISTORY_RESPONSE = _closed(
    {
        "ruleHistory": {"type": "array", "items": RULE_HISTORY_ENTRY},
        "status": _enum(4, 32, ["SUCCESS", "VALIDATION_ERROR", "NOT_FOUND", "SERVER_ERROR"]),
        # "Null when the request succeeds without warnings."
        "statusDetail": _nullable(_string(1, 512)),
    },
    required=("status",),
)

# --- rule designer: BulkRuleMgmtErrorDoc, publish-run items, filteredlist ------------------

ERROR_DOC = _closed(
    {
        "details": _string(5, 512),
        "errorCode": _string(5, 32),
        "errorMessage": _string(10, 512),
        "result": _nullable(_string(5, 256)),  # the reference's example shows null
        "status": _enum(6, 6, ["failed"]),
    }
)
PUBLISH_RESULT_DOC = _closed(
    {"result": _string(5, 256), "status": _enum(3, 10, ["success", "failed", "error"])}
)
PUBLISH_ITEM = _closed(
    {
        "error": _nullable(ERROR_DOC),  # null in the reference's example
        "httpErrorCode": {"type": "integer", "minimum": 100, "maximum": 599},
        "httpErrorMessage": _string(2, 64),
        "jobStatus": _enum(5, 10, ["Success", "Failed", "Error", "InProgress", "Queued"]),
        "result": _nullable(PUBLISH_RESULT_DOC),  # null in the reference's example
        "ruleId": _string(32, 36),
        "ruleName": _string(3, 256),
        "ruleValidationMessage": _string(5, 512),
        "ruleValidationStatus": {"type": "boolean"},
    }
)
PUBLISH_RESPONSE = {"type": "array", "items": PUBLISH_ITEM}

TRUE_FALSE = _enum(4, 5, ["true", "false"])
RULE_STATE = _enum(5, 8, ["draft", "uat", "approved", "publish"])
DATE_TIME = _string(20, 30)
RULE_SUMMARY = _closed(
    {
        # Named by the reference (its example).
        "ruleId": _string(32, 36),
        "ruleName": _string(3, 256),
        "ruleState": RULE_STATE,
        "ruleValidationStatus": TRUE_FALSE,
        # Hidden by the reference: its constraints, under Oracle's published names
        # (RulesSimpleDTOV2, api-docs/published-pages-notes.md). It has no formId/itemId.
        "formName": _string(2, 128),
        "formRefName": _string(2, 64),
        "lastModifiedDate": DATE_TIME,
        "publishRun": _enum(7, 8, ["AllData", "FutureData"]),
        "questionName": _string(2, 128),
        "questionRefName": _string(2, 64),
        "ruleActionTarget": _string(2, 64),
        "ruleActionTypeName": _string(5, 64),
        "ruleDeleted": {"type": "integer", "minimum": 0, "maximum": 1},
        "ruleDescription": _string(3, 1024),
        "ruleEnabled": {"type": "integer", "minimum": 0, "maximum": 1},
        "ruleEverInProduction": TRUE_FALSE,
        "ruleOrder": {"type": "integer", "minimum": 0, "maximum": 9999},
        "ruleOriginType": _enum(2, 32, ["UI", "API", "INTEGRATION"]),
        "ruleRefName": _string(3, 256),
        "ruleTrainingEnabled": TRUE_FALSE,
        "ruleValidationMessage": _string(1, 512),
        "userId": _string(32, 32),
        "userName": _string(2, 64),
        "versionEnd": DATE_TIME,
        "versionStart": DATE_TIME,
    },
    required=("ruleId",),
)
FILTER_RESPONSE = {
    "type": "object",
    "properties": {"resultData": {"type": "array", "items": RULE_SUMMARY}},
    "required": ["resultData"],  # the totals' names are hidden: other root fields are allowed
}

_ENDPOINTS: list[tuple[str, re.Pattern[str], dict[int, dict[str, Any]]]] = [
    (
        "POST",
        re.compile(r"^/ec-rule-designer-svc/rest/v1\.0/rulemgt/studies/[^/]+/[^/]+/filteredlist$"),
        {200: FILTER_RESPONSE, 400: ERROR_DOC, 500: ERROR_DOC},
    ),
    (
        "PUT",
        re.compile(r"^/ec-rule-designer-svc/rest/v1\.0/rulemgt/studies/[^/]+/[^/]+/[^/]+$"),
        dict.fromkeys((200, 400, 500), PUBLISH_RESPONSE),
    ),
    (
        "PUT",
        re.compile(
            r"^/ec-rule-svc/rest/(v1\.0/studies/[^/]+/[^/]+/cancelRuleJob|v2\.0/studies/[^/]+/[^/]+/jobStatus)$"
        ),
        dict.fromkeys((200, 400, 500), JOB_STATUS_RESPONSE),
    ),
    (
        "GET",
        re.compile(r"^/ec-rule-svc/rest/v1\.0/studies/[^/]+/[^/]+/rerunhistory/[^/]+$"),
        dict.fromkeys((200, 400, 500), RULE_HISTORY_RESPONSE),
    ),
]


def schema_for(method: str, path: str, status: int) -> dict[str, Any]:
    """The seed schema of a reply; ``AssertionError`` when the reference lists no such reply."""
    for endpoint_method, pattern, by_status in _ENDPOINTS:
        if method == endpoint_method and pattern.match(path):
            assert status in by_status, f"{method} {path}: HTTP {status} is not a status the reference lists"
            return by_status[status]
    raise AssertionError(f"{method} {path} is not a Clinical One endpoint of the references")


def check_reply(response: httpx.Response) -> None:
    """Validate a (read) Clinical One reply against the seed schema of its endpoint and status."""
    request = response.request
    schema = schema_for(request.method, request.url.path, response.status_code)
    jsonschema.validate(response.json(), schema)
