"""One shared poll per (connection, study, mode) for the rule-job triggers of one event loop:
1000 deferred waits cost what the union of their rules costs, not 1000 requests per cycle,
and each trigger judges its own jobs. The rules, and why deferred waits stay here on Airflow
3.3: docs/running-at-scale.md, "Coalesced polling in the triggerer".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from clinical_rules_provider._state import POLLS
from clinical_rules_provider.models.enums import StudyMode
from clinical_rules_provider.models.refs import CompactId, PollEndpoint, StudyRef
from clinical_rules_provider.triggers._loop import Failure, judge, poll_cycles
from clinical_rules_provider.triggers._study_poll import JobsByRule, PollResult, StudyPoller

if TYPE_CHECKING:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

log = logging.getLogger(__name__)

# Poll tasks started cold wait this long (at most one interval) so triggers that resume
# together (a triggerer start, a burst of deferrals) share the first poll too.
JOIN_WINDOW_SECONDS = 0.05


def coalescing_enabled() -> bool:
    """``[clinical_rules] coalesce_trigger_polls`` (default True); True when Airflow's config is unreadable."""
    try:
        from airflow.configuration import conf

        return bool(conf.getboolean("clinical_rules", "coalesce_trigger_polls", fallback=True))
    except Exception:  # config unreadable: keep the default
        return True


class PollKey(NamedTuple):
    """What decides the requests of a poll (validated by the trigger that subscribes)."""

    conn_id: str
    study_id: CompactId
    mode: str  # the wire value
    poll_endpoint: PollEndpoint
    history: bool
    max_concurrency: int | None


@dataclass(eq=False)  # hashed by identity: a seat in its poll's set of subscribers
class Subscription:
    """One trigger's seat in a shared poll: its rules, interval, deadline and the answers it took."""

    poll: SharedPoll
    rule_ids: frozenset[str]
    interval: float
    end_time: float
    first_generation: int
    taken: int = 0
    active: bool = True

    async def next_jobs(self, grace: float) -> JobsByRule | Failure:
        """Jobs of (at least) this subscriber's rules from a poll newer than the last one taken,
        or the :class:`Failure` of that poll (the connection's, or one of this subscriber's rules).

        Waits at most until ``end_time`` plus ``grace`` (one request timeout), like a poll of
        its own would; past that the answer is a transient :class:`Failure`.
        """
        if not self.active:
            raise RuntimeError("this subscription has left its shared poll")
        wanted = max(self.first_generation, self.taken + 1)
        limit = time.monotonic() + max(self.end_time - time.time(), 0.0) + grace
        while self.poll.completed < wanted:
            left = limit - time.monotonic()
            if left <= 0:
                return Failure("the wait's deadline passed before the shared poll answered", transient=True)
            self.poll.ensure_running()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.poll.answered), left)
        self.taken = self.poll.completed
        answer = self.poll.answer
        if isinstance(answer, Failure):
            return answer
        for rule_id in sorted(self.rule_ids):
            if rule_id in answer.failed:  # one of this subscriber's rules drew an error of its own
                return judge(answer.failed[rule_id], "rule job(s)", log)
        return {rule_id: answer.jobs.get(rule_id, []) for rule_id in self.rule_ids}

    def leave(self) -> None:
        """Give up the seat (idempotent); the last one out stops the poll."""
        if self.active:
            self.active = False
            self.poll.remove(self)


