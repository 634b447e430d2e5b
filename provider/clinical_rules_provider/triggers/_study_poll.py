"""One poll of many rules' jobs for many triggers (both shared polls use it): an error of one
rule (400/404) is found by splitting the request and stays with that rule; an error of the
connection reaches everyone; the connection is reread before each poll (a rotated secret
applies at once). The rules: docs/running-at-scale.md, "Coalesced polling in the triggerer".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clinical_rules_provider.exceptions import ClinicalOneNotFoundError, ClinicalOneValidationError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.models.clinical_one import RuleJob
from clinical_rules_provider.models.refs import PollEndpoint, RuleIds, StudyRef

JobsByRule = dict[str, list[RuleJob]]
RULE_LEVEL_ERRORS = (ClinicalOneValidationError, ClinicalOneNotFoundError)


@dataclass
class PollResult:
    """The rules asked; jobs of every rule that answered; the error of each rule that did not."""

    rules: Sequence[str] = ()
    jobs: JobsByRule = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)


@dataclass
class StudyPoller:
    """Polls one (connection, study, mode, endpoint) for whichever rules it is asked."""

    conn_id: str
    study: StudyRef  # checked by the trigger that polls
    poll_endpoint: PollEndpoint
    history: bool
    max_concurrency: int | None = None
    hook: ClinicalOneHook | None = None
    suspects: set[str] = field(default_factory=set)  # rules that drew a rule-level error

    async def current_hook(self) -> ClinicalOneHook:
        """The hook for this poll, on the connection as it is now (see the module docs)."""
        fresh = ClinicalOneHook(self.conn_id, max_concurrency=self.max_concurrency)
        config = await fresh.aconfig()  # the process cache: reread at most every 30 s
        if self.hook is not None and await self.hook.aconfig() is config:
            return self.hook
        if self.hook is not None:
            await self.hook.aclose()
        self.hook = fresh
        return fresh

    async def aclose(self) -> None:
        """Close the poller's hook (a later poll opens a new one)."""
        if self.hook is not None:
            await self.hook.aclose()
            self.hook = None

    async def poll(self, rule_ids: Sequence[str]) -> PollResult:
        """Jobs of ``rule_ids`` (compact ids); raises only errors that belong to every rule."""
        hook = await self.current_hook()
        result = PollResult(rule_ids)
        healthy = [r for r in rule_ids if r not in self.suspects]
        groups = [healthy] if healthy else []
        groups += [[r] for r in rule_ids if r in self.suspects]
        for group in groups:
            try:
                result.jobs.update(await self._ask(hook, group))
            except RULE_LEVEL_ERRORS as exc:
                await self._bisect(hook, group, exc, result)
        self.suspects = set(result.failed) & set(rule_ids) | (self.suspects - set(rule_ids))
        return result

    async def _ask(self, hook: ClinicalOneHook, rules: Sequence[str]) -> JobsByRule:
        return await hook.alatest_jobs(
            self.study.study_id,
            self.study.mode,
            RuleIds(rules),  # compact ids of checked values or of a listing: trusted
            poll_endpoint=self.poll_endpoint,
            history=self.history,
        )

    async def _bisect(
        self, hook: ClinicalOneHook, rules: Sequence[str], error: Exception, result: PollResult
    ) -> None:
        """``rules`` drew ``error``: ask each half, and search the halves that fail."""
        if len(rules) == 1:
            result.failed[rules[0]] = error
            return
        failing: list[tuple[Sequence[str], Exception]] = []
        for half in (rules[: len(rules) // 2], rules[len(rules) // 2 :]):
            try:
                result.jobs.update(await self._ask(hook, half))
            except RULE_LEVEL_ERRORS as refused:
                failing.append((half, refused))
        if len(failing) == 2 and str(failing[0][1]) == str(failing[1][1]):
            result.failed.update(dict.fromkeys(rules, error))  # the same error either way: not one rule's
            return
        for half, half_error in failing:
            await self._bisect(hook, half, half_error, result)
