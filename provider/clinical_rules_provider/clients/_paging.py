"""What makes both pagers (Clinical One ``filteredlist``, Vault job monitors) always end.

See docs/inferences.md ("paging termination", "job-monitor paging termination").
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from clinical_rules_provider.exceptions import ClinicalRulesError

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

# No study has that many rules, no Vault that many unfinished jobs: a broken or hostile service.
MAX_DISTINCT_ITEMS = 250_000


def fresh_items(
    seen: set[K], items: Iterable[T], key: Callable[[T], K], endpoint: str, error: type[ClinicalRulesError]
) -> list[T]:
    """The items whose id is not in ``seen`` (a pager's ids over every page), in page order, each
    once; adds them to ``seen``.

    A page bringing nothing new ends paging, in whatever order the service repeats its pages;
    a service inventing ids without end is stopped at :data:`MAX_DISTINCT_ITEMS`, which also
    bounds the memory ``seen`` takes.
    """
    new = []
    for item in items:
        ident = key(item)
        if ident not in seen:
            seen.add(ident)
            new.append(item)
    if len(seen) > MAX_DISTINCT_ITEMS:
        raise error(
            f"{endpoint}: the service paged out more than {MAX_DISTINCT_ITEMS} distinct items; stopping "
            "(it looks like it never ends)"
        )
    return new


def paging_done(offset: int, count: int, page_size: int, total: int | None, has_more: bool | None) -> bool:
    """Whether a pager has read everything after a page of ``count`` items ending at ``offset``.

    A given total decides first, then ``hasMore``: a server may cap its pages below the
    requested size, so a short page ends paging only when neither is given.
    """
    if total is not None:
        return offset >= total
    if has_more is not None:
        return not has_more
    return count < page_size
