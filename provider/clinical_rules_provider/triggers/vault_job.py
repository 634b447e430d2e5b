"""Deferrable wait for Vault jobs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from clinical_rules_provider.exceptions import ClinicalRulesError, TransientServiceError
from clinical_rules_provider.hooks._transport import gather_all
from clinical_rules_provider.hooks.vault import JOB_STATUS_MIN_INTERVAL, VaultHook
from clinical_rules_provider.job_watch import evaluate_vault_jobs, vault_failure_status_set


class VaultJobTrigger(BaseTrigger):
    """Polls Vault job status until every job is terminal or ``end_time`` (epoch) passes.

    Each job is read at most once per 10 s (Vault's limit). Events: ``success``,
    ``failure`` (a status in ``failure_statuses``), ``timeout`` or ``error``.
    """

    def __init__(
        self,
        *,
        job_ids: list[int],
        end_time: float,
        failure_statuses: list[str] | None = None,
        poll_interval: float = 30.0,
        vault_conn_id: str = VaultHook.default_conn_name,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__()
        self.job_ids = [int(j) for j in job_ids]
        self.end_time = float(end_time)
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.poll_interval = max(float(poll_interval), JOB_STATUS_MIN_INTERVAL)
        self.vault_conn_id = vault_conn_id
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs; every constructor argument round-trips."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ids": self.job_ids,
                "end_time": self.end_time,
                "failure_statuses": self.failure_statuses,
                "poll_interval": self.poll_interval,
                "vault_conn_id": self.vault_conn_id,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done; never blocks the event loop."""
        failure_statuses = vault_failure_status_set(self.failure_statuses)
        hook = VaultHook(self.vault_conn_id)
        waiting: dict[str, str] = {str(j): "not polled yet" for j in self.job_ids}
        try:
            while True:
                try:
                    jobs = await gather_all(hook.aget_job_status(j) for j in self.job_ids)
                    outcome = evaluate_vault_jobs({j.job_id: j.status_text for j in jobs}, failure_statuses)
                    if outcome.failed:
                        yield TriggerEvent(
                            {
                                "status": "failure",
                                "message": outcome.failure_message(),
                                "outcome": outcome.to_json(),
                            }
                        )
                        return
                    if outcome.done:
                        message = f"all {len(outcome.succeeded)} Vault job(s) finished"
                        yield TriggerEvent(
                            {"status": "success", "message": message, "outcome": outcome.to_json()}
                        )
                        return
                    waiting = outcome.to_json()["waiting"]
                except TransientServiceError as exc:
                    self.log.warning("Transient error while polling Vault jobs (will poll again): %s", exc)
                except ClinicalRulesError as exc:
                    yield TriggerEvent({"status": "error", "message": str(exc)})
                    return
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    pending = "; ".join(f"job {j}: {s}" for j, s in sorted(waiting.items()))
                    yield TriggerEvent(
                        {"status": "timeout", "message": f"timed out waiting on Vault jobs: {pending}"}
                    )
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
        finally:
            await hook.aclose()

    async def on_kill(self) -> None:
        """Airflow 3.3+: cancel the jobs when the task is killed and ``cancel_on_kill`` is set."""
        if not self.cancel_on_kill:
            return
        hook = VaultHook(self.vault_conn_id)
        try:
            await asyncio.wait_for(hook.acancel_jobs(self.job_ids), 30)
        finally:
            await hook.aclose()
