"""Clinical One auth under faults: the token_expiry fault and the provider's own auth flows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from clinical_rules_provider._state import Registry
from clinical_rules_provider.hooks.clinical_one import clinical_one_config
from clinical_rules_provider.testing import (
    EXAMPLE_STUDY_ID,
    FAULT_KINDS,
    STALE_RULE_ID,
    TOKEN_PATH,
    FaultConfig,
    LiveSimulator,
    SimulatorState,
    basic_header,
)
from clinical_rules_provider.transport.auth import OAuth2Auth

JOB_STATUS = f"/ec-rule-svc/rest/v2.0/studies/{EXAMPLE_STUDY_ID}/test/jobStatus"
BODY = {"ruleIds": [STALE_RULE_ID]}
CLIENT = ("sim-client", "sim-client-secret")
USER = ("demo-user", "demo-password")


async def issued_token(client: httpx.AsyncClient) -> str:
    data = {"grant_type": "client_credentials"}
    headers = {"Authorization": basic_header(*CLIENT)}
    token = (await client.post(TOKEN_PATH, data=data, headers=headers)).json()["access_token"]
    assert isinstance(token, str)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.put(JOB_STATUS, json=BODY, headers=headers)


def assert_auth_401(response: httpx.Response) -> None:
    assert (response.status_code, response.json()["errorCode"]) == (401, "AUTH-401")
    assert response.headers["WWW-Authenticate"] == "Bearer"


# ----- token_expiry fault -------------------------------------------------------------------


def test_token_expiry_is_a_fault_kind_for_queues_and_random_draws() -> None:
    assert "token_expiry" in FAULT_KINDS
    faults = FaultConfig(fault_rate=1.0, fault_kinds=frozenset({"token_expiry"}), seed=3)
    assert faults.next_fault("/x") == "token_expiry"
    faults.enqueue("token_expiry")
    assert list(faults.script) == ["token_expiry"]


async def test_token_expiry_fault_expires_tokens_before_the_request(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    token = await issued_token(anon_client)
    sim_state.faults.enqueue("token_expiry")
    assert_auth_401(await call(anon_client, bearer(token)))
    record = sim_state.request_log[-1]
    assert (record.fault, record.status) == ("token_expiry", 401)
    assert (await call(anon_client, bearer(await issued_token(anon_client)))).status_code == 200


async def test_token_expiry_fault_leaves_basic_and_static_auth_working(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.faults.enqueue("token_expiry", "token_expiry")
    assert (await call(anon_client, {"Authorization": basic_header(*USER)})).status_code == 200
    assert (await call(anon_client, bearer("sim-static-token"))).status_code == 200
    assert sim_state.faults.injected["token_expiry"] == 2


async def test_a_random_token_expiry_fault_spares_a_token_issued_within_the_last_second(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState, sim_clock: Any
) -> None:
    old = await issued_token(anon_client)
    sim_clock.advance(5)
    fresh = await issued_token(anon_client)
    sim_state.faults.configure(fault_rate=1.0, fault_kinds=frozenset({"token_expiry"}))
    assert_auth_401(await call(anon_client, bearer(old)))
    sim_state.faults.configure(fault_rate=0.0)
    assert (await call(anon_client, bearer(fresh))).status_code == 200


async def test_token_expiry_can_be_enqueued_over_the_control_route(
    anon_client: httpx.AsyncClient,
) -> None:
    token = await issued_token(anon_client)
    await anon_client.post("/_sim/faults", json={"enqueue": "token_expiry"})
    assert_auth_401(await call(anon_client, bearer(token)))


# ----- the provider's own auth flows against the simulator ----------------------------------


@pytest.mark.parametrize("client_auth", ["basic", "post"])
@pytest.mark.parametrize("user", [None, USER])
async def test_hook_oauth2_flow_refreshes_once_after_token_expiry(
    simulator_async_transport: httpx.ASGITransport,
    sim_state: SimulatorState,
    client_auth: str,
    user: tuple[str, str] | None,
) -> None:
    auth = OAuth2Auth(
        f"http://sim{TOKEN_PATH}",
        *CLIENT,
        scope="tenant.ec-designer-svc.all",
        username=user[0] if user else None,
        password=user[1] if user else None,
        client_auth=client_auth,
        cache=Registry("test tokens", 8),
    )
    async with httpx.AsyncClient(transport=simulator_async_transport, base_url="http://sim", auth=auth) as c:
        assert (await c.put(JOB_STATUS, json=BODY)).status_code == 200
        assert (await c.put(JOB_STATUS, json=BODY)).status_code == 200  # cached token
        sim_state.faults.enqueue("token_expiry")
        assert (await c.put(JOB_STATUS, json=BODY)).status_code == 200
    seen = [(r.path.rsplit("/", 1)[-1], r.status) for r in sim_state.request_log]
    assert seen == [
        ("token", 200),
        ("jobStatus", 200),
        ("jobStatus", 200),
        ("jobStatus", 401),
        ("token", 200),
        ("jobStatus", 200),
    ]
    assert sim_state.tokens_issued == 2
    grant = "password" if user else "client_credentials"
    assert f"grant_type={grant}" in sim_state.requests_to(TOKEN_PATH)[0].body.decode()


@dataclass
class Conn:
    """The parts of an Airflow connection that `clinical_one_config` reads."""

    host: str | None
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    conn_id: str = "clinical_one_default"
    port: int | None = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"login": USER[0], "password": USER[1]}, "basic"),
        ({"extra": {"token": "sim-static-token"}}, "bearer"),
        (
            {
                "extra": {
                    "token_url": "{url}" + TOKEN_PATH,
                    "client_id": CLIENT[0],
                    "client_secret": CLIENT[1],
                    "token_auth_method": "post",
                }
            },
            "oauth2",
        ),
        (
            {
                "login": USER[0],
                "password": USER[1],
                "extra": {
                    "token_url": "{url}" + TOKEN_PATH,
                    "client_id": CLIENT[0],
                    "client_secret": CLIENT[1],
                },
            },
            "oauth2",
        ),
    ],
)
def test_connection_auth_kinds_from_the_hook_work_over_loopback(
    simulator: LiveSimulator, fields: dict[str, Any], kind: str
) -> None:
    live = simulator
    extra = {k: v.replace("{url}", live.url) for k, v in fields.get("extra", {}).items()}
    config = clinical_one_config(Conn(host=live.url, **{**fields, "extra": extra}))
    assert config.auth_kind == kind
    with httpx.Client(base_url=live.url, auth=config.transport.auth, timeout=5) as c:
        assert c.put(JOB_STATUS, json=BODY).status_code == 200
        live.state.faults.enqueue("token_expiry")
        assert c.put(JOB_STATUS, json=BODY).status_code == 200
    assert live.state.tokens_issued == (2 if kind == "oauth2" else 0)
