"""Id validation and normalisation (``clinical_rules_provider.models.ids``)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical_rules_provider.models.ids import (
    MAX_IDS_PER_REQUEST,
    chunked,
    compact_id,
    hyphenated_id,
    normalize_list,
    vault_job_id,
)

COMPACT = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
HYPHENATED = "8E2253D8-E53A-4A46-BAE3-E4952CBE9E5A"
ID_FORMS = "32 hex digits or a hyphenated 36-character UUID"


# --- compact ids (studyId, ruleId, userId) ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        COMPACT,
        COMPACT.lower(),
        HYPHENATED,
        HYPHENATED.lower(),
        "8e2253D8-e53A-4a46-BaE3-e4952cBE9e5a",
    ],
)
def test_compact_id_accepts_both_forms_in_any_case_and_returns_uppercase_compact(value: str) -> None:
    assert compact_id(value, "rule_id") == COMPACT


@pytest.mark.parametrize("value", [COMPACT, COMPACT.lower(), HYPHENATED, HYPHENATED.lower()])
def test_hyphenated_id_accepts_both_forms_in_any_case_and_returns_uppercase_hyphenated(value: str) -> None:
    assert hyphenated_id(value, "form_id") == HYPHENATED


@settings(max_examples=50, deadline=None)
@given(st.uuids(), st.sampled_from(["hex", "str"]), st.booleans())
def test_any_uuid_spelling_normalises_to_the_same_compact_and_hyphenated_forms(
    value: uuid.UUID, spelling: str, upper: bool
) -> None:
    text = value.hex if spelling == "hex" else str(value)
    text = text.upper() if upper else text
    assert compact_id(text, "f") == value.hex.upper()
    assert hyphenated_id(text, "f") == str(value).upper()


BAD_STRINGS = [
    pytest.param("", id="empty"),
    pytest.param(COMPACT[:-1], id="31-hex"),
    pytest.param(COMPACT + "0", id="33-hex"),
    pytest.param(HYPHENATED[:-1], id="35-hyphenated"),
    pytest.param("8E2253D8E53A4A46BAE3E4952CBE9E5G", id="non-hex-G"),
    pytest.param("8E2253D8E53-A4A46-BAE3-E4952CBE9E5A", id="misplaced-hyphen"),
    pytest.param("8E2253D8E53A-4A46-BAE3-E4952CBE9E5A", id="missing-first-hyphen"),
    pytest.param("8E2253D8-E53A-4A46-BAE3-E4952C-BE9E5A", id="extra-hyphen"),
    pytest.param("{8E2253D8-E53A-4A46-BAE3-E4952CBE9E5A}", id="braces"),
    pytest.param(" " + COMPACT, id="leading-space"),
    pytest.param(COMPACT + "\n", id="trailing-newline"),
    pytest.param(COMPACT[:16] + " " + COMPACT[17:], id="inner-space"),
    pytest.param("../x", id="path-traversal"),
    pytest.param("../" + COMPACT[3:], id="path-traversal-32-chars"),
    pytest.param(COMPACT[:30] + "/x", id="slash"),
    pytest.param(COMPACT[:31] + "\u0663", id="arabic-indic-digit"),
    pytest.param(COMPACT[:31] + "\uff21", id="fullwidth-A"),
    pytest.param(COMPACT[:31] + "\u0410", id="cyrillic-A"),
    pytest.param("\uff18" + COMPACT[1:], id="fullwidth-digit"),
    pytest.param(COMPACT[:31] + "\u00b9", id="superscript-one"),
]


@pytest.mark.parametrize("value", BAD_STRINGS)
def test_compact_id_rejects_malformed_strings_naming_the_field_and_accepted_forms(value: str) -> None:
    with pytest.raises(ValueError) as info:
        compact_id(value, "rule_ids[2]")
    message = str(info.value)
    assert message.startswith("rule_ids[2]:")
    assert ID_FORMS in message


@pytest.mark.parametrize("value", BAD_STRINGS)
def test_hyphenated_id_rejects_malformed_strings_naming_the_field(value: str) -> None:
    with pytest.raises(ValueError, match=r"^item_ids\[0\]: .*" + ID_FORMS):
        hyphenated_id(value, "item_ids[0]")


@pytest.mark.parametrize(
    "value",
    [None, 12345, 0x8E2253D8E53A4A46BAE3E4952CBE9E5A, uuid.UUID(COMPACT), COMPACT.encode(), [COMPACT], 1.5],
    ids=["None", "int", "big-int", "UUID-object", "bytes", "list", "float"],
)
def test_compact_id_rejects_non_strings_naming_the_field_and_the_type(value: object) -> None:
    with pytest.raises(ValueError) as info:
        compact_id(value, "study_id")
    message = str(info.value)
    assert message.startswith("study_id:")
    assert type(value).__name__ in message
    assert ID_FORMS in message


def test_invalid_id_message_shows_the_offending_value() -> None:
    with pytest.raises(ValueError, match=r"'\.\./x'"):
        compact_id("../x", "rule_id")


def test_invalid_id_message_truncates_very_long_values() -> None:
    with pytest.raises(ValueError) as info:
        compact_id("A" * 500, "rule_id")
    assert "A" * 100 not in str(info.value)
    assert "..." in str(info.value)


# --- Vault job ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (1046892, 1046892), ("1046892", 1046892), ("007", 7), (10**12, 10**12)],
)
def test_vault_job_id_accepts_positive_ints_and_numeric_strings(value: object, expected: int) -> None:
    result = vault_job_id(value, "job_ids[0]")
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="True"),
        pytest.param(False, id="False"),
        pytest.param(0, id="zero"),
        pytest.param("0", id="zero-string"),
        pytest.param(-5, id="negative"),
        pytest.param("-5", id="negative-string"),
        pytest.param(1.0, id="float"),
        pytest.param(12.5, id="fraction"),
        pytest.param("12a", id="alnum"),
        pytest.param("12.0", id="decimal-string"),
        pytest.param(" 12", id="leading-space"),
        pytest.param("12\n", id="trailing-newline"),
        pytest.param("", id="empty"),
        pytest.param("\u0661\u0662", id="arabic-indic-digits"),
        pytest.param("\uff11\uff12", id="fullwidth-digits"),
        pytest.param("\u00b2", id="superscript-two"),
        pytest.param(None, id="None"),
        pytest.param([12], id="list"),
    ],
)
def test_vault_job_id_rejects_everything_but_positive_integers_naming_the_field(value: object) -> None:
    with pytest.raises(ValueError) as info:
        vault_job_id(value, "job_ids[3]")
    message = str(info.value)
    assert message.startswith("job_ids[3]:")
    assert "positive integer" in message


# --- normalize_list ----------------------------------------------------------------------------


def test_normalize_list_normalises_every_item_and_drops_duplicates_keeping_first_seen_order() -> None:
    b = "938D23FA6B7241CCA41BD627E5DB60DA"
    c = "699EF3745FC545589F186D2198F3C65E"
    values = [b, COMPACT.lower(), HYPHENATED, c, b.lower()]
    assert normalize_list(values, "rule_ids", compact_id) == [b, COMPACT, c]


@pytest.mark.parametrize(
    "values",
    [
        (COMPACT, HYPHENATED),
        iter([COMPACT, HYPHENATED]),
        (v for v in [COMPACT]),
        {COMPACT},
    ],
    ids=["tuple", "iterator", "generator", "set"],
)
def test_normalize_list_accepts_any_iterable(values: object) -> None:
    assert normalize_list(values, "rule_ids", compact_id) == [COMPACT]


@pytest.mark.parametrize("values", [COMPACT, COMPACT.encode()], ids=["str", "bytes"])
def test_normalize_list_refuses_a_bare_string(values: object) -> None:
    with pytest.raises(ValueError, match=r"^rule_ids: expected a non-empty list"):
        normalize_list(values, "rule_ids", compact_id)


@pytest.mark.parametrize("values", [[], (), iter([])], ids=["list", "tuple", "iterator"])
def test_normalize_list_refuses_an_empty_iterable(values: object) -> None:
    with pytest.raises(ValueError, match=r"^rule_ids: expected a non-empty list, got an empty one"):
        normalize_list(values, "rule_ids", compact_id)


@pytest.mark.parametrize("values", [None, 42], ids=["None", "int"])
def test_normalize_list_refuses_non_iterables(values: object) -> None:
    with pytest.raises(ValueError, match=r"^job_ids: expected a non-empty list"):
        normalize_list(values, "job_ids", vault_job_id)


def test_normalize_list_names_the_index_of_the_bad_item() -> None:
    with pytest.raises(ValueError, match=r"^rule_ids\[2\]: 'nope' is not a valid id"):
        normalize_list([COMPACT, HYPHENATED, "nope"], "rule_ids", compact_id)


def test_normalize_list_indexes_refer_to_the_input_position_even_after_duplicates() -> None:
    with pytest.raises(ValueError, match=r"^job_ids\[3\]"):
        normalize_list([1, 1, "2", "x"], "job_ids", vault_job_id)


def test_normalize_list_merges_vault_ids_given_as_int_and_string() -> None:
    assert normalize_list(["5", 5, 7, "07"], "job_ids", vault_job_id) == [5, 7]


# --- chunked -------------------------------------------------------------------------------------


def test_max_ids_per_request_is_500() -> None:
    assert MAX_IDS_PER_REQUEST == 500


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(1, [1]), (499, [499]), (500, [500]), (501, [500, 1]), (1000, [500, 500]), (1201, [500, 500, 201])],
)
def test_chunked_splits_into_request_sized_chunks(count: int, sizes: list[int]) -> None:
    chunks = list(chunked(list(range(count))))
    assert [len(c) for c in chunks] == sizes
    assert [i for c in chunks for i in c] == list(range(count))


def test_chunked_of_an_empty_list_yields_nothing() -> None:
    assert list(chunked([])) == []


def test_chunked_honours_a_custom_size() -> None:
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
