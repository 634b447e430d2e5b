"""Clinical One authentication: the OAuth2 token endpoint, the route guard, token lifetime."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from clinical_rules_provider.testing import (
    STALE_RULE_ID,
    TOKEN_PATH,
    ManualClock,
    SimulatorState,
    basic_header,
)
from tests.testing.conftest import DESIGNER, EXEC, JOB_STATUS, S

HISTORY = f"{EXEC}/rerunhistory/{STALE_RULE_ID}"
BODY = {"ruleIds": [STALE_RULE_ID]}
# (method, path, json body) of every Clinical One route.
C1_CALLS = [
    ("POST", f"{DESIGNER}/filteredlist", {}),
    ("PUT", f"{DESIGNER}/AllData", BODY),
    ("PUT", f"{EXEC}/cancelRuleJob", BODY),
    ("GET", HISTORY, None),
    ("PUT", JOB_STATUS, BODY),
]
AUTH_401 = {
    "status": "failed",
    "result": None,
    "errorCode": "AUTH-401",
    "errorMessage": "Authentication required or token expired.",
    "details": None,
}
CLIENT = ("sim-client", "sim-client-secret")
USER = ("demo-user", "demo-password")
WRONG = "wrong-secret-7f3a"  # must never appear in a response


def client_basic(client_id: str = CLIENT[0], secret: str = CLIENT[1]) -> dict[str, str]:
    return {"Authorization": basic_header(client_id, secret)}


async def request_token(
    client: httpx.AsyncClient,
    *,
    style: str = "basic",
    grant: str = "client_credentials",
    client_id: str = CLIENT[0],
    secret: str = CLIENT[1],
    **form: str,
) -> httpx.Response:
    """A token request as the hook's OAuth2Auth sends it (Basic or form client auth)."""
    data = {"grant_type": grant, **form}
    headers = {"Accept": "application/json"}
    if style == "basic":
        headers.update(client_basic(client_id, secret))
    else:
        data.update(client_id=client_id, client_secret=secret)
    return await client.post(TOKEN_PATH, data=data, headers=headers)


async def issued_token(client: httpx.AsyncClient) -> str:
    token = (await request_token(client)).json()["access_token"]
    assert isinstance(token, str)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, index: int = 3
) -> httpx.Response:
    method, path, body = C1_CALLS[index]
    return await client.request(method, path, json=body, headers=headers)


def assert_auth_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == AUTH_401
    assert response.headers["WWW-Authenticate"] == "Bearer"


