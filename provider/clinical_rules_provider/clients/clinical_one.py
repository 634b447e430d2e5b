"""The Clinical One rule endpoints: each one described once, as requests and parsers.

Every public function validates its input first, so a bad id, mode or publish run
raises ``ValueError`` naming the field before a request exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from clinical_rules_provider.clients.base import (
    ApiRequest,
    Exchange,
    decode_json,
    parse_model,
    send_all,
    send_one,
)
from clinical_rules_provider.clients.clinical_one_errors import raise_for_error
from clinical_rules_provider.exceptions import ClinicalOneAPIError
from clinical_rules_provider.models.clinical_one import (
    CancelRuleJobsResult,
    ErrorDetail,
    JobStatusResult,
    PublishRunResult,
    RerunHistory,
    RuleFilter,
    RuleJob,
    RuleListPage,
    RuleSummary,
)
from clinical_rules_provider.models.enums import (
    PublishRun,
    RuleState,
    SortOrder,
    StudyMode,
    parse_choice,
    parse_choices,
)
from clinical_rules_provider.models.ids import chunked, compact_id, hyphenated_id, normalize_list

R = TypeVar("R", bound=CancelRuleJobsResult)

PUBLISH_RUN_PATH = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study_id}/{mode}/{publish_run}"
FILTERED_LIST_PATH = "/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{study_id}/{mode}/filteredlist"
CANCEL_RULE_JOB_PATH = "/ec-rule-svc/rest/v1.0/studies/{study_id}/{mode}/cancelRuleJob"
RERUN_HISTORY_PATH = "/ec-rule-svc/rest/v1.0/studies/{study_id}/{mode}/rerunhistory/{rule_id}"
JOB_STATUS_PATH = "/ec-rule-svc/rest/v2.0/studies/{study_id}/{mode}/jobStatus"

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Wire names of the filteredlist fields, keyed by the snake_case filter keyword. The
# reference hides several of them (DESIGN.md); the connection extra can override any.
DEFAULT_FILTER_FIELD_NAMES: Mapping[str, str] = {
    "form_id": "formId",
    "item_ids": "itemId",
    "publish_run": "publishRun",
    "enabled": "ruleEnabled",
    "rule_states": "ruleState",
    "training": "ruleTrainingEnabled",
    "sort_column": "sortColumn",
    "sort_order": "sortOrder",
    "user_id": "userId",
    "user_name": "userName",
    "offset": "offset",
    "limit": "limit",
    "result": "resultData",
}
FILTER_KEYWORDS = frozenset(DEFAULT_FILTER_FIELD_NAMES) - {"offset", "limit", "result"}


def study_path_args(study_id: object, mode: object) -> dict[str, str]:
    """Validate the study id and mode shared by every endpoint."""
    return {
        "study_id": compact_id(study_id, "study_id"),
        "mode": parse_choice(mode, StudyMode, "mode").value,
    }


def rule_id_list(rule_ids: object) -> list[str]:
    """Validate, normalise (uppercase compact) and de-duplicate rule ids."""
    return normalize_list(rule_ids, "rule_ids", compact_id)


def _rule_ids_request(endpoint: str, method: str, path: str, chunk: list[str], **params: str) -> ApiRequest:
    return ApiRequest(
        endpoint, method, path, params=params or None, json={"ruleIds": chunk}, subject=tuple(chunk)
    )


# --- update publish run ------------------------------------------------------------------


def update_publish_run(
    study_id: object, mode: object, publish_run: object, rule_ids: object
) -> Exchange[list[PublishRunResult]]:
    """``PUT .../rulemgt/studies/{studyId}/{mode}/{publishRun}``, chunked by 500, results in input order."""
    args = study_path_args(study_id, mode)
    run = parse_choice(publish_run, PublishRun, "publish_run").value
    ids = rule_id_list(rule_ids)
    path = PUBLISH_RUN_PATH.format(publish_run=run, **args)
    return _publish_exchange(path, list(chunked(ids)))


def _publish_exchange(path: str, chunks: list[list[str]]) -> Exchange[list[PublishRunResult]]:
    responses = yield from send_all([_rule_ids_request("update_publish_run", "PUT", path, c) for c in chunks])
    results: list[PublishRunResult] = []
    for chunk, response in zip(chunks, responses, strict=True):
        results.extend(parse_publish_run(response, chunk))
    # Chunks keep input order; items the service added unasked go after all requested ones.
    order = {rule_id: i for i, rule_id in enumerate(r for chunk in chunks for r in chunk)}
    return sorted(results, key=lambda r: order.get(r.rule_id or "", len(order)))


def parse_publish_run(response: httpx.Response, requested: list[str]) -> list[PublishRunResult]:
    """Parse per-rule items (HTTP 200, 400 or 500 alike) and order them like ``requested``.

    A requested rule the service did not report on gets a synthetic failed item.
    """
    body = decode_json(response, "update_publish_run")
    if not _is_item_list(body):
        raise_for_error(response, body, "update_publish_run")
        if not isinstance(body, list):
            raise ClinicalOneAPIError(
                "update_publish_run: unexpected response shape", status_code=response.status_code
            )
    by_id: dict[str, PublishRunResult] = {}
    extras: list[PublishRunResult] = []
    for raw in body:
        item = parse_model(PublishRunResult, raw, "update_publish_run", error=ClinicalOneAPIError)
        key = _normal(item.rule_id)
        if key in requested and key not in by_id:
            item.rule_id = key
            by_id[key] = item
        else:
            extras.append(item)
    missing = [
        PublishRunResult(
            rule_id=rule_id,
            job_status="Missing",
            http_error_code=response.status_code,
            error=ErrorDetail(status="failed", error_message="The service returned no result for this rule."),
        )
        for rule_id in requested
        if rule_id not in by_id
    ]
    filled = iter(missing)
    return [by_id[r] if r in by_id else next(filled) for r in requested] + extras


def _is_item_list(body: Any) -> bool:
    return isinstance(body, list) and any(isinstance(i, dict) and i.get("ruleId") for i in body)


def _normal(rule_id: str | None) -> str | None:
    try:
        return compact_id(rule_id, "ruleId")
    except ValueError:
        return rule_id


# --- cancel rule jobs and bulk job status -------------------------------------------------


def cancel_rule_jobs(
    study_id: object, mode: object, rule_ids: object, *, service_timezone: str = "UTC"
) -> Exchange[CancelRuleJobsResult]:
    """``PUT .../studies/{studyId}/{mode}/cancelRuleJob``, chunked by 500, merged in input order."""
    args = study_path_args(study_id, mode)
    ids = rule_id_list(rule_ids)
    requests = [
        _rule_ids_request("cancel_rule_jobs", "PUT", CANCEL_RULE_JOB_PATH.format(**args), c)
        for c in chunked(ids)
    ]
    return _job_status_exchange(CancelRuleJobsResult, requests, ids, service_timezone)


def get_job_status(
    study_id: object, mode: object, rule_ids: object, *, history: bool = False, service_timezone: str = "UTC"
) -> Exchange[JobStatusResult]:
    """``PUT .../v2.0/studies/{studyId}/{mode}/jobStatus``: latest jobs of many rules, 500 per call."""
    args = study_path_args(study_id, mode)
    ids = rule_id_list(rule_ids)
    path = JOB_STATUS_PATH.format(**args)
    params = {"history": "true"} if history else {}
    requests = [_rule_ids_request("get_job_status", "PUT", path, c, **params) for c in chunked(ids)]
    return _job_status_exchange(JobStatusResult, requests, ids, service_timezone)


def _job_status_exchange(
    model: type[R], requests: list[ApiRequest], ids: list[str], service_timezone: str
) -> Exchange[R]:
    responses = yield from send_all(requests)
    return merge_job_status(model, requests[0].endpoint, ids, responses, service_timezone)


def merge_job_status(
    model: type[R],
    endpoint: str,
    requested: list[str],
    responses: Iterable[httpx.Response],
    service_timezone: str,
) -> R:
    """Merge ``JobStatusResponse`` pages; entries follow input order, unknown extras go last."""
    statuses: list[str] = []
    entries: list[RuleJob] = []
    context = {"service_timezone": service_timezone}
    for response in responses:
        body = decode_json(response, endpoint)
        raise_for_error(response, body, endpoint)
        if not isinstance(body, dict) or not isinstance(body.get("jobStatus", []), list):
            raise ClinicalOneAPIError(
                f"{endpoint}: unexpected response shape", status_code=response.status_code
            )
        statuses.append(str(body.get("status") or ""))
        entries.extend(
            parse_model(RuleJob, e, endpoint, error=ClinicalOneAPIError, context=context)
            for e in body.get("jobStatus") or []
        )
    order = {rule_id: i for i, rule_id in enumerate(requested)}
    for entry in entries:
        entry.rule_id = _normal(entry.rule_id)
    entries.sort(key=lambda e: order.get(e.rule_id or "", len(order)))
    reported = {e.rule_id for e in entries}
    overall = (
        "Success" if all(s.lower() == "success" for s in statuses) else "; ".join(dict.fromkeys(statuses))
    )
    return model(
        status=overall, job_status=entries, missing_rule_ids=[r for r in requested if r not in reported]
    )


# --- rerun history ------------------------------------------------------------------------


def get_rerun_history(
    study_id: object, mode: object, rule_id: object, *, service_timezone: str = "UTC"
) -> Exchange[RerunHistory]:
    """``GET .../studies/{studyId}/{mode}/rerunhistory/{ruleId}``."""
    return _history_exchange(rerun_history_request(study_id, mode, rule_id), service_timezone)


def _history_exchange(request: ApiRequest, service_timezone: str) -> Exchange[RerunHistory]:
    response = yield from send_one(request)
    return parse_rerun_history(response, service_timezone)


def rerun_history_request(study_id: object, mode: object, rule_id: object) -> ApiRequest:
    """Build the rerun-history request (validated)."""
    args = study_path_args(study_id, mode)
    rid = compact_id(rule_id, "rule_id")
    return ApiRequest(
        "get_rerun_history", "GET", RERUN_HISTORY_PATH.format(rule_id=rid, **args), subject=(rid,)
    )


def parse_rerun_history(response: httpx.Response, service_timezone: str = "UTC") -> RerunHistory:
    """Parse ``RuleHistoryResponse``; ``NOT_FOUND`` and other error statuses raise typed errors."""
    body = decode_json(response, "get_rerun_history")
    raise_for_error(response, body, "get_rerun_history")
    return parse_model(
        RerunHistory,
        body,
        "get_rerun_history",
        error=ClinicalOneAPIError,
        context={"service_timezone": service_timezone},
    )


# --- filtered rule list -------------------------------------------------------------------


def build_rule_filter(**filters: Any) -> RuleFilter:
    """Validate ``list_rules`` keyword filters and normalise them for the wire."""
    unknown = set(filters) - FILTER_KEYWORDS
    if unknown:
        raise ValueError(f"filters: unknown filter(s) {sorted(unknown)}; accepted: {sorted(FILTER_KEYWORDS)}")
    values = {k: v for k, v in filters.items() if v is not None}
    return RuleFilter(
        form_id=hyphenated_id(values["form_id"], "form_id") if "form_id" in values else None,
        item_id=normalize_list(values["item_ids"], "item_ids", hyphenated_id)
        if "item_ids" in values
        else None,
        publish_run=parse_choice(values["publish_run"], PublishRun, "publish_run")
        if "publish_run" in values
        else None,
        rule_enabled=_flag(values, "enabled", "1", "0"),
        rule_state=parse_choices(values["rule_states"], RuleState, "rule_states")
        if "rule_states" in values
        else None,
        rule_training_enabled=_flag(values, "training", "true", "false"),
        sort_column=_text(values, "sort_column", 4, 64),
        sort_order=parse_choice(values["sort_order"], SortOrder, "sort_order")
        if "sort_order" in values
        else None,
        user_id=compact_id(values["user_id"], "user_id") if "user_id" in values else None,
        user_name=_text(values, "user_name", 1, 64),
    )


def _flag(values: Mapping[str, Any], key: str, true: str, false: str) -> str | None:
    if key not in values:
        return None
    if not isinstance(values[key], bool):
        raise ValueError(f"{key}: expected True or False, got {values[key]!r}")
    return true if values[key] else false


def _text(values: Mapping[str, Any], key: str, low: int, high: int) -> str | None:
    if key not in values:
        return None
    value = values[key]
    if not isinstance(value, str) or not low <= len(value) <= high or not value.isprintable():
        raise ValueError(f"{key}: expected a printable string of {low} to {high} characters, got {value!r}")
    return value


@dataclass
class RulePager:
    """Walks ``filteredlist`` pages and can never loop forever.

    It stops on a short or empty page, when ``totalCount``/``hasMore`` says so, or when a
    page repeats the previous page's first rule (a server ignoring paging). Rules repeated
    from the previous page are skipped, so each returned rule is yielded exactly once.
    """

    study_id: str
    mode: str
    rule_filter: RuleFilter
    page_size: int = DEFAULT_PAGE_SIZE
    field_names: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FILTER_FIELD_NAMES)
    offset: int = 0
    pages: int = 0
    done: bool = False
    _previous_ids: frozenset[str] = frozenset()
    _previous_first: str | None = None

    @classmethod
    def create(
        cls,
        study_id: object,
        mode: object,
        *,
        page_size: object = DEFAULT_PAGE_SIZE,
        field_names: Mapping[str, str] | None = None,
        **filters: Any,
    ) -> RulePager:
        """Validate everything up front and return a pager at offset 0."""
        args = study_path_args(study_id, mode)
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise ValueError(f"page_size: expected an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
        names = {**DEFAULT_FILTER_FIELD_NAMES, **(field_names or {})}
        return cls(args["study_id"], args["mode"], build_rule_filter(**filters), page_size, names)

    def next_request(self) -> ApiRequest | None:
        """The request for the next page, or ``None`` when paging is over."""
        if self.done:
            return None
        body = {self.field_names[k]: v for k, v in self._filter_body().items()}
        body[self.field_names["offset"]] = self.offset
        body[self.field_names["limit"]] = self.page_size
        path = FILTERED_LIST_PATH.format(study_id=self.study_id, mode=self.mode)
        return ApiRequest("list_rules", "POST", path, json=body)

    def _filter_body(self) -> dict[str, Any]:
        dumped = self.rule_filter.model_dump(mode="json", exclude_none=True, by_alias=False)
        renames = {
            "item_id": "item_ids",
            "rule_enabled": "enabled",
            "rule_state": "rule_states",
            "rule_training_enabled": "training",
        }
        return {renames.get(k, k): v for k, v in dumped.items()}

    def feed(self, response: httpx.Response) -> list[RuleSummary]:
        """Parse one page, advance, and return the rules not seen on the previous page."""
        body = decode_json(response, "list_rules")
        raise_for_error(response, body, "list_rules")
        if isinstance(body, dict) and self.field_names["result"] != "resultData":
            body = {**body, "resultData": body.get(self.field_names["result"], [])}
        page = parse_model(RuleListPage, body, "list_rules", error=ClinicalOneAPIError)
        rules = page.result_data
        self.pages += 1
        first = rules[0].rule_id if rules else None
        if not rules or (first is not None and first == self._previous_first):
            self.done = True
            return [r for r in rules if r.rule_id not in self._previous_ids] if rules else []
        fresh = [r for r in rules if r.rule_id not in self._previous_ids]
        self.offset += len(rules)
        self._previous_first = first
        self._previous_ids = frozenset(r.rule_id for r in rules)
        if (
            len(rules) < self.page_size
            or page.has_more is False
            or (page.total_count is not None and self.offset >= page.total_count)
        ):
            self.done = True
        return fresh
