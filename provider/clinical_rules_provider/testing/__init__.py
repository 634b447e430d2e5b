"""Simulator of the Clinical One and Veeva Vault APIs (reference shapes), for tests and demos.

Importing this package loads the simulator (Starlette, uvicorn)::

    from clinical_rules_provider.testing import LiveSimulator, SimulatorState, create_app

Default credentials (all are `Settings` fields, restored by ``reset()``):

* Clinical One (every ``/ec-rule-designer-svc`` and ``/ec-rule-svc`` call; ``c1_auth_required``):
  ``Authorization: Basic`` ``demo-user`` / ``demo-password`` (``c1_basic_users``), or
  ``Bearer sim-static-token`` (``static_tokens``), or ``Bearer`` a token from
  ``POST /oauth2/v1/token`` for client ``sim-client`` / ``sim-client-secret``
  (``oauth_clients``; client_credentials grant, or password grant with a Basic user),
  valid ``token_ttl_seconds`` (600) of the state's clock.
* Vault: ``POST /api/{v}/auth`` with ``integration@sim.example`` / ``sim-password``.
* ``/_sim/*`` control routes need no credentials.
"""

from __future__ import annotations

from clinical_rules_provider.testing._seed import (
    EXAMPLE_RULE_IDS,
    EXAMPLE_STUDY_ID,
    FAILING_RULE_ID,
    MODES,
    SECOND_STUDY_ID,
    STALE_RULE_ID,
    UNCANCELLABLE_RULE_ID,
)
from clinical_rules_provider.testing.app import create_app
from clinical_rules_provider.testing.auth import TOKEN_PATH, basic_header
from clinical_rules_provider.testing.clock import ManualClock
from clinical_rules_provider.testing.faults import (
    FAULT_KINDS,
    FaultConfig,
    InjectedDrop,
    InjectedReadTimeout,
    RequestRecord,
)
from clinical_rules_provider.testing.server import LiveSimulator
from clinical_rules_provider.testing.state import Rule, RuleJob, Settings, SimulatorState
from clinical_rules_provider.testing.vault_state import VaultJob

__all__ = [
    "EXAMPLE_RULE_IDS",
    "EXAMPLE_STUDY_ID",
    "FAILING_RULE_ID",
    "FAULT_KINDS",
    "MODES",
    "SECOND_STUDY_ID",
    "STALE_RULE_ID",
    "TOKEN_PATH",
    "UNCANCELLABLE_RULE_ID",
    "FaultConfig",
    "InjectedDrop",
    "InjectedReadTimeout",
    "LiveSimulator",
    "ManualClock",
    "RequestRecord",
    "Rule",
    "RuleJob",
    "Settings",
    "SimulatorState",
    "VaultJob",
    "basic_header",
    "create_app",
]
