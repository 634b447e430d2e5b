"""Hostile page orders shared by the pager tests: servers that never stop offering pages.

Each behaviour maps ``(page number, full list, page size)`` to the rows a broken or
hostile service returns for that page, always a *full* page, so only the pagers' own
"nothing new on any earlier page" rule can end the walk.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

PageOrder = Callable[[int, list[Any], int], list[Any]]


def alternating(page: int, rows: list[Any], size: int) -> list[Any]:
    """Page A, page B, page A, page B, ...: each repeats the page before the previous one."""
    start = (page % 2) * size
    return rows[start : start + size]


def rotating(page: int, rows: list[Any], size: int) -> list[Any]:
    """The first page, rotated by one more row each time (the first row always changes)."""
    first = rows[:size]
    shift = page % size
    return first[shift:] + first[:shift]


def shuffled(page: int, rows: list[Any], size: int) -> list[Any]:
    """The first ``2 * size`` rows, a random full page of them each time."""
    return random.Random(page).sample(rows[: 2 * size], size)


ORDERS: dict[str, PageOrder] = {
    "alternating": alternating,
    "rotating": rotating,
    "shuffled": shuffled,
}

# How many pages of distinct rows each order can ever show: a correct pager yields at most
# those rows, once each, and all of them when the order is not random.
DISTINCT = {"alternating": 2, "rotating": 1, "shuffled": 2}
RANDOM = {"shuffled"}


def check_walk(name: str, ids: list[Any], all_ids: list[Any], size: int, calls: int) -> None:
    """Each id once, only ids the order can show (all of them unless random), few requests."""
    can_show = all_ids[: DISTINCT[name] * size]
    assert len(ids) == len(set(ids)), "an item was yielded twice"
    assert set(ids) <= set(can_show)
    if name in RANDOM:
        assert calls <= 10, "the pager kept asking for pages that bring nothing new"
    else:
        assert sorted(ids) == sorted(can_show)
        assert calls <= DISTINCT[name] + 1


def rule_row(n: int) -> dict[str, Any]:
    """A filteredlist rule row."""
    return {"ruleId": f"{n:032X}", "ruleName": f"rule {n}", "ruleState": "Published"}


def monitor_row(n: int) -> dict[str, Any]:
    """A Vault job-monitor row."""
    return {"job_id": n, "title": f"job {n}", "status": "RUNNING", "created_date": "2021-02-03T04:01:29.000Z"}
