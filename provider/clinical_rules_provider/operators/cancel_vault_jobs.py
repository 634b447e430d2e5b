"""Cancel Vault jobs: by id, or the scoped jobs queued/running longer than ``older_than``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from clinical_rules_provider._provider_info import VAULT_DEFAULT_CONN_ID
from clinical_rules_provider.links import VaultJobLink, push_vault_job_links
from clinical_rules_provider.models.enums import VAULT_JOB_CANCELLABLE_STATUSES
from clinical_rules_provider.models.refs import VaultJobIds
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.operators._reports import finish, log_clock_skew
from clinical_rules_provider.operators._vault_scope import (
    OWNER_ME,
    VaultJobScope,
    age_since,
    check_scope_at_parse,
)
from clinical_rules_provider.task_helpers import (
    VaultHookMixin,
    as_bool,
    as_id_list,
    as_seconds,
    is_template,
    seconds_at_parse,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


__all__ = ["VaultCancelJobsOperator", "VaultCancelStaleJobsOperator"]


class _VaultJobsOperator(VaultHookMixin, BaseOperator):
    """Connection and failure switch shared by the two Vault job cancellers."""

    operator_extra_links = (VaultJobLink(),)
    ui_color = "#f0c7c7"

    def __init__(
        self, *, fail_on_not_cancelled: bool = True, vault_conn_id: str = VAULT_DEFAULT_CONN_ID, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.fail_on_not_cancelled = fail_on_not_cancelled
        self.vault_conn_id = vault_conn_id

    def _cancel(self, context: Context, job_ids: list[int], report: dict[str, Any]) -> dict[str, Any]:
        ids = VaultJobIds.of(job_ids)
        push_vault_job_links(context, self.hook.get_connection(self.vault_conn_id), list(ids))
        results = self.hook.cancel_jobs(ids)
        report["cancelled"] = [r.job_id for r in results if r.cancelled]
        report["not_cancelled"] = [
            {"job_id": r.job_id, "reason": r.reason} for r in results if not r.cancelled
        ]
        self._recheck_refusals(report)
        self.log.info(
            "Vault accepted %d cancel(s), refused %d", len(report["cancelled"]), len(report["not_cancelled"])
        )
        return finish(context, report, self.fail_on_not_cancelled, "Vault job(s)", "job_id")

    def _recheck_refusals(self, report: dict[str, Any]) -> None:
        """A refusal for a job already ``CANCELLING``/``CANCELLED`` is a cancel that happened
        (a retried cancel that Vault had already processed is refused: the job left ``QUEUED``)."""
        refused = [item["job_id"] for item in report["not_cancelled"]]
        if not refused:
            return
        try:
            jobs = self.hook.get_job_statuses(refused)
        except Exception as exc:  # the refusals stand as reported
            self.log.warning("Could not re-check refused cancels: %s", exc)
            return
        done = {j.job_id for j in jobs if j.status_text in ("CANCELLING", "CANCELLED")}
        report["cancelled"].extend(sorted(done))
        report["not_cancelled"] = [item for item in report["not_cancelled"] if item["job_id"] not in done]


class VaultCancelJobsOperator(_VaultJobsOperator):
    """Cancel Vault job instances (500 per request) and report each job.

    Returns ``cancelled`` ids and ``not_cancelled`` items with Vault's reason; any refusal
    fails the task unless ``fail_on_not_cancelled=False``.

    :param job_ids: positive integers or numeric strings (an XComArg works; one id,
        comma-separated ids or a JSON list as a string work too, for templates).
    :param fail_on_not_cancelled: fail the task when Vault refuses a cancel (default ``True``).
    :param vault_conn_id: Airflow connection of type ``veeva_vault`` (templated).
    """

    template_fields: Sequence[str] = ("job_ids", "vault_conn_id")

    def __init__(self, *, job_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_ids = job_ids

    def execute(self, context: Context) -> dict[str, Any]:
        """Cancel and report."""
        with self.hook:
            return self._cancel(context, as_id_list(self.job_ids, "job_ids"), {})


class VaultCancelStaleJobsOperator(_VaultJobsOperator):
    """Find the scoped Vault jobs unfinished for longer than ``older_than`` and cancel them.

    A Vault holds every team's jobs, so only jobs inside the scope are touched: by default
    the connection's own user's jobs; ``job_owner="any"`` alone is refused when the DAG is
    parsed. (Not ``owner``: that is the Airflow task owner.) Stale ``RUNNING`` jobs cannot be
    cancelled and are only reported. The guide "Cancel stale jobs" gives the safety rules,
    how a job's age is measured, and the return value.

    :param older_than: a job is stale once queued/running at least this long
        (``timedelta`` or seconds, >= 1; templated: a rendered number of seconds, numeric
        strings included).
    :param job_owner: ``"me"`` (default: the connection's user), ``"any"``, a Vault user id,
        or a list of user ids (``"me"`` may be one of them).
    :param title_pattern: glob (``fnmatch``, case-insensitive) or list of globs matched
        against each job's title and job name; a job must match one.
    :param job_types: job type or list of types (case-insensitive); a job must have one.
    :param include_scheduled: also cancel ``SCHEDULED`` jobs unchanged for at least
        ``older_than`` (default ``False``: never).
    :param dry_run: only report what would be cancelled (templated; the attribute shadows
        the legacy ``BaseOperator.dry_run()``, so that the design's name stays templatable).
    :param fail_on_not_cancelled: fail the task when Vault refuses a cancel (default ``True``).
    :param vault_conn_id: Airflow connection of type ``veeva_vault`` (templated).
    """

    template_fields: Sequence[str] = (
        "older_than",
        "job_owner",
        "title_pattern",
        "job_types",
        "include_scheduled",
        "dry_run",
        "vault_conn_id",
    )

    def __init__(
        self,
        *,
        older_than: timedelta | float | str = timedelta(hours=1),
        job_owner: Any = OWNER_ME,
        title_pattern: Any = None,
        job_types: Any = None,
        include_scheduled: bool | str = False,
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.older_than = seconds_at_parse(older_than, "older_than", minimum=1.0)
        check_scope_at_parse(job_owner, title_pattern, job_types)
        if not is_template(include_scheduled):
            as_bool(include_scheduled, "include_scheduled")
        self.job_owner = job_owner
        self.title_pattern = title_pattern
        self.job_types = job_types
        self.include_scheduled = include_scheduled
        self.dry_run = dry_run  # type: ignore[method-assign,assignment]

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the rendered scope, detect, then cancel (or only report when ``dry_run``)."""
        scope = VaultJobScope.parse(self.job_owner, self.title_pattern, self.job_types)
        include_scheduled = as_bool(self.include_scheduled, "include_scheduled")
        dry_run = as_bool(self.dry_run, "dry_run")
        older_than = as_seconds(self.older_than, "older_than", minimum=1.0)  # rendered now
        cutoff = utc_now() - timedelta(seconds=older_than)
        hook = self.hook
        with hook:
            unfinished = list(hook.list_job_monitors())  # logs in first: the reply names the user
            owner_ids = scope.owner_ids(hook.current_user_id)
            in_scope = [j for j in unfinished if scope.matches(j, owner_ids)]
            aged = [(j, since) for j in in_scope if (since := age_since(j)) and since[1] <= cutoff]
            stale: list[dict[str, Any]] = [
                {
                    "job_id": j.job_id,
                    "status": j.status_text,
                    "since": since.isoformat(),
                    "age_from": field,
                    "created_by": None if j.created_by is None else str(j.created_by),
                    "title": j.title or j.job_name,
                }
                for j, (field, since) in aged
                if j.status_text in VAULT_JOB_CANCELLABLE_STATUSES
                and (include_scheduled or j.status_text != "SCHEDULED")
            ]
            report: dict[str, Any] = {
                "scope": {**scope.describe(owner_ids), "include_scheduled": include_scheduled},
                "checked_jobs": len(unfinished),
                "in_scope_jobs": len(in_scope),
                "older_than_seconds": older_than,
                "clock_skew_seconds": log_clock_skew(hook, self.log, "older_than"),
                "dry_run": dry_run,
                "stale": stale,
                "running_not_cancellable": [j.job_id for j, _ in aged if j.status_text == "RUNNING"],
                "scheduled_not_included": [
                    j.job_id for j, _ in aged if not include_scheduled and j.status_text == "SCHEDULED"
                ],
                "cancelled": [],
                "not_cancelled": [],
            }
            self.log.info(
                "%d of %d unfinished Vault job(s) are in scope; %d stale and cancellable",
                len(in_scope),
                len(unfinished),
                len(stale),
            )
            if dry_run or not stale:  # the links then name the jobs a real run would cancel
                push_vault_job_links(
                    context, hook.get_connection(self.vault_conn_id), [s["job_id"] for s in stale]
                )
                return report
            return self._cancel(context, [s["job_id"] for s in stale], report)
