"""List rules through the ``filteredlist`` endpoint and hand their ids downstream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from clinical_rules_provider._compat import AirflowException
from clinical_rules_provider._provider_info import CLINICAL_ONE_DEFAULT_CONN_ID
from clinical_rules_provider.task_helpers import ClinicalOneHookMixin, resolve_study

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ClinicalOneFilterRulesOperator"]

FILTER_PARAMS = (
    "form_id",
    "item_ids",
    "publish_run",
    "enabled",
    "rule_states",
    "training",
    "sort_column",
    "sort_order",
    "user_id",
    "user_name",
)


class ClinicalOneFilterRulesOperator(ClinicalOneHookMixin, BaseOperator):
    """Return the ids of the rules matching every given filter (every page, as XCom ``return_value``).

    :param study_id: study; default: the connection extra ``study_id``.
    :param study_mode: study mode; default: the connection extra ``study_mode``.
    :param form_id: form UUID (either form).
    :param item_ids: item UUIDs.
    :param publish_run: ``AllData`` or ``FutureData``.
    :param enabled: ``True``/``False``.
    :param rule_states: any of ``draft``, ``uat``, ``approved``, ``publish``.
    :param training: ``True``/``False``.
    :param sort_column: e.g. ``ruleName``.
    :param sort_order: ``ASC``/``DESC``.
    :param user_id: last modifier's id.
    :param user_name: last modifier's name (case-insensitive).
    :param page_size: rules per request (1-1000, default 100).
    :param fail_if_empty: fail when no rule matches (default ``False``: return ``[]``).
    :param push_summaries: also push the matching rules' summaries as XCom ``rule_summaries``.
    :param clinical_one_conn_id: Airflow connection of type ``clinical_one`` (templated).
    """

    template_fields: Sequence[str] = ("study_id", "study_mode", *FILTER_PARAMS, "clinical_one_conn_id")
    ui_color = "#d7ecd9"

    def __init__(
        self,
        *,
        study_id: str | None = None,
        study_mode: str | None = None,
        form_id: str | None = None,
        item_ids: Sequence[str] | None = None,
        publish_run: str | None = None,
        enabled: bool | None = None,
        rule_states: Sequence[str] | None = None,
        training: bool | None = None,
        sort_column: str | None = None,
        sort_order: str | None = None,
        user_id: str | None = None,
        user_name: str | None = None,
        page_size: int = 100,
        push_summaries: bool = False,
        fail_if_empty: bool = False,
        clinical_one_conn_id: str = CLINICAL_ONE_DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.study_id = study_id
        self.study_mode = study_mode
        self.form_id = form_id
        self.item_ids = item_ids
        self.publish_run = publish_run
        self.enabled = enabled
        self.rule_states = rule_states
        self.training = training
        self.sort_column = sort_column
        self.sort_order = sort_order
        self.user_id = user_id
        self.user_name = user_name
        self.page_size = page_size
        self.push_summaries = push_summaries
        self.fail_if_empty = fail_if_empty
        self.clinical_one_conn_id = clinical_one_conn_id

    def filters(self) -> dict[str, Any]:
        """The non-empty filters, as ``list_rules`` keywords."""
        return {name: getattr(self, name) for name in FILTER_PARAMS if getattr(self, name) is not None}

    def execute(self, context: Context) -> list[str]:
        """List the matching rules; return their ids."""
        from clinical_rules_provider.models.clinical_one import dump_json

        filters = self.filters()
        hook = self.hook
        with hook:
            study, mode = resolve_study(hook, self.study_id, self.study_mode)
            rules = list(hook.list_rules(study, mode, page_size=self.page_size, **filters))
        self.log.info("%d rule(s) match %s in study %s (%s)", len(rules), filters, study, mode)
        if self.push_summaries:
            context["ti"].xcom_push(key="rule_summaries", value=dump_json(rules))
        if not rules and self.fail_if_empty:
            raise AirflowException(f"no rule matches {filters} in study {study} ({mode})")
        return [rule.rule_id for rule in rules]
