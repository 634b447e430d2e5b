"""Deterministic seed data: the references' example ids plus generated rules and Vault jobs.

Kept apart from `state.py` so the state machine stays readable; only `SimulatorState.reset()`
calls into here.

The catalogue is predictable on purpose (users copy the README's DAG against it): every
rule whose jobs end in anything but ``Success`` is in state ``uat``, so a filter on the
``publish`` or ``approved`` state only ever selects rules whose new jobs succeed. The
special rules are listed in ``docs/guides/testing-with-the-simulator.md``; keep the two
in step.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clinical_rules_provider.testing.state import SimulatorState

VAULT_CANCELLABLE = frozenset({"SCHEDULED", "QUEUED", "QUEUEING"})
VAULT_IN_PROGRESS = VAULT_CANCELLABLE | {"RUNNING", "CANCELLING"}
VAULT_TERMINAL = frozenset(
    {
        "SUCCESS",
        "ERRORS_ENCOUNTERED",
        "CANCELLED",
        "TIMEOUT",
        "COMPLETED_DUE_TO_INACTIVITY",
        "MISSED_SCHEDULE",
    }
)
VAULT_STATUSES = VAULT_IN_PROGRESS | VAULT_TERMINAL
MODES = ("design", "test", "training", "production", "active")
_UTC = timezone.utc
BASE_MODIFIED = datetime(2025, 11, 2, 14, 45, 22, tzinfo=_UTC)

EXAMPLE_STUDY_ID = "36753A48BBA048CB98A5F3278146118D"
SECOND_STUDY_ID = "C360089F838D4DD980322DE22545C49F"
API_USER_ID = "0000000000000000000000000000000A"
VAULT_USER_ID = 61603  # the simulator's login ("userId" of the auth reply)
VAULT_OTHER_USER_ID = 61977  # another team sharing the Vault
STALE_RULE_ID = "DBF2C278385E4AF4BA4FBF2AA76D194F"  # stale Running job, cancellable
UNCANCELLABLE_RULE_ID = "0E1A63683F884B13A3E7BEE9CA4FF1EA"  # stale Running job, ignores cancel
FAILING_RULE_ID = "699EF3745FC545589F186D2198F3C65E"  # jobs end Failed
STALE_AGE = timedelta(hours=3)

# (formId, formName, formRefName, ((itemId, questionName, questionRefName), ...))
FORMS = (
    (
        "39903D6C-042D-4D9E-8977-3160488E6D3D",
        "Screening Visit",
        "SCR_VISIT",
        (
            ("2F4F4E67-E0CE-4BE0-BB95-44D2CD38A569", "Visit Date", "VISIT_DATE"),
            ("5B0C1F52-8E3A-4C7B-9D11-2A6F0E4B7C31", "Informed Consent Date", "IC_DATE"),
        ),
    ),
    (
        "7C1E5A90-3B2D-4F6E-A8C7-1D9E2F3A4B5C",
        "Vital Signs",
        "VS",
        (
            ("8A7B6C5D-4E3F-4A1B-9C8D-7E6F5A4B3C2D", "Weight", "WEIGHT"),
            ("1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9", "Systolic Blood Pressure", "SYSBP"),
        ),
    ),
    (
        "4D3C2B1A-0F9E-4D8C-B7A6-5F4E3D2C1B0A",
        "Laboratory Results",
        "LAB",
        (
            ("9E8D7C6B-5A49-4382-A1F0-E9D8C7B6A594", "Hemoglobin", "HGB"),
            ("6C5B4A39-2817-4F6E-8D5C-4B3A29180F7E", "Lab Collection Date", "LBDAT"),
        ),
    ),
    (
        "2A3B4C5D-6E7F-4A8B-9C0D-1E2F3A4B5C6D",
        "Adverse Events",
        "AE",
        (
            ("3B4C5D6E-7F8A-4B9C-8D1E-2F3A4B5C6D7E", "AE Onset Date", "AESTDAT"),
            ("4C5D6E7F-8A9B-4C0D-9E2F-3A4B5C6D7E8F", "AE Resolution Date", "AEENDAT"),
        ),
    ),
)
USERS = (
    ("0000000000000000000000000000000A", "jsmith"),
    ("0000000000000000000000000000000B", "mlopez"),
    ("0000000000000000000000000000000C", "akumar"),
)
# (ruleId, ruleName, form index, item index, extra attributes): the references' example ids.
EXAMPLE_RULES: tuple[tuple[str, str, int, int, dict[str, Any]], ...] = (
    (
        "8E2253D8E53A4A46BAE3E4952CBE9E5A",
        "Out of Range Visit Date",
        0,
        0,
        {
            "rule_state": "approved",
            "publish_run": "AllData",
            "ref_name": "VISIT_DATE_RANGE_VALIDATION",
            "description": "Creates a query when visit date falls outside the allowable window.",
        },
    ),
    ("938D23FA6B7241CCA41BD627E5DB60DA", "Weight Out of Range", 1, 0, {}),
    (FAILING_RULE_ID, "Hemoglobin Below Normal Range", 2, 0, {"outcome": "Failed", "rule_state": "uat"}),
    (
        "704A7178208D44BC9AD52556B18933C3",
        "screening - create query with form submit dates",
        0,
        1,
        {},
    ),
    (STALE_RULE_ID, "onesection - create query with form submit dates", 0, 1, {}),
    (UNCANCELLABLE_RULE_ID, "AE Onset After Resolution", 3, 0, {"uncancellable": True}),
)
EXAMPLE_RULE_IDS = tuple(r[0] for r in EXAMPLE_RULES)
# Terminal history per example rule: (start time, or age before seeding; pinned status).
_HISTORY: dict[str, list[tuple[datetime | timedelta, str]]] = {
    "938D23FA6B7241CCA41BD627E5DB60DA": [(timedelta(days=2), "Success")],
    FAILING_RULE_ID: [(timedelta(days=1), "Failed")],
    "704A7178208D44BC9AD52556B18933C3": [(datetime(2025, 9, 7, 19, 8, 7, 437000, _UTC), "Success")],
    STALE_RULE_ID: [(datetime(2025, 9, 7, 19, 12, 8, 747000, _UTC), "Success")],
    UNCANCELLABLE_RULE_ID: [(timedelta(days=1), "Cancelled")],
}
# Roles of generated rules by position after the examples (the first six generated rules);
# the others are random in state, form and user, and their jobs end Success.
_GENERATED_ROLES: dict[int, dict[str, Any]] = {
    0: {
        "invalid": True,
        "rule_state": "draft",
        "validation_status": False,
        "validation_message": "Rule expression references an item that is not on the form.",
    },
    1: {"outcome": "Completed with errors", "training": True, "rule_state": "uat"},
    2: {"outcome": "Skipped because subject is locked", "rule_state": "uat"},
    3: {"stale": True},
    4: {"outcome": "Failed", "rule_state": "uat"},
    5: {"enabled": False, "rule_state": "uat"},
}
# (job id, status, created age, title, extra attributes): the reference's Vault ids where
# it has them. Times in the extras are offsets from now (negative: in the future).
_VAULT_SEED: tuple[tuple[int, str, timedelta, str, dict[str, Any]], ...] = (
    (1046892, "QUEUED", STALE_AGE, "Nightly EDC extract", {}),
    # Created 3 h ago, waiting for a start 6 h from now: scheduled for later, never stale.
    (1043341, "SCHEDULED", STALE_AGE, "Weekly reconciliation report", {"run_start": -timedelta(hours=6)}),
    (1068337, "RUNNING", STALE_AGE, "Study data migration", {}),
    (1068044, "QUEUED", timedelta(minutes=1), "Ad hoc export", {}),
    (1040001, "SUCCESS", timedelta(days=1), "Daily audit trail export", {}),
    (1040002, "ERRORS_ENCOUNTERED", timedelta(days=1), "Bulk document reclassification", {}),
    (1040003, "CANCELLED", timedelta(hours=20), "Duplicate subject merge", {}),
    (1040004, "TIMEOUT", timedelta(hours=30), "Legacy archive sync", {}),
    # Another team's job, queued 3 h ago: out of the default scope.
    (1046893, "QUEUED", STALE_AGE, "Safety narrative export", {"created_by": VAULT_OTHER_USER_ID}),
    # Created 3 h ago but queued 10 minutes ago (a scheduled job whose time came): fresh.
    (1046894, "QUEUED", STALE_AGE, "Deferred EDC extract", {"modified": timedelta(minutes=10)}),
    # Created 3 h ago but running for 5 minutes: fresh.
    (1068338, "RUNNING", STALE_AGE, "Subject casebook export", {"run_start": timedelta(minutes=5)}),
    # Another team's job scheduled 3 h ago to start in 2 h.
    (
        1043342,
        "SCHEDULED",
        STALE_AGE,
        "Monthly safety listing",
        {"created_by": VAULT_OTHER_USER_ID, "run_start": -timedelta(hours=2)},
    ),
)


def seed_rules(state: SimulatorState, study_id: str, mode: str) -> None:
    """Example rules first, then generated ones; rule data depends only on seed+study."""
    now = state.now()
    rng = random.Random(f"{state.seed}:{study_id}")
    specs: list[tuple[str, str, int, int, dict[str, Any]]] = list(EXAMPLE_RULES)
    for j in range(max(state.rule_count - len(specs), 0)):
        form, item = rng.randrange(len(FORMS)), rng.randrange(2)
        attrs = {
            "rule_state": rng.choice(("draft", "uat", "approved", "publish", "publish")),
            "enabled": rng.random() < 0.8,
            "training": rng.random() < 0.3,
            "publish_run": rng.choice(("AllData", "FutureData")),
            "user": rng.randrange(len(USERS)),
            "age_days": rng.randrange(400),
            **_GENERATED_ROLES.get(j, {}),
        }
        name = f"{FORMS[form][3][item][1]} check {j + 1:03d}"
        specs.append((f"{rng.getrandbits(128):032X}", name, form, item, attrs))
    for index, (rule_id, name, form, item, extra) in enumerate(specs):
        attrs = dict(extra)
        stale = attrs.pop("stale", rule_id in (STALE_RULE_ID, UNCANCELLABLE_RULE_ID))
        user = USERS[attrs.pop("user", index % len(USERS))]
        age = timedelta(days=attrs.pop("age_days", index))
        form_id, form_name, form_ref, items = FORMS[form]
        attrs.setdefault("ref_name", f"SIM_RULE_{index + 1:04d}")
        attrs.setdefault("description", f"Checks {items[item][1].lower()} on {form_name}.")
        rule = state.add_rule(
            study_id,
            mode,
            rule_id=rule_id,
            name=name,
            form_id=form_id,
            form_name=form_name,
            form_ref_name=form_ref,
            item_id=items[item][0],
            question_name=items[item][1],
            question_ref_name=items[item][2],
            user_id=user[0],
            user_name=user[1],
            last_modified=BASE_MODIFIED - age,
            display_order=(index + 1) * 10,
            **attrs,
        )
        history = _HISTORY.get(rule_id, [(timedelta(days=1), "Success")] if stale else [])
        for when, status in history:
            started = when if isinstance(when, datetime) else now - when
            state.start_job(rule, started=started, fixed_status=status)
            rule.jobs[-1].passed_subjects = 1 if isinstance(when, datetime) else 10
        if stale:
            state.start_job(rule, started=now - STALE_AGE, stuck=True)


def seed_vault(state: SimulatorState) -> None:
    """Fixed jobs covering stale/fresh/uncancellable/terminal, then random extras."""
    now = state.now()
    rng = random.Random(f"{state.seed}:vault")
    for job_id, status, age, title, extra in _VAULT_SEED[: state.vault_job_count]:
        attrs = {k: now - v if isinstance(v, timedelta) else v for k, v in extra.items()}
        state.add_vault_job(job_id=job_id, status=status, created=now - age, title=title, **attrs)
    for k in range(max(state.vault_job_count - len(_VAULT_SEED), 0)):
        status = rng.choice(sorted(VAULT_STATUSES - {"CANCELLING"}))
        created = now - timedelta(minutes=rng.randrange(1, 600))
        state.add_vault_job(job_id=1070001 + k, status=status, created=created)
