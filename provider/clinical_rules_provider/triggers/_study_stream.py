"""What runs in the triggerer for :class:`ClinicalOneRuleJobEventTrigger`: the watch's state
(tracker, rules, watermark) and the study's shared poll.

**The shared poll (Airflow 3.3+, ``job_status``).** :func:`study_stream` lists every rule of
the study (again every ``rule_refresh_interval``) and reads their jobs in bulk each cycle:
ceil(rules / 500) requests, however many watchers subscribe. It never raises (a raise would
end every subscriber): each cycle broadcasts either the jobs, with the rules that drew an
error of their own (:class:`~clinical_rules_provider.triggers._study_poll.StudyPoller`), or
the error that belongs to the connection. Each watcher keeps its own tracker and filters the
broadcast to its rules, so one watcher's memory, rules or failures never touch another's.

**The watermark (Airflow 3.3+).** The tracker's snapshot is kept in the asset state store
(``asset_state_store``, through its public API only: ``aget``/``aset`` when the watcher feeds
one asset, subscripting by the ``watermark_asset`` the user names when it feeds several), read
back when the watch starts, written at once when none was stored (so a restart during the
first cycle loses nothing), then one cycle after the events it covers were handed to the
triggerer: see the module docs of the trigger.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinical_rules_provider.exceptions import ClinicalRulesError, TransientServiceError
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.triggers._job_events import RuleJobEventTracker, decode_watermark, id_or_none
from clinical_rules_provider.triggers._study_poll import PollResult, StudyPoller

if TYPE_CHECKING:
    from clinical_rules_provider.models.clinical_one import RuleJob
    from clinical_rules_provider.triggers.rule_job_event import ClinicalOneRuleJobEventTrigger

log = logging.getLogger(__name__)

WATERMARK_KEY = "clinical_rules.rule_job_watch"
MAX_WARNED_IDS = 100


async def open_watermark(trigger: ClinicalOneRuleJobEventTrigger) -> tuple[Any, Any, bool]:
    """The asset state accessor that keeps this watch's watermark, what it holds, and whether
    that could be read.

    Public API of ``AssetStateStoreAccessors`` only. One asset: the accessors themselves
    (``aget``/``aset``). Several assets (identical watchers of several assets share one
    trigger): 3.3.2 offers no public way to list them, so the watermark lives in the asset the
    user names (``watermark_asset``), or, with none named, in the triggerer's memory only
    (one warning: at most once across restarts). ``(None, None, False)`` without a store.
    """
    accessors = getattr(trigger, "asset_state_store", None)
    if accessors is None:
        return None, None, False
    store = accessors
    if trigger.watermark_asset is not None:
        from airflow.sdk import Asset

        try:
            store = accessors[Asset.ref(name=trigger.watermark_asset)]
        except (KeyError, TypeError) as exc:
            trigger.log.warning(
                "watermark_asset %r is not an asset this watcher feeds (%s); the watch keeps its "
                "memory in the triggerer only: a job that finishes during a restart is missed",
                trigger.watermark_asset,
                exc,
            )
            return None, None, False
    try:
        return store, await store.aget(WATERMARK_KEY), True
    except ValueError as exc:  # Airflow's own word for "several assets: say which"
        trigger.log.warning(
            "This watcher feeds several assets (%s); name the one that keeps its watermark with "
            "watermark_asset=. Until then the watch keeps its memory in the triggerer only: a job "
            "that finishes during a restart is missed",
            exc,
        )
        return None, None, False
    except Exception as exc:  # the watch still runs; the next checkpoint writes a fresh one
        trigger.log.warning("Could not read the watch's watermark: %s", exc)
        return store, None, False


def poller_for(trigger: ClinicalOneRuleJobEventTrigger) -> StudyPoller:
    """The poller of one watch, or of the study's shared poll (jobs with history: every recent job)."""
    return StudyPoller(
        trigger.clinical_one_conn_id,
        trigger.study_id,
        trigger.study_mode,
        trigger.poll_endpoint,
        history=True,
        max_concurrency=trigger.max_concurrency,
    )


async def list_rule_ids(poller: StudyPoller, filters: dict[str, Any], warned: set[str]) -> list[str]:
    """The compact ids of the rules ``filters`` list; a malformed id is skipped with a warning."""
    hook = await poller.current_hook()
    ids: set[str] = set()
    async for rule in hook.alist_rules(poller.study_id, poller.study_mode, **filters):
        rule_id = id_or_none(rule.rule_id, "ruleId")
        if rule_id is not None:
            ids.add(rule_id)
        elif len(warned) < MAX_WARNED_IDS and str(rule.rule_id) not in warned:
            warned.add(str(rule.rule_id))
            log.warning(
                "Skipped a listed rule with a malformed id %r; the watch goes on", str(rule.rule_id)[:100]
            )
    return sorted(ids)


