"""Switch a performance mechanism off in this process, to measure what it is worth.

Used by ``ablate.py`` only (``make bench`` never applies these). Each entry patches the
provider in memory so it behaves as if the mechanism had been deleted; the undo function
restores it, so a target can alternate with/without inside one process (same machine
state, same simulator, same connection pool warm-up).

* ``BENCH_AB=name[,name...]``: P2 and P4 alternate "with" and each "without" round-robin.
* ``BENCH_WITHOUT=name``: the mechanism is off for the whole child (P3, P5).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Undo = Callable[[], None]
current = "with"  # the variant being run by :func:`alternate` (targets tag their samples with it)


def _setattr(obj: Any, name: str, value: Any) -> Undo:
    old = getattr(obj, name)
    setattr(obj, name, value)
    return lambda: setattr(obj, name, old)


def without_unsent_reordering() -> Undo:
    """Replies are decoded and parsed as soon as they arrive."""
    from clinical_rules_provider.transport.pool import Lane

    async def written(self: Any) -> None:
        return None

    return _setattr(Lane, "written", written)


class _NoSemaphore:
    async def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None


def without_pool_semaphore() -> Undo:
    """Requests beyond the shared pool wait in httpcore's queue, not in a semaphore."""
    from clinical_rules_provider.transport import pool

    original = pool.acquire

    def acquire(key: Any, make: Any, size: int) -> Any:
        pooled = original(key, make, size)
        pooled.slots = _NoSemaphore()
        return pooled

    return _setattr(pool, "acquire", acquire)


def without_config_cache() -> Undo:
    """Every hook reads and parses its connection itself (no 30 s single-flight cache)."""
    from clinical_rules_provider.hooks import base

    async def shared_config(key: Any, fetch: Callable[[], Any]) -> Any:
        return await fetch()

    return _setattr(base, "_shared_config", shared_config)


def without_json_bodies() -> Undo:
    """Cancel bodies go through httpx's ``json=`` (``json.dumps``) instead of hand-written bytes."""
    import json

    from clinical_rules_provider.clients import vault

    if not hasattr(vault, "cancel_body"):
        return lambda: None

    def cancel_body(job_ids: list[int]) -> bytes:
        # What httpx's json= does: json.dumps(...).encode() of the list of objects.
        return json.dumps([{"job_id": i} for i in job_ids]).encode()

    return _setattr(vault, "cancel_body", cancel_body)


def without_release() -> Undo:
    """Responses keep their stream (and the reference cycle) until the collector runs."""
    from clinical_rules_provider.transport import session

    return _setattr(session, "release", lambda response: response)


def without_caller_thread_parsing() -> Undo:
    """Sync paging parses each page on the blocking-call loop's thread, as it did before."""
    from clinical_rules_provider.hooks import base
    from clinical_rules_provider.transport import blocking

    def _iter_pages(self: Any, pager: Any, prepare: Any) -> Any:
        self.config  # noqa: B018

        async def pages() -> Any:
            async for request, response in self._replies(pager, prepare):
                page = base._parsed(pager, request, response)
                del response
                yield page
                del page

        for page in blocking.iterate(pages()):
            yield from page
            del page

    return _setattr(base.ServiceHook, "_iter_pages", _iter_pages)


MECHANISMS: dict[str, Callable[[], Undo]] = {
    "unsent_reordering": without_unsent_reordering,
    "pool_semaphore": without_pool_semaphore,
    "config_cache": without_config_cache,
    "json_bodies": without_json_bodies,
    "release": without_release,
    "caller_thread_parsing": without_caller_thread_parsing,
}


def ab_variants() -> list[tuple[str, Callable[[], Undo]]]:
    """``[("with", no-op), ("without <name>", patch), ...]`` from ``BENCH_AB``; empty if unset."""
    names = [n.strip() for n in os.environ.get("BENCH_AB", "").split(",") if n.strip()]
    if not names:
        return []
    return [("with", lambda: lambda: None)] + [(f"without {n}", MECHANISMS[n]) for n in names]


def apply_whole_child() -> str:
    """Apply ``BENCH_WITHOUT`` for the whole process; returns its value ("" if unset)."""
    names = [n.strip() for n in os.environ.get("BENCH_WITHOUT", "").split(",") if n.strip()]
    for name in names:
        MECHANISMS[name]()
    return ",".join(names)


def alternate(rounds: int, run: Callable[[], float]) -> dict[str, Any]:
    """Run ``run`` for each ``BENCH_AB`` variant round-robin (rotating who goes first).

    Returns per variant the samples, their median, min and max, and the median ratio
    to "with" (> 1: slower without the mechanism).
    """
    import statistics

    global current
    variants = ab_variants()
    samples: dict[str, list[float]] = {name: [] for name, _ in variants}
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for name, switch_off in order:
            undo, current = switch_off(), name
            try:
                samples[name].append(run())
            finally:
                undo()
                current = "with"
    base = statistics.median(samples["with"])
    return {
        name: {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "ratio_to_with": statistics.median(values) / base if base else None,
            "samples": values,
        }
        for name, values in samples.items()
    }
