"""Shared fixtures: Airflow connections from environment variables, clean auth caches."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

# The simulator's fixtures are opt-in (no pytest11 entry point), as they are for users.
pytest_plugins = ["clinical_rules_provider.testing.pytest_plugin"]

# Keep Airflow's metadata and logs out of the user's home; tests use env-var connections only.
os.environ.setdefault(
    "AIRFLOW_HOME", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".airflow-test")
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

STUDY = "36753A48BBA048CB98A5F3278146118D"
RULE_A = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
RULE_B = "938D23FA6B7241CCA41BD627E5DB60DA"
RULE_C = "699EF3745FC545589F186D2198F3C65E"


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Every test starts with empty process-wide state (token caches, Vault read clocks, ...)."""
    from clinical_rules_provider import _state

    _state.reset()
    yield
    _state.reset()


@pytest.fixture(autouse=True)
def _fast_trigger_floors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulator jobs finish in a fraction of a second: triggers may poll below the documented
    floors (1 s for Clinical One, 10 s for Vault). ``tests/triggers/test_checks.py`` restores them."""
    from clinical_rules_provider.triggers import _checks

    monkeypatch.setattr(_checks, "RULE_POLL_FLOOR", 0.01)
    monkeypatch.setattr(_checks, "VAULT_POLL_FLOOR", 0.0)


ConnFactory = Callable[..., str]


@pytest.fixture
def make_conn(monkeypatch: pytest.MonkeyPatch) -> ConnFactory:
    """Define an Airflow connection through ``AIRFLOW_CONN_<ID>`` and return its id."""

    def make(
        conn_id: str, conn_type: str, host: str, *, extra: dict[str, Any] | None = None, **fields: Any
    ) -> str:
        extra = {"retry_backoff": 0.001, "retry_max_backoff": 0.01, **(extra or {})}
        value = {"conn_type": conn_type, "host": host, "extra": extra, **fields}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
        return conn_id

    return make


@pytest.fixture
def c1_conn(make_conn: ConnFactory) -> str:
    """A Basic-auth ``clinical_one`` connection to https://c1.test."""
    return make_conn("c1_test", "clinical_one", "c1.test", login="c1-user", password="c1-secret-password")


@pytest.fixture
def vault_conn(make_conn: ConnFactory) -> str:
    """A ``veeva_vault`` connection to https://vault.test."""
    return make_conn(
        "vault_test",
        "veeva_vault",
        "vault.test",
        login="vault-user",
        password="vault-secret-password",
        extra={"client_id": "acme-airflow"},
    )


def no_jobs_yet(base: str = "https://c1.test", study: str = STUDY, mode: str = "test") -> Any:
    """Mock (respx) the bulk job-status read an ``AllData`` publish takes before its first send:
    no rule has a job yet. Returns the route."""
    import httpx
    import respx

    path = f"{base}/ec-rule-svc/rest/v2.0/studies/{study}/{mode}/jobStatus"
    return respx.put(path).mock(
        return_value=httpx.Response(200, json={"errorMessage": "Success", "jobStatus": []})
    )


@contextlib.contextmanager
def warnings_logged() -> Iterator[list[str]]:
    """The warning messages logged inside the block, filled in when it ends, on any Airflow 3.x:
    tasks log through structlog on Airflow 3.3 and through the standard library (propagating
    to the root logger) on 3.0, so both are captured."""
    messages: list[str] = []

    class _Warnings(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = _Warnings(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with capture_logs() as events:
            yield messages
    finally:
        root.removeHandler(handler)
    messages.extend(str(e["event"]) for e in events if e["log_level"] == "warning")
