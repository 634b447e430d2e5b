"""Deferrable wait for Clinical One rule jobs (used by the sensor and the publish operator)."""

from __future__ import annotations

from datetime import datetime

from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.job_watch import RuleJobWatch, WatchOutcome
from clinical_rules_provider.models.refs import PollEndpoint, RuleIds, StudyRef
from clinical_rules_provider.models.times import as_aware_datetime
from clinical_rules_provider.triggers import _checks, coalesced_poll
from clinical_rules_provider.triggers._loop import Failure
from clinical_rules_provider.triggers._polling import JobPollingTrigger

__all__ = ["ClinicalOneRuleJobTrigger"]


class ClinicalOneRuleJobTrigger(JobPollingTrigger[ClinicalOneHook]):
    """Polls the rules' latest jobs until every relevant job is terminal or ``end_time`` passes.

    Events as described in :class:`JobPollingTrigger`. Triggers of one triggerer that watch
    the same connection, study and mode share one poll per cycle
    (:mod:`~clinical_rules_provider.triggers.coalesced_poll`); each judges its own jobs.
    Every argument is parsed here, once, into checked values that the polls trust.

    :param study_id: the study (either UUID form).
    :param study_mode: the study mode (case-insensitive).
    :param rule_ids: the rules whose jobs are watched (either UUID form).
    :param end_time: epoch seconds after which the trigger fires ``timeout``.
    :param started_after: without ``job_ids``, only jobs started at/after this aware time
        (datetime or ISO-8601 string with an offset) count.
    :param job_ids: only these jobs count (``started_after`` is then ignored).
    :param failure_statuses: terminal statuses that end the wait with ``failure``
        (default: every failure status).
    :param poll_interval: seconds between polls (finite, at least 1).
    :param poll_endpoint: ``rerun_history`` (one request per rule) or ``job_status`` (bulk).
    :param clinical_one_conn_id: Airflow connection of type ``clinical_one``.
    :param max_concurrency: cap on concurrent requests per poll (default: the connection's).
    :param cancel_on_kill: cancel the rules' jobs when the task is killed (Airflow 3.3+).
    """

    noun = "rule job(s)"

    def __init__(
        self,
        *,
        study_id: str,
        study_mode: str,
        rule_ids: list[str],
        end_time: float,
        started_after: datetime | str | None = None,
        job_ids: list[str] | None = None,
        failure_statuses: list[str] | None = None,
        poll_interval: float = 30.0,
        poll_endpoint: str = "rerun_history",
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        max_concurrency: int | None = None,
        cancel_on_kill: bool = False,
        first_poll_delay: float = 0.0,
    ) -> None:
        super().__init__()
        with _checks.arguments():
            self._study = StudyRef.of(study_id, study_mode)
            self._rules = RuleIds.of(rule_ids)
            moment = as_aware_datetime(started_after, "started_after")
            self._endpoint = PollEndpoint.of(poll_endpoint)
            self.watch = RuleJobWatch.create(
                self._rules, started_after=moment, job_ids=job_ids, failure_statuses=failure_statuses
            )
        self.study_id, self.study_mode = str(self._study.study_id), self._study.mode.value
        self.rule_ids = list(self._rules)
        self.poll_endpoint = str(self._endpoint)
        self.started_after = moment.isoformat() if moment is not None else None  # parsed once
        self.end_time = _checks.epoch(end_time, "end_time")
        self.job_ids = list(job_ids) if job_ids is not None else None
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.poll_interval = _checks.rule_poll_interval(poll_interval)
        self.clinical_one_conn_id = clinical_one_conn_id
        self.max_concurrency = _checks.concurrency(max_concurrency)
        self.cancel_on_kill = cancel_on_kill
        self.first_poll_delay = _checks.delay(first_poll_delay, "first_poll_delay")
        self._subscription: coalesced_poll.Subscription | None = None
        self._skew_warned = False

    def open_hook(self) -> ClinicalOneHook:
        """A hook on this trigger's connection."""
        return ClinicalOneHook(self.clinical_one_conn_id, max_concurrency=self.max_concurrency)

    def waiting_at_start(self) -> dict[str, str]:
        """Every rule, before the first poll."""
        return dict.fromkeys(self.rule_ids, "not polled yet")

    async def poll(self, hook: ClinicalOneHook) -> WatchOutcome | Failure:
        """Latest jobs of every rule, judged by the watch: from the poll this trigger shares
        (:mod:`~clinical_rules_provider.triggers.coalesced_poll`), unless sharing is off."""
        history = self.job_ids is not None
        if not coalesced_poll.coalescing_enabled():
            jobs = await hook.alatest_jobs(
                self._study.study_id,
                self._study.mode,
                self._rules,
                poll_endpoint=self._endpoint,
                history=history,
            )
        else:
            if self._subscription is None:
                key = coalesced_poll.PollKey(
                    self.clinical_one_conn_id,
                    self._study.study_id,
                    self.study_mode,
                    self._endpoint,
                    history,
                    self.max_concurrency,
                )
                self._subscription = coalesced_poll.subscribe(
                    key, self._rules, self.poll_interval, self.end_time
                )
            answer = await self._subscription.next_jobs((await hook.ahttp()).settings.timeout)
            if isinstance(answer, Failure):
                return answer
            jobs = answer
        # started_after is this machine's time: warn once when the service's clock is skewed
        # past the connection's clock_skew_warning (the hook that polled measured it).
        polled_by = hook if self._subscription is None else self._subscription.poll.hook
        if not (self._skew_warned or history or polled_by is None) and (
            warning := polled_by.check_clock_skew("started_after")
        ):
            self.log.warning(warning)
            self._skew_warned = True
        return self.watch.evaluate(jobs)

    def release(self) -> None:
        """Leave the shared poll (idempotent)."""
        if self._subscription is not None:
            self._subscription.leave()
            self._subscription = None

    async def cancel(self, hook: ClinicalOneHook) -> None:
        """Cancel the rules' jobs (see :meth:`JobPollingTrigger.on_kill`)."""
        result = await hook.acancel_rule_jobs(self._study.study_id, self._study.mode, self._rules)
        self.log.info("Cancelled %d rule job(s) on kill", len(result.cancelled))
