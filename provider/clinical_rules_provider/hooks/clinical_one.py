"""Hook for the Oracle Clinical One rule endpoints (publish run, filter, cancel, rerun history)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from clinical_rules_provider._provider_info import (
    CLINICAL_ONE_BEHAVIOUR,
    CLINICAL_ONE_DEFAULT_CONN_ID,
    CLINICAL_ONE_FIELDS,
)
from clinical_rules_provider._show import shown
from clinical_rules_provider.clients import clinical_one as api
from clinical_rules_provider.clients import filtered_list
from clinical_rules_provider.clients import publish_run as publish_api
from clinical_rules_provider.clients.base import Exchange
from clinical_rules_provider.clients.filtered_list import DEFAULT_FILTER_FIELD_NAMES
from clinical_rules_provider.clients.publish_ledger import PublishLedger
from clinical_rules_provider.exceptions import ClinicalRulesError
from clinical_rules_provider.hooks._publish import PublishArgs, publisher, raise_in_doubt, settle_setting
from clinical_rules_provider.hooks.base import ServiceHook
from clinical_rules_provider.hooks.connection import ConnectionLike, base_url, extra_value, transport_options
from clinical_rules_provider.models.clinical_one import (
    CancelRuleJobsResult,
    JobStatusResult,
    PublishRunResult,
    RerunHistory,
    RuleJob,
    RuleSummary,
)
from clinical_rules_provider.models.refs import CompactId, PollEndpoint, RuleIds, StudyRef
from clinical_rules_provider.transport.auth import BearerTokenAuth, OAuth2Auth
from clinical_rules_provider.transport.secrets import register_secret
from clinical_rules_provider.transport.session import TransportSettings


@dataclass(frozen=True, repr=False)
class ClinicalOneConfig:
    """A ``clinical_one`` connection, parsed; ``transport.auth`` holds the secrets."""

    transport: TransportSettings
    auth_kind: str
    service_timezone: str = "UTC"
    study_id: str | None = None
    study_mode: str | None = None
    filter_field_names: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FILTER_FIELD_NAMES)
    settle: publish_api.Settle = field(default_factory=publish_api.Settle)

    def __repr__(self) -> str:
        return f"ClinicalOneConfig(base_url={self.transport.base_url!r}, auth={self.auth_kind})"


def clinical_one_config(conn: ConnectionLike) -> ClinicalOneConfig:
    """Parse a ``clinical_one`` connection (auth order: OAuth2, static bearer, Basic)."""

    def ext(key: str, default: Any = None) -> Any:
        return extra_value(conn, "clinical_one", key, default)

    auth: httpx.Auth
    if ext("token_url"):
        if not ext("client_id") or not ext("client_secret"):
            raise ValueError(
                f"connection {conn.conn_id!r}: token_url needs client_id and client_secret in the extra"
            )
        kind = "oauth2"
        auth = OAuth2Auth(
            ext("token_url"),
            ext("client_id"),
            ext("client_secret"),
            scope=ext("scope"),
            username=conn.login or None,
            password=conn.password or None,
            client_auth=ext("token_auth_method", "basic"),
        )
    elif ext("token"):
        kind, auth = "bearer", BearerTokenAuth(ext("token"))
    elif conn.login:
        register_secret(conn.password, "password")
        kind, auth = "basic", httpx.BasicAuth(conn.login, conn.password or "")
    else:
        raise ValueError(
            f"connection {conn.conn_id!r}: no credentials; set token_url+client_id+client_secret, "
            "a token in the extra, or login/password"
        )
    timezone = str(ext("service_timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"connection extra service_timezone: {shown(timezone)} is not an IANA time zone"
        ) from None
    names = ext("filter_field_names", {}) or {}
    if not isinstance(names, dict) or set(names) - set(DEFAULT_FILTER_FIELD_NAMES):
        raise ValueError(
            f"connection extra filter_field_names: keys must be among {sorted(DEFAULT_FILTER_FIELD_NAMES)}"
        )
    return ClinicalOneConfig(
        transport=TransportSettings(
            base_url=base_url(conn),
            auth=auth,
            headers={"Accept": "application/json"},
            **transport_options(conn, "clinical_one"),
        ),
        auth_kind=kind,
        service_timezone=timezone,
        study_id=ext("study_id"),
        study_mode=ext("study_mode"),
        filter_field_names={**DEFAULT_FILTER_FIELD_NAMES, **names},
        settle=settle_setting(ext),
    )


class ClinicalOneHook(ServiceHook[ClinicalOneConfig]):
    """Talks to the Clinical One rule services of one tenant.

    Ids may be given compact or hyphenated, in any case; modes case-insensitively. Bad
    input raises ``ValueError`` naming the field before anything is sent. Lists of more
    than 500 rules are split into 500-id requests (duplicates dropped, input order kept).
    Every method has an ``a``-prefixed async twin that shares its request building and
    parsing.

    :param clinical_one_conn_id: Airflow connection of type ``clinical_one``.
    :param max_concurrency: cap on concurrent requests of the async methods (default:
        the connection extra ``max_concurrency``, else 8).
    """

    conn_name_attr = "clinical_one_conn_id"
    default_conn_name = CLINICAL_ONE_DEFAULT_CONN_ID
    conn_type = "clinical_one"
    hook_name = "Oracle Clinical One"
    _form_fields, _form_behaviour = CLINICAL_ONE_FIELDS, CLINICAL_ONE_BEHAVIOUR

    def __init__(
        self,
        clinical_one_conn_id: str = default_conn_name,
        *,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(clinical_one_conn_id, max_concurrency=max_concurrency, **kwargs)
        self.clinical_one_conn_id = clinical_one_conn_id

    def _parse_config(self, conn: ConnectionLike) -> ClinicalOneConfig:
        return clinical_one_config(conn)

    @property
    def service_timezone(self) -> str:
        """Zone that ``jobStartDate`` values are read in (connection extra, default UTC)."""
        return self.config.service_timezone

    # --- update publish run ---------------------------------------------------------------

    def update_publish_run(
        self,
        study_id: str,
        mode: str,
        publish_run: str,
        rule_ids: Any,
        *,
        poll_endpoint: str = "job_status",
        ledger: PublishLedger | None = None,
    ) -> list[PublishRunResult]:
        """Switch rules to ``AllData`` or ``FutureData``; one result per rule, in input order.

        Per-rule failures are results (check ``succeeded``/``failure_reason``), never dropped;
        a 500-rule chunk the service refuses as a whole gives each of its rules a failed
        result, and never stops the other chunks. An ``AllData`` update starts new rule jobs,
        so it is resent blindly only when it never reached the service (connect error, 429).
        Before the first send each rule's job ids are read (the snapshot, kept in ``ledger``);
        after an ambiguous failure (timeout, dropped connection, 5xx, malformed reply) a rule
        counts as applied only when a job id absent from the snapshot appears, looked for
        during the connection's ``publish_settle_seconds``; a rule without one is sent again.
        ``FutureData`` starts no job and is retried like a read.

        Raises :class:`~clinical_rules_provider.exceptions.PublishRunUnconfirmedError` naming
        the applied, failed and unconfirmed rules when some cannot be settled, including when
        the reconciling read fails or the call's deadline passes after a send.

        :param poll_endpoint: how job ids are read: ``job_status`` (bulk, 500 rules per
            request; rerun history when the tenant refuses it) or ``rerun_history``.
        :param ledger: the publish's state; pass the one an earlier try saved (its ``save``
            is called on every change, first before anything is sent) to resume it.
        """
        args = PublishArgs.of(study_id, mode, publish_run, rule_ids, poll_endpoint)  # before the connection
        return self.run_async(self._apublish(args, ledger))

    async def aupdate_publish_run(
        self,
        study_id: str,
        mode: str,
        publish_run: str,
        rule_ids: Any,
        *,
        poll_endpoint: str = "job_status",
        ledger: PublishLedger | None = None,
    ) -> list[PublishRunResult]:
        """Async :meth:`update_publish_run`."""
        args = PublishArgs.of(study_id, mode, publish_run, rule_ids, poll_endpoint)
        return await self._apublish(args, ledger)

    async def _apublish(self, args: PublishArgs, ledger: PublishLedger | None) -> list[PublishRunResult]:
        """The publish both twins run, on values checked by the twin that was called."""
        book = ledger if ledger is not None else PublishLedger()
        try:
            return await self._acall(publisher(args, book))
        except ClinicalRulesError as exc:
            raise_in_doubt(book, args.rule_ids, exc)
            raise

    # --- filtered list --------------------------------------------------------------------

    def list_rules(self, study_id: str, mode: str, **filters: Any) -> Iterator[RuleSummary]:
        """Stream rules matching ``filters``, fetching pages as the iterator is consumed.

        Filters: ``form_id``, ``item_ids``, ``publish_run``, ``enabled`` (bool),
        ``rule_states``, ``training`` (bool), ``sort_column``, ``sort_order``, ``user_id``,
        ``user_name``, and ``page_size`` (default 100). Validation happens on the call,
        not on first iteration.
        """
        return self._iter_pages(*_rule_pager(study_id, mode, filters))

    def alist_rules(self, study_id: str, mode: str, **filters: Any) -> AsyncIterator[RuleSummary]:
        """Async :meth:`list_rules` (an async iterator)."""
        return self._aiter_pages(*_rule_pager(study_id, mode, filters))

    # --- cancel and job status ------------------------------------------------------------

    def cancel_rule_jobs(self, study_id: str, mode: str, rule_ids: Any) -> CancelRuleJobsResult:
        """Cancel the pending/running job of each rule.

        The result lists each rule's entry (``Cancelled``, ``Failed to cancel job``, ...)
        and ``missing_rule_ids`` for rules the service did not report on.
        """
        study, ids = StudyRef.of(study_id, mode), RuleIds.of(rule_ids)
        return self._call(lambda c: api.cancel_rule_jobs(study, ids, service_timezone=c.service_timezone))

    async def acancel_rule_jobs(self, study_id: str, mode: str, rule_ids: Any) -> CancelRuleJobsResult:
        """Async :meth:`cancel_rule_jobs`."""
        study, ids = StudyRef.of(study_id, mode), RuleIds.of(rule_ids)
        return await self._acall(
            lambda c: api.cancel_rule_jobs(study, ids, service_timezone=c.service_timezone)
        )

    def get_job_status(
        self, study_id: str, mode: str, rule_ids: Any, *, history: bool = False
    ) -> JobStatusResult:
        """Latest job of each rule via the bulk ``v2.0 jobStatus`` endpoint (500 rules per call).

        Not in the API references; see the docs page "Inferences and overrides".
        """
        return self._call(_job_status(StudyRef.of(study_id, mode), RuleIds.of(rule_ids), history))

    async def aget_job_status(
        self, study_id: str, mode: str, rule_ids: Any, *, history: bool = False
    ) -> JobStatusResult:
        """Async :meth:`get_job_status`."""
        return await self._acall(_job_status(StudyRef.of(study_id, mode), RuleIds.of(rule_ids), history))

    # --- rerun history --------------------------------------------------------------------

    def get_rerun_history(self, study_id: str, mode: str, rule_id: str) -> RerunHistory:
        """A rule's rerun history with aware ``job_start_date`` values.

        Raises :class:`~clinical_rules_provider.exceptions.ClinicalOneNotFoundError` when
        the service answers ``NOT_FOUND``.
        """
        study, rule = StudyRef.of(study_id, mode), CompactId.of(rule_id, "rule_id")
        return self._call(lambda c: api.get_rerun_history(study, rule, service_timezone=c.service_timezone))

    async def aget_rerun_history(self, study_id: str, mode: str, rule_id: str) -> RerunHistory:
        """Async :meth:`get_rerun_history`."""
        study, rule = StudyRef.of(study_id, mode), CompactId.of(rule_id, "rule_id")
        return await self._acall(
            lambda c: api.get_rerun_history(study, rule, service_timezone=c.service_timezone)
        )

    # --- latest jobs of many rules (sensor, trigger, stale-job detection) ----------------

    async def alatest_jobs(
        self,
        study_id: str,
        mode: str,
        rule_ids: Any,
        *,
        poll_endpoint: str = "rerun_history",
        history: bool = False,
    ) -> dict[str, list[RuleJob]]:
        """Recent jobs of each rule, keyed by uppercase compact rule id, fetched concurrently.

        ``poll_endpoint="rerun_history"`` (default, the references' endpoint) sends one
        request per rule, at most ``max_concurrency`` at a time; a rule with ``NOT_FOUND``
        history maps to ``[]``. ``"job_status"`` uses the bulk endpoint: ceil(N/500)
        requests, the latest job per rule unless ``history=True``. Study, mode and ids are
        validated once per call, and not at all when they arrive as checked values (a trigger's).

        :param study_id: the study (either UUID form).
        :param mode: the study mode (case-insensitive).
        :param rule_ids: the rules (either UUID form; duplicates dropped).
        :param poll_endpoint: ``rerun_history`` or ``job_status``.
        :param history: with ``job_status``, every recent job of a rule, not only the latest.
        """
        study, ids = StudyRef.of(study_id, mode), RuleIds.of(rule_ids)
        endpoint = PollEndpoint.of(poll_endpoint)
        return await self._acall(
            lambda c: api.latest_jobs(
                study,
                ids,
                poll_endpoint=endpoint,
                history=history,
                service_timezone=c.service_timezone,
            )
        )

    def latest_jobs(
        self,
        study_id: str,
        mode: str,
        rule_ids: Any,
        *,
        poll_endpoint: str = "rerun_history",
        history: bool = False,
    ) -> dict[str, list[RuleJob]]:
        """Sync :meth:`alatest_jobs`."""
        study, ids, endpoint = (
            StudyRef.of(study_id, mode),
            RuleIds.of(rule_ids),
            PollEndpoint.of(poll_endpoint),
        )
        return self.run_async(
            self.alatest_jobs(study.study_id, study.mode, ids, poll_endpoint=endpoint, history=history)
        )

    # --- connection test ------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check credentials and, when the extra names a ``study_id``, endpoint access.

        Never raises and never puts secrets in the message.
        """
        return self._test(self._list_one_rule)

    def _list_one_rule(self) -> tuple[bool, str]:
        config = self.config
        if not config.study_id:
            return False, (
                f"Connection parsed ({config.auth_kind} auth) but not verified: set study_id "
                "(and study_mode) in the extra so a rule list can be requested"
            )
        mode = config.study_mode or "test"
        rule = next(iter(self.list_rules(config.study_id, mode, page_size=1)), None)
        found = "at least one rule" if rule is not None else "no rules"
        return True, f"Connected with {config.auth_kind} auth; study {config.study_id} ({mode}) has {found}"


def _rule_pager(
    study_id: str, mode: str, filters: dict[str, Any]
) -> tuple[filtered_list.RulePager, Callable[[ClinicalOneConfig], None]]:
    pager = filtered_list.RulePager.create(study_id, mode, **filters)  # validates now

    def prepare(config: ClinicalOneConfig) -> None:
        pager.field_names = config.filter_field_names

    return pager, prepare


def _job_status(
    study: StudyRef, rule_ids: RuleIds, history: bool
) -> Callable[[ClinicalOneConfig], Exchange[JobStatusResult]]:
    return lambda config: api.get_job_status(
        study, rule_ids, history=history, service_timezone=config.service_timezone
    )


__all__ = ["ClinicalOneConfig", "ClinicalOneHook", "clinical_one_config"]
