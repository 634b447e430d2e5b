"""What runs in the triggerer for :class:`ClinicalOneRuleJobEventTrigger`: the watch's state
(tracker, rules, watermark) and the study's polls, alone or shared (Airflow 3.3+).

Both run the one loop (:mod:`~clinical_rules_provider.triggers._loop`) over
:meth:`RuleSource.poll`; each watcher keeps its own tracker and rules. The shared stream never
raises (that would end every subscriber). See docs/guides/event-driven.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinical_rules_provider.models.refs import RuleIds
from clinical_rules_provider.triggers._job_events import RuleJobEventTracker, id_or_none
from clinical_rules_provider.triggers._loop import Failure, judge, poll_cycles
from clinical_rules_provider.triggers._study_poll import PollResult, StudyPoller

if TYPE_CHECKING:
    from clinical_rules_provider.models.clinical_one import RuleJob
    from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger

log = logging.getLogger(__name__)

WATERMARK_KEY = "clinical_rules.rule_job_watch"
MAX_WARNED_IDS = 100
WHAT = "rule jobs"
MEMORY_ONLY = (
    "the watch keeps its memory in the triggerer only: a job that finishes during a restart is missed"
)


async def open_watermark(trigger: ClinicalOneRuleJobEventTrigger) -> tuple[Any, Any]:
    """The asset state accessor that keeps this watch's watermark and what it holds
    (``None`` when unreadable); ``(None, None)`` without a usable store.

    Public API of ``AssetStateStoreAccessors`` only: with several assets (3.3.2 cannot list
    them) the watermark lives in the one named by ``watermark_asset``, else in memory only.
    """
    store = getattr(trigger, "asset_state_store", None)
    if store is None:
        return None, None
    if trigger.watermark_asset is not None:
        from airflow.sdk import Asset

        try:
            store = store[Asset.ref(name=trigger.watermark_asset)]
        except (KeyError, TypeError) as exc:
            trigger.log.warning(
                "watermark_asset %r is not an asset this watcher feeds (%s); %s",
                trigger.watermark_asset,
                exc,
                MEMORY_ONLY,
            )
            return None, None
    try:
        return store, await store.aget(WATERMARK_KEY)
    except ValueError as exc:  # Airflow's own word for "several assets: say which"
        trigger.log.warning(
            "This watcher feeds several assets (%s); name the one that keeps its watermark with "
            "watermark_asset=. Until then %s",
            exc,
            MEMORY_ONLY,
        )
        return None, None
    except Exception as exc:  # the watch still runs; the next checkpoint writes a fresh one
        trigger.log.warning("Could not read the watch's watermark: %s", exc)
        return store, None


@dataclass
class RuleSource:
    """The rules a poll reads: fixed ids, or a ``list_rules`` listing refreshed on schedule.

    A malformed id in a listing is skipped with a warning (at most :data:`MAX_WARNED_IDS`).
    """

    poller: StudyPoller
    fixed: RuleIds | None
    filters: dict[str, Any]
    refresh: float
    rules: RuleIds | None = None
    listed_at: float = -math.inf
    warned: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls, trigger: ClinicalOneRuleJobEventTrigger, fixed: RuleIds | None = None, filters: Any = None
    ) -> RuleSource:
        """The source of one watch, or of the study's shared poll (jobs with history: every recent job)."""
        conn, concurrency = trigger.clinical_one_conn_id, trigger.max_concurrency
        poller = StudyPoller(conn, trigger.study, trigger.endpoint, history=True, max_concurrency=concurrency)
        return cls(poller, fixed, filters or {}, trigger.rule_refresh_interval)

    async def now(self) -> RuleIds:
        """The rules to poll now (listed again when the listing is due or went stale)."""
        if self.fixed is not None:
            return self.fixed
        now = asyncio.get_running_loop().time()
        if self.rules is None or now - self.listed_at >= self.refresh:
            self.rules, self.listed_at = await self._list(), now
        return self.rules

    async def poll(self) -> PollResult:
        """One cycle: the rules (listed when due), and their jobs."""
        rules = await self.now()
        return await self.poller.poll(rules) if rules else PollResult()

    def stale(self) -> None:
        """List again next time (after an error that did not pass: a filter may have gone stale)."""
        self.listed_at = -math.inf

    async def _list(self) -> RuleIds:
        hook = await self.poller.current_hook()
        ids: set[str] = set()
        study = self.poller.study
        async for rule in hook.alist_rules(study.study_id, study.mode, **self.filters):
            rule_id = id_or_none(rule.rule_id, "ruleId")
            if rule_id is not None:
                ids.add(rule_id)
            elif len(self.warned) < MAX_WARNED_IDS and str(rule.rule_id) not in self.warned:
                self.warned.add(str(rule.rule_id))
                log.warning(
                    "Skipped a listed rule with a malformed id %r; the watch goes on", str(rule.rule_id)[:100]
                )
        return RuleIds(sorted(ids))  # compact ids (id_or_none): trusted as they are


