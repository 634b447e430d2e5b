"""How a task reads ids given as one string (what a rendered template gives it)."""

from __future__ import annotations

import pytest

from clinical_rules_provider.task_helpers import as_id_list

RULE = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
OTHER = "704A7178-208D-44BC-9AD5-2556B18933C3"


def test_one_id_string_is_a_list_of_one() -> None:
    assert as_id_list(f"  {RULE} ", "rule_ids") == [RULE]


def test_comma_separated_ids_are_split_and_stripped() -> None:
    assert as_id_list(f"{RULE}, {OTHER},", "rule_ids") == [RULE, OTHER]


def test_a_json_list_string_is_read_as_json() -> None:
    assert as_id_list(f'["{RULE}", "{OTHER}"]', "rule_ids") == [RULE, OTHER]
    assert as_id_list("[1043341, 1046892]", "job_ids") == [1043341, 1046892]


def test_a_rendered_python_list_is_read_as_a_literal() -> None:
    assert as_id_list(str([RULE, OTHER]), "rule_ids") == [RULE, OTHER]


def test_one_int_job_id_is_a_list_of_one() -> None:
    assert as_id_list(1043341, "job_ids") == [1043341]


def test_lists_and_none_pass_through_unchanged() -> None:
    ids = [RULE]
    assert as_id_list(ids, "rule_ids") is ids
    assert as_id_list(None, "job_ids") is None


def test_a_bracketed_string_that_is_no_list_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^job_ids: .*expected one id, comma-separated ids or a list"):
        as_id_list("[1043341", "job_ids")
    with pytest.raises(ValueError, match=r"^rule_ids: "):
        as_id_list("[__import__('os')]", "rule_ids")


@pytest.mark.parametrize("text", ["['A,B']", '["A]"]', "[1 2]", "[1,,]", "[,]"])
def test_a_list_string_that_is_no_flat_list_of_ids_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^rule_ids: .*expected one id, comma-separated ids or a list"):
        as_id_list(text, "rule_ids")
