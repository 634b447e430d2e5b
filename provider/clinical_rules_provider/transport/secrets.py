"""Register secrets with Airflow's log masker (and the provider's own redaction registry).

Airflow moved ``mask_secret`` between releases; the import is resolved at use, in hooks
only (never at DAG parse time), and a missing masker leaves the provider's own redaction of
exception texts in place.
"""

from __future__ import annotations

import base64
import importlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.request import getproxies

import httpx

from clinical_rules_provider._redact import remember

log = logging.getLogger(__name__)

_MASKER_MODULES = (
    "airflow.sdk.log",  # Airflow 3.1+
    "airflow.sdk.execution_time.secrets_masker",  # Airflow 3.0
    "airflow.utils.log.secrets_masker",  # older layouts
)


def _airflow_mask_secret() -> Callable[..., Any] | None:
    for name in _MASKER_MODULES:
        try:
            masker = getattr(importlib.import_module(name), "mask_secret", None)
        except Exception:  # any import failure means "not here"
            continue
        if callable(masker):
            return masker  # type: ignore[no-any-return]
    return None


def register_secret(value: object, name: str | None = None) -> None:
    """Mask ``value`` in Airflow's logs from now on and redact it from provider exceptions.

    Called as soon as a secret is received (issued tokens, session ids) or read from a
    connection, before anything could log it. CR/LF-tainted values are registered line
    by line as well.
    """
    if not isinstance(value, str) or not value:
        return
    remember(value)
    masker = _airflow_mask_secret()
    if masker is None:
        return
    for part in {value, *(line.strip() for line in value.splitlines())} - {""}:
        try:
            masker(part, name)
        except Exception:  # masking must never break a call
            log.debug("Airflow's mask_secret refused a value; the provider still redacts it")


def register_proxy_credentials() -> None:
    """Register the user info of the environment's proxies (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, as httpx reads them) before a client that uses them is built.

    httpx sends it to the proxy as ``Proxy-Authorization: Basic <base64(user:password)>``;
    a proxy that echoes request headers in an error page would otherwise put that token
    into the provider's exception. The password, ``user:password`` and the base64 token are
    all registered (so the raw and the encoded forms are redacted).
    """
    for scheme, url in getproxies().items():
        if scheme not in ("http", "https", "all") or not url or "@" not in url:
            continue
        try:
            parsed = httpx.URL(url if "://" in url else f"http://{url}")
        except (httpx.InvalidURL, ValueError, TypeError):
            continue  # httpx refuses it as well: nothing of it is ever sent
        user, password = parsed.username, parsed.password
        if not (user or password):
            continue
        pair = f"{user}:{password}"
        token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        for secret in (password, pair, token, f"Basic {token}"):
            register_secret(secret, "proxy")


def has_control_characters(value: object) -> bool:
    """True for text that cannot go into an HTTP header (CR, LF, NUL and other controls)."""
    return isinstance(value, str) and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
