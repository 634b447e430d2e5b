"""The seeded catalogue is predictable: only the documented special rules fail."""

from __future__ import annotations

import pytest

from clinical_rules_provider.testing import EXAMPLE_STUDY_ID, FAILING_RULE_ID, SimulatorState
from clinical_rules_provider.testing._seed import SECOND_STUDY_ID


@pytest.mark.parametrize("seed", [0, 1, 7, 42])
def test_rules_in_publish_or_approved_state_are_valid_and_their_jobs_succeed(seed: int) -> None:
    state = SimulatorState(seed=seed, rule_count=60)
    for study in (EXAMPLE_STUDY_ID, SECOND_STUDY_ID):
        selectable = [r for r in state.rules(study, "test") if r.rule_state in ("publish", "approved")]
        assert selectable
        assert [(r.rule_id, r.outcome) for r in selectable if r.outcome != "Success" or r.invalid] == []


def test_every_rule_that_fails_is_a_documented_uat_rule() -> None:
    rules = SimulatorState().rules(EXAMPLE_STUDY_ID, "test")
    failing = [r for r in rules if r.outcome != "Success"]
    assert {r.outcome for r in failing} == {
        "Failed",
        "Completed with errors",
        "Skipped because subject is locked",
    }
    assert {r.rule_state for r in failing} == {"uat"}
    assert FAILING_RULE_ID in {r.rule_id for r in failing}
    # FAILING_RULE_ID plus the 2nd, 3rd and 5th generated rules (testing guide, "Seed data").
    generated = rules[6:]
    assert [r.outcome for r in generated[:6]] == [
        "Success",
        "Completed with errors",
        "Skipped because subject is locked",
        "Success",
        "Failed",
        "Success",
    ]
    assert generated[0].invalid and generated[0].rule_state == "draft"
    assert not generated[5].enabled
