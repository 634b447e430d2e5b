"""Deferrable wait for Clinical One rule jobs (used by the sensor and the publish operator)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from clinical_rules_provider.hooks.base import ServiceHook
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.job_watch import RuleJobWatch, WatchOutcome
from clinical_rules_provider.models.times import as_aware_datetime
from clinical_rules_provider.triggers import coalesced_poll
from clinical_rules_provider.triggers._polling import JobPollingTrigger


class ClinicalOneRuleJobTrigger(JobPollingTrigger):
    """Polls the rules' latest jobs until every relevant job is terminal or ``end_time`` passes.

    Events as described in :class:`JobPollingTrigger`. ``end_time`` is an absolute epoch
    timestamp, so a triggerer restart does not extend the deadline. Triggers of one
    triggerer that watch the same connection, study and mode share one poll per cycle
    (:mod:`~clinical_rules_provider.triggers.coalesced_poll`); each still judges its own jobs.
    """

    noun = "rule job(s)"

    def __init__(
        self,
        *,
        study_id: str,
        study_mode: str,
        rule_ids: list[str],
        end_time: float,
        started_after: str | None = None,
        job_ids: list[str] | None = None,
        failure_statuses: list[str] | None = None,
        poll_interval: float = 30.0,
        poll_endpoint: str = "rerun_history",
        clinical_one_conn_id: str = ClinicalOneHook.default_conn_name,
        max_concurrency: int | None = None,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__()
        self.study_id = study_id
        self.study_mode = study_mode
        self.rule_ids = list(rule_ids)
        self.end_time = float(end_time)
        self.started_after = started_after
        self.job_ids = list(job_ids) if job_ids is not None else None
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.poll_interval = float(poll_interval)
        self.poll_endpoint = poll_endpoint
        self.clinical_one_conn_id = clinical_one_conn_id
        self.max_concurrency = max_concurrency
        self.cancel_on_kill = cancel_on_kill
        self._watch_cache: RuleJobWatch | None = None
        self._subscription: coalesced_poll.Subscription | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs; every constructor argument round-trips."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "study_id": self.study_id,
                "study_mode": self.study_mode,
                "rule_ids": self.rule_ids,
                "end_time": self.end_time,
                "started_after": self.started_after,
                "job_ids": self.job_ids,
                "failure_statuses": self.failure_statuses,
                "poll_interval": self.poll_interval,
                "poll_endpoint": self.poll_endpoint,
                "clinical_one_conn_id": self.clinical_one_conn_id,
                "max_concurrency": self.max_concurrency,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _watch(self) -> RuleJobWatch:
        return RuleJobWatch.create(
            self.rule_ids,
            started_after=as_aware_datetime(self.started_after, "started_after"),
            job_ids=self.job_ids,
            failure_statuses=self.failure_statuses,
        )

    def _hook(self) -> ClinicalOneHook:
        return ClinicalOneHook(self.clinical_one_conn_id, max_concurrency=self.max_concurrency)

    def open_hook(self) -> ClinicalOneHook:
        """A hook on this trigger's connection."""
        return self._hook()

    def waiting_at_start(self) -> dict[str, str]:
        """Every rule, before the first poll."""
        return dict.fromkeys(self.rule_ids, "not polled yet")

    async def poll(self, hook: ServiceHook[Any]) -> WatchOutcome:
        """Latest jobs of every rule, judged by the watch.

        The jobs come from the poll this trigger shares with the other triggers of its event
        loop that watch the same connection, study and mode (see
        :mod:`~clinical_rules_provider.triggers.coalesced_poll`), unless sharing is off.
        """
        assert isinstance(hook, ClinicalOneHook)
        if self._watch_cache is None:
            self._watch_cache = self._watch()
        if not coalesced_poll.coalescing_enabled():
            jobs = await hook.alatest_jobs(
                self.study_id,
                self.study_mode,
                self.rule_ids,
                poll_endpoint=self.poll_endpoint,
                history=self.job_ids is not None,
            )
        else:
            if self._subscription is None:
                key = coalesced_poll.poll_key(
                    self.clinical_one_conn_id,
                    self.study_id,
                    self.study_mode,
                    self.poll_endpoint,
                    self.job_ids is not None,
                    self.max_concurrency,
                )
                self._subscription = coalesced_poll.subscribe(
                    key, self._watch_cache.rule_ids, self.poll_interval, self.end_time
                )
            jobs = await self._subscription.next_jobs((await hook.ahttp()).settings.timeout)
        return self._watch_cache.evaluate(jobs)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done (see :class:`JobPollingTrigger`), then leave the shared poll."""
        try:
            async for event in super().run():
                yield event
        finally:
            self._leave_shared_poll()

    async def cleanup(self) -> None:
        """Leave the shared poll however the run ended (fired, timed out, cancelled)."""
        self._leave_shared_poll()
        await super().cleanup()

    def _leave_shared_poll(self) -> None:
        if self._subscription is not None:
            self._subscription.leave()
            self._subscription = None

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the task; cancel the rules' jobs when asked to."""
        if not self.cancel_on_kill:
            return
        hook = self._hook()
        try:
            result = await asyncio.wait_for(
                hook.acancel_rule_jobs(self.study_id, self.study_mode, self.rule_ids), 30
            )
            self.log.info("Cancelled %d rule job(s) on kill", len(result.cancelled))
        finally:
            await hook.aclose()
