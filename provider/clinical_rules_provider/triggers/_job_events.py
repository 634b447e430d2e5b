"""What a rule-job watch remembers, and which jobs fire now (Airflow-free, no I/O).

Per rule the tracker keeps the jobs of the latest reply that it saw unfinished (``active``)
or fired (``fired``), and one watermark: the service's ``jobStartDate`` of the newest job
known to be done (fired, or finished in the first reply). So a job fires once while memory stays
the size of the current replies plus one date per rule (docs/guides/event-driven.md, "Which jobs
fire"). Every date compared is the service's: the first reply is the baseline (its finished jobs
never fire), and ``began``, the newest ``jobStartDate`` in it, bounds rules it did not hold.
No clock of this machine decides. Bad reply entries are dropped, each kind logged once.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from clinical_rules_provider.models.enums import rule_job_phase
from clinical_rules_provider.models.ids import compact_id

if TYPE_CHECKING:
    from clinical_rules_provider.models.clinical_one import RuleJob

log = logging.getLogger(__name__)

MAX_FORGOTTEN_RULES = 10_000
WATERMARK_VERSION = 1  # unchanged: same fields; ``began`` now holds a service date (docs/inferences.md)
# "no bound": a first reply without a dated job, or a baselined rule without a finished dated job
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def id_or_none(value: Any, field_name: str) -> str | None:
    """A compact uppercase id, or ``None`` when ``value`` is missing or malformed."""
    if not value:
        return None
    try:
        return compact_id(value, field_name)
    except ValueError:
        return None


@dataclass
class _RuleMemory:
    watermark: datetime | None = None
    active: set[str] = field(default_factory=set)
    fired: dict[str, datetime | None] = field(default_factory=dict)


class RuleJobEventTracker:
    """What one watch has seen; :meth:`update` returns the jobs that fire now."""

    def __init__(
        self,
        began: datetime | None = None,
        watermarks: Mapping[str, datetime] | None = None,
        active: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """``began=None``: a fresh watch, whose first reply is its baseline; else the newest
        ``jobStartDate`` of that baseline (restored), which rules without a watermark must pass."""
        self.began = None if began is None else began.replace(microsecond=began.microsecond // 1000 * 1000)
        self._rules: dict[str, _RuleMemory] = {}
        self._forgotten: OrderedDict[str, datetime] = OrderedDict(watermarks or {})
        self._logged: set[str] = set()
        for rule_id, jobs in (active or {}).items():
            self._memory(rule_id).active.update(jobs)

    @classmethod
    def restore(cls, stored: Any) -> RuleJobEventTracker:
        """A tracker that goes on from :meth:`snapshot` (no new baseline: jobs that finished
        meanwhile fire), or a fresh one when ``stored`` is not one (missing, another version,
        unreadable)."""
        state = decode_watermark(stored)
        return cls() if state is None else cls(*state)

    def snapshot(self) -> dict[str, Any] | None:
        """JSON for the asset state store, to resume from after a restart (``None`` before the
        baseline: nothing to keep yet): ``began``, each rule's watermark, and the jobs seen
        unfinished (they fire when they finish)."""
        if self.began is None:
            return None
        return {
            "version": WATERMARK_VERSION,
            "began": self.began.isoformat(),
            # epoch milliseconds: about 50 bytes a rule (Airflow warns above 64 KiB a value)
            "rules": {
                rule: math.floor(mark.timestamp() * 1000) for rule, mark in sorted(self.watermarks().items())
            },
            "active": {rule: sorted(m.active) for rule, m in sorted(self._rules.items()) if m.active},
        }

    def remembered_jobs(self) -> int:
        """Jobs held in memory (for tests and diagnostics)."""
        return sum(len(m.active) + len(m.fired) for m in self._rules.values())

    def watermarks(self) -> dict[str, datetime]:
        """Per rule, the start of the newest job known done (what a restart must not repeat)."""
        marks = {rule_id: _newest(memory) for rule_id, memory in self._rules.items()}
        return {**self._forgotten, **{rule_id: mark for rule_id, mark in marks.items() if mark is not None}}

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(message + " (logged once per watch)", *args)

    def _memory(self, rule_id: str) -> _RuleMemory:
        memory = self._rules.get(rule_id)
        if memory is None:
            memory = self._rules[rule_id] = _RuleMemory(watermark=self._forgotten.pop(rule_id, None))
        return memory

    def _forget(self, rule_id: str) -> None:
        """Keep only the watermark of a rule that left the watch."""
        mark = _newest(self._rules.pop(rule_id))
        if mark is not None:
            self._forgotten[rule_id] = mark
            self._forgotten.move_to_end(rule_id)
            while len(self._forgotten) > MAX_FORGOTTEN_RULES:
                self._forgotten.popitem(last=False)

    def clean(
        self, jobs_by_rule: Mapping[str, Iterable[RuleJob]], requested: Iterable[str] | None
    ) -> dict[str, dict[str, RuleJob]]:
        """The reply with every bad entry dropped (logged once per kind): per rule, its jobs,
        each keyed by compact id."""
        wanted = set(requested) if requested is not None else None
        cleaned: dict[str, dict[str, RuleJob]] = {}
        for raw_rule, jobs in jobs_by_rule.items():
            jobs = list(jobs)
            rule_id = id_or_none(raw_rule, "ruleId")
            if rule_id is None:
                if jobs:
                    self._warn_once(
                        "no-rule", "Dropped rule job entries with no valid ruleId (e.g. %r)", raw_rule
                    )
                continue
            if wanted is not None and rule_id not in wanted:
                self._warn_once(
                    "unasked", "Dropped rule job entries for rule %s, which was not asked for", rule_id
                )
                continue
            kept = cleaned.setdefault(rule_id, {})
            for job in jobs:
                if (job_id := id_or_none(job.job_id, "jobId")) is not None:
                    kept[job_id] = job
                else:
                    self._warn_once(
                        "no-job", "Dropped a job of rule %s with no valid jobId (%r)", rule_id, job.job_id
                    )
        return cleaned

    def update(
        self, jobs_by_rule: Mapping[str, Iterable[RuleJob]], requested: Iterable[str] | None = None
    ) -> list[tuple[str, RuleJob]]:
        """Record one poll; the newly finished ``(rule id, job)`` pairs, oldest start first.

        The first reply in which a rule answered (even with no job), or that asked no rule, is
        the baseline: it fires nothing (see :meth:`_baseline`).

        :param requested: the rules asked for (compact ids): others are dropped and logged,
            and rules no longer asked for keep only their watermark. ``None``: the reply's rules.
        """
        from clinical_rules_provider.job_watch import warn_unknown_status

        cleaned = self.clean(jobs_by_rule, requested)
        if requested is not None:
            requested = list(requested)
            for rule_id in set(self._rules) - set(requested):
                self._forget(rule_id)
        if self.began is None:
            if cleaned or requested == []:
                self._baseline(cleaned)
            return []
        fired: list[tuple[str, RuleJob]] = []
        for rule_id, present in cleaned.items():
            if not present:
                continue  # a rule with no reply keeps its memory
            memory = self._memory(rule_id)
            for key in [k for k in memory.fired if k not in present]:
                started = memory.fired.pop(key)
                if started is not None and (memory.watermark is None or started > memory.watermark):
                    memory.watermark = started
            memory.active &= present.keys()
            for key, job in present.items():
                phase = rule_job_phase(job.status)
                if phase not in ("success", "failure"):
                    if phase == "unknown":
                        warn_unknown_status(str(job.status or ""))
                    memory.active.add(key)
                    continue
                if key in memory.fired or not self._fires(memory, key, job.job_start_date):
                    continue
                memory.fired[key] = job.job_start_date
                memory.active.discard(key)
                fired.append((rule_id, job))
        return sorted(fired, key=lambda pair: pair[1].job_start_date or EPOCH)

    def _baseline(self, cleaned: Mapping[str, Mapping[str, RuleJob]]) -> None:
        """The first reply: finished jobs set their rule's watermark (they never fire), unfinished
        ones wait in ``active``; ``began`` is the newest start in it (:data:`EPOCH` if none)."""
        starts: list[datetime] = []
        for rule_id, present in cleaned.items():
            if not present:
                continue  # no job yet: the rule is judged against ``began``, like a later rule
            memory = self._memory(rule_id)
            for key, job in present.items():
                if job.job_start_date is not None:
                    starts.append(job.job_start_date)
                if not _finished(job):
                    memory.active.add(key)
            done = [j.job_start_date for j in present.values() if j.job_start_date and _finished(j)]
            memory.watermark = max([*done, memory.watermark or EPOCH])
        self.began = max(starts, default=EPOCH)

    def _fires(self, memory: _RuleMemory, key: str, started: datetime | None) -> bool:
        """Seen unfinished, or started after the rule's watermark (service dates); a rule the
        baseline did not hold has none: after ``began`` (a service date too)."""
        if key in memory.active:
            return True  # seen unfinished: it finished during the watch
        if started is None:
            return False
        bound = memory.watermark if memory.watermark is not None else self.began
        return bound is None or started > bound


def _finished(job: RuleJob) -> bool:
    return rule_job_phase(job.status) in ("success", "failure")


def _newest(memory: _RuleMemory) -> datetime | None:
    return max((d for d in (memory.watermark, *memory.fired.values()) if d is not None), default=None)


def decode_watermark(value: Any) -> tuple[datetime, dict[str, datetime], dict[str, list[str]]] | None:
    """:meth:`RuleJobEventTracker.snapshot` read back; ``None`` for anything else (then the watch
    starts fresh)."""
    if not isinstance(value, dict) or value.get("version") != WATERMARK_VERSION:
        return None
    try:
        began = datetime.fromisoformat(value["began"])
        rules = {str(k): _from_millis(v) for k, v in dict(value.get("rules") or {}).items()}
        active = {str(k): [str(j) for j in v] for k, v in dict(value.get("active") or {}).items()}
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    return (began, rules, active) if began.tzinfo is not None else None


def _from_millis(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected epoch milliseconds, got {value!r}")
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
