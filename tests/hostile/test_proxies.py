"""Environment proxies (issue 23, item 14): a proxy that echoes request headers never gets
its credentials into a provider exception, and one that answers ``CONNECT`` with 502 is a
transient fault, retried like a 502 from the service. The hostile server plays the proxy."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from clinical_rules_provider.exceptions import (
    ClinicalRulesError,
    TransientServiceError,
    UnexpectedResponseError,
)
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.transport.retry import never_processed
from tests.conftest import RULE_A, STUDY, ConnFactory
from tests.hostile.conftest import FAST, HISTORY, abounded, bounded
from tests.hostile.server import HostileServer, Request, Writer, reply

PROXY_USER, PROXY_PASSWORD = "proxy-user", "proxy-pass-9f3c71"
TOKEN = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
PLAIN_HOST = "c1.proxied.test"
TLS_HOST = "c1.tunnelled.test"


@pytest.fixture
def proxied(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> HostileServer:
    """The hostile server as every environment proxy, with credentials in its URL."""
    for name in (
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{hostile.port}"
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("https_proxy", proxy)
    return hostile


def _echo_headers(status: int, page: bool) -> Any:
    """Answer with an error that quotes the request headers (credentials first), as some
    proxies do: in a Clinical One error envelope, or in a plain page."""

    async def handle(request: Request, writer: Writer) -> None:
        headers = sorted(request.headers.items(), key=lambda item: item[0] != "proxy-authorization")
        echoed = " ".join(f"{name}: {value}" for name, value in headers)
        body = f"<html>proxy error; you sent {echoed}</html>".encode() if page else {"errorMessage": echoed}
        await reply(status, body)(request, writer)

    return handle


def _conn(make_conn: ConnFactory, host: str, **extra: Any) -> str:
    return make_conn("c1_proxied", "clinical_one", host, extra={"token": "static-token", **FAST, **extra})


@pytest.mark.parametrize(
    ("status", "page"), [(400, False), (200, False), (407, True), (400, True), (403, True)]
)
def test_a_proxy_echoing_request_headers_never_puts_its_credentials_in_the_exception(
    proxied: HostileServer, make_conn: ConnFactory, status: int, page: bool
) -> None:
    proxied.route("GET", f"http://{PLAIN_HOST}{HISTORY}", _echo_headers(status, page))
    conn = _conn(make_conn, f"http://{PLAIN_HOST}")
    with pytest.raises(ClinicalRulesError) as caught:
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert proxied.seen[-1].headers["proxy-authorization"] == f"Basic {TOKEN}"  # the proxy got them
    for shown in (str(caught.value), repr(caught.value), caught.value.message, str(caught.value.details)):
        assert TOKEN not in shown
        assert PROXY_PASSWORD not in shown


def test_a_connect_answered_with_502_is_retried_like_a_502_from_the_service(
    proxied: HostileServer, make_conn: ConnFactory
) -> None:
    proxied.route("CONNECT", TLS_HOST, reply(502, b""))
    conn = _conn(make_conn, f"https://{TLS_HOST}", max_retries=2, retry_backoff=0.01)
    with pytest.raises(TransientServiceError, match="proxy answered CONNECT with HTTP 502") as caught:
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert caught.value.status_code == 502
    assert proxied.count(TLS_HOST) == 3


async def test_an_async_connect_answered_with_503_is_retried_too(
    proxied: HostileServer, make_conn: ConnFactory
) -> None:
    proxied.route("CONNECT", TLS_HOST, reply(503, b""))
    hook = ClinicalOneHook(_conn(make_conn, f"https://{TLS_HOST}", max_retries=1, retry_backoff=0.01))
    with pytest.raises(TransientServiceError, match="HTTP 503"):
        await abounded(hook.aget_rerun_history(STUDY, "test", RULE_A))
    await hook.aclose()
    assert proxied.count(TLS_HOST) == 2


def test_a_connect_refused_with_407_is_not_retried(proxied: HostileServer, make_conn: ConnFactory) -> None:
    proxied.route("CONNECT", TLS_HOST, reply(407, b""))
    conn = _conn(make_conn, f"https://{TLS_HOST}", max_retries=2, retry_backoff=0.01)
    with pytest.raises(UnexpectedResponseError, match="proxy refused the connection with HTTP 407"):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert proxied.count(TLS_HOST) == 1


def test_a_refused_tunnel_never_reached_the_service() -> None:
    error = TransientServiceError("x: the proxy answered CONNECT with HTTP 502", status_code=502)
    error.__cause__ = httpx.ProxyError("502 Bad Gateway")
    assert never_processed(error)


def test_a_host_in_no_proxy_is_reached_directly(
    proxied: HostileServer, make_conn: ConnFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    proxied.route("GET", HISTORY, reply(200, {"status": "SUCCESS", "ruleHistory": []}))
    conn = _conn(make_conn, proxied.url)
    bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    (request,) = proxied.seen
    assert request.path == HISTORY  # an origin-form target: not sent through the proxy
    assert "proxy-authorization" not in request.headers
