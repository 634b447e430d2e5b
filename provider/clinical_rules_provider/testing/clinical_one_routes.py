"""Clinical One endpoints (rule designer and rule execution services) over SimulatorState.

Validation is deliberately as strict as the references (e.g. uppercase compact ruleIds for
publish) so that client bugs surface as the same 400 envelopes the real service returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clinical_rules_provider.testing._seed import MODES
from clinical_rules_provider.testing.auth import ClinicalOneAuth
from clinical_rules_provider.testing.state import Rule, RuleJob, SimulatorState

__all__ = ["MAX_RULE_IDS", "ClinicalOneApi", "clinical_one_routes", "normalize_uuid"]

MAX_RULE_IDS = 500
DESIGNER = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study_id}/{mode}"
EXECUTION = "/ec-rule-svc/rest/{version}/studies/{study_id}/{mode}"
_HEX32 = re.compile(r"[0-9A-Fa-f]{32}")
_UUID36 = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_STRICT_RULE_ID = re.compile(r"[0-9A-F]{32}")
_UUID_LIST_MESSAGE = "Invalid UUID list. One or more elements are invalid. Must contain at least one element."
_RULE_STATES = ("draft", "uat", "approved", "publish")
_PUBLISH_RUNS = ("AllData", "FutureData")
_DEFAULT_SORT = ("formName", "questionName", "ruleName")
_REASONS = {200: "Success", 400: "Bad Request", 404: "Not Found"}


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
    "noStudy": (404, "STUDY-001", "Study not found."),
    "noRule": (404, "RULE-001", "Rule not found."),
    "badRule": (400, "RULE-002", "Rule failed validation."),
}


def _invalid(kind: str, details: str) -> Invalid:
    return Invalid(*_CATALOG[kind], details)


def normalize_uuid(value: object) -> str | None:
    """Compact 32 or hyphenated 36 hex, any case -> uppercase compact; None if neither."""
    if isinstance(value, str) and (_HEX32.fullmatch(value) or _UUID36.fullmatch(value)):
        return value.replace("-", "").upper()
    return None


def _field_error(name: str, detail: str) -> Invalid:
    return Invalid(400, "JSON-002", f"Invalid value for field '{name}'.", detail)


def _error_object(err: Invalid) -> dict[str, Any]:
    return {
        "status": "failed",
        "result": None,
        "errorCode": err.code,
        "errorMessage": err.message,
        "details": err.details,
    }


def _publish_item(
    status: int,
    err: Invalid | None,
    rule_id: str | None = None,
    rule_name: str | None = None,
    message: str | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    """One BulkRulePublishRunResponseItem, key order as in the reference example."""
    return {
        "ruleId": rule_id,
        "ruleName": rule_name,
        "jobStatus": "Success" if err is None else "Failed",
        "ruleValidationMessage": message,
        "ruleValidationStatus": err is None,
        "httpErrorCode": status,
        "httpErrorMessage": _REASONS[status],
        "result": None if err else {"status": "success", "result": f"Publish run updated to {run}"},
        "error": None if err is None else _error_object(err),
    }


def _rule_ids(body: Any, *, strict: bool) -> list[str]:
    """Validate `{"ruleIds": [...]}`: 1..500 ids, strict uppercase compact for publish."""
    ids = body.get("ruleIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise _invalid("ruleIds", "ruleIds must contain at least one value.")
    if len(ids) > MAX_RULE_IDS:
        detail = f"ruleIds must contain at most {MAX_RULE_IDS} values; got {len(ids)}."
        raise _invalid("ruleIds", detail)
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
            raise _invalid("ruleIds", detail)
    return result


def _summary(rule: Rule) -> dict[str, Any]:
    """BulkRuleMgmtRuleSummary; fields the reference hides use its descriptions' names."""
    return {
        "ruleId": rule.rule_id,
        "ruleName": rule.name,
        "ruleState": rule.rule_state,
        "ruleValidationStatus": "true" if rule.validation_status else "false",
        "ruleValidationMessage": rule.validation_message,
        "ruleEnabled": 1 if rule.enabled else 0,
        "ruleTrainingEnabled": "true" if rule.training else "false",
        "publishRun": rule.publish_run,
        "formId": rule.form_id,
        "formName": rule.form_name,
        "formRefName": rule.form_ref_name,
        "itemId": rule.item_id,
        "questionName": rule.question_name,
        "questionRefName": rule.question_ref_name,
        "ruleRefName": rule.ref_name,
        "ruleDescription": rule.description,
        "userId": rule.user_id,
        "userName": rule.user_name,
        "lastModified": rule.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "displayOrder": rule.display_order,
        "ruleSource": "UI",
        "isDeleted": 0,
        "executedInProduction": "true" if rule.mode == "production" and rule.jobs else "false",
    }


