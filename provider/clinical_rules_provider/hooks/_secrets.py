"""Register secrets with Airflow's log masker (and the provider's own redaction registry).

Airflow moved ``mask_secret`` between releases; the import is resolved on first use, in
hooks only (never at DAG parse time), and a missing masker leaves the provider's own
redaction of exception texts in place.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any

from clinical_rules_provider._redact import remember

log = logging.getLogger(__name__)

_MASKER_MODULES = (
    "airflow.sdk.log",  # Airflow 3.1+
    "airflow.sdk.execution_time.secrets_masker",  # Airflow 3.0
    "airflow.utils.log.secrets_masker",  # older layouts
)


@functools.cache
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


def has_control_characters(value: object) -> bool:
    """True for text that cannot go into an HTTP header (CR, LF, NUL and other controls)."""
    return isinstance(value, str) and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
