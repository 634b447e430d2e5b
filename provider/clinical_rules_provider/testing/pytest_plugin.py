"""pytest fixtures for the simulator (registered through the `pytest11` entry point).

Imports happen inside fixtures so merely loading the plugin costs nothing.

* in-process: `sim_clock` -> `sim_state` -> `simulator_app` -> `simulator_async_transport`
* loopback: `live_simulator` (one server per session) -> `simulator` (reset per test)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from clinical_rules_provider.testing.clock import ManualClock
    from clinical_rules_provider.testing.server import LiveSimulator
    from clinical_rules_provider.testing.state import SimulatorState


@pytest.fixture
def sim_clock() -> ManualClock:
    """A manual clock starting now; advance it to move rule jobs along."""
    from clinical_rules_provider.testing.clock import ManualClock

    return ManualClock()


@pytest.fixture
def sim_state(sim_clock: ManualClock) -> SimulatorState:
    """A freshly seeded state on `sim_clock`."""
    from clinical_rules_provider.testing.state import SimulatorState

    return SimulatorState(clock=sim_clock)


@pytest.fixture
def simulator_app(sim_state: SimulatorState) -> Starlette:
    """The Starlette app over `sim_state`."""
    from clinical_rules_provider.testing.app import create_app

    return create_app(sim_state)


@pytest.fixture
def simulator_async_transport(simulator_app: Starlette) -> httpx.ASGITransport:
    """In-process transport for `httpx.AsyncClient(transport=..., base_url="http://sim")`."""
    import httpx

    return httpx.ASGITransport(app=simulator_app)


@pytest.fixture(scope="session")
def live_simulator() -> Iterator[LiveSimulator]:
    """One uvicorn simulator on 127.0.0.1 for the whole session (real-time clock)."""
    from clinical_rules_provider.testing.server import LiveSimulator

    with LiveSimulator() as simulator:
        yield simulator


@pytest.fixture
def simulator(live_simulator: LiveSimulator) -> LiveSimulator:
    """The session's live simulator with freshly seeded state and no faults."""
    live_simulator.state.reset()
    live_simulator.state.faults.clear()
    return live_simulator
