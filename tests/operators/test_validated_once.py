"""A task validates its study, mode and poll endpoint once; the hook calls it makes trust them."""

from __future__ import annotations

from typing import Any

from tests.operators.test_cancel import STALE_RULE, UNCANCELLABLE_RULE, cancel_stale
from tests.triggers.test_validated_once import validations


def test_a_stale_cancel_validates_its_study_mode_and_endpoint_once_for_three_hook_calls(
    sim_c1: str, context: dict[str, Any]
) -> None:
    with validations() as built:
        task = cancel_stale(
            sim_c1,
            rule_ids=[STALE_RULE, UNCANCELLABLE_RULE],
            poll_endpoint="job_status",
            fail_on_not_cancelled=False,
        )
    assert built == {"poll_endpoint": 1}
    with validations() as ran:  # detect, re-read just before the cancel, cancel
        report = task.execute(context)
    assert [item["rule_id"] for item in report["cancelled"]] == [STALE_RULE]
    assert (ran["study_id"], ran["mode"], ran["poll_endpoint"]) == (1, 1, 0)
