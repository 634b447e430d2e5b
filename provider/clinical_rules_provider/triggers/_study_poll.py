"""One poll of many rules' jobs on behalf of many triggers: what a shared poll owes each of them.

Both shared polls (:mod:`~clinical_rules_provider.triggers.coalesced_poll` for deferred
waits, the Airflow 3.3 shared stream of the event trigger) poll through :class:`StudyPoller`:

* **An error that belongs to one rule stays with that rule.** When a request fails with a
  rule-level error (HTTP 400 / ``VALIDATION_ERROR``, 404 / ``NOT_FOUND``), the rules are split
  in halves and each half is asked again, until the culprits are found; the other rules get
  their jobs. When both halves fail with the same message, the error does not depend on the
  rules (a bad study, say) and belongs to all of them. Culprits are asked alone on later
  polls, so a persistent bad rule costs one extra request per poll, not a search.
* **An error that belongs to the connection reaches everyone**: refused credentials, a
  transport or transient fault, a reply that cannot be read.
* **The connection is reread as often as a lone hook's would be**: before each poll, through
  the process's 30 s connection cache (:data:`~clinical_rules_provider._state.CONNECTIONS`);
  when it changed (a rotated secret), the poll continues on a new hook.
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
