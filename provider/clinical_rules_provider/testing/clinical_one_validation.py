"""Request validation for the Clinical One routes: path ids, JSON bodies, filters, paging.

Kept apart from the handlers so the rules for what a request may contain (and the error
codes they produce) are in one place. Each failure is an `Invalid`; every endpoint
renders it in its own envelope (`error_object` is the shared error body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from clinical_rules_provider.testing._seed import MODES
from clinical_rules_provider.testing.clinical_one_envelopes import error_document
from clinical_rules_provider.testing.state import Rule

__all__ = [
    "MAX_RULE_IDS",
    "PUBLISH_RUNS",
    "Invalid",
    "error_object",
    "field_error",
    "normalize_uuid",
    "one_of",
    "parse_filters",
    "parse_json_body",
    "parse_paging",
    "parse_rule_ids",
    "parse_study",
    "rejection",
]

MAX_RULE_IDS = 500
PUBLISH_RUNS = ("AllData", "FutureData")
_HEX32 = re.compile(r"[0-9A-Fa-f]{32}")
_UUID36 = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_STRICT_RULE_ID = re.compile(r"[0-9A-F]{32}")
_UUID_LIST_MESSAGE = "Invalid UUID list. One or more elements are invalid. Must contain at least one element."
_RULE_STATES = ("draft", "uat", "approved", "publish")


class Invalid(Exception):
    """A request-level rejection; each endpoint renders it in its own envelope."""

    def __init__(self, status: int, code: str, message: str, details: str) -> None:
        super().__init__(details)
        self.status, self.code, self.message, self.details = status, code, message, details


# kind -> (HTTP status, errorCode, errorMessage); `details` always names the field.
_CATALOG = {
    "study": (400, "PATH-001", "Invalid study identifier. Must be a 32 or 36 character UUID."),
    "mode": (400, "PATH-002", f"Invalid study mode. Allowed values: {', '.join(MODES)}."),
    "publishRun": (400, "PATH-003", "Invalid publish run. Allowed values: AllData, FutureData."),
    "ruleId": (400, "PATH-004", "Invalid rule identifier. Must be a 32 or 36 character UUID."),
    "history": (400, "PARAM-001", "Invalid query parameter 'history'."),
    "json": (400, "JSON-001", "Malformed JSON request body."),
    "ruleIds": (400, "JSON-004", _UUID_LIST_MESSAGE),
    # The seeds list only 200/400/500: an unknown study is an invalid identifier (400).
    "noStudy": (400, "STUDY-001", "Study not found."),
    "noRule": (404, "RULE-001", "Rule not found."),
    "badRule": (400, "RULE-002", "Rule failed validation."),
}


def rejection(kind: str, details: str) -> Invalid:
    """The catalogued `Invalid` for `kind` (a key of the error catalog)."""
    return Invalid(*_CATALOG[kind], details)


def normalize_uuid(value: object) -> str | None:
    """Compact 32 or hyphenated 36 hex, any case -> uppercase compact; None if neither."""
    if isinstance(value, str) and (_HEX32.fullmatch(value) or _UUID36.fullmatch(value)):
        return value.replace("-", "").upper()
    return None


def field_error(name: str, detail: str) -> Invalid:
    """Clinical One's ``JSON-002`` refusal of one field, as the service words it."""
    return Invalid(400, "JSON-002", f"Invalid value for field '{name}'.", detail)


def error_object(err: Invalid) -> dict[str, Any]:
    """The error document the service sends for ``err``."""
    return error_document(err.code, err.message, err.details)


def parse_study(request: Request) -> tuple[str, str]:
    """The (uppercase compact study id, mode) of the request path."""
    raw, mode = request.path_params["study_id"], request.path_params["mode"]
    study = normalize_uuid(raw)
    if study is None:
        raise rejection("study", f"studyId '{raw}' is not a valid UUID.")
    if mode not in MODES:
        raise rejection("mode", f"mode '{mode}' is not an allowed value.")
    return study, mode


