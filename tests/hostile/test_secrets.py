"""Secrets never leave: masked when received, redacted from echoed text, never in URLs,
exception messages, DEBUG logs or ``test_connection()`` (issue 13, class 7)."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from clinical_rules_provider.exceptions import AuthenticationError, ClinicalRulesError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from tests.conftest import STUDY, ConnFactory

C1 = "https://c1.test"
FILTERED = f"{C1}/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/filteredlist"
TOKEN_URL = "https://idcs.test/oauth2/v1/token"
VAULT = "https://vault.test/api/v26.1"
MONITORS = f"{VAULT}/services/jobs/monitors"
TOKEN = "issued-access-token-7f3a9c"
SESSION = "vault-session-id-5e1b2d"


@pytest.fixture
def masked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the provider hands to Airflow's ``mask_secret``."""
    import airflow.sdk.log as sdk_log

    seen: list[str] = []
    monkeypatch.setattr(sdk_log, "mask_secret", lambda value, name=None: seen.append(value))
    return seen


def _oauth_conn(make_conn: ConnFactory, **extra: object) -> str:
    fields = {"token_url": TOKEN_URL, "client_id": "airflow", "client_secret": "client-secret-4d2e8a"}
    return make_conn("c1_oauth", "clinical_one", "c1.test", extra={**fields, "max_retries": 0, **extra})


def _issue(token: str) -> httpx.Response:
    return httpx.Response(200, json={"access_token": token, "expires_in": 600})


def _login(session: str) -> httpx.Response:
    return httpx.Response(200, json={"responseStatus": "SUCCESS", "sessionId": session})


def _no_jobs() -> httpx.Response:
    return httpx.Response(200, json={"responseStatus": "SUCCESS", "jobs": []})


# --- registered with Airflow's masker as soon as received -----------------------------------


@respx.mock
def test_an_issued_oauth2_token_is_registered_with_airflows_masker(
    make_conn: ConnFactory, masked: list[str]
) -> None:
    respx.post(TOKEN_URL).mock(return_value=_issue(TOKEN))
    respx.post(FILTERED).mock(return_value=httpx.Response(200, json={"resultData": []}))
    list(ClinicalOneHook(_oauth_conn(make_conn)).list_rules(STUDY, "test"))
    assert TOKEN in masked


@respx.mock
def test_an_issued_vault_session_id_is_registered_with_airflows_masker(
    make_conn: ConnFactory, masked: list[str]
) -> None:
    respx.post(f"{VAULT}/auth").mock(return_value=_login(SESSION))
    respx.get(MONITORS).mock(return_value=_no_jobs())
    conn = make_conn("vault_mask", "veeva_vault", "vault.test", login="user", password="vault-pass-1234")
    list(VaultHook(conn).list_job_monitors())
    assert SESSION in masked


@pytest.mark.parametrize(
    ("conn_type", "key", "value"),
    [
        ("clinical_one", "token", "static-token-extra-1234"),
        ("veeva_vault", "session_id", "static-session-1234"),
    ],
)
def test_token_and_session_id_extras_are_registered_with_airflows_masker(
    make_conn: ConnFactory, masked: list[str], conn_type: str, key: str, value: str
) -> None:
    conn = make_conn("masked_extra", conn_type, "svc.test", extra={key: value})
    hook = ClinicalOneHook(conn) if conn_type == "clinical_one" else VaultHook(conn)
    assert hook.config is not None
    assert value in masked


# --- text a server echoes back is redacted ---------------------------------------------------


@respx.mock
def test_a_password_echoed_in_a_clinical_one_error_envelope_is_redacted(c1_conn: str) -> None:
    echo = {"errorMessage": "login c1-user with password c1-secret-password is not allowed here"}
    respx.post(FILTERED).mock(return_value=httpx.Response(400, json=echo))
    with pytest.raises(ClinicalRulesError) as caught:
        list(ClinicalOneHook(c1_conn).list_rules(STUDY, "test"))
    assert "c1-secret-password" not in str(caught.value)
    assert "***" in str(caught.value)