_SORTABLE = tuple(_summary(Rule("0" * 32, "x", "0" * 32, "test")))


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _field_error(name, f"{name} must be one of {', '.join(allowed)}.")
    return str(value)


def _uuid36(name: str, value: Any) -> str:
    if not (isinstance(value, str) and _UUID36.fullmatch(value)):
        raise _field_error(name, f"{name} must be a 36 character UUID.")
    return value.upper()


def _paging(body: dict[str, Any]) -> tuple[int, int]:
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
    "publishRun": (_PUBLISH_RUNS, lambda r: r.publish_run),
    "ruleEnabled": (("1", "0"), lambda r: "1" if r.enabled else "0"),
    "ruleTrainingEnabled": (("true", "false"), lambda r: "true" if r.training else "false"),
}


def _matcher(read: Callable[[Rule], str], wanted: set[str]) -> Callable[[Rule], bool]:
    return lambda rule: read(rule) in wanted


def _filters(body: dict[str, Any]) -> list[Callable[[Rule], bool]]:
    """Turn the filter fields into predicates, rejecting invalid values by field name."""
    checks: list[Callable[[Rule], bool]] = []
    get = {k: v for k, v in body.items() if v is not None}.get
    for name, (allowed, read) in _SCALAR_FILTERS.items():
        if (value := get(name)) is not None:
            checks.append(_matcher(read, {_one_of(name, value, allowed)}))
    if (form := get("formId")) is not None:
        checks.append(_matcher(lambda r: r.form_id.upper(), {_uuid36("formId", form)}))
    for name, read, check in (
        ("itemId", lambda r: r.item_id.upper(), _uuid36),
        ("ruleState", lambda r: r.rule_state, lambda n, v: _one_of(n, v, _RULE_STATES)),
    ):
        if (values := get(name)) is not None:
            if not isinstance(values, list):
                raise _field_error(name, f"{name} must be an array.")
            wanted = {check(f"{name}[{i}]", v) for i, v in enumerate(values)}
            if wanted:  # an empty array does not filter
                checks.append(_matcher(read, wanted))
    if (user_id := get("userId")) is not None:
        if not (isinstance(user_id, str) and _HEX32.fullmatch(user_id)):
            raise _field_error("userId", "userId must be a 32 character hexadecimal string.")
        checks.append(_matcher(lambda r: r.user_id.upper(), {user_id.upper()}))
    if (user_name := get("userName")) is not None:
        if not (isinstance(user_name, str) and 1 <= len(user_name) <= 64):
            raise _field_error("userName", "userName must be a string of 1 to 64 characters.")
        checks.append(_matcher(lambda r: r.user_name.casefold(), {user_name.casefold()}))
    return checks