async def parse_json_body(request: Request) -> Any:
    """The decoded JSON body; None when the body is empty or blank."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise rejection("json", "The request body is not valid JSON.") from None


def parse_rule_ids(body: Any, *, strict: bool) -> list[str]:
    """Validate `{"ruleIds": [...]}`: 1..500 ids, strict uppercase compact for publish."""
    ids = body.get("ruleIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise rejection("ruleIds", "ruleIds must contain at least one value.")
    if len(ids) > MAX_RULE_IDS:
        detail = f"ruleIds must contain at most {MAX_RULE_IDS} values; got {len(ids)}."
        raise rejection("ruleIds", detail)
    result: list[str] = []
    for index, value in enumerate(ids):
        if strict and isinstance(value, str) and _STRICT_RULE_ID.fullmatch(value):
            result.append(value)
        elif not strict and normalize_uuid(value) is not None:
            result.append(str(value))
        else:
            shape = (
                "a 32 character uppercase hexadecimal string without separators"
                if strict
                else "a compact 32 character or hyphenated 36 character UUID"
            )
            detail = f"ruleIds[{index}] must be {shape}; got {json.dumps(value)[:60]}."
            raise rejection("ruleIds", detail)
    return result


def one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` when it is one of ``allowed``, else the service's refusal of field ``name``."""
    if value not in allowed:
        raise field_error(name, f"{name} must be one of {', '.join(allowed)}.")
    return str(value)


def _uuid36(name: str, value: Any) -> str:
    if not (isinstance(value, str) and _UUID36.fullmatch(value)):
        raise field_error(name, f"{name} must be a 36 character UUID.")
    return value.upper()


def parse_paging(body: dict[str, Any]) -> tuple[int, int]:
    """(offset, limit) of a filteredlist body: offset >= 0, limit 1..1000."""
    bounds = {"offset": (0, 0, None), "limit": (100, 1, 1000)}
    values: dict[str, int] = {}
    for name, (default, low, high) in bounds.items():
        value = body.get(name)
        value = default if value is None else value
        bad = isinstance(value, bool) or not isinstance(value, int) or value < low
        if bad or (high is not None and value > high):
            limit = f"between {low} and {high}" if high else f">= {low}"
            message = f"Invalid paging value for field '{name}'."
            raise Invalid(400, "JSON-003", message, f"{name} must be an integer {limit}.")
        values[name] = value
    return values["offset"], values["limit"]


# Scalar filters: body field -> (allowed values, the rule's value in wire form).
_SCALAR_FILTERS: dict[str, tuple[tuple[str, ...], Callable[[Rule], str]]] = {
    "publishRun": (PUBLISH_RUNS, lambda r: r.publish_run),
    "ruleEnabled": (("1", "0"), lambda r: "1" if r.enabled else "0"),
    "ruleTrainingEnabled": (("true", "false"), lambda r: "true" if r.training else "false"),
}


def _matcher(read: Callable[[Rule], str], wanted: set[str]) -> Callable[[Rule], bool]:
    return lambda rule: read(rule) in wanted


def parse_filters(body: dict[str, Any]) -> list[Callable[[Rule], bool]]:
    """Turn the filter fields into predicates, rejecting invalid values by field name."""
    checks: list[Callable[[Rule], bool]] = []
    get = {k: v for k, v in body.items() if v is not None}.get
    for name, (allowed, read) in _SCALAR_FILTERS.items():
        if (value := get(name)) is not None:
            checks.append(_matcher(read, {one_of(name, value, allowed)}))
    if (form := get("formId")) is not None:
        checks.append(_matcher(lambda r: r.form_id.upper(), {_uuid36("formId", form)}))
    for name, read, check in (
        ("itemId", lambda r: r.item_id.upper(), _uuid36),
        ("ruleState", lambda r: r.rule_state, lambda n, v: one_of(n, v, _RULE_STATES)),
    ):
        if (values := get(name)) is not None:
            if not isinstance(values, list):
                raise field_error(name, f"{name} must be an array.")
            wanted = {check(f"{name}[{i}]", v) for i, v in enumerate(values)}
            if wanted:  # an empty array does not filter
                checks.append(_matcher(read, wanted))
    if (user_id := get("userId")) is not None:
        if not (isinstance(user_id, str) and _HEX32.fullmatch(user_id)):
            raise field_error("userId", "userId must be a 32 character hexadecimal string.")
        checks.append(_matcher(lambda r: r.user_id.upper(), {user_id.upper()}))
    if (user_name := get("userName")) is not None:
        if not (isinstance(user_name, str) and 1 <= len(user_name) <= 64):
            raise field_error("userName", "userName must be a string of 1 to 64 characters.")
        checks.append(_matcher(lambda r: r.user_name.casefold(), {user_name.casefold()}))
    return checks
