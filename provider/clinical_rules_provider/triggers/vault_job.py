"""Deferrable wait for Vault jobs."""

from __future__ import annotations

from clinical_rules_provider._provider_info import VAULT_DEFAULT_CONN_ID
from clinical_rules_provider.hooks.vault import VaultHook
from clinical_rules_provider.job_options import vault_failure_status_set
from clinical_rules_provider.job_watch import VaultWatchOutcome, evaluate_vault_jobs
from clinical_rules_provider.models.refs import VaultJobIds
from clinical_rules_provider.triggers import _checks
from clinical_rules_provider.triggers._polling import JobPollingTrigger

__all__ = ["VaultJobTrigger"]


class VaultJobTrigger(JobPollingTrigger[VaultHook]):
    """Polls Vault job status until every job is terminal or ``end_time`` (epoch) passes.

    Each job is read at most once per 10 s (Vault's limit). Events as described in
    :class:`JobPollingTrigger`. Ids and failure statuses are checked once, here: the polls pass
    the checked ids (:class:`~clinical_rules_provider.models.refs.VaultJobIds`) to the hook as they are.

    :param job_ids: Vault job ids.
    :param end_time: epoch seconds after which the trigger fires ``timeout``.
    :param failure_statuses: terminal statuses that end the wait with ``failure``
        (default: every terminal status but ``SUCCESS``).
    :param poll_interval: seconds between polls (finite, at least 10: Vault's per-job limit).
    :param vault_conn_id: Airflow connection of type ``veeva_vault``.
    :param cancel_on_kill: cancel the jobs when the task is killed (Airflow 3.3+).
    """

    noun = "Vault job(s)"
    label = "job {}"

    def __init__(
        self,
        *,
        job_ids: list[int],
        end_time: float,
        failure_statuses: list[str] | None = None,
        poll_interval: float = 30.0,
        vault_conn_id: str = VAULT_DEFAULT_CONN_ID,
        cancel_on_kill: bool = False,
        first_poll_delay: float = 0.0,
    ) -> None:
        super().__init__()
        with _checks.arguments():
            self._job_ids = VaultJobIds.of(job_ids)
        self.job_ids = list(self._job_ids)
        self.end_time = _checks.epoch(end_time, "end_time")
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.failure_status_set = vault_failure_status_set(self.failure_statuses)
        self.poll_interval = _checks.seconds(poll_interval, "poll_interval", minimum=_checks.VAULT_POLL_FLOOR)
        self.vault_conn_id = vault_conn_id
        self.cancel_on_kill = cancel_on_kill
        self.first_poll_delay = _checks.delay(first_poll_delay, "first_poll_delay")

    def open_hook(self) -> VaultHook:
        """A hook on this trigger's connection."""
        return VaultHook(self.vault_conn_id)

    def waiting_at_start(self) -> dict[str, str]:
        """Every job, before the first poll."""
        return {str(j): "not polled yet" for j in self.job_ids}

    async def poll(self, hook: VaultHook) -> VaultWatchOutcome:
        """The status of every job (each read at most once per 10 s)."""
        jobs = await hook.aget_job_statuses(self._job_ids)
        return evaluate_vault_jobs({j.job_id: j.status_text for j in jobs}, self.failure_status_set)

    async def cancel(self, hook: VaultHook) -> None:
        """Cancel the jobs (see :meth:`JobPollingTrigger.on_kill`)."""
        await hook.acancel_jobs(self._job_ids)
