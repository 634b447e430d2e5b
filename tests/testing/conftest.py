"""Fixtures shared by the simulator's own tests (in-process client, Vault session)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

VAULT_CREDENTIALS = {"username": "integration@sim.example", "password": "sim-password"}


@pytest.fixture
async def client(
    simulator_async_transport: httpx.ASGITransport,
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the in-process simulator (ManualClock time)."""
    async with httpx.AsyncClient(transport=simulator_async_transport, base_url="http://sim") as c:
        yield c


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    """Headers carrying a fresh Vault session id."""
    response = await client.post("/api/v26.1/auth", data=VAULT_CREDENTIALS)
    return {"Authorization": response.json()["sessionId"]}
