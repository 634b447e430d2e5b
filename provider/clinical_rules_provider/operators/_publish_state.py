"""Where a publish keeps what it has established, so a retried try reconciles instead of re-running.

On Airflow 3.3+ the task context holds ``task_state_store`` (AIP-103), a key/value store per
task instance that survives retries (XCom does not). The publish keeps its
:class:`~clinical_rules_provider.clients.publish_ledger.PublishLedger` there (Airflow's
``ResumableJobMixin`` keeps one job id the same way; a publish has one job per rule). On
Airflow 3.0-3.2 the ledger lives only as long as the try.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from clinical_rules_provider.clients.clinical_one import study_path_args
from clinical_rules_provider.clients.publish_ledger import PublishLedger

LEDGER_KEY = "clinical_one_publish_run"


def task_state_store(context: Mapping[str, Any]) -> Any | None:
    """The task's state store, or ``None`` where Airflow has none (3.0-3.2, or a bare context)."""
    store = context.get("task_state_store")
    return store if callable(getattr(store, "get", None)) and callable(getattr(store, "set", None)) else None


def load_ledger(context: Mapping[str, Any], log: logging.Logger | Any) -> tuple[PublishLedger, bool]:
    """The ledger an earlier try saved (or a fresh one) and whether it is durable across tries."""
    store = task_state_store(context)
    if store is None:
        log.info(
            "No task state store in the task context (Airflow < 3.3): a retry of this task cannot tell which rules an "
            "earlier try applied, so a failure after rules were applied is not retried automatically"
        )
        return PublishLedger(), False
    save = functools.partial(store.set, LEDGER_KEY)
    ledger = PublishLedger.from_json(store.get(LEDGER_KEY), save=save)
    if ledger is None:
        return PublishLedger(save=save), True
    log.info(
        "Resuming the publish of an earlier try: %d rule(s) applied, %d failed, %d to reconcile",
        len(ledger.applied),
        len(ledger.failed),
        len(ledger.unsettled(list(ledger.snapshot))),
    )
    return ledger, True


def resumed_targets(
    ledger: PublishLedger, study: str, mode: str, publish_run: str, selected: list[str]
) -> list[str]:
    """The rules to publish: an earlier try's rules of the same publish first, then new ones.

    A retry re-selects by filter after the first try changed the rules (their publish run, say),
    so it may select fewer: the rules the earlier try set out to publish stay in the target.
    """
    args = study_path_args(study, mode)
    if (ledger.study_id, ledger.mode, ledger.publish_run) != (args["study_id"], args["mode"], publish_run):
        return selected
    earlier = list(ledger.snapshot)
    known = set(earlier)
    return earlier + [r for r in selected if r not in known]


__all__ = ["LEDGER_KEY", "load_ledger", "resumed_targets", "task_state_store"]
