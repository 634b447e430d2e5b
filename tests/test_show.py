"""How validation messages quote a bad value: short whatever its size, depth or repr."""

from __future__ import annotations

from clinical_rules_provider._show import MAX_SHOWN, shown


def test_a_10_mb_string_is_quoted_in_at_most_max_shown_characters() -> None:
    text = shown("x" * 10_000_000)
    assert len(text) <= MAX_SHOWN
    assert text.startswith("'xxx")


def test_a_list_nested_thousands_deep_is_quoted_without_recursing() -> None:
    nested: list[object] = []
    for _ in range(10_000):
        nested = [nested]
    assert shown(nested) == "[[[[...]]]]"


def test_a_value_whose_repr_fails_is_named_by_its_type() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert shown(Broken()).startswith("<Broken")


def test_a_short_value_is_quoted_as_its_repr() -> None:
    assert shown("AllData") == "'AllData'"
    assert shown(7) == "7"