def _sort_key(column: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row.get(column)
        return (value is None, str(value).casefold() if isinstance(value, str) else value)

    return key


class ClinicalOneApi:
    """Endpoint handlers bound to one SimulatorState."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def _study(self, request: Request) -> tuple[str, str]:
        raw, mode = request.path_params["study_id"], request.path_params["mode"]
        study = normalize_uuid(raw)
        if study is None:
            raise _invalid("study", f"studyId '{raw}' is not a valid UUID.")
        if mode not in MODES:
            raise _invalid("mode", f"mode '{mode}' is not an allowed value.")
        return study, mode

    def _require_study(self, study: str, mode: str) -> None:
        if not self.state.has_study(study, mode):
            raise _invalid("noStudy", f"studyId {study} has no data in mode {mode}.")

    @staticmethod
    async def _body(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise _invalid("json", "The request body is not valid JSON.") from None

    async def publish(self, request: Request) -> JSONResponse:
        """PUT .../rulemgt/studies/{studyId}/{mode}/{publishRun}."""
        try:
            study, mode = self._study(request)
            run = request.path_params["publish_run"]
            if run not in _PUBLISH_RUNS:
                raise _invalid("publishRun", f"publishRun '{run}' is not an allowed value.")
            rule_ids = _rule_ids(await self._body(request), strict=True)
            self._require_study(study, mode)
        except Invalid as rejected:
            body = [_publish_item(rejected.status, rejected)]
            return JSONResponse(body, status_code=rejected.status)
        state, started = self.state, set()
        with state.lock:
            group, items = state.new_hex_id(), []
            for rule_id in rule_ids:
                rule = state.rule(study, mode, rule_id)
                if rule is None:
                    detail = f"ruleId {rule_id} does not exist in study {study} ({mode})."
                    missing = _invalid("noRule", detail)
                    items.append(_publish_item(404, missing, rule_id, message="Rule not found."))
                elif rule.invalid:
                    msg = rule.validation_message
                    failed = _invalid("badRule", msg)
                    items.append(_publish_item(400, failed, rule.rule_id, rule.name, msg))
                else:
                    rule.publish_run, rule.last_modified = run, state.now()
                    if rule.rule_id not in started:
                        started.add(rule.rule_id)
                        state.start_job(rule, group_job_id=group)
                    ok = "Rule updated successfully."
                    items.append(_publish_item(200, None, rule.rule_id, rule.name, ok, run))
        return JSONResponse(items)

    async def filtered_list(self, request: Request) -> JSONResponse:
        """POST .../rulemgt/studies/{studyId}/{mode}/filteredlist (paging in the body)."""
        try:
            study, mode = self._study(request)
            body = await self._body(request) or {}
            if not isinstance(body, dict):
                raise _invalid("json", "The request body must be a JSON object of filter fields.")
            checks = _filters(body)
            column = body.get("sortColumn")
            if column is not None and column not in _SORTABLE:
                detail = f"sortColumn must be one of {', '.join(_SORTABLE)}."
                raise _field_error("sortColumn", detail)
            order = _one_of("sortOrder", body.get("sortOrder") or "ASC", ("ASC", "DESC"))
            offset, limit = _paging(body)
            self._require_study(study, mode)
        except Invalid as err:
            return JSONResponse(_error_object(err), status_code=err.status)
        rows = [_summary(r) for r in self.state.rules(study, mode) if all(c(r) for c in checks)]
        rows.sort(key=lambda row: row["ruleId"])
        for col in reversed((column,) if column else _DEFAULT_SORT):
            rows.sort(key=_sort_key(col), reverse=order == "DESC")
        page = rows if self.state.settings.ignore_paging else rows[offset : offset + limit]
        body = {"resultData": page, "totalCount": len(rows), "offset": offset, "limit": limit}
        if not self.state.settings.report_total_count:
            del body["totalCount"]  # like a server that neither pages nor counts
        return JSONResponse(body)

    def _entry(
        self, rule_id: str, rule: Rule | None, job: RuleJob | None, status: str | None
    ) -> dict[str, Any]:
        """JobStatusEntry; no job -> null job fields (unknown rule: "Rule doesn't exist")."""
        return {
            "ruleId": rule.rule_id if rule else rule_id,
            "jobId": job.job_id if job else None,
            "jobStatus": status,
            "ruleName": rule.name if rule else None,
            "jobStartDate": self.state.format_job_start(job.started) if job else None,
            "groupJobId": job.group_job_id if job else None,
        }

    async def _job_request(self, request: Request) -> tuple[str, str, list[str]] | JSONResponse:
        try:
            study, mode = self._study(request)
            history = request.query_params.get("history")
            if history is not None and history.lower() not in ("true", "false"):
                raise _invalid("history", f"history must be true or false; got '{history}'.")
            rule_ids = _rule_ids(await self._body(request), strict=False)
            self._require_study(study, mode)
        except Invalid as err:
            return JSONResponse({"status": err.details, "jobStatus": []}, status_code=err.status)
        return study, mode, rule_ids

    async def cancel(self, request: Request) -> JSONResponse:
        """PUT /ec-rule-svc/rest/v1.0/studies/{studyId}/{mode}/cancelRuleJob."""
        parsed = await self._job_request(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        study, mode, rule_ids = parsed
        entries = []
        with self.state.lock:
            for rule_id in rule_ids:
                rule = self.state.rule(study, mode, rule_id)
                if rule is None:
                    entries.append(self._entry(rule_id, None, None, "Rule doesn't exist"))
                    continue
                job, status = self.state.cancel_rule(rule)
                entries.append(self._entry(rule_id, rule, job, status))
        return JSONResponse({"status": "Success", "jobStatus": entries})

    async def job_status(self, request: Request) -> JSONResponse:
        """PUT /ec-rule-svc/rest/v2.0/studies/{studyId}/{mode}/jobStatus[?history=true]."""
        parsed = await self._job_request(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        study, mode, rule_ids = parsed
        every = (request.query_params.get("history") or "").lower() == "true"
        entries = []
        with self.state.lock:
            now = self.state.now()
            for rule_id in rule_ids:
                rule = self.state.rule(study, mode, rule_id)
                if rule is None or not rule.jobs:
                    status = None if rule else "Rule doesn't exist"
                    entries.append(self._entry(rule_id, rule, None, status))
                    continue
                jobs = list(reversed(rule.jobs)) if every else rule.jobs[-1:]
                entries.extend(self._entry(rule_id, rule, j, j.status(now)) for j in jobs)
        return JSONResponse({"status": "Success", "jobStatus": entries})

    async def rerun_history(self, request: Request) -> JSONResponse:
        """GET /ec-rule-svc/rest/v1.0/studies/{studyId}/{mode}/rerunhistory/{ruleId}."""
        try:
            study, mode = self._study(request)
            raw = request.path_params["rule_id"]
            rule_id = normalize_uuid(raw)
            if rule_id is None:
                raise _invalid("ruleId", f"ruleId '{raw}' is not a valid UUID.")
        except Invalid as err:
            body = {"status": "VALIDATION_ERROR", "statusDetail": err.details, "ruleHistory": []}
            return JSONResponse(body, status_code=400)
        with self.state.lock:
            rule, now = self.state.rule(study, mode, rule_id), self.state.now()
            if rule is None:
                detail = "Rule execution job not found for the supplied identifier."
                body = {"status": "NOT_FOUND", "statusDetail": detail, "ruleHistory": []}
                return JSONResponse(body, status_code=404)
            history = []
            for job in reversed(rule.jobs):
                passed, failed = job.subject_counts(now)
                history.append(
                    {
                        "ruleId": rule.rule_id,
                        "jobId": job.job_id,
                        "jobStatus": job.status(now),
                        "ruleName": rule.name,
                        "jobStartDate": self.state.format_job_start(job.started),
                        "userId": job.user_id,
                        "countPassedSubjects": passed,
                        "countFailedSubjects": failed,
                    }
                )
        return JSONResponse({"status": "SUCCESS", "statusDetail": None, "ruleHistory": history})


def clinical_one_routes(state: SimulatorState) -> list[Route]:
    """The five Clinical One routes (filteredlist first: it shadows {publishRun} for POST).

    Each checks ``Authorization`` (see `auth.py`) before validating anything else.
    """
    api, guard = ClinicalOneApi(state), ClinicalOneAuth(state).guard
    v1 = EXECUTION.replace("{version}", "v1.0")
    v2 = EXECUTION.replace("{version}", "v2.0")
    return [
        Route(f"{DESIGNER}/filteredlist", guard(api.filtered_list), methods=["POST"]),
        Route(f"{DESIGNER}/{{publish_run}}", guard(api.publish), methods=["PUT"]),
        Route(f"{v1}/cancelRuleJob", guard(api.cancel), methods=["PUT"]),
        Route(f"{v1}/rerunhistory/{{rule_id}}", guard(api.rerun_history), methods=["GET"]),
        Route(f"{v2}/jobStatus", guard(api.job_status), methods=["PUT"]),
    ]
