"""Wait until Vault jobs reach a terminal status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from clinical_rules_provider.operators._common import as_seconds
from clinical_rules_provider.sensors._deferrable import DeferrableJobSensor, verdict

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.triggers.vault_job import VaultJobTrigger

MIN_POLL_INTERVAL = 10.0  # Vault: one status read per job per 10 s


class VaultJobSensor(DeferrableJobSensor):
    """Succeeds when every job finished with ``SUCCESS``; fails naming each job that ended in a
    status in ``failure_statuses`` (default: every terminal status but ``SUCCESS``, so a
    cancelled job fails the sensor unless you say otherwise).

    ``poll_interval`` is at least 10 s (Vault's per-job limit). ``deferrable=True`` waits in
    the triggerer with the same semantics.

    :param job_ids: Vault job ids (ints or numeric strings; an XComArg works).
    """

    template_fields: Sequence[str] = ("job_ids",)
    ui_color = "#f4e3c1"

    def __init__(
        self,
        *,
        job_ids: Any,
        failure_statuses: Sequence[str] | None = None,
        poll_interval: float | timedelta = 30.0,
        deferrable: bool = False,
        cancel_on_kill: bool = False,
        vault_conn_id: str = "veeva_vault_default",
        **kwargs: Any,
    ) -> None:
        interval = max(as_seconds(poll_interval, "poll_interval"), MIN_POLL_INTERVAL)
        kwargs["poke_interval"] = max(
            as_seconds(kwargs.get("poke_interval", interval), "poke_interval"), MIN_POLL_INTERVAL
        )
        super().__init__(deferrable=deferrable, **kwargs)
        from clinical_rules_provider.job_options import vault_failure_status_set

        self.job_ids = job_ids
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        vault_failure_status_set(self.failure_statuses)
        self.poll_interval = interval
        self.cancel_on_kill = cancel_on_kill
        self.vault_conn_id = vault_conn_id

    def _job_ids(self) -> list[int]:
        from clinical_rules_provider.clients.vault import job_id_list

        return job_id_list(self.job_ids)

    def poke(self, context: Context) -> PokeReturnValue:
        """One poll over all jobs (the outcome is the XCom value once done); raises naming failed jobs."""
        from clinical_rules_provider.exceptions import TransientServiceError
        from clinical_rules_provider.hooks._transport import gather_all
        from clinical_rules_provider.hooks.vault import VaultHook
        from clinical_rules_provider.job_options import vault_failure_status_set
        from clinical_rules_provider.job_watch import evaluate_vault_jobs

        hook = VaultHook(self.vault_conn_id)
        ids = self._job_ids()
        try:
            jobs = hook.run_async(gather_all(hook.aget_job_status(j) for j in ids))
        except TransientServiceError as exc:
            self.log.warning("Transient error while polling Vault jobs (will poll again): %s", exc)
            return PokeReturnValue(is_done=False)
        finally:
            hook.close()
        outcome = evaluate_vault_jobs(
            {j.job_id: j.status_text for j in jobs}, vault_failure_status_set(self.failure_statuses)
        )
        return verdict(outcome)

    def trigger(self, context: Context, end_time: float, first_poll_delay: float = 0.0) -> VaultJobTrigger:
        """The :class:`VaultJobTrigger` carrying every parameter of this sensor."""
        from clinical_rules_provider.triggers.vault_job import VaultJobTrigger

        return VaultJobTrigger(
            job_ids=self._job_ids(),
            end_time=end_time,
            failure_statuses=self.failure_statuses,
            poll_interval=self.poll_interval,
            vault_conn_id=self.vault_conn_id,
            cancel_on_kill=self.cancel_on_kill,
            first_poll_delay=first_poll_delay,
        )

    def on_kill(self) -> None:
        """In poke/reschedule mode, cancel the jobs when ``cancel_on_kill`` is set."""
        if not self.cancel_on_kill:
            return
        from clinical_rules_provider.hooks.vault import VaultHook

        results = VaultHook(self.vault_conn_id).cancel_jobs(self._job_ids())
        self.log.info("Cancel accepted for %d Vault job(s) on kill", sum(r.cancelled for r in results))
