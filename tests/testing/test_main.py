"""`python -m clinical_rules_provider.testing`: what the CLI serves with its defaults."""

from __future__ import annotations

from clinical_rules_provider.testing.__main__ import build_parser, build_state


def test_default_fault_seed_faults_one_of_the_first_three_requests_at_rate_0_2() -> None:
    state = build_state(build_parser().parse_args(["--fault-rate", "0.2"]))
    kinds = [state.faults.next_fault("/api/v26.1/services/jobs/1") for _ in range(3)]
    assert any(kinds), kinds


def test_seed_sets_the_data_and_fault_seed_sets_the_faults() -> None:
    state = build_state(build_parser().parse_args(["--seed", "5", "--fault-seed", "9"]))
    assert (state.seed, state.faults.seed) == (5, 9)
