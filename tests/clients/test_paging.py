"""What makes the pagers end (``clients/_paging.py``): ids seen over every page, and a bound."""

from __future__ import annotations

import pytest

from clinical_rules_provider.clients import _paging
from clinical_rules_provider.clients._paging import SeenIds
from clinical_rules_provider.exceptions import ClinicalOneAPIError, VaultAPIError


def test_fresh_keeps_new_items_in_page_order_once_each() -> None:
    seen: SeenIds[int] = SeenIds("list_rules", ClinicalOneAPIError)
    assert seen.fresh([3, 1, 3], lambda i: i) == [3, 1]
    assert seen.fresh([1, 2], lambda i: i) == [2]
    assert len(seen) == 3


def test_exactly_the_maximum_of_distinct_items_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_paging, "MAX_DISTINCT_ITEMS", 3)
    seen: SeenIds[int] = SeenIds("list_rules", ClinicalOneAPIError)
    assert seen.fresh([1, 2, 3], lambda i: i) == [1, 2, 3]


def test_one_more_distinct_item_than_the_maximum_is_the_given_error_naming_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_paging, "MAX_DISTINCT_ITEMS", 3)
    seen: SeenIds[int] = SeenIds("list_job_monitors", VaultAPIError)
    with pytest.raises(VaultAPIError) as info:
        seen.fresh([1, 2, 3, 4], lambda i: i)
    assert info.value.message == (
        "list_job_monitors: the service paged out more than 3 distinct items; stopping "
        "(it looks like it never ends)"
    )