class SharedPoll:
    """The poll task of one key in one event loop, and the newest answer it got."""

    def __init__(self, key: PollKey, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.subscribers: set[Subscription] = set()
        self.started = 0  # polls started
        self.completed = 0  # polls answered (or failed)
        self.answer: PollResult | Failure = Failure("the shared poll has not answered", transient=True)
        self.answered: asyncio.Future[None] = loop.create_future()  # resolved by the next answer
        self._reschedule = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.hook: ClinicalOneHook | None = None  # the poll's own hook (its clock skew reading)

    def add(self, rule_ids: Iterable[str], interval: float, end_time: float) -> Subscription:
        """Subscribe a trigger to the next poll on; start the poll if it is not running."""
        sub = Subscription(self, frozenset(rule_ids), interval, end_time, first_generation=self.started + 1)
        if self.subscribers and interval < self.interval():
            self._reschedule.set()  # a faster subscriber: the sleeping poll recomputes its wake-up
        self.subscribers.add(sub)
        self.ensure_running()
        return sub

    def remove(self, sub: Subscription) -> None:
        """Unsubscribe a trigger; the last one out stops the poll and unregisters it."""
        self.subscribers.discard(sub)
        if self.subscribers:
            return
        POLLS.pop((self.loop, self.key), self)
        if self._task is not None and not self._task.done():
            with contextlib.suppress(RuntimeError):  # the loop is already closed: the task died with it
                self._task.cancel()
        self._task = None

    def interval(self) -> float:
        """Seconds between polls: the shortest interval any subscriber asked for."""
        return min((s.interval for s in self.subscribers), default=1.0)

    def ensure_running(self) -> None:
        """(Re)start the poll task if it is not running (e.g. it was cancelled from outside)."""
        if self._task is None or self._task.done():
            # An empty context: the task must not inherit the first subscriber's log fields;
            # it serves every subscriber alike.
            self._task = contextvars.Context().run(self.loop.create_task, self._run())

    async def _run(self) -> None:
        key = self.key
        study = StudyRef(key.study_id, StudyMode(key.mode))  # checked by the subscribers
        poller = StudyPoller(key.conn_id, study, key.poll_endpoint, key.history, key.max_concurrency)

        async def cycle() -> PollResult:
            self.started += 1
            rules = sorted(set().union(*(s.rule_ids for s in self.subscribers)))
            hook = self.hook = await poller.current_hook()  # (its clock skew reading)
            # The latest deadline bounds the requests; each subscriber waits only until its own.
            latest_end = max((s.end_time for s in self.subscribers), default=time.time())
            with hook.time_limit(latest_end - time.time()):
                return await poller.poll(rules)

        cycles = poll_cycles(
            cycle,
            what="rule job(s)",
            interval=self.interval,
            log=log,
            first_delay=min(JOIN_WINDOW_SECONDS, self.interval()),
            wake=self._reschedule,
        )
        try:
            async for answer in cycles:  # a Failure is the connection's: everyone waiting gets it
                self.answer, self.completed = answer, self.started
                answered, self.answered = self.answered, self.loop.create_future()
                answered.set_result(None)
                if not self.subscribers:
                    return
        finally:
            await poller.aclose()


_LOCK = threading.Lock()


def subscribe(key: PollKey, rule_ids: Iterable[str], interval: float, end_time: float) -> Subscription:
    """Join (or start) the shared poll of ``key`` in the running event loop (the registry is
    :data:`clinical_rules_provider._state.POLLS`, keyed by (loop, key))."""
    loop = asyncio.get_running_loop()
    with _LOCK:  # loops in other threads use the same registry
        POLLS.drop(lambda entry: entry[0].is_closed())  # their polls would keep the closed loops alive
        poll: SharedPoll | None = POLLS.get((loop, key))
        if poll is None:
            poll = POLLS.put((loop, key), SharedPoll(key, loop))
    return poll.add(rule_ids, interval, end_time)


def active_polls(loop: asyncio.AbstractEventLoop | None = None) -> dict[PollKey, SharedPoll]:
    """The shared polls of ``loop`` (default: the running one), for tests and diagnostics."""
    loop = loop or asyncio.get_running_loop()
    return {key: poll for (owner, key), poll in POLLS.snapshot().items() if owner is loop}


__all__ = ["PollKey", "SharedPoll", "Subscription", "active_polls", "coalescing_enabled", "subscribe"]
