"""docs/contributing-transport.md stays a true map of hooks/ and transport/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provider" / "clinical_rules_provider"
PAGE = ROOT / "docs" / "contributing-transport.md"


def _modules() -> list[str]:
    return sorted(
        str(path.relative_to(PACKAGE))
        for folder in ("hooks", "transport")
        for path in (PACKAGE / folder).glob("*.py")
    )


@pytest.mark.parametrize("module", _modules())
def test_every_module_of_hooks_and_transport_has_a_row_on_the_page(module: str) -> None:
    assert f"| `{module}` |" in PAGE.read_text(), f"{module} is missing from {PAGE.name}'s module table"


def test_every_test_file_the_page_names_exists() -> None:
    named = set(re.findall(r"`(tests/[\w/]+\.py)`", PAGE.read_text()))
    assert named, "the page names no test file"
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


def test_every_source_file_the_page_names_exists() -> None:
    named = set(re.findall(r"`((?:hooks|transport|clients|models)/\w+\.py)`", PAGE.read_text()))
    missing = sorted(name for name in named if not (PACKAGE / name).is_file())
    assert named and missing == []