def watch_cycles(trigger: ClinicalOneRuleJobEventTrigger, source: RuleSource) -> poll_cycles[PollResult]:
    """The one poll loop over ``source``'s rules, at the trigger's interval."""
    return poll_cycles(source.poll, what=WHAT, interval=lambda: trigger.poll_interval, log=trigger.log)


async def study_stream(trigger: ClinicalOneRuleJobEventTrigger) -> AsyncIterator[PollResult | Failure]:
    """The shared poll of one (connection, study, mode, endpoint, cadence): yields forever."""
    source = RuleSource.of(trigger)
    try:
        async for answer in watch_cycles(trigger, source):
            if isinstance(answer, Failure) and not answer.transient:
                source.stale()
            yield answer
    finally:
        await source.poller.aclose()


@dataclass
class WatchState:
    """One watcher's state in the triggerer: its tracker, its rules, its watermark."""

    trigger: ClinicalOneRuleJobEventTrigger
    tracker: RuleJobEventTracker
    store: Any
    source: RuleSource
    pending: dict[str, Any] | None = None
    written: dict[str, Any] | None = None

    @classmethod
    async def begin(cls, trigger: ClinicalOneRuleJobEventTrigger) -> WatchState:
        """Resume from the stored watermark (3.3+), or begin fresh: the first reply is the
        baseline, stored as soon as it is recorded (see :meth:`take`)."""
        store, stored = await open_watermark(trigger)
        tracker = RuleJobEventTracker.restore(stored)
        study = f"study {trigger.study_id} ({trigger.study_mode})"
        if tracker.began is None:
            trigger.log.info("Watching rule jobs of %s: its first reply is the baseline", study)
        else:
            trigger.log.info("Resuming rule jobs of %s (service jobs after %s)", study, tracker.began)
        return cls(trigger, tracker, store, RuleSource.of(trigger, trigger.rules, trigger.rule_filter))

    async def take(self, answer: PollResult | Failure) -> list[tuple[str, RuleJob]]:
        """One answer (this watcher's own poll, or the study's shared poll filtered to this
        watcher's rules); the jobs that fire now."""
        if isinstance(answer, Failure):
            return self._failed(answer)
        try:
            mine = answer.rules if self.trigger.rule_filter == {} else await self.source.now()
            for rule_id in sorted(answer.failed.keys() & set(mine)):
                self.trigger.log.error(
                    "Rule %s was not polled (will poll again): %s", rule_id, answer.failed[rule_id]
                )
            fresh = self.tracker.began is None
            fired = self.tracker.update({r: answer.jobs[r] for r in mine if r in answer.jobs}, requested=mine)
            if fresh and self.tracker.began is not None:
                self.fired_up_to_here()  # the baseline fires nothing: store it now, so a
                await self.checkpoint()  # restart from here on loses no job that finishes
            return fired
        except Exception as exc:
            return self._failed(judge(exc, WHAT, self.trigger.log))

    def _failed(self, failure: Failure) -> list[tuple[str, RuleJob]]:
        """The policy for a watch: log it (a warning when transient), list again, poll again."""
        level = logging.WARNING if failure.transient else logging.ERROR
        self.trigger.log.log(level, "Watching rule jobs failed (will poll again): %s", failure.message)
        if not failure.transient:
            self.source.stale()
        return []

    def fired_up_to_here(self) -> None:
        """The events of this cycle were handed to the triggerer: the next checkpoint covers them."""
        if self.store is not None:
            self.pending = self.tracker.snapshot()

    async def checkpoint(self) -> None:
        """Store the watermark of the previous cycle (one cycle late: at least once)."""
        if self.store is None or self.pending is None or self.pending == self.written:
            return
        try:
            await self.store.aset(WATERMARK_KEY, self.pending)
        except Exception as exc:
            self.trigger.log.warning("Could not store the watch's watermark: %s", exc)
            return
        self.written = self.pending

    async def aclose(self) -> None:
        """Close the watch's poller and its hook."""
        await self.source.poller.aclose()
