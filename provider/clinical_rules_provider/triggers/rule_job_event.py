"""An event trigger for ``AssetWatcher``: one event per rule job of a study that finishes.

Unlike :class:`~clinical_rules_provider.triggers.rule_job.ClinicalOneRuleJobTrigger` (which a
task defers to, and which fires once), this trigger never ends: the triggerer runs it for
as long as a DAG schedules on the asset that watches it, and every event becomes an asset
event (``extra["payload"]`` holds the payload below) that can start that DAG.

The module is imported when the DAG file that builds the watcher is parsed, so it loads
only Airflow's trigger base and the id/enum helpers; hooks and clients load in :meth:`run`.

**Which jobs fire.** A job fires once, when the watch sees it in a terminal status
(success or failure, the same classification the sensor uses) and either the watch saw
it unfinished before or the job started at/after the moment the watch began. Jobs that
were already finished when the watch began never fire.

**Triggerer restarts (at most once).** The memory of what was seen lives in the running
trigger. When the triggerer restarts (or the trigger moves to another triggerer), the watch
begins again: a job that finished while no watch ran, or whose event was yielded but not
yet stored by the triggerer when it stopped, is *missed*; a job that fired before the
restart never fires again, and a job still running at the restart fires when it finishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider.exceptions import ClinicalRulesError, TransientServiceError
from clinical_rules_provider.job_options import check_poll_endpoint
from clinical_rules_provider.models.enums import StudyMode, parse_choice, rule_job_phase
from clinical_rules_provider.models.ids import compact_id, normalize_list
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.triggers import SerializesArguments, _checks

if TYPE_CHECKING:
    from clinical_rules_provider.models.clinical_one import RuleJob


class RuleJobEventTracker:
    """What one watch has seen; :meth:`update` returns the jobs that fire now (Airflow-free).

    Per rule it keeps the jobs it saw unfinished and the jobs that fired, only for jobs the
    service still reports (memory stays the size of the replies).
    """

    def __init__(self, began: datetime) -> None:
        self.began = began.replace(microsecond=began.microsecond // 1000 * 1000)
        self._active: dict[str, set[str]] = {}
        self._fired: dict[str, set[str]] = {}

    def update(self, jobs_by_rule: Mapping[str, Iterable[RuleJob]]) -> list[tuple[str, RuleJob]]:
        """Record one poll; the newly finished ``(rule id, job)`` pairs, oldest start first."""
        from clinical_rules_provider.job_watch import warn_unknown_status

        fired: list[tuple[str, RuleJob]] = []
        for rule_id, jobs in jobs_by_rule.items():
            jobs = [job for job in jobs if _job_key(job)]
            if not jobs:
                continue  # a rule with no reply keeps its memory
            active, done = self._active.get(rule_id, set()), self._fired.get(rule_id, set())
            present = {_job_key(job) for job in jobs}
            active &= present
            done &= present
            for job in jobs:
                key = _job_key(job)
                phase = rule_job_phase(job.status)
                if phase not in ("success", "failure"):
                    if phase == "unknown":
                        warn_unknown_status(str(job.status or ""))
                    active.add(key)
                    continue
                started = job.job_start_date
                if key in done or not (key in active or (started is not None and started >= self.began)):
                    continue
                done.add(key)
                active.discard(key)
                fired.append((rule_id, job))
            self._active[rule_id], self._fired[rule_id] = active, done
        return sorted(fired, key=lambda pair: pair[1].job_start_date or self.began)


def _job_key(job: RuleJob) -> str:
    if job.job_id:
        return str(job.job_id).replace("-", "").upper()
    return job.job_start_date.isoformat() if job.job_start_date else ""


class ClinicalOneRuleJobEventTrigger(SerializesArguments, BaseEventTrigger):
    """Fires once per rule job of a study that reaches a terminal status after the watch began.

    Use it in an ``AssetWatcher``; watchers built with the same arguments (ids in any spelling
    or order) serialize identically, so Airflow runs one trigger for them. Payload of each
    event: ``study_id``, ``study_mode``, ``rule_id``, ``job_id``, ``status``, ``phase``
    (``success`` or ``failure``) and ``job_start_date`` (ISO). See the module docs for
    which jobs fire and what a triggerer restart misses.

    :param study_id: study, either UUID form.
    :param study_mode: ``design``, ``test``, ``training``, ``production`` or ``active``.
    :param rule_ids: the rules to watch; or give ``rule_filter`` instead.
    :param rule_filter: ``list_rules`` filters choosing the rules (``{}``: every rule of
        the study), listed again every ``rule_refresh_interval`` seconds.
    :param poll_interval: seconds between polls (default 60).
    :param poll_endpoint: ``job_status`` (bulk, default: one request per 500 rules) or
        ``rerun_history`` (one request per rule).
    :param rule_refresh_interval: seconds between listings of ``rule_filter`` (default 300).
    :param clinical_one_conn_id: the ``clinical_one`` connection.
    :param max_concurrency: cap on concurrent requests per poll.
    """

    def __init__(
        self,
        *,
        study_id: str,
        study_mode: str,
        rule_ids: Any = None,
        rule_filter: dict[str, Any] | None = None,
        poll_interval: float = 60.0,
        poll_endpoint: str = "job_status",
        rule_refresh_interval: float = 300.0,
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        max_concurrency: int | None = None,
    ) -> None:
        super().__init__()
        if (rule_ids is None) == (rule_filter is None):
            raise ValueError("rule_ids / rule_filter: give exactly one of them")
        self.study_id = compact_id(study_id, "study_id")
        self.study_mode = parse_choice(study_mode, StudyMode, "study_mode").value
        if rule_ids is not None:
            ids = [rule_ids] if isinstance(rule_ids, str) else rule_ids
            rule_ids = sorted(normalize_list(ids, "rule_ids", compact_id))
        if rule_filter is not None:
            if not isinstance(rule_filter, dict):
                raise ValueError(f"rule_filter: expected a dict of list_rules filters, got {rule_filter!r}")
            from clinical_rules_provider.clients.filtered_list import RulePager

            RulePager.create(self.study_id, self.study_mode, **rule_filter)  # validates the filters
            rule_filter = dict(rule_filter)
        self.rule_ids: list[str] | None = rule_ids
        self.rule_filter = rule_filter
        self.poll_endpoint = check_poll_endpoint(poll_endpoint)
        self.poll_interval = _checks.rule_poll_interval(poll_interval)
        self.rule_refresh_interval = _checks.rule_poll_interval(
            rule_refresh_interval, "rule_refresh_interval"
        )
        self.clinical_one_conn_id = clinical_one_conn_id
        self.max_concurrency = _checks.concurrency(max_concurrency)

    def _payload(self, rule_id: str, job: RuleJob) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "study_mode": self.study_mode,
            "rule_id": rule_id,
            "job_id": job.job_id,
            "status": str(job.status),
            "phase": rule_job_phase(job.status),
            "job_start_date": job.job_start_date.isoformat() if job.job_start_date else None,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; one event per newly finished job. Service errors are logged, never fatal."""
        from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook

        tracker = RuleJobEventTracker(utc_now())
        hook = ClinicalOneHook(self.clinical_one_conn_id, max_concurrency=self.max_concurrency)
        rules, listed_at = self.rule_ids, float("-inf")
        loop = asyncio.get_running_loop()
        self.log.info(
            "Watching rule jobs of study %s (%s) from %s", self.study_id, self.study_mode, tracker.began
        )
        try:
            while True:
                try:
                    if self.rule_ids is None and loop.time() - listed_at >= self.rule_refresh_interval:
                        filters = self.rule_filter or {}
                        listed = hook.alist_rules(self.study_id, self.study_mode, **filters)
                        rules, listed_at = [rule.rule_id async for rule in listed], loop.time()
                    jobs = (
                        await hook.alatest_jobs(
                            self.study_id,
                            self.study_mode,
                            rules,
                            poll_endpoint=self.poll_endpoint,
                            history=True,
                        )
                        if rules
                        else {}
                    )
                    for rule_id, job in tracker.update(jobs):
                        yield TriggerEvent(self._payload(rule_id, job))
                except TransientServiceError as exc:
                    self.log.warning("Transient error while watching rule jobs (will poll again): %s", exc)
                except ClinicalRulesError as exc:
                    listed_at = float("-inf")  # list the rules again next time (a filter may have gone stale)
                    self.log.error("Error while watching rule jobs (will poll again): %s", exc)
                except Exception:  # a bug or bad settings: log it, keep watching, never crash the triggerer
                    listed_at = float("-inf")
                    self.log.exception("Unexpected error while watching rule jobs (will poll again)")
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()


__all__ = ["ClinicalOneRuleJobEventTrigger", "RuleJobEventTracker"]
