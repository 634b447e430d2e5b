"""What the Clinical One hook adds to the publish exchange: its settings and its last word.

Kept apart from ``hooks/clinical_one.py`` so that module stays about connections and calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from clinical_rules_provider.clients import clinical_one as api
from clinical_rules_provider.clients import publish_run as publish_api
from clinical_rules_provider.clients.base import Exchange
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import ClinicalRulesError, PublishRunUnconfirmedError
from clinical_rules_provider.hooks.connection import as_number
from clinical_rules_provider.models.clinical_one import PublishRunResult
from clinical_rules_provider.models.enums import PublishRun, parse_choice
from clinical_rules_provider.models.refs import PollEndpoint, RuleIds, StudyRef


class PublishArgs(NamedTuple):
    """A publish's values, checked once at the hook's boundary; the client trusts them.

    The sync method checks them before it reads the connection, as every other hook method
    refuses bad input first; both twins then run the same publish on the checked values.
    """

    study: StudyRef
    publish_run: PublishRun
    rule_ids: RuleIds
    poll_endpoint: PollEndpoint

    @classmethod
    def of(
        cls, study_id: object, mode: object, publish_run: object, rule_ids: object, poll_endpoint: object
    ) -> PublishArgs:
        """Check each value (one that is checked already passes through)."""
        return cls(
            StudyRef.of(study_id, mode),
            parse_choice(publish_run, PublishRun, "publish_run"),
            RuleIds.of(rule_ids),
            PollEndpoint.of(poll_endpoint),
        )


def settle_setting(ext: Callable[[str, Any], Any]) -> publish_api.Settle:
    """The connection extras ``publish_settle_seconds`` (default 60) and
    ``publish_settle_poll_seconds`` (default 5), checked."""
    seconds = ext("publish_settle_seconds", publish_api.DEFAULT_SETTLE_SECONDS)
    poll = ext("publish_settle_poll_seconds", publish_api.DEFAULT_SETTLE_POLL_SECONDS)
    return publish_api.Settle(
        as_number(seconds, "publish_settle_seconds", 0.0),
        as_number(poll, "publish_settle_poll_seconds", 0.001),
    )


def publisher(args: PublishArgs, ledger: PublishLedger) -> Callable[[Any], Exchange[list[PublishRunResult]]]:
    """The publish exchange, built from the parsed connection (a ``ClinicalOneConfig``)."""
    return lambda config: publish_api.update_publish_run(
        args.study.study_id,
        args.study.mode,
        args.publish_run,
        args.rule_ids,
        poll_endpoint=args.poll_endpoint,
        service_timezone=config.service_timezone,
        attempts=config.transport.retry.attempts,
        settle=config.settle,
        ledger=ledger,
    )


def raise_in_doubt(book: PublishLedger, rule_ids: Any, exc: ClinicalRulesError) -> None:
    """Once updates may have been sent, raise an error naming each group instead of ``exc``.

    A transport error alone (a deadline passed while settling, a read that kept failing)
    would invite a retry that applies the rules twice. Before the first send it returns, and
    the caller re-raises ``exc``: nothing was sent, so retrying is safe.
    """
    if isinstance(exc, PublishRunUnconfirmedError) or not book.sent:
        return
    ids = api.rule_id_list(rule_ids)
    open_rules = book.unsettled(ids)
    if open_rules:
        why = f"the publish stopped after sending: {exc}"
        raise publish_api.unconfirmed_error(book, ids, dict.fromkeys(open_rules, why)) from exc


__all__ = ["PublishArgs", "publisher", "raise_in_doubt", "settle_setting"]
