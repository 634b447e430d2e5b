"""Bad-input fuzzing with hypothesis: every invalid id, mode, publish run, filter value or
Vault job id is rejected with a ``ValueError`` naming the field, and no request is sent.

Odd but valid input (lowercase, hyphenated, duplicates, more than 500 ids) is accepted and
normalised; that part does send requests, so it runs after the zero-request check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

STUDY = "36753A48BBA048CB98A5F3278146118D"
RULE = "938D23FA6B7241CCA41BD627E5DB60DA"
HEX = "0123456789abcdefABCDEF"
MODES = {"design", "test", "training", "production", "active"}
RUNS = {"alldata", "futuredata"}
LOOKALIKES = str.maketrans("0123456789ABCDEFabcdef", "０１２３４５６７８９ＡВСDΕFаbсdеf")

compact = st.text(HEX, min_size=32, max_size=32)


def _hyphen(h: str, cuts: tuple[int, ...] = (8, 12, 16, 20)) -> str:
    parts, last = [], 0
    for cut in cuts:
        parts.append(h[last:cut])
        last = cut
    return "-".join([*parts, h[last:]])


invalid_ids = st.one_of(
    st.text(HEX, max_size=31),
    st.text(HEX, min_size=33, max_size=40),
    st.tuples(compact, st.integers(0, 31), st.sampled_from("gGzZ-_ .")).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
    ),
    compact.map(lambda h: _hyphen(h, (7, 12, 16, 20))),
    compact.map(lambda h: _hyphen(h).replace("-", "_", 1)),
    compact.map(lambda h: h[:8] + "-" + h[8:]),
    st.tuples(st.sampled_from(["../", "..%2F", "/", "%2e%2e/", "?x=", "#"]), compact).map(
        lambda t: t[0] + t[1]
    ),
    compact.map(lambda h: h[:16] + "/../" + h[16:]),
    st.tuples(compact, st.sampled_from([" ", "\t", "\n", "\u00a0", "\u200b"]), st.booleans()).map(
        lambda t: t[1] + t[0] if t[2] else t[0] + t[1]
    ),
    # look-alikes, keeping only strings where a character really changed (D, F, b, d, f map to themselves)
    compact.map(lambda h: h.translate(LOOKALIKES)).filter(lambda s: not s.isascii()),
    st.text(min_size=1, max_size=40).filter(
        lambda s: not (len(s) in (32, 36) and all(c in HEX + "-" for c in s))
    ),
    st.sampled_from([None, 0, 12, 3.5, b"8E2253D8E53A4A46BAE3E4952CBE9E5A", ["x"], {"id": 1}]),
)
invalid_modes = st.one_of(
    st.text(max_size=20).filter(lambda s: not isinstance(s, str) or s.lower() not in MODES),
    st.sampled_from(["prod", "Test ", " design", "../test", "test/../design", "ᴛest", None, 1]),
)
invalid_runs = st.one_of(
    st.text(max_size=20).filter(lambda s: s.lower() not in RUNS),
    st.sampled_from(["All Data", "ALL_DATA", "Future", "AllData\n", None, True]),
)
invalid_job_ids = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=12).filter(lambda s: not (s.isascii() and s.isdigit() and int(s) > 0)),
    st.sampled_from(["١٢٣", "１２３", "12 ", " 12", "0x1F", "1e3", "-5", None]),
)
invalid_filters = st.one_of(
    st.tuples(
        st.just("enabled"), st.one_of(st.text(max_size=5), st.integers(), st.none().map(lambda _: "None"))
    ),
    st.tuples(st.just("training"), st.one_of(st.text(max_size=5), st.integers(0, 1))),
    st.tuples(st.just("sort_order"), st.text(max_size=6).filter(lambda s: s.upper() not in ("ASC", "DESC"))),
    st.tuples(
        st.just("rule_states"),
        st.lists(
            st.text(max_size=8).filter(lambda s: s.lower() not in ("draft", "uat", "approved", "publish")),
            min_size=1,
            max_size=3,
        ),
    ),
    st.tuples(
        st.just("user_name"),
        st.one_of(st.just(""), st.text(min_size=65, max_size=80), st.sampled_from(["a\nb", "x\x00y"])),
    ),
    st.tuples(st.just("sort_column"), st.one_of(st.text(max_size=3), st.text(min_size=65, max_size=70))),
    st.tuples(
        st.sampled_from(["form_id", "user_id"]), invalid_ids.filter(lambda v: v is not None)
    ),  # None = no filter,
    st.tuples(st.just("item_ids"), st.one_of(st.just([]), st.lists(invalid_ids, min_size=1, max_size=3))),
    st.tuples(st.just("page_size"), st.sampled_from([0, -1, 1001, "50", 2.5, True])),
)


def _expect(field: str, call: Callable[[], Any], counts: dict[str, Any]) -> None:
    counts["generated"] += 1
    try:
        call()  # list_rules validates on the call, before iterating
    except ValueError as exc:
        if field in str(exc):
            counts["rejected"] += 1
            return
        counts["not_rejected"].append(f"{field}: message does not name the field: {exc}")
        return
    except Exception as exc:
        counts["not_rejected"].append(f"{field}: {type(exc).__name__} instead of ValueError: {exc}")
        return
    counts["not_rejected"].append(f"{field}: accepted")


def fuzz(total: int = 1000, url: str | None = None) -> dict[str, Any]:
    """Generate ``total`` invalid inputs (plus odd valid ones) against a loopback simulator."""
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.hooks.vault import VaultHook
    from clinical_rules_provider.testing import LiveSimulator

    counts: dict[str, Any] = {"generated": 0, "rejected": 0, "not_rejected": [], "valid_accepted": 0}
    share = max(total // 10, 1)
    with LiveSimulator() as sim:
        os.environ["AIRFLOW_CONN_FUZZ_C1"] = json.dumps(
            {"conn_type": "clinical_one", "host": sim.url, "login": "demo-user", "password": "demo-password"}
        )
        os.environ["AIRFLOW_CONN_FUZZ_VAULT"] = json.dumps(
            {
                "conn_type": "veeva_vault",
                "host": sim.url,
                "login": "integration@sim.example",
                "password": "sim-password",
            }
        )
        c1, vault = ClinicalOneHook("fuzz_c1"), VaultHook("fuzz_vault")
        cases: list[tuple[Any, Callable[[Any], None]]] = [
            (
                invalid_ids,
                lambda v: _expect(
                    "rule_ids[1]", lambda: c1.update_publish_run(STUDY, "test", "AllData", [RULE, v]), counts
                ),
            ),
            (
                invalid_ids,
                lambda v: _expect("rule_ids[0]", lambda: c1.cancel_rule_jobs(STUDY, "test", [v]), counts),
            ),
            (
                invalid_ids,
                lambda v: _expect("study_id", lambda: c1.get_rerun_history(v, "test", RULE), counts),
            ),
            (
                invalid_ids,
                lambda v: _expect("rule_id", lambda: c1.get_rerun_history(STUDY, "test", v), counts),
            ),
            (
                invalid_modes,
                lambda v: _expect("mode", lambda: c1.update_publish_run(STUDY, v, "AllData", [RULE]), counts),
            ),
            (invalid_modes, lambda v: _expect("mode", lambda: c1.get_job_status(STUDY, v, [RULE]), counts)),
            (
                invalid_runs,
                lambda v: _expect(
                    "publish_run", lambda: c1.update_publish_run(STUDY, "test", v, [RULE]), counts
                ),
            ),
            (
                invalid_filters,
                lambda kv: _expect(kv[0], lambda: c1.list_rules(STUDY, "test", **{kv[0]: kv[1]}), counts),
            ),
            (
                st.lists(invalid_job_ids, min_size=1, max_size=3),
                lambda v: _expect("job_ids", lambda: vault.cancel_jobs(v), counts),
            ),
            (
                st.sampled_from([[], (), set(), "1234", None, 7]),
                lambda v: _expect("ids", lambda: _empty_or_bare(c1, vault, v), counts),
            ),
        ]
        rounds = 0
        while counts["generated"] < total and rounds < 5:  # small strategies exhaust early
            run = settings(
                max_examples=share,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            for strategy, check in cases:
                seed(rounds)(run(given(strategy)(check)))()  # reproducible, new examples each round
            rounds += 1
        requests_before_valid = sim.state.request_count
        counts["valid_accepted"] = _odd_but_valid(c1, vault, sim)
        c1.close()
        vault.close()
    counts["requests_sent"] = requests_before_valid
    counts["not_rejected"] = counts["not_rejected"][:20]
    return counts


def _empty_or_bare(c1: Any, vault: Any, value: Any) -> None:
    """Empty lists and bare strings are refused for both id lists (message names ``*_ids``)."""
    try:
        c1.cancel_rule_jobs(STUDY, "test", value)
    except ValueError as exc:
        if "rule_ids" not in str(exc):
            raise
        vault.cancel_jobs(value)
        return
    raise AssertionError("accepted")


def _odd_but_valid(c1: Any, vault: Any, sim: Any) -> int:
    """Lowercase, hyphenated, duplicated and > 500 ids: accepted and sent normalised."""
    accepted = 0
    rules = [r.rule_id for r in sim.state.rules(STUDY, "test")]
    odd = [rules[0].lower(), _hyphen(rules[1]).lower(), _hyphen(rules[2]), rules[0]]
    results = c1.update_publish_run(STUDY.lower(), "TEST", "alldata", odd)
    accepted += len(results) == 3 and [r.rule_id for r in results] == rules[:3]
    many = [f"{i:032x}" for i in range(1, 1202)]
    cancel = c1.cancel_rule_jobs(_hyphen(STUDY).lower(), "Test", many + many[:5])
    bodies = [json.loads(r.body) for r in sim.state.request_log if r.path.endswith("/cancelRuleJob")]
    accepted += [len(b["ruleIds"]) for b in bodies] == [500, 500, 201] and all(
        i == i.upper() for b in bodies for i in b["ruleIds"]
    )
    accepted += len(cancel.job_status) + len(cancel.missing_rule_ids) == 1201
    jobs = vault.cancel_jobs(["1043341", 1043341, 1046892])
    accepted += [j.job_id for j in jobs] == [1043341, 1046892]
    return int(accepted)
