"""The ``filteredlist`` endpoint (``clinical_rules_provider.clients.filtered_list``): filters and paging."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from clinical_rules_provider.clients import filtered_list as fl
from clinical_rules_provider.clients.base import ApiRequest
from clinical_rules_provider.exceptions import (
    ClinicalOneAPIError,
    ClinicalOneValidationError,
    ClinicalRulesError,
    TransientServiceError,
)
from clinical_rules_provider.models.clinical_one import RuleSummary
from tests.clients.test_clinical_one import (
    ERROR_DOC,
    PUBLISH_PREFIX,
    STUDY,
    STUDY_HYPHENATED_LOWER,
    Answer,
    make_response,
)

# --- build_rule_filter / RulePager ------------------------------------------------------------

FORM = "39903D6C-042D-4D9E-8977-3160488E6D3D"
ITEM = "2F4F4E67-E0CE-4BE0-BB95-44D2CD38A569"
USER = "0000000000000000000000000000000A"


def test_rule_pager_maps_every_filter_keyword_to_its_wire_name_and_form() -> None:
    pager = fl.RulePager.create(
        STUDY_HYPHENATED_LOWER,
        "Design",
        page_size=50,
        form_id=FORM.replace("-", "").lower(),
        item_ids=[ITEM.lower(), ITEM.replace("-", ""), "39903d6c042d4d9e89773160488e6d3d"],
        publish_run="alldata",
        enabled=True,
        rule_states=("draft", "PUBLISH"),
        training=False,
        sort_column="ruleName",
        sort_order="desc",
        user_id=str(uuid.UUID(USER)).lower(),
        user_name="jsmith",
    )
    request = pager.next_request()
    assert request is not None
    assert request.method == "POST"
    assert request.path == f"{PUBLISH_PREFIX}/{STUDY}/design/filteredlist"
    assert request.json == {
        "formId": FORM,
        "itemId": [ITEM, FORM],
        "publishRun": "AllData",
        "ruleEnabled": "1",
        "ruleState": ["draft", "publish"],
        "ruleTrainingEnabled": "false",
        "sortColumn": "ruleName",
        "sortOrder": "DESC",
        "userId": USER,
        "userName": "jsmith",
        "offset": 0,
        "limit": 50,
    }


def test_rule_pager_sends_enabled_false_as_0_and_training_true_as_true() -> None:
    request = fl.RulePager.create(STUDY, "test", enabled=False, training=True).next_request()
    assert request is not None
    assert request.json["ruleEnabled"] == "0"
    assert request.json["ruleTrainingEnabled"] == "true"


def test_rule_pager_without_filters_sends_only_paging() -> None:
    request = fl.RulePager.create(STUDY, "test").next_request()
    assert request is not None
    assert request.json == {"offset": 0, "limit": fl.DEFAULT_PAGE_SIZE}


def test_build_rule_filter_drops_filters_given_as_none() -> None:
    rule_filter = fl.build_rule_filter(form_id=None, enabled=None, user_name=None)
    assert rule_filter.model_dump(exclude_none=True) == {}


def test_build_rule_filter_rejects_unknown_keywords_listing_the_accepted_ones() -> None:
    with pytest.raises(
        ValueError, match=r"^filters: unknown filter\(s\) \['colour'\]; accepted: .*'form_id'"
    ):
        fl.build_rule_filter(colour="red", form_id=FORM)


@pytest.mark.parametrize("key", ["enabled", "training"])
@pytest.mark.parametrize("value", [1, 0, "true", "1", "yes"], ids=repr)
def test_build_rule_filter_rejects_flags_that_are_not_bool(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{key}: expected True or False"):
        fl.build_rule_filter(**{key: value})


@pytest.mark.parametrize(
    ("filters", "pattern"),
    [
        ({"form_id": "39903D6C"}, r"^form_id: '39903D6C' is not a valid id"),
        ({"item_ids": [ITEM, "../etc"]}, r"^item_ids\[1\]: '\.\./etc' is not a valid id"),
        ({"item_ids": ITEM}, r"^item_ids: expected a non-empty list"),
        ({"item_ids": []}, r"^item_ids: expected a non-empty list"),
        ({"user_id": "jsmith"}, r"^user_id: 'jsmith' is not a valid id"),
        ({"publish_run": "Some"}, r"^publish_run: 'Some' is not accepted"),
        ({"rule_states": ["draft", "retired"]}, r"^rule_states\[1\]: 'retired' is not accepted"),
        ({"rule_states": "draft"}, r"^rule_states: expected a list"),
        ({"sort_order": "up"}, r"^sort_order: 'up' is not accepted"),
        ({"sort_column": "id"}, r"^sort_column: expected a printable string of 4 to 64"),
        ({"sort_column": "x" * 65}, r"^sort_column: "),
        ({"user_name": ""}, r"^user_name: expected a printable string of 1 to 64"),
        ({"user_name": "js\nmith"}, r"^user_name: "),
        ({"user_name": 7}, r"^user_name: "),
    ],
)
def test_build_rule_filter_rejects_bad_values_naming_the_field(filters: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        fl.build_rule_filter(**filters)


@pytest.mark.parametrize("page_size", [0, -1, 1001, True, "10", 2.5], ids=repr)
def test_rule_pager_rejects_bad_page_sizes(page_size: object) -> None:
    with pytest.raises(ValueError, match=r"^page_size: expected an integer from 1 to 1000"):
        fl.RulePager.create(STUDY, "test", page_size=page_size)


def rule(n: int) -> dict[str, Any]:
    return {
        "ruleId": f"{n:032X}",
        "ruleName": f"rule {n}",
        "ruleState": "publish",
        "ruleValidationStatus": "true",
    }


def page_server(
    rules: list[dict[str, Any]],
    *,
    offset_key: str = "offset",
    limit_key: str = "limit",
    result_key: str = "resultData",
    **extra: Any,
) -> Answer:
    """A server that honours offset/limit."""

    def answer(request: ApiRequest) -> dict[str, Any]:
        offset, limit = request.json[offset_key], request.json[limit_key]
        return {result_key: rules[offset : offset + limit], **extra}

    return answer


def walk(
    pager: fl.RulePager, answer: Answer, max_pages: int = 50
) -> tuple[list[RuleSummary], list[ApiRequest]]:
    rules: list[RuleSummary] = []
    sent: list[ApiRequest] = []
    while (request := pager.next_request()) is not None:
        assert len(sent) < max_pages, "pager did not stop"
        sent.append(request)
        reply = answer(request)
        response = reply if isinstance(reply, httpx.Response) else make_response(request, 200, reply)
        rules.extend(pager.feed(response))
    return rules, sent


def test_rule_pager_advances_the_offset_and_stops_on_a_short_page() -> None:
    server_rules = [rule(n) for n in range(1, 8)]
    pager = fl.RulePager.create(STUDY, "test", page_size=3, enabled=True)
    rules, sent = walk(pager, page_server(server_rules))
    assert [(r.json["offset"], r.json["limit"]) for r in sent] == [(0, 3), (3, 3), (6, 3)]
    assert all(r.json["ruleEnabled"] == "1" for r in sent)
    assert [r.rule_id for r in rules] == [x["ruleId"] for x in server_rules]
    assert pager.done is True
    assert pager.pages == 3
    assert pager.next_request() is None


def test_rule_pager_stops_on_an_empty_page() -> None:
    server_rules = [rule(n) for n in range(1, 7)]
    rules, sent = walk(fl.RulePager.create(STUDY, "test", page_size=3), page_server(server_rules))
    assert [r.json["offset"] for r in sent] == [0, 3, 6]
    assert len(rules) == 6


def test_rule_pager_on_an_empty_first_page_yields_nothing() -> None:
    rules, sent = walk(fl.RulePager.create(STUDY, "test"), lambda req: {"resultData": []})
    assert rules == [] and len(sent) == 1


@pytest.mark.parametrize("key", ["totalCount", "total"])
def test_rule_pager_stops_when_the_total_count_is_reached(key: str) -> None:
    server_rules = [rule(n) for n in range(1, 7)]
    rules, sent = walk(fl.RulePager.create(STUDY, "test", page_size=3), page_server(server_rules, **{key: 6}))
    assert [r.json["offset"] for r in sent] == [0, 3]
    assert len(rules) == 6


def test_rule_pager_stops_when_has_more_is_false() -> None:
    server_rules = [rule(n) for n in range(1, 10)]
    rules, sent = walk(
        fl.RulePager.create(STUDY, "test", page_size=3), page_server(server_rules, hasMore=False)
    )
    assert len(sent) == 1
    assert len(rules) == 3


def test_rule_pager_continues_while_has_more_is_true_on_full_pages() -> None:
    server_rules = [rule(n) for n in range(1, 7)]

    def answer(request: ApiRequest) -> dict[str, Any]:
        body = page_server(server_rules)(request)
        return {**body, "hasMore": request.json["offset"] + 3 < len(server_rules)}

    rules, sent = walk(fl.RulePager.create(STUDY, "test", page_size=3), answer)
    assert len(sent) == 2
    assert len(rules) == 6


@pytest.mark.parametrize("count", [3, 5], ids=["full-page", "more-than-limit"])
def test_rule_pager_terminates_when_the_server_ignores_paging_and_yields_each_rule_once(count: int) -> None:
    server_rules = [rule(n) for n in range(1, count + 1)]
    rules, sent = walk(
        fl.RulePager.create(STUDY, "test", page_size=3), lambda req: {"resultData": server_rules}
    )
    assert len(sent) == 2
    assert [r.rule_id for r in rules] == [x["ruleId"] for x in server_rules]


def test_rule_pager_skips_rules_repeated_from_the_previous_page() -> None:
    server_rules = [rule(n) for n in range(1, 7)]

    def shifted(request: ApiRequest) -> dict[str, Any]:
        offset = max(request.json["offset"] - 1, 0)  # each page re-sends the previous page's last rule
        return {"resultData": server_rules[offset : offset + 3]}

    rules, _ = walk(fl.RulePager.create(STUDY, "test", page_size=3), shifted)
    assert [r.rule_id for r in rules] == [x["ruleId"] for x in server_rules]


def test_rule_pager_honours_custom_field_names() -> None:
    server_rules = [rule(n) for n in range(1, 4)]
    pager = fl.RulePager.create(
        STUDY,
        "test",
        page_size=2,
        field_names={
            "offset": "start",
            "limit": "count",
            "result": "rules",
            "enabled": "isEnabled",
            "form_id": "formUuid",
        },
        enabled=False,
        form_id=FORM,
    )
    rules, sent = walk(
        pager, page_server(server_rules, offset_key="start", limit_key="count", result_key="rules")
    )
    assert sent[0].json == {"formUuid": FORM, "isEnabled": "0", "start": 0, "count": 2}
    assert [r.json["start"] for r in sent] == [0, 2]
    assert [r.rule_id for r in rules] == [x["ruleId"] for x in server_rules]


def test_rule_pager_keeps_unknown_rule_fields() -> None:
    pager = fl.RulePager.create(STUDY, "test")
    (summary,) = pager.feed(
        make_response(pager.next_request(), 200, {"resultData": [{**rule(1), "ruleOrigin": "API"}]})
    )
    assert summary.model_extra == {"ruleOrigin": "API"}


def test_rule_pager_raises_validation_error_for_an_error_envelope() -> None:
    pager = fl.RulePager.create(STUDY, "test")
    with pytest.raises(ClinicalOneValidationError) as info:
        pager.feed(make_response(pager.next_request(), 400, ERROR_DOC))
    assert info.value.code == "JSON-004"


def test_rule_pager_malformed_json_raises_a_transient_error() -> None:
    pager = fl.RulePager.create(STUDY, "test")
    with pytest.raises(TransientServiceError):
        pager.feed(make_response(pager.next_request(), 200, content=b'{"resultData": ['))


def test_rule_pager_page_with_a_rule_lacking_its_id_raises_a_provider_error_not_value_error() -> None:
    # DESIGN.md reserves ValueError for input rejected before sending; a malformed answer
    # from the service must surface as a provider error (ClinicalRulesError).
    pager = fl.RulePager.create(STUDY, "test")
    with pytest.raises(ClinicalRulesError):
        pager.feed(make_response(pager.next_request(), 200, {"resultData": [{"ruleName": "no id"}]}))


# The flag and text parsers are built when the module is imported; these build them afresh, so
# the parser factories themselves are exercised (see docs/mutation-testing.md).


@pytest.mark.parametrize(("value", "wire"), [(True, "yes"), (False, "no")])
def test_a_flag_parser_writes_its_two_wire_values(value: bool, wire: str) -> None:
    assert fl._flag("yes", "no")(value, "enabled") == wire


@pytest.mark.parametrize("value", [1, "true", None], ids=repr)
def test_a_flag_parser_accepts_only_booleans_and_shows_what_it_got(value: object) -> None:
    with pytest.raises(ValueError) as info:
        fl._flag("yes", "no")(value, "training")
    assert str(info.value) == f"training: expected True or False, got {value!r}"


@pytest.mark.parametrize("value", ["ab", "abcd"])
def test_a_text_parser_accepts_printable_text_within_both_bounds(value: str) -> None:
    assert fl._text(2, 4)(value, "sort_column") == value


@pytest.mark.parametrize("value", ["a", "abcde", "a\tb", 12], ids=repr)
def test_a_text_parser_rejects_other_lengths_unprintable_text_and_non_strings(value: object) -> None:
    with pytest.raises(ValueError) as info:
        fl._text(2, 4)(value, "user_name")
    assert str(info.value) == f"user_name: expected a printable string of 2 to 4 characters, got {value!r}"


# --- what the pager sends and how it names its errors ---------------------------------------


def test_rule_pager_requests_are_named_list_rules_and_carry_plain_json_values() -> None:
    pager = fl.RulePager.create(STUDY, "test", publish_run="AllData", rule_states=["publish"])
    request = pager.next_request()
    assert request is not None and request.endpoint == "list_rules"
    assert type(request.json["publishRun"]) is str
    assert [type(s) for s in request.json["ruleState"]] == [str]


def test_rule_pager_errors_name_the_list_rules_endpoint() -> None:
    pager = fl.RulePager.create(STUDY, "test")
    request = pager.next_request()
    assert request is not None
    with pytest.raises(ClinicalOneValidationError, match=r"^list_rules: "):
        pager.feed(make_response(request, 400, ERROR_DOC))
    with pytest.raises(TransientServiceError, match=r"^list_rules: "):
        pager.feed(make_response(request, 200, content=b"{"))


@pytest.mark.parametrize("body", [["not", "a", "page"], {"resultData": "none"}], ids=["list", "text"])
def test_a_page_of_the_wrong_shape_is_a_clinical_one_error_naming_list_rules(body: Any) -> None:
    pager = fl.RulePager.create(STUDY, "test")
    with pytest.raises(ClinicalOneAPIError) as info:
        pager.feed(make_response(pager.next_request(), 200, body))
    assert info.value.message.startswith("list_rules: unexpected response shape")


def test_a_page_without_the_renamed_result_field_has_no_rules() -> None:
    pager = fl.RulePager.create(STUDY, "test", field_names={"result": "rules"})
    assert pager.feed(make_response(pager.next_request(), 200, {"totalCount": 0})) == []
    assert pager.done


def test_rules_whose_ids_are_not_compact_uuids_are_paged_once_each() -> None:
    rules = [{"ruleId": "R-1", "ruleName": "a"}, {"ruleId": "xyz", "ruleName": "b"}]
    found, _ = walk(fl.RulePager.create(STUDY, "test", page_size=5), lambda request: {"resultData": rules})
    assert [r.rule_id for r in found] == ["R-1", "xyz"]


def test_a_page_that_is_no_object_is_a_shape_error_with_a_renamed_result_field_too() -> None:
    pager = fl.RulePager.create(STUDY, "test", field_names={"result": "rules"})
    with pytest.raises(ClinicalOneAPIError, match=r"^list_rules: unexpected response shape"):
        pager.feed(make_response(pager.next_request(), 200, ["not", "a", "page"]))
