"""Cancel Vault jobs: by id, or every job queued/scheduled longer than ``older_than``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.operators._reports import finish, vault_cancel_report
from clinical_rules_provider.task_helpers import as_bool, as_id_list, as_seconds

if TYPE_CHECKING:
    from airflow.sdk import Context

    from clinical_rules_provider.hooks.vault import VaultHook
    from clinical_rules_provider.models.vault import VaultJob


class _VaultJobsOperator(BaseOperator):
    def __init__(
        self, *, fail_on_not_cancelled: bool = True, vault_conn_id: str = "veeva_vault_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.fail_on_not_cancelled = fail_on_not_cancelled
        self.vault_conn_id = vault_conn_id

    def _hook(self) -> VaultHook:
        from clinical_rules_provider.hooks.vault import VaultHook

        return VaultHook(self.vault_conn_id)

    def _cancel(
        self, context: Context, hook: VaultHook, job_ids: list[int], report: dict[str, Any]
    ) -> dict[str, Any]:
        report.update(vault_cancel_report(hook.cancel_jobs(job_ids)))
        self._recheck_refusals(hook, report)
        self.log.info(
            "Vault accepted %d cancel(s), refused %d", len(report["cancelled"]), len(report["not_cancelled"])
        )
        return finish(context, report, fail=self.fail_on_not_cancelled, what="Vault job(s)", id_key="job_id")

    def _recheck_refusals(self, hook: VaultHook, report: dict[str, Any]) -> None:
        """A refusal for a job already ``CANCELLING``/``CANCELLED`` is a cancel that happened.

        A retried cancel (after a dropped connection or timeout that Vault had already
        processed) is refused because the job left ``QUEUED``; reading the job tells.
        """
        from clinical_rules_provider.hooks._transport import gather_all

        refused = [item["job_id"] for item in report["not_cancelled"]]
        if not refused:
            return
        try:
            jobs = hook.run_async(gather_all(hook.aget_job_status(j) for j in refused))
        except Exception as exc:  # the refusals stand as reported
            self.log.warning("Could not re-check refused cancels: %s", exc)
            return
        done = {j.job_id for j in jobs if j.status_text in ("CANCELLING", "CANCELLED")}
        report["cancelled"].extend(sorted(done))
        report["not_cancelled"] = [item for item in report["not_cancelled"] if item["job_id"] not in done]


class VaultCancelJobsOperator(_VaultJobsOperator):
    """Cancel Vault job instances (500 per request) and report each job.

    Vault only cancels ``SCHEDULED``, ``QUEUED`` and ``QUEUEING`` jobs (they move to
    ``CANCELLING``). The return value lists ``cancelled`` ids and ``not_cancelled`` items
    with Vault's reason; any refusal fails the task unless ``fail_on_not_cancelled=False``.

    :param job_ids: positive integers or numeric strings (an XComArg works; one id,
        comma-separated ids or a JSON list as a string work too, for templates).
    """

    template_fields: Sequence[str] = ("job_ids",)
    ui_color = "#f0c7c7"

    def __init__(self, *, job_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_ids = job_ids

    def execute(self, context: Context) -> dict[str, Any]:
        """Cancel and report."""
        hook = self._hook()
        try:
            return self._cancel(context, hook, as_id_list(self.job_ids, "job_ids"), {})
        finally:
            hook.close()


def job_age_start(job: VaultJob) -> datetime | None:
    """When the job started waiting (queued/scheduled: created) or running (run start)."""
    if job.status_text == "RUNNING" and job.run_start_date is not None:
        return job.run_start_date
    return job.created_date


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class VaultCancelStaleJobsOperator(_VaultJobsOperator):
    """Find Vault jobs unfinished for longer than ``older_than`` (job monitors) and cancel them.

    Jobs in ``SCHEDULED``/``QUEUED``/``QUEUEING`` are cancelled; jobs ``RUNNING`` too long
    are reported under ``running_not_cancellable`` (Vault cannot cancel them) without
    failing the task. ``dry_run=True`` only reports. Return value: ``stale``, ``cancelled``,
    ``not_cancelled`` (with Vault's reasons), ``running_not_cancellable``, ``dry_run``.
    """

    template_fields: Sequence[str] = ("dry_run",)
    ui_color = "#f0c7c7"

    def __init__(
        self,
        *,
        older_than: timedelta | float = timedelta(hours=1),
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.older_than = as_seconds(older_than, "older_than", minimum=1.0)
        # Shadows BaseOperator.dry_run(), an unused legacy helper, so the flag can be templated.
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]

    def execute(self, context: Context) -> dict[str, Any]:
        """Detect, then cancel (or only report when ``dry_run``)."""
        from clinical_rules_provider.models.enums import VAULT_JOB_CANCELLABLE_STATUSES

        dry_run = as_bool(self.dry_run, "dry_run")
        cutoff = utc_now() - timedelta(seconds=self.older_than)
        hook = self._hook()
        try:
            unfinished = list(hook.list_job_monitors())
            old = [j for j in unfinished if (start := job_age_start(j)) is not None and start <= cutoff]
            stale = [j for j in old if j.status_text in VAULT_JOB_CANCELLABLE_STATUSES]
            running = [j for j in old if j.status_text == "RUNNING"]
            report: dict[str, Any] = {
                "checked_jobs": len(unfinished),
                "older_than_seconds": self.older_than,
                "dry_run": dry_run,
                "stale": [
                    {"job_id": j.job_id, "status": j.status_text, "since": _iso(job_age_start(j))}
                    for j in stale
                ],
                "running_not_cancellable": [j.job_id for j in running],
                "cancelled": [],
                "not_cancelled": [],
            }
            self.log.info(
                "%d of %d unfinished Vault job(s) are stale and cancellable", len(stale), len(unfinished)
            )
            if dry_run or not stale:
                return report
            return self._cancel(context, hook, [j.job_id for j in stale], report)
        finally:
            hook.close()
