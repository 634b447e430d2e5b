"""Read an Airflow connection into transport settings. No Airflow import: any object with
``host``/``port``/``login``/``password``/``extra_dejson`` works (tests pass plain objects)."""

from __future__ import annotations

import math
import re
from typing import Any, Protocol

import httpx

from clinical_rules_provider._show import shown
from clinical_rules_provider.clients.vault import DEFAULT_API_VERSION
from clinical_rules_provider.transport.clock_skew import DEFAULT_CLOCK_SKEW_WARNING
from clinical_rules_provider.transport.retry import RetryPolicy
from clinical_rules_provider.transport.secrets import register_secret

_API_VERSION = re.compile(r"v\d+(\.\d+)?")

# Defaults of the settings that bound what a service can make a hook spend.
DEFAULT_DEADLINE = 600.0  # seconds per hook call, retries and waits included
DEFAULT_MAX_WAIT = 120.0  # seconds: the longest Retry-After / Vault delay obeyed
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


class ConnectionLike(Protocol):
    """The parts of ``airflow.sdk.Connection`` the hooks read."""

    conn_id: str
    host: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The connection's extra, parsed from JSON."""


def extra_value(conn: ConnectionLike, conn_type: str, key: str, default: Any = None) -> Any:
    """An extra field, under its plain name or the ``extra__<type>__<name>`` form older UIs save."""
    extra = conn.extra_dejson or {}
    for name in (key, f"extra__{conn_type}__{key}"):
        value = extra.get(name)
        if value not in (None, ""):
            return value
    return default


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "false", "0", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise ValueError(f"connection extra {name}: expected true or false, got {shown(value)}")


def as_number(value: Any, name: str, low: float) -> float:
    """A finite number >= ``low`` (NaN, infinity, booleans and overflowing values refused)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"connection extra {name}: expected a finite number, got {shown(value)}")
    if number < low:
        raise ValueError(f"connection extra {name}: expected a number >= {low}, got {shown(value)}")
    return number


def base_url(conn: ConnectionLike) -> str:
    """``host`` as a base URL: scheme optional (default https), ``port`` honoured, path kept.

    A host with ``user:password@`` in it is refused (without echoing it).
    """
    host = (conn.host or "").strip()
    if not host:
        raise ValueError(f"connection {conn.conn_id!r}: host is empty; set it to the service's base URL")
    try:
        url = httpx.URL(host if "://" in host else f"https://{host}")
    except (httpx.InvalidURL, ValueError, TypeError):
        # The host is not echoed: it may carry a password.
        raise ValueError(f"connection {conn.conn_id!r}: host is not a valid URL") from None
    if url.userinfo:
        # Never send or show credentials typed into the URL; they belong in login/password.
        register_secret(url.password, "password")
        raise ValueError(
            f"connection {conn.conn_id!r}: host must not carry 'user:password@'; "
            "put the login and password in the connection's own fields"
        )
    if url.scheme not in ("http", "https"):
        raise ValueError(
            f"connection {conn.conn_id!r}: host scheme must be http or https, got {url.scheme!r}"
        )
    if conn.port:
        url = url.copy_with(port=int(conn.port))
    return str(url).rstrip("/")


def transport_options(conn: ConnectionLike, conn_type: str) -> dict[str, Any]:
    """The transport settings both connection types share (timeouts, retries, limits), checked."""

    def number(key: str, default: float, low: float) -> float:
        return as_number(extra_value(conn, conn_type, key, default), key, low)

    def count(key: str, default: int, low: int) -> int:
        """A whole number >= ``low`` (``"4"`` and ``4.0`` accepted, ``4.5`` refused)."""
        value = extra_value(conn, conn_type, key, default)
        whole = as_number(value, key, low)
        if not whole.is_integer():
            raise ValueError(f"connection extra {key}: expected a whole number >= {low}, got {shown(value)}")
        return int(whole)

    return {
        "timeout": number("timeout", 60, 0.001),
        "verify": _as_bool(extra_value(conn, conn_type, "verify_ssl", True), "verify_ssl"),
        "retry": RetryPolicy(
            attempts=count("max_retries", 4, 0) + 1,
            backoff=number("retry_backoff", 0.5, 0),
            max_backoff=number("retry_max_backoff", 30, 0),
            max_retry_after=number("max_wait", DEFAULT_MAX_WAIT, 0),
        ),
        "max_concurrency": count("max_concurrency", 8, 1),
        "pool_size": count("pool_size", 32, 1),
        "deadline": number("deadline", DEFAULT_DEADLINE, 0.001),
        "max_body_bytes": count("max_body_bytes", DEFAULT_MAX_BODY_BYTES, 1),
        "clock_skew_warning": number("clock_skew_warning", DEFAULT_CLOCK_SKEW_WARNING, 0),
    }


def vault_api_version(conn: ConnectionLike) -> str:
    """Validate the ``api_version`` extra (it becomes a URL segment)."""
    version = str(extra_value(conn, "veeva_vault", "api_version", DEFAULT_API_VERSION))
    if not _API_VERSION.fullmatch(version):
        raise ValueError(f"connection extra api_version: expected a form like 'v26.1', got {shown(version)}")
    return version


__all__ = [
    "ConnectionLike",
    "as_number",
    "base_url",
    "extra_value",
    "transport_options",
    "vault_api_version",
]
