"""Clinical One endpoints (rule designer and rule execution services) over SimulatorState.

Validation (in ``clinical_one_validation.py``) is deliberately as strict as the references
(e.g. uppercase compact ruleIds for publish) so that client bugs surface as the same 400
envelopes the real service returns; this module renders responses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clinical_rules_provider.testing.auth import ClinicalOneAuth
from clinical_rules_provider.testing.clinical_one_envelopes import job_status_response
from clinical_rules_provider.testing.clinical_one_validation import (
    MAX_RULE_IDS,
    PUBLISH_RUNS,
    Invalid,
    error_object,
    field_error,
    normalize_uuid,
    one_of,
    parse_filters,
    parse_json_body,
    parse_paging,
    parse_rule_ids,
    parse_study,
    rejection,
)
from clinical_rules_provider.testing.state import Rule, RuleJob, SimulatorState

__all__ = ["MAX_RULE_IDS", "ClinicalOneApi", "clinical_one_routes", "normalize_uuid"]

DESIGNER = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study_id}/{mode}"
EXECUTION = "/ec-rule-svc/rest/{version}/studies/{study_id}/{mode}"
_DEFAULT_SORT = ("formName", "questionName", "ruleName")
_REASONS = {200: "Success", 400: "Bad Request", 404: "Not Found"}


def _publish_item(
    status: int,
    err: Invalid | None,
    rule_id: str | None = None,
    rule_name: str | None = None,
    message: str | None = None,
    run: str | None = None,
    *,
    job_status: str | None = None,
    valid: bool | None = None,
) -> dict[str, Any]:
    """One BulkRulePublishRunResponseItemDoc, key order as in the reference example.

    Fields without a value are left out (the seed's lengths forbid empty strings); only
    `result` and `error` are ever null, as in the seed's example.
    """
    item = {
        "ruleId": rule_id,
        "ruleName": rule_name,
        "jobStatus": job_status or ("Success" if err is None else "Failed"),
        "ruleValidationMessage": message,
        "ruleValidationStatus": (err is None) if valid is None else valid,
        "httpErrorCode": status,
        "httpErrorMessage": _REASONS[status],
    }
    body: dict[str, Any] = {key: value for key, value in item.items() if value is not None}
    body["result"] = None if err else {"status": "success", "result": f"Publish run updated to {run}"}
    body["error"] = None if err is None else error_object(err)
    return body


def _summary(rule: Rule) -> dict[str, Any]:
    """BulkRuleMgmtRuleSummaryDoc under Oracle's published field names (``RulesSimpleDTOV2``,
    see api-docs/published-pages-notes.md), within the reference's lengths and ranges.

    No ``formId``/``itemId``: the published list has none (the simulator filters on them,
    as requests carry them, but never sends them back). ``versionEnd`` is left out: a
    rule's current version has not ended.
    """
    stamp = rule.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "ruleId": rule.rule_id,
        "ruleName": rule.name,
        "ruleState": rule.rule_state,
        "ruleValidationStatus": "true" if rule.validation_status else "false",
        "ruleValidationMessage": rule.validation_message,
        "ruleEnabled": 1 if rule.enabled else 0,
        "ruleTrainingEnabled": "true" if rule.training else "false",
        "publishRun": rule.publish_run,
        "formName": rule.form_name,
        "formRefName": rule.form_ref_name,
        "questionName": rule.question_name,
        "questionRefName": rule.question_ref_name,
        "ruleRefName": rule.ref_name,
        "ruleDescription": rule.description,
        "ruleActionTarget": rule.action_target,
        "ruleActionTypeName": rule.action_type,
        "userId": rule.user_id,
        "userName": rule.user_name,
        "lastModifiedDate": stamp,
        "versionStart": stamp,
        "ruleOrder": rule.display_order,
        "ruleOriginType": "UI",
        "ruleDeleted": 0,
        "ruleEverInProduction": "true" if rule.mode == "production" and rule.jobs else "false",
    }


_SORTABLE = tuple(_summary(Rule("0" * 32, "x", "0" * 32, "test")))
_paging = parse_paging  # benchmarks/sim_server.py looks this name up here


def _sort_key(column: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row.get(column)
        return (value is None, str(value).casefold() if isinstance(value, str) else value)

    return key


class ClinicalOneApi:
    """Endpoint handlers bound to one SimulatorState."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def _require_study(self, study: str, mode: str) -> None:
        if not self.state.has_study(study, mode):
            raise rejection("noStudy", f"studyId {study} has no data in mode {mode}.")

    async def publish(self, request: Request) -> JSONResponse:
        """PUT .../rulemgt/studies/{studyId}/{mode}/{publishRun}."""
        try:
            study, mode = parse_study(request)
            run = request.path_params["publish_run"]
            if run not in PUBLISH_RUNS:
                raise rejection("publishRun", f"publishRun '{run}' is not an allowed value.")
            rule_ids = parse_rule_ids(await parse_json_body(request), strict=True)
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
                    missing = rejection("noRule", detail)
                    items.append(_publish_item(404, missing, rule_id, message="Rule not found."))
                elif rule.invalid:
                    msg = rule.validation_message
                    failed = rejection("badRule", msg)
                    items.append(_publish_item(400, failed, rule.rule_id, rule.name, msg))
                else:
                    rule.publish_run, rule.last_modified = run, state.now()
                    if rule.rule_id not in started and run == "AllData":  # FutureData starts no job
                        started.add(rule.rule_id)
                        queue = state.settings.job_queue_seconds
                        state.start_job(
                            rule, group_job_id=group, started=state.now() + timedelta(seconds=queue)
                        )
                    valid = rule.validation_status  # False: updated, with a validation warning
                    msg = "Rule updated successfully." if valid else rule.validation_message
                    items.append(
                        _publish_item(
                            200,
                            None,
                            rule.rule_id,
                            rule.name,
                            msg,
                            run,
                            job_status="Queued" if state.settings.job_queue_seconds else rule.publish_status,
                            valid=valid,
                        )
                    )
        return JSONResponse(items)

    async def filtered_list(self, request: Request) -> JSONResponse:
        """POST .../rulemgt/studies/{studyId}/{mode}/filteredlist (paging in the body)."""
        try:
            study, mode = parse_study(request)
            body = await parse_json_body(request) or {}
            if not isinstance(body, dict):
                raise rejection("json", "The request body must be a JSON object of filter fields.")
            checks = parse_filters(body)
            column = body.get("sortColumn")
            if column is not None and column not in _SORTABLE:
                detail = f"sortColumn must be one of {', '.join(_SORTABLE)}."
                raise field_error("sortColumn", detail)
            order = one_of("sortOrder", body.get("sortOrder") or "ASC", ("ASC", "DESC"))
            offset, limit = parse_paging(body)
            self._require_study(study, mode)
        except Invalid as err:
            return JSONResponse(error_object(err), status_code=err.status)
        rows = [_summary(r) for r in self.state.rules(study, mode) if all(c(r) for c in checks)]
        rows.sort(key=lambda row: row["ruleId"])
        for col in reversed((column,) if column else _DEFAULT_SORT):
            rows.sort(key=_sort_key(col), reverse=order == "DESC")
        page = rows if self.state.settings.ignore_paging else rows[offset : offset + limit]
        body = {"resultData": page, "totalCount": len(rows), "offset": offset, "limit": limit}
        if not self.state.settings.report_total_count:
            del body["totalCount"]  # like a server that neither pages nor counts
        return JSONResponse(body)

    def _entry(self, rule_id: str, rule: Rule | None, job: RuleJob | None, status: str) -> dict[str, Any]:
        """JobStatusEntry; fields without a value are left out, never null (the seed's enum
        has no null status). An unknown rule gets `Rule doesn't exist` and no job fields."""
        entry = {
            "ruleId": rule.rule_id if rule else rule_id,
            "jobId": job.job_id if job else None,
            "jobStatus": status,
            "ruleName": rule.name if rule else None,
            "jobStartDate": self.state.format_job_start(job.started) if job else None,
            "groupJobId": job.group_job_id if job else None,
        }
        return {key: value for key, value in entry.items() if value is not None}

    async def _job_request(self, request: Request) -> tuple[str, str, list[str]] | JSONResponse:
        try:
            study, mode = parse_study(request)
            history = request.query_params.get("history")
            if history is not None and history.lower() not in ("true", "false"):
                raise rejection("history", f"history must be true or false; got '{history}'.")
            rule_ids = parse_rule_ids(await parse_json_body(request), strict=False)
            self._require_study(study, mode)
        except Invalid as err:
            return JSONResponse(job_status_response(err.details, []), status_code=err.status)
        return study, mode, rule_ids

    async def cancel(self, request: Request) -> JSONResponse:
        """PUT /ec-rule-svc/rest/v1.0/studies/{studyId}/{mode}/cancelRuleJob.

        A rule without any job gets no entry (the provider reports it as missing).
        """
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
                if job is not None and status is not None:
                    entries.append(self._entry(rule_id, rule, job, status))
        return JSONResponse(job_status_response("Success", entries))

    async def job_status(self, request: Request) -> JSONResponse:
        """PUT /ec-rule-svc/rest/v2.0/studies/{studyId}/{mode}/jobStatus[?history=true].

        A rule without any job gets no entry, as in cancel.
        """
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
                if rule is None:
                    entries.append(self._entry(rule_id, None, None, "Rule doesn't exist"))
                    continue
                seen = rule.seen_jobs(now)
                jobs = list(reversed(seen)) if every else seen[-1:]
                entries.extend(self._entry(rule_id, rule, j, j.status(now)) for j in jobs)
        return JSONResponse(job_status_response("Success", entries))

    async def rerun_history(self, request: Request) -> JSONResponse:
        """GET /ec-rule-svc/rest/v1.0/studies/{studyId}/{mode}/rerunhistory/{ruleId}."""
        try:
            study, mode = parse_study(request)
            raw = request.path_params["rule_id"]
            rule_id = normalize_uuid(raw)
            if rule_id is None:
                raise rejection("ruleId", f"ruleId '{raw}' is not a valid UUID.")
            self._require_study(study, mode)  # an unknown study: rejected as on every route
        except Invalid as err:
            body = {"status": "VALIDATION_ERROR", "statusDetail": err.details, "ruleHistory": []}
            return JSONResponse(body, status_code=400)
        with self.state.lock:
            rule, now = self.state.rule(study, mode, rule_id), self.state.now()
            if rule is None or not rule.seen_jobs(now):
                # Seed: NOT_FOUND is "no matching history records", and only 200/400/500 exist.
                detail = (
                    "Rule execution job not found for the supplied identifier."
                    if rule is None
                    else "No rule execution history found for the supplied rule identifier."
                )
                return JSONResponse({"status": "NOT_FOUND", "statusDetail": detail, "ruleHistory": []})
            history = []
            for job in reversed(rule.seen_jobs(now)):
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