async def study_stream(trigger: ClinicalOneRuleJobEventTrigger) -> AsyncIterator[dict[str, Any]]:
    """The shared poll of one (connection, study, mode, endpoint, cadence): yields forever."""
    poller = poller_for(trigger)
    loop = asyncio.get_running_loop()
    rules: list[str] | None = None
    listed_at = -math.inf
    warned: set[str] = set()
    try:
        while True:
            raw: dict[str, Any]
            try:
                if rules is None or loop.time() - listed_at >= trigger.rule_refresh_interval:
                    rules, listed_at = await list_rule_ids(poller, {}, warned), loop.time()
                raw = {"rules": rules, "result": await poller.poll(rules) if rules else PollResult()}
            except TransientServiceError as exc:
                raw = {"error": str(exc), "transient": True}
            except Exception as exc:  # the connection's (or a bug): every watcher hears of it
                rules = None  # list again next time
                raw = {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "transient": False}
            yield raw
            await asyncio.sleep(trigger.poll_interval)
    finally:
        await poller.aclose()


@dataclass
class WatchState:
    """One watcher's state in the triggerer: its tracker, its rules, its watermark."""

    trigger: ClinicalOneRuleJobEventTrigger
    tracker: RuleJobEventTracker
    store: Any
    poller: StudyPoller
    rules: list[str] | None = None
    listed_at: float = -math.inf
    pending: dict[str, Any] | None = None
    written: dict[str, Any] | None = None
    warned: set[str] = field(default_factory=set)

    @classmethod
    async def begin(cls, trigger: ClinicalOneRuleJobEventTrigger) -> WatchState:
        """Resume from the stored watermark (3.3+), or begin now (and store that at once)."""
        store, stored, read = await open_watermark(trigger)
        tracker = RuleJobEventTracker.restore(stored, utc_now())
        found = decode_watermark(stored) is not None
        verb = "Resuming" if found else "Watching"
        trigger.log.info(
            "%s rule jobs of study %s (%s) from %s", verb, trigger.study_id, trigger.study_mode, tracker.began
        )
        state = cls(trigger, tracker, store, poller_for(trigger))
        if read and not found:
            state.pending = tracker.snapshot()  # nothing fired yet: safe to store before the first poll
            await state.checkpoint()
        return state

    async def rules_now(self) -> list[str]:
        """The watched rules: the given ids, or the filter's listing (refreshed on schedule)."""
        trigger = self.trigger
        if trigger.rule_ids is not None:
            return trigger.rule_ids
        now = asyncio.get_running_loop().time()
        if self.rules is None or now - self.listed_at >= trigger.rule_refresh_interval:
            self.rules = await list_rule_ids(self.poller, trigger.rule_filter or {}, self.warned)
            self.listed_at = now
        return self.rules

    async def poll_alone(self) -> list[tuple[str, RuleJob]]:
        """One poll of this watcher's own rules; the jobs that fire."""
        try:
            rules = await self.rules_now()
            result = await self.poller.poll(rules) if rules else PollResult()
            return self._judge(result, rules, result.jobs)
        except Exception as exc:
            self._log_error(exc, transient=isinstance(exc, TransientServiceError))
            return []

    async def take(self, raw: dict[str, Any]) -> list[tuple[str, RuleJob]]:
        """One broadcast of the shared poll, filtered to this watcher's rules; the jobs that fire."""
        if "error" in raw:
            level = logging.WARNING if raw.get("transient") else logging.ERROR
            self.trigger.log.log(level, "The study's shared poll failed (will poll again): %s", raw["error"])
            return []
        try:
            rules = raw["rules"] if self.trigger.rule_filter == {} else await self.rules_now()
            result: PollResult = raw["result"]
            return self._judge(result, rules, {r: result.jobs[r] for r in rules if r in result.jobs})
        except Exception as exc:
            self._log_error(exc, transient=isinstance(exc, TransientServiceError))
            return []

    def _judge(
        self, result: PollResult, rules: list[str], jobs: dict[str, list[RuleJob]]
    ) -> list[tuple[str, RuleJob]]:
        for rule_id in sorted(result.failed.keys() & set(rules)):
            self.trigger.log.error(
                "Rule %s was not polled (will poll again): %s", rule_id, result.failed[rule_id]
            )
        return self.tracker.update(jobs, requested=rules)

    def _log_error(self, exc: Exception, *, transient: bool) -> None:
        if transient:
            self.trigger.log.warning("Transient error while watching rule jobs (will poll again): %s", exc)
            return
        self.listed_at = -math.inf  # list the rules again next time (a filter may have gone stale)
        if isinstance(exc, ClinicalRulesError):
            self.trigger.log.error("Error while watching rule jobs (will poll again): %s", exc)
        else:  # a bug or bad settings: log it, keep watching, never crash the triggerer
            self.trigger.log.exception("Unexpected error while watching rule jobs (will poll again)")

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
        await self.poller.aclose()
