"""Title globs: fnmatch's meaning, in bounded time whatever the pattern (issue 23, item 13)."""

from __future__ import annotations

import fnmatch
import random
import time

import pytest

from clinical_rules_provider.operators._vault_scope import MAX_PATTERN_LENGTH, compile_glob


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("safety*", "safety listing"),
        ("*listing", "safety listing"),
        ("*ety*list*", "safety listing"),
        ("s?fety*", "safety"),
        ("[st]afety", "safety"),
        ("[!st]afety", "safety"),
        ("[a-c]x", "bx"),
        ("[c-a]x", "bx"),
        ("[!c-a]x", "bx"),
        ("[]]x", "]x"),
        ("[!]]x", "]x"),
        ("[x", "[x"),
        ("a[", "a["),
        ("*", ""),
        ("", ""),
        ("a*b*c", "abc"),
        ("a*b*c", "acb"),
        ("*ab*ba*", "aba"),
        ("a*a", "a"),
        ("?", "\n"),
        ("a.b", "axb"),
        ("[a-c-e]", "-"),
        ("[\\]", "\\"),
        ("[^a]", "^"),
    ],
)
def test_a_glob_means_what_fnmatch_means(pattern: str, name: str) -> None:
    assert (compile_glob(pattern, "title_pattern").match(name) is not None) is fnmatch.fnmatchcase(
        name, pattern
    )


def test_random_globs_agree_with_fnmatch() -> None:
    rnd = random.Random(23)
    for _ in range(20_000):
        pattern = "".join(rnd.choice("ab-]![*?^\\.") for _ in range(rnd.randint(0, 8)))
        name = "".join(rnd.choice("ab-]![^\\.") for _ in range(rnd.randint(0, 8)))
        assert (compile_glob(pattern, "p").match(name) is not None) is fnmatch.fnmatchcase(name, pattern), (
            pattern,
            name,
        )


def test_a_glob_longer_than_the_cap_is_refused_naming_the_field() -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match=rf"^title_pattern: .* at most {MAX_PATTERN_LENGTH}") as caught:
        compile_glob("[" * 40_000, "title_pattern")
    assert time.monotonic() - started < 0.1
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "pattern",
    [
        "[" * MAX_PATTERN_LENGTH,
        "*a" * (MAX_PATTERN_LENGTH // 2),
        "*" + "?" * (MAX_PATTERN_LENGTH - 2) + "b",
        "*a" * (MAX_PATTERN_LENGTH // 2 - 1) + "*b",
        "*" + "a" * (MAX_PATTERN_LENGTH - 3) + "b*",
    ],
)
def test_the_hardest_glob_under_the_cap_matches_a_long_title_in_milliseconds(pattern: str) -> None:
    title = "a" * 100_000
    started = time.monotonic()
    assert (compile_glob(pattern, "title_pattern").match(title) is not None) is (
        pattern == "*a" * (MAX_PATTERN_LENGTH // 2)
    )
    assert time.monotonic() - started < 0.5