# ----- token endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize("style", ["basic", "post"])
@pytest.mark.parametrize("grant", ["client_credentials", "password"])
async def test_token_endpoint_issues_a_bearer_for_both_client_auth_styles_and_grants(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState, style: str, grant: str
) -> None:
    user = {"username": USER[0], "password": USER[1]} if grant == "password" else {}
    response = await request_token(
        anon_client, style=style, grant=grant, scope="tenant.ec-designer-svc.all", **user
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert len(body["access_token"]) >= 32
    assert response.headers["Cache-Control"] == "no-store"
    assert sim_state.tokens_issued == 1
    assert (await call(anon_client, bearer(body["access_token"]))).status_code == 200


async def test_each_token_request_gets_a_new_random_token(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    tokens = {await issued_token(anon_client) for _ in range(3)}
    assert len(tokens) == 3
    assert sim_state.tokens_issued == 3


@pytest.mark.parametrize(
    ("kwargs", "headers", "status", "error"),
    [
        ({"secret": WRONG}, None, 401, "invalid_client"),
        ({"style": "post", "secret": WRONG}, None, 401, "invalid_client"),
        ({"client_id": "no-such-client"}, None, 401, "invalid_client"),
        ({"style": "post", "client_id": ""}, None, 401, "invalid_client"),
        ({"style": "none"}, None, 401, "invalid_client"),
        ({"style": "none"}, {"Authorization": "Basic !!not-base64!!"}, 401, "invalid_client"),
        (
            {"grant": "password", "username": USER[0], "password": WRONG},
            None,
            400,
            "invalid_grant",
        ),
        (
            {"grant": "password", "username": "mallory", "password": WRONG},
            None,
            400,
            "invalid_grant",
        ),
        ({"grant": "password", "username": USER[0]}, None, 400, "invalid_request"),
        ({"grant": "authorization_code", "code": "abc"}, None, 400, "unsupported_grant_type"),
        ({"grant": ""}, None, 400, "invalid_request"),
        ({"style": "post"}, client_basic(), 400, "invalid_request"),  # two client auth methods
    ],
)
async def test_token_endpoint_errors_are_rfc6749_objects_without_secrets(
    anon_client: httpx.AsyncClient,
    sim_state: SimulatorState,
    kwargs: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
    error: str,
) -> None:
    if kwargs.get("style") == "none":
        response = await anon_client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=headers
        )
    elif headers:
        data = {"grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]}
        response = await anon_client.post(TOKEN_PATH, data=data, headers=headers)
    else:
        response = await request_token(anon_client, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert body["error_description"]
    for secret in (WRONG, CLIENT[1], USER[1]):
        assert secret not in response.text
    assert sim_state.tokens_issued == 0


async def test_failed_basic_client_auth_carries_a_basic_challenge(
    anon_client: httpx.AsyncClient,
) -> None:
    response = await request_token(anon_client, secret=WRONG)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_token_endpoint_requires_a_form_body(anon_client: httpx.AsyncClient) -> None:
    body = {"grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]}
    response = await anon_client.post(TOKEN_PATH, json=body)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert (await anon_client.get(TOKEN_PATH)).status_code == 405


# ----- Clinical One routes require Authorization ------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), C1_CALLS)
async def test_every_clinical_one_route_is_401_without_authorization(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState, method: str, path: str, body: Any
) -> None:
    assert_auth_401(await anon_client.request(method, path, json=body))
    assert sim_state.request_log[-1].status == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"{DESIGNER}/alldata"),  # bad publishRun
        ("POST", DESIGNER.replace(S, "XYZ") + "/filteredlist"),  # bad study id
        ("PUT", f"{EXEC}/cancelRuleJob"),
        ("GET", f"{EXEC}/rerunhistory/not-a-uuid"),
    ],
)
async def test_authentication_is_checked_before_request_validation(
    anon_client: httpx.AsyncClient, method: str, path: str
) -> None:
    assert_auth_401(await anon_client.request(method, path, content=b"{broken"))


@pytest.mark.parametrize(
    "header",
    [
        basic_header(USER[0], WRONG),
        basic_header("mallory", USER[1]),
        basic_header("integration@sim.example", "sim-password"),  # Vault user is separate
        "Basic " + base64.b64encode(b"demo-user").decode(),  # no colon
        "Basic %%%",
        "Bearer unknown-token",
        "Bearer ",
        "Bearer sim-client-secret",
        "sim-static-token",  # no scheme
        "Digest username=demo-user",
    ],
)
async def test_bad_credentials_are_401(anon_client: httpx.AsyncClient, header: str) -> None:
    response = await call(anon_client, {"Authorization": header})
    assert_auth_401(response)
    assert WRONG not in response.text


@pytest.mark.parametrize(
    "header",
    [
        basic_header(*USER),
        "Bearer sim-static-token",
        "bearer sim-static-token",
        "BASIC " + base64.b64encode(b"demo-user:demo-password").decode(),
    ],
)
async def test_basic_user_and_static_token_are_accepted(anon_client: httpx.AsyncClient, header: str) -> None:
    for index in range(len(C1_CALLS)):
        assert (await call(anon_client, {"Authorization": header}, index)).status_code == 200


async def test_issued_token_expires_by_the_state_clock(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState, sim_clock: ManualClock
) -> None:
    token = await issued_token(anon_client)
    sim_clock.advance(599)
    assert (await call(anon_client, bearer(token))).status_code == 200
    sim_clock.advance(1)
    assert_auth_401(await call(anon_client, bearer(token)))
    assert token not in sim_state.tokens
    assert (await call(anon_client, bearer(await issued_token(anon_client)))).status_code == 200


async def test_token_ttl_setting_sets_expires_in_and_lifetime(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState, sim_clock: ManualClock
) -> None:
    sim_state.token_ttl_seconds = 30.0
    response = await request_token(anon_client)
    assert response.json()["expires_in"] == 30
    sim_clock.advance(30)
    assert_auth_401(await call(anon_client, bearer(response.json()["access_token"])))


async def test_expire_tokens_revokes_issued_tokens_only(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    token = await issued_token(anon_client)
    sim_state.expire_tokens()
    assert_auth_401(await call(anon_client, bearer(token)))
    assert (await call(anon_client, bearer("sim-static-token"))).status_code == 200
    assert (await call(anon_client, {"Authorization": basic_header(*USER)})).status_code == 200
    assert sim_state.tokens_issued == 1


async def test_auth_can_be_switched_off_and_reset_restores_credentials(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    sim_state.c1_auth_required = False
    assert (await call(anon_client)).status_code == 200
    sim_state.c1_basic_users["extra-user"] = "extra-password"
    sim_state.static_tokens = ("other-token",)
    await issued_token(anon_client)
    sim_state.reset()
    assert sim_state.c1_auth_required is True
    assert sim_state.c1_basic_users == {"demo-user": "demo-password"}
    assert sim_state.static_tokens == ("sim-static-token",)
    assert (sim_state.tokens, sim_state.tokens_issued) == ({}, 0)
    assert_auth_401(await call(anon_client))


async def test_credentials_given_to_the_state_are_used_and_survive_reset(
    sim_clock: ManualClock,
) -> None:
    users = {"alice": "a-password"}
    state = SimulatorState(clock=sim_clock, c1_basic_users=users, oauth_clients={"c": "s"})
    users["alice"] = "changed"  # the caller's dict is not shared with the state
    state.c1_basic_users["bob"] = "b-password"
    state.reset()
    assert state.c1_basic_users == {"alice": "a-password"}
    assert state.oauth_clients == {"c": "s"}


async def test_control_settings_change_credentials_and_never_show_secrets(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    new = {
        "c1_basic_users": {"ops": "ops-password"},
        "oauth_clients": {"airflow": "airflow-secret"},
        "static_tokens": ["tok-1", "tok-2"],
        "token_ttl_seconds": 60,
    }
    response = await anon_client.post("/_sim/settings", json=new)
    assert response.status_code == 200
    view = response.json()
    assert view["c1_basic_users"] == {"ops": "***"}
    assert view["oauth_clients"] == {"airflow": "***"}
    assert view["static_tokens"] == ["***", "***"]
    state_text = (await anon_client.get("/_sim/state")).text
    for secret in ("ops-password", "airflow-secret", "tok-1", "tok-2", "sim-password"):
        assert secret not in response.text
        assert secret not in state_text
    assert sim_state.static_tokens == ("tok-1", "tok-2")
    assert (await call(anon_client, bearer("tok-2"))).status_code == 200
    assert (
        await call(anon_client, {"Authorization": basic_header("ops", "ops-password")})
    ).status_code == 200
    token = (await request_token(anon_client, client_id="airflow", secret="airflow-secret")).json()
    assert token["expires_in"] == 60


@pytest.mark.parametrize(
    "body",
    [
        {"c1_basic_users": ["demo-user"]},
        {"oauth_clients": {"c": 1}},
        {"static_tokens": [""]},
        {"token_ttl_seconds": "ten"},
        {"c1_auth_required": "no"},
    ],
)
async def test_control_settings_reject_malformed_auth_settings(
    anon_client: httpx.AsyncClient, sim_state: SimulatorState, body: dict[str, Any]
) -> None:
    response = await anon_client.post("/_sim/settings", json=body)
    assert response.status_code == 400
    assert sim_state.c1_basic_users == {"demo-user": "demo-password"}
    assert sim_state.c1_auth_required is True


async def test_control_state_counts_tokens_and_control_routes_need_no_auth(
    anon_client: httpx.AsyncClient, sim_clock: ManualClock
) -> None:
    await issued_token(anon_client)
    await issued_token(anon_client)
    summary = (await anon_client.get("/_sim/state")).json()
    assert (summary["oauthTokensLive"], summary["oauthTokensIssued"]) == (2, 2)
    sim_clock.advance(600)
    assert (await anon_client.get("/_sim/state")).json()["oauthTokensLive"] == 0
