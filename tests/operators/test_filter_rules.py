"""ClinicalOneFilterRulesOperator against the live simulator: ids, summaries, paging, empty results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider.operators.filter_rules import ClinicalOneFilterRulesOperator
from clinical_rules_provider.testing.server import LiveSimulator
from tests.conftest import STUDY, ConnFactory
from tests.operators.conftest import C1_LOGIN, C1_PASSWORD, FakeTI


def operator(conn_id: str, **kwargs: Any) -> ClinicalOneFilterRulesOperator:
    return ClinicalOneFilterRulesOperator(task_id="filter", clinical_one_conn_id=conn_id, **kwargs)


def test_returns_the_ids_of_matching_rules(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    expected = {
        r.rule_id for r in simulator.state.rules(STUDY, "test") if r.rule_state == "publish" and r.enabled
    }
    assert expected  # the seed has published, enabled rules
    ids = operator(sim_c1, rule_states=["publish"], enabled=True).execute(context)
    assert set(ids) == expected
    assert len(ids) == len(expected)


def test_no_filter_returns_every_rule_across_pages(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    every = {r.rule_id for r in simulator.state.rules(STUDY, "test")}
    ids = operator(sim_c1, page_size=5).execute(context)
    assert sorted(ids) == sorted(every)
    assert len(simulator.state.requests_to("filteredlist")) == 3  # 12 rules, 5 per page


def test_filters_are_sent_with_the_api_field_names(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    operator(sim_c1, training=False, user_name="JSMITH", sort_column="ruleName", sort_order="DESC").execute(
        context
    )
    [request] = simulator.state.requests_to("filteredlist")
    body = request.json()
    assert body["ruleTrainingEnabled"] == "false"
    assert body["userName"] == "JSMITH"
    assert (body["sortColumn"], body["sortOrder"]) == ("ruleName", "DESC")


def test_summaries_are_pushed_when_asked(
    sim_c1: str, ti: FakeTI, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    ids = operator(sim_c1, rule_states=["approved"], push_summaries=True).execute(context)
    assert ti.keys == ["rule_summaries"]
    summaries = ti.pushed("rule_summaries")
    assert [s["ruleId"] for s in summaries] == ids
    assert all(s["ruleState"] == "approved" for s in summaries)
    assert json.loads(json.dumps(summaries)) == summaries


def test_summaries_are_not_pushed_by_default(sim_c1: str, ti: FakeTI, context: dict[str, Any]) -> None:
    operator(sim_c1, rule_states=["approved"]).execute(context)
    assert ti.pushes == []


def test_no_match_returns_an_empty_list(sim_c1: str, context: dict[str, Any]) -> None:
    assert operator(sim_c1, user_name="nobody-at-all").execute(context) == []


def test_fail_if_empty_raises_when_nothing_matches(sim_c1: str, context: dict[str, Any]) -> None:
    with pytest.raises(AirflowException, match="no rule matches"):
        operator(sim_c1, user_name="nobody-at-all", fail_if_empty=True).execute(context)


def test_fail_if_empty_does_not_raise_when_rules_match(sim_c1: str, context: dict[str, Any]) -> None:
    assert operator(sim_c1, rule_states=["approved"], fail_if_empty=True).execute(context)


def test_fail_if_empty_still_pushes_the_empty_summaries_first(
    sim_c1: str, ti: FakeTI, context: dict[str, Any]
) -> None:
    with pytest.raises(AirflowException):
        operator(sim_c1, user_name="nobody-at-all", fail_if_empty=True, push_summaries=True).execute(context)
    assert ti.pushed("rule_summaries") == []


def test_explicit_study_and_mode_override_the_connection_extra(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    operator(sim_c1, study_id=STUDY.lower(), study_mode="Design").execute(context)
    [request] = simulator.state.requests_to("filteredlist")
    assert f"/studies/{STUDY}/design/" in request.path


def test_missing_study_is_a_clear_value_error(
    simulator: LiveSimulator, make_conn: ConnFactory, context: dict[str, Any]
) -> None:
    conn = make_conn("sim_c1_bare", "clinical_one", simulator.url, login=C1_LOGIN, password=C1_PASSWORD)
    with pytest.raises(ValueError, match="study_id"):
        operator(conn).execute(context)
    assert simulator.state.request_count == 0


def test_bad_filter_value_is_rejected_before_any_request(
    sim_c1: str, simulator: LiveSimulator, context: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="rule_states"):
        operator(sim_c1, rule_states=["published"]).execute(context)
    assert simulator.state.request_count == 0


def test_filters_lists_only_the_given_filters() -> None:
    task = ClinicalOneFilterRulesOperator(task_id="filter", enabled=False, rule_states=["uat"])
    assert task.filters() == {"enabled": False, "rule_states": ["uat"]}


def test_the_hook_is_created_once_and_closed_after_execute(
    sim_c1: str, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    task = operator(sim_c1, rule_states=["approved"])
    assert task.hook is task.hook
    closes: list[bool] = []
    close = task.hook.close
    monkeypatch.setattr(task.hook, "close", lambda: (closes.append(True), close())[1])
    task.execute(context)
    assert closes == [True]