@respx.mock
def test_a_token_echoed_in_a_non_envelope_error_body_is_redacted(make_conn: ConnFactory) -> None:
    respx.post(TOKEN_URL).mock(return_value=_issue(TOKEN))
    respx.post(FILTERED).mock(
        return_value=httpx.Response(400, text=f"<html>bad header Bearer {TOKEN}</html>")
    )
    with pytest.raises(ClinicalRulesError) as caught:
        list(ClinicalOneHook(_oauth_conn(make_conn)).list_rules(STUDY, "test"))
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value.details)


@respx.mock
def test_a_session_id_echoed_in_a_vault_failure_envelope_is_redacted(make_conn: ConnFactory) -> None:
    respx.post(f"{VAULT}/auth").mock(return_value=_login(SESSION))
    failure = {
        "responseStatus": "FAILURE",
        "errors": [{"type": "INVALID_DATA", "message": f"session {SESSION} ok?"}],
    }
    respx.get(MONITORS).mock(return_value=httpx.Response(200, json=failure))
    conn = make_conn("vault_echo", "veeva_vault", "vault.test", login="user", password="vault-pass-1234")
    with pytest.raises(ClinicalRulesError) as caught:
        list(VaultHook(conn).list_job_monitors())
    assert SESSION not in str(caught.value)


# --- credentials in the host -----------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["https://admin:hunter2-secret@c1.test", "admin:hunter2-secret@c1.test/base"]
)
def test_a_host_carrying_user_and_password_is_refused_naming_host_without_the_password(
    make_conn: ConnFactory, host: str
) -> None:
    conn = make_conn("c1_userinfo", "clinical_one", host, extra={"token": "static-token-1234"})
    with pytest.raises(ValueError, match="host") as caught:
        assert ClinicalOneHook(conn).config is not None
    assert "hunter2-secret" not in str(caught.value)


# --- CR/LF-tainted tokens and sessions -------------------------------------------------------

TAINTED_TOKEN = "tainted-token-91c4\r\nX-Injected: 1"
TAINTED_SESSION = "tainted-session-77ab\r\nX-Injected: 1"


def _assert_nowhere(secret: str, text: str, caplog: pytest.LogCaptureFixture) -> None:
    for part in (secret, *secret.splitlines()[:1]):
        assert part not in text
        assert all(part not in record.getMessage() for record in caplog.records)


@respx.mock
def test_a_crlf_tainted_issued_token_stays_out_of_the_error_debug_logs_and_test_connection(
    make_conn: ConnFactory, caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(TOKEN_URL).mock(return_value=_issue(TAINTED_TOKEN))
    respx.post(FILTERED).mock(return_value=httpx.Response(200, json={"resultData": []}))
    conn = _oauth_conn(make_conn, study_id=STUDY, study_mode="test")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        list(ClinicalOneHook(conn).list_rules(STUDY, "test"))
    ok, message = ClinicalOneHook(conn).test_connection()
    assert not ok
    _assert_nowhere(TAINTED_TOKEN, f"{caught.value!s} {caught.value!r} {message}", caplog)


@respx.mock
def test_a_crlf_tainted_vault_session_stays_out_of_the_error_debug_logs_and_test_connection(
    make_conn: ConnFactory, caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(f"{VAULT}/auth").mock(return_value=_login(TAINTED_SESSION))
    respx.get(MONITORS).mock(return_value=_no_jobs())
    conn = make_conn("vault_crlf", "veeva_vault", "vault.test", login="user", password="vault-pass-1234")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        list(VaultHook(conn).list_job_monitors())
    ok, message = VaultHook(conn).test_connection()
    assert not ok
    _assert_nowhere(TAINTED_SESSION, f"{caught.value!s} {caught.value!r} {message}", caplog)


@pytest.mark.parametrize(("conn_type", "key"), [("clinical_one", "token"), ("veeva_vault", "session_id")])
def test_a_crlf_tainted_token_or_session_extra_is_refused_naming_the_field_without_the_value(
    make_conn: ConnFactory, conn_type: str, key: str
) -> None:
    conn = make_conn("crlf_extra", conn_type, "svc.test", extra={key: TAINTED_TOKEN})
    hook = ClinicalOneHook(conn) if conn_type == "clinical_one" else VaultHook(conn)
    with pytest.raises(ValueError, match=key) as caught:
        assert hook.config is not None
    assert "tainted-token-91c4" not in str(caught.value)
    ok, message = hook.test_connection()
    assert not ok and "tainted-token-91c4" not in message
