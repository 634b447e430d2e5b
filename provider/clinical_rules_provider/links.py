"""Extra links that open the study's rules or the Vault job, from a URL template in the
connection extra (no API reference documents a UI path, so there is no default).

Tasks push the URL to XCom **before** they wait, so the link works while they are deferred,
and push ``""`` without a template: Airflow reads every link's XCom when a task ends and logs
a missing one at error level. Templates and placeholders: ``docs/guides/event-driven.md``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink

from clinical_rules_provider._show import shown

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

    from clinical_rules_provider.hooks.connection import ConnectionLike

RULES_URL_TEMPLATE = "rules_url_template"
JOB_URL_TEMPLATE = "job_url_template"
RULES_FIELDS = frozenset({"base_url", "host", "study_id", "study_mode"})
JOB_FIELDS = frozenset({"base_url", "host", "job_id"})
VAULT_JOB_URLS_KEY = "vault_job_urls"


# Longer templates are no UI links (and would make every XCom push as long).
MAX_TEMPLATE_LENGTH = 2048
_SAMPLE_BASE = "https://example.invalid"  # a relative template is checked against it


def check_template(template: str, allowed: frozenset[str], field: str) -> str:
    """Refuse (before any use) anything but an http(s) URL or a ``/`` path with plain
    ``{name}`` placeholders from ``allowed``: no positional, attribute or index fields, no
    conversions (``!r``, ``!a``), no format specs (``{job_id:>100000000}``) or nested fields
    (``{host:{job_id}}``), no whitespace or control characters; at most
    :data:`MAX_TEMPLATE_LENGTH` characters. Every error names the extra."""
    _checked_url(_fill(template, allowed, field, _SAMPLE_BASE, {}), field)
    return template


def _parts(template: Any, allowed: frozenset[str], field: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, placeholder name or ``None``) pairs, validated."""
    where = f"connection extra {field}"
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"{where}: expected a URL template string, got {shown(template)}")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise ValueError(f"{where}: a template of {len(template)} characters; at most {MAX_TEMPLATE_LENGTH}")
    if any(ch.isspace() or not ch.isprintable() for ch in template):
        raise ValueError(
            f"{where}: whitespace or control characters in {shown(template)}; percent-encode them"
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{where}: not a valid template ({exc})") from None
    use = ", ".join("{" + n + "}" for n in sorted(allowed))
    bad = sorted({name for _, name, _, _ in parsed if name is not None and name not in allowed})
    if bad:
        raise ValueError(f"{where}: unknown placeholder(s) {shown(bad)}; use only {use}")
    for _, name, spec, conversion in parsed:
        if name is not None and (spec or conversion is not None):
            raise ValueError(
                f"{where}: placeholder {{{name}}} has a conversion (!r, !s, !a), a format spec or a"
                f" nested field ({shown(template)}); use only plain {use}"
            )
    return [(literal, name) for literal, name, _, _ in parsed]


def _fill(template: str, allowed: frozenset[str], field: str, base: str, values: Mapping[str, Any]) -> str:
    """Substitute the placeholders (values URL-encoded; ``base_url``/``host`` as they are)."""
    given = {"base_url": base, "host": urlsplit(base).netloc}
    given.update({k: quote(str(v), safe="") for k, v in values.items()})
    text = "".join(
        literal + ("" if name is None else given.get(name, name))
        for literal, name in _parts(template, allowed, field)
    )
    return base.rstrip("/") + text if text.startswith("/") else text


def _checked_url(url: str, field: str) -> str:
    """``url`` when it is an absolute http(s) URL with a host; else a ``ValueError`` naming the extra."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"connection extra {field}: expected an http(s) URL or a path starting with '/', got {shown(url)}"
        )
    return url


def render_url(
    template: str, allowed: frozenset[str], field: str, base: str, values: Mapping[str, Any]
) -> str:
    """Fill a checked template; values are URL-quoted, a leading ``/`` is joined to ``base``."""
    check_template(template, allowed, field)
    return _checked_url(_fill(template, allowed, field, base, values), field)


def _render(
    conn: ConnectionLike, conn_type: str, field: str, allowed: frozenset[str], values: list[dict[str, Any]]
) -> list[str]:
    """One URL per ``values`` from the connection's template ``field``; none without a template."""
    from clinical_rules_provider.hooks.connection import base_url, extra_value

    template = extra_value(conn, conn_type, field)
    if template is None:
        return []
    base = base_url(conn)
    return [render_url(str(template), allowed, field, base, each) for each in values]


def rules_url(conn: ConnectionLike, study_id: str, study_mode: str) -> str | None:
    """The study's rules page, from the ``clinical_one`` connection's ``rules_url_template``."""
    values = {"study_id": study_id, "study_mode": study_mode}
    return next(iter(_render(conn, "clinical_one", RULES_URL_TEMPLATE, RULES_FIELDS, [values])), None)


def vault_job_urls(conn: ConnectionLike, job_ids: list[int]) -> list[str]:
    """One URL per job, from the ``veeva_vault`` connection's ``job_url_template`` (none without one)."""
    return _render(conn, "veeva_vault", JOB_URL_TEMPLATE, JOB_FIELDS, [{"job_id": j} for j in job_ids])


class _XComLink(BaseOperatorLink):
    """A link whose URL the task pushed to XCom under :attr:`key` before waiting."""

    key: ClassVar[str] = ""

    @property
    def xcom_key(self) -> str:
        """The XCom the task pushes (Airflow's UI reads the link from it)."""
        return self.key

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL the task pushed, or ``""`` (no link) when no template is configured."""
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(key=self.key, ti_key=ti_key)
        return value if isinstance(value, str) else ""


class ClinicalOneRulesLink(_XComLink):
    """Opens the rules of the study and mode a task works on (``rules_url_template``)."""

    name = "Clinical One rules"
    key = "clinical_one_rules_url"


class VaultJobLink(_XComLink):
    """Opens the (first) Vault job a task works on (``job_url_template``)."""

    name = "Vault job"
    key = "vault_job_url"


def push_rules_link(context: Context, conn: ConnectionLike, study_id: str, study_mode: str) -> str | None:
    """Render and push the rules link now (before any wait), empty without a template; returns it."""
    url = rules_url(conn, study_id, study_mode)
    context["ti"].xcom_push(key=ClinicalOneRulesLink.key, value=url or "")
    return url


def push_vault_job_links(context: Context, conn: ConnectionLike, job_ids: list[int]) -> list[str]:
    """Render and push the first job's link (empty without a template or a job) and every
    job's URL (``vault_job_urls``) now."""
    urls = vault_job_urls(conn, job_ids)
    context["ti"].xcom_push(key=VaultJobLink.key, value=urls[0] if urls else "")
    if urls:
        context["ti"].xcom_push(key=VAULT_JOB_URLS_KEY, value=urls)
    return urls


__all__ = [
    "ClinicalOneRulesLink",
    "VaultJobLink",
    "check_template",
    "push_rules_link",
    "push_vault_job_links",
    "rules_url",
    "vault_job_urls",
]
