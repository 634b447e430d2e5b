"""An event trigger for ``AssetWatcher``: one event per rule job of a study that finishes.

Unlike :class:`~clinical_rules_provider.triggers.rule_job.ClinicalOneRuleJobTrigger` (a task
defers to it; it fires once), this trigger never ends: each event becomes an asset event.
Which jobs fire (decided from the service's dates: its first reply is the baseline), the
shared poll per study (Airflow 3.3+, ``job_status``) and delivery across triggerer restarts
(at least once on 3.3+ through a watermark, at most once below): docs/guides/event-driven.md.
The module loads on DAG parse, so it imports only Airflow's trigger base and the id/enum
helpers; hooks and clients load when it runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider._show import shown
from clinical_rules_provider.models.enums import (
    PublishRun,
    RuleState,
    SortOrder,
    parse_choice,
    parse_choices,
    rule_job_phase,
)
from clinical_rules_provider.models.ids import compact_id, normalize_list
from clinical_rules_provider.models.refs import PollEndpoint, RuleIds, StudyRef
from clinical_rules_provider.triggers import SerializesArguments, _checks
from clinical_rules_provider.triggers._job_events import RuleJobEventTracker

if TYPE_CHECKING:
    from clinical_rules_provider.models.clinical_one import RuleJob

# Airflow 3.3 added shared streams (apache/airflow #66584) and the asset state store.
SHARED_STREAMS = hasattr(BaseEventTrigger, "shared_stream_key")
STREAM_KEY_PREFIX = "clinical_rules.rule_jobs"


_CANONICAL: dict[str, Callable[[Any, str], Any]] = {
    "form_id": compact_id,
    "user_id": compact_id,
    "item_ids": lambda value, key: sorted(normalize_list(value, key, compact_id)),
    "rule_states": lambda value, key: sorted({state.value for state in parse_choices(value, RuleState, key)}),
    "publish_run": lambda value, key: parse_choice(value, PublishRun, key).value,
    "sort_order": lambda value, key: parse_choice(value, SortOrder, key).value,
}


def canonical_rule_filter(filters: dict[str, Any]) -> dict[str, Any]:
    """``list_rules`` filters written one way: keys sorted, lists sorted and without repeats,
    choices in their wire case, ids compact and uppercase (:data:`_CANONICAL`; other values as
    given); ``None`` values left out. Watchers whose filters mean the same then serialize (and
    hash) alike, so Airflow runs one trigger for them. ``build_rule_filter`` validates them.
    """
    return {
        key: _CANONICAL[key](value, key) if key in _CANONICAL else value
        for key, value in sorted(filters.items())
        if value is not None
    }


class ClinicalOneRuleJobEventTrigger(SerializesArguments, BaseEventTrigger):
    """Fires once per rule job of a study that reaches a terminal status after the watch's
    first reply, judged by the service's dates alone (no clock of this machine decides).

    Use it in an ``AssetWatcher``. Watchers whose arguments mean the same (ids, filters in any
    spelling or order) serialize identically, so Airflow runs one trigger for them. The payload,
    which jobs fire, sharing, and restarts: docs/guides/event-driven.md.

    :param study_id: study, either UUID form.
    :param study_mode: ``design``, ``test``, ``training``, ``production`` or ``active``.
    :param rule_ids: the rules to watch; or give ``rule_filter`` instead.
    :param rule_filter: ``list_rules`` filters choosing the rules (``{}``: every rule of
        the study), listed again every ``rule_refresh_interval`` seconds.
    :param poll_interval: seconds between polls (default 60, at least 1).
    :param poll_endpoint: ``rerun_history`` (default, the references' endpoint: one request per
        rule) or ``job_status`` (bulk: one request per 500 rules; on Airflow 3.3+ one poll per
        study shared by every such watcher).
    :param rule_refresh_interval: seconds between listings of the rules (default 300).
    :param clinical_one_conn_id: the ``clinical_one`` connection.
    :param max_concurrency: cap on concurrent requests per poll.
    :param watermark_asset: the name of the asset whose state store keeps the watermark, needed
        only when identical watchers of several assets share this trigger (Airflow 3.3+; with
        one asset, that asset keeps it).
    """

    def __init__(
        self,
        *,
        study_id: str,
        study_mode: str,
        rule_ids: Any = None,
        rule_filter: dict[str, Any] | None = None,
        poll_interval: float = 60.0,
        poll_endpoint: str = "rerun_history",
        rule_refresh_interval: float = 300.0,
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        max_concurrency: int | None = None,
        watermark_asset: str | None = None,
    ) -> None:
        super().__init__()
        with _checks.arguments():
            if (rule_ids is None) == (rule_filter is None):
                raise ValueError("rule_ids / rule_filter: give exactly one of them")
            self.study = StudyRef.of(study_id, study_mode, "study_mode")
            ids = [rule_ids] if isinstance(rule_ids, str) else rule_ids
            self.rules = RuleIds(sorted(RuleIds.of(ids))) if rule_ids is not None else None
            if rule_filter is not None:
                if not isinstance(rule_filter, dict):
                    raise ValueError(
                        f"rule_filter: expected a dict of list_rules filters, got {shown(rule_filter)}"
                    )
                from clinical_rules_provider.clients.filtered_list import build_rule_filter

                build_rule_filter(**rule_filter)  # checks the filters (the study is checked above)
                rule_filter = canonical_rule_filter(rule_filter)
            self.endpoint = PollEndpoint.of(poll_endpoint)
        self.study_id, self.study_mode = str(self.study.study_id), self.study.mode.value
        self.rule_ids = list(self.rules) if self.rules is not None else None
        self.rule_filter = rule_filter
        self.poll_endpoint = str(self.endpoint)
        self.poll_interval = _checks.rule_poll_interval(poll_interval)
        self.rule_refresh_interval = _checks.rule_poll_interval(
            rule_refresh_interval, "rule_refresh_interval"
        )
        self.clinical_one_conn_id = clinical_one_conn_id
        self.max_concurrency = _checks.concurrency(max_concurrency)
        if watermark_asset is not None and (
            not isinstance(watermark_asset, str) or not watermark_asset.strip()
        ):
            raise ValueError(
                f"watermark_asset: expected the name of an asset the watcher feeds, got {shown(watermark_asset)}"
            )
        self.watermark_asset = watermark_asset

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Every argument; ``watermark_asset`` only when given, so watchers without it keep
        the trigger hash they had before it existed."""
        classpath, kwargs = super().serialize()
        if kwargs["watermark_asset"] is None:
            del kwargs["watermark_asset"]
        return classpath, kwargs

    def payload(self, rule_id: str, job: RuleJob) -> dict[str, Any]:
        """The event payload of one finished job (it carries the job id: consumers drop repeats by it)."""
        return {
            "study_id": self.study_id,
            "study_mode": self.study_mode,
            "rule_id": rule_id,
            "job_id": job.job_id,
            "status": str(job.status),
            "phase": rule_job_phase(job.status),
            "job_start_date": job.job_start_date.isoformat() if job.job_start_date else None,
        }

    async def _watch(self, answers: AsyncIterator[Any] | None) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from ``answers`` (the study's shared poll), or from a poll of
        its own (``None``): only its rules, its own memory, one event per finished job."""
        from clinical_rules_provider.triggers._study_stream import WatchState, watch_cycles

        state = await WatchState.begin(self)
        try:
            async for answer in answers or watch_cycles(self, state.source):
                await state.checkpoint()
                for rule_id, job in await state.take(answer):
                    yield TriggerEvent(self.payload(rule_id, job))
                state.fired_up_to_here()
        finally:
            await state.aclose()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll alone (Airflow 3.0-3.2, ``rerun_history``) forever; errors are logged, never fatal."""
        async for event in self._watch(None):
            yield event

    def shared_stream_key(self) -> Hashable | None:
        """What decides the shared poll's requests (3.3+ and ``job_status`` only; else ``None``)."""
        if not SHARED_STREAMS or self.poll_endpoint != "job_status":
            return None
        return (
            STREAM_KEY_PREFIX,
            self.clinical_one_conn_id,
            self.study_id,
            self.study_mode,
            self.poll_endpoint,
            self.poll_interval,
            self.rule_refresh_interval,
            self.max_concurrency,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The study's shared poll: every rule of the study, read in bulk each cycle (it never
        raises: errors are broadcast, and each watcher logs them)."""
        from clinical_rules_provider.triggers._study_stream import study_stream

        async for raw in study_stream(cls(**kwargs)):
            yield raw

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the study's shared poll."""
        async for event in self._watch(shared_stream):
            yield event


__all__ = ["ClinicalOneRuleJobEventTrigger", "RuleJobEventTracker", "canonical_rule_filter"]
