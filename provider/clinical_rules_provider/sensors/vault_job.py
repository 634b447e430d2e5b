"""Wait until Vault jobs reach a terminal status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf

from clinical_rules_provider._provider_info import VAULT_DEFAULT_CONN_ID
from clinical_rules_provider.job_options import vault_failure_status_set
from clinical_rules_provider.links import VaultJobLink, push_vault_job_links
from clinical_rules_provider.models.refs import VaultJobIds
from clinical_rules_provider.sensors._deferrable import DeferrableJobSensor
from clinical_rules_provider.task_helpers import VaultHookMixin, as_id_list

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.job_watch import VaultWatchOutcome
    from clinical_rules_provider.triggers.vault_job import VaultJobTrigger

MIN_POLL_INTERVAL = 10.0  # Vault: one status read per job per 10 s


class VaultJobSensor(VaultHookMixin, DeferrableJobSensor):
    """Succeeds when every job finished with ``SUCCESS``; fails naming each job that ended in a
    status in ``failure_statuses`` (default: every terminal status but ``SUCCESS``, so a
    cancelled job fails the sensor unless you say otherwise).

    Every mode gives the same results; a failure status raises :class:`AirflowFailException`
    (no retries; ``soft_fail=True`` skips).

    :param poll_interval: seconds (or a ``timedelta``) between polls, at least 10; templated.
    :param job_ids: Vault job ids (ints or numeric strings; an XComArg works). A string (what
        a template renders) is one id, comma-separated ids, or a JSON list.
    :param failure_statuses: terminal statuses that fail the sensor (default: every terminal
        status but ``SUCCESS``).
    :param deferrable: wait in the triggerer (default: the ``[operators] default_deferrable``
        option).
    :param cancel_on_kill: cancel the jobs if the task is killed while waiting.
    :param vault_conn_id: Airflow connection of type ``veeva_vault`` (templated).
    """

    template_fields: Sequence[str] = ("job_ids", "poll_interval", "vault_conn_id")
    min_poll_interval = MIN_POLL_INTERVAL
    operator_extra_links = (VaultJobLink(),)
    noun = "Vault jobs"

    def __init__(
        self,
        *,
        job_ids: Any,
        failure_statuses: Sequence[str] | None = None,
        poll_interval: float | timedelta | str = 30.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = False,
        vault_conn_id: str = VAULT_DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(poll_interval=poll_interval, deferrable=deferrable, **kwargs)

        self.job_ids = job_ids
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self._failure_status_set = vault_failure_status_set(self.failure_statuses)
        self.cancel_on_kill = cancel_on_kill
        self.vault_conn_id = vault_conn_id
        self._parsed_ids: VaultJobIds | None = None

    def _job_ids(self) -> VaultJobIds:
        """The (rendered) job ids, parsed once per execution: the links, every poll and the
        trigger reuse them."""
        if self._parsed_ids is None:
            self._parsed_ids = VaultJobIds.of(as_id_list(self.job_ids, "job_ids"))
        return self._parsed_ids

    def execute(self, context: Context) -> Any:
        """Push the job links (before any wait), then wait."""
        self._parsed_ids = None
        push_vault_job_links(context, self.hook.get_connection(self.vault_conn_id), list(self._job_ids()))
        return super().execute(context)

    def poll(self, context: Context) -> VaultWatchOutcome:
        """The status of every job (each read at most once per 10 s)."""
        from clinical_rules_provider.job_watch import evaluate_vault_jobs

        jobs = self.hook.get_job_statuses(self._job_ids())
        return evaluate_vault_jobs({j.job_id: j.status_text for j in jobs}, self._failure_status_set)

    def trigger(self, context: Context, end_time: float, first_poll_delay: float = 0.0) -> VaultJobTrigger:
        """The :class:`VaultJobTrigger` carrying every parameter of this sensor."""
        from clinical_rules_provider.triggers.vault_job import VaultJobTrigger

        return VaultJobTrigger(
            job_ids=list(self._job_ids()),
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
        try:
            results = self.hook.cancel_jobs(self._job_ids())
            self.log.info("Cancel accepted for %d Vault job(s) on kill", sum(r.cancelled for r in results))
        finally:
            self.hook.close()
