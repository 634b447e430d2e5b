"""One process that performs N fault-injected reliability runs and writes their results.

Started by ``reliability/run.py`` with the credentials in the environment, so the parent
can scan everything this process printed for secrets.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

FAULT_KINDS = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "drop",
    "read_timeout",
    "malformed_json",
    "session_expiry",
    "token_expiry",
    # The service acts on the request, then the reply is lost (dropped, 504, read timeout).
    "lost_reply_drop",
    "lost_reply_504",
    "lost_reply_timeout",
)


def connections(url: str) -> None:
    """OAuth2 for Clinical One (token expiry is one of the faults), session login for Vault."""
    retry = {"max_retries": 8, "retry_backoff": 0.02, "retry_max_backoff": 0.2, "timeout": 0.75}
    # The simulator starts a job the moment it takes an update: a short settle time suffices.
    settle = {"publish_settle_seconds": 1.0, "publish_settle_poll_seconds": 0.1}
    os.environ["AIRFLOW_CONN_CLINICAL_ONE_DEFAULT"] = json.dumps(
        {
            "conn_type": "clinical_one",
            "host": url,
            "extra": {
                "token_url": f"{url}/oauth2/v1/token",
                "client_id": "reliability-client",
                "client_secret": os.environ["REL_CLIENT_SECRET"],
                "scope": "sim.ec-designer-svc.all",
                "study_id": "36753A48BBA048CB98A5F3278146118D",
                "study_mode": "test",
                **retry,
                **settle,
            },
        }
    )
    os.environ["AIRFLOW_CONN_VEEVA_VAULT_DEFAULT"] = json.dumps(
        {
            "conn_type": "veeva_vault",
            "host": url,
            "login": "reliability@sim.example",
            "password": os.environ["REL_VAULT_PASSWORD"],
            "extra": retry,
        }
    )


def main(runs: int, fault_rate: float, out: Path) -> int:
    from clinical_rules_provider import _state, job_options, task_helpers
    from clinical_rules_provider.triggers import _checks

    # The simulator's jobs finish within a second: poll below the 1 s floor real services get.
    task_helpers.MIN_RULE_POLL_INTERVAL = 0.05
    _checks.RULE_POLL_FLOOR = 0.05
    # ...and no 10 s first-poll delay after deferring: it guards a scheduler race that
    # in-process waits (no scheduler) cannot meet, and would add 10 s to every wait.
    job_options.MIN_FIRST_POLL_DELAY = 0.0
    from clinical_rules_provider.testing import LiveSimulator, SimulatorState
    from clinical_rules_provider.testing.faults import LOST_REPLY_FAULTS
    from reliability.scenarios import one_run

    state = SimulatorState(
        pending_seconds=0.1,
        running_seconds=0.2,
        cancelling_seconds=0.2,
        oauth_clients={"reliability-client": os.environ["REL_CLIENT_SECRET"]},
        vault_username="reliability@sim.example",
        vault_password=os.environ["REL_VAULT_PASSWORD"],
    )
    report: dict[str, Any] = {
        "runs": runs,
        "fault_rate": fault_rate,
        "fault_kinds": list(FAULT_KINDS),
        "failures": [],
        "per_run": [],
    }
    faults_total: dict[str, int] = {}
    publish_lost = 0
    issued: set[str] = set()
    started = time.monotonic()
    with LiveSimulator(state) as sim:
        connections(sim.url)
        for run in range(runs):
            state.reset()
            _state.TOKENS.clear()
            _state.SESSIONS.clear()
            state.faults.configure(
                fault_rate=fault_rate,
                fault_kinds=frozenset(FAULT_KINDS),
                seed=run,
                retry_after=1,
                read_timeout_seconds=1.5,
            )
            t0 = time.monotonic()
            checks = one_run(sim)
            for kind, count in state.faults.injected.items():
                faults_total[kind] = faults_total.get(kind, 0) + count
            issued |= set(state.tokens) | set(state.sessions)
            lost = [r for r in state.request_log if r.fault in LOST_REPLY_FAULTS]
            publish_lost += sum(1 for r in lost if "/rulemgt/" in r.path)
            entry = {
                "run": run,
                "ok": checks.ok,
                "seconds": round(time.monotonic() - t0, 2),
                "requests": state.request_count,
                "faults": dict(state.faults.injected),
            }
            report["per_run"].append(entry)
            if not checks.ok:
                report["failures"].append({"run": run, "failed_checks": checks.details})
            print(
                json.dumps({"xcoms": {f"{t}.{k}": v for (t, k), v in checks.xcoms.items()}}, default=str)
            )  # scanned for secrets
            print(f"run {run + 1}/{runs}: {'ok' if checks.ok else 'FAILED'} {entry}", flush=True)
    report.update(
        correct_runs=sum(1 for r in report["per_run"] if r["ok"]),
        faults_injected=faults_total,
        retries=_state.RETRIES.snapshot(),
        # Publish-run PUTs the simulator processed before losing the reply: each was
        # reconciled (the checks assert no rule ran twice), never resent blindly.
        publish_replies_lost=publish_lost,
        seconds=round(time.monotonic() - started, 1),
    )
    out.write_text(json.dumps(report, indent=2))
    Path(str(out) + ".issued").write_text("\n".join(sorted(issued)))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])))
