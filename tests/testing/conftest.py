"""Fixtures shared by the simulator's own tests (in-process clients, Vault session, C1 auth)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Generator

import httpx
import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID, basic_header

VAULT_CREDENTIALS = {"username": "integration@sim.example", "password": "sim-password"}
C1_USER, C1_PASSWORD = "demo-user", "demo-password"
C1_BASIC = basic_header(C1_USER, C1_PASSWORD)
C1_PREFIXES = ("/ec-rule-designer-svc/", "/ec-rule-svc/")


class ClinicalOneBasic(httpx.Auth):
    """Send the default Basic user on Clinical One calls that set no ``Authorization`` of their own.

    Vault and ``/_sim`` requests are left alone, so Vault tests still control the session header.
    """

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.startswith(C1_PREFIXES) and "authorization" not in request.headers:
            request.headers["Authorization"] = C1_BASIC
        yield request


@pytest.fixture
def c1_auth() -> httpx.Auth:
    """httpx auth adding the default Clinical One Basic user (for clients built in a test)."""
    return ClinicalOneBasic()


@pytest.fixture
async def client(
    simulator_async_transport: httpx.ASGITransport,
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the in-process simulator (ManualClock time), C1 Basic auth."""
    async with httpx.AsyncClient(
        transport=simulator_async_transport, base_url="http://sim", auth=ClinicalOneBasic()
    ) as c:
        yield c


@pytest.fixture
async def anon_client(
    simulator_async_transport: httpx.ASGITransport,
) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but sends only the headers a test gives it."""
    async with httpx.AsyncClient(transport=simulator_async_transport, base_url="http://sim") as c:
        yield c


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    """Headers carrying a fresh Vault session id."""
    response = await client.post("/api/v26.1/auth", data=VAULT_CREDENTIALS)
    return {"Authorization": response.json()["sessionId"]}


# --- paths and ids the simulator test modules share -------------------------------------------

S = EXAMPLE_STUDY_ID
DESIGNER = f"/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{S}/test"
EXEC = f"/ec-rule-svc/rest/v1.0/studies/{S}/test"
JOB_STATUS = f"/ec-rule-svc/rest/v2.0/studies/{S}/test/jobStatus"
VISIT_RULE = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
HISTORY_RULE = "704A7178208D44BC9AD52556B18933C3"
UNKNOWN_RULE = "0" * 32
START_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


def hyphenate(compact: str) -> str:
    c = compact
    return f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}"
