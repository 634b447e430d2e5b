"""The "hostile" section of ``make reliability``: probes against a server that misbehaves.

Each probe scripts the loopback server of ``tests/hostile/server.py`` (a token endpoint that
never answers, a body trickled byte by byte, an endless chunked stream, JSON nested 100 000
deep, a ``Retry-After`` of a day, NaN delays, wrong JSON types, CR/LF in a token, ...) and
makes one hook call, sync and async, or runs a trigger. A probe *hangs* when it has not
ended within its bound, *escapes* when it raises anything but a ``ClinicalRulesError``. The
probes run in their own process with DEBUG logging, and everything it printed is scanned for
the configured and issued secrets. Peak memory (tracemalloc) is measured over the probes
whose reply is larger than the body cap.

    python -m reliability.hostile OUT.json     (the child; ``hostile_runs()`` is the parent)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from reliability.hostile_probes import (
    CAP,
    ISSUED,
    LIMITS,
    RULE,
    STUDY,
    TOKEN,
    probes,
)
from reliability.watched import run_watched

ROOT = Path(__file__).resolve().parent.parent
BOUND = 5.0  # seconds after which a probe counts as a hang


def _connections(url: str) -> None:
    common = {**LIMITS, "max_body_bytes": CAP, "study_id": STUDY, "study_mode": "test"}
    oauth = {
        "token_url": url + TOKEN,
        "client_id": "hostile",
        "client_secret": os.environ["HOSTILE_CLIENT_SECRET"],
    }
    conns = {
        "c1": {
            "conn_type": "clinical_one",
            "host": url,
            "extra": {**common, "token": os.environ["HOSTILE_TOKEN"]},
        },
        "c1_oauth": {"conn_type": "clinical_one", "host": url, "extra": {**common, **oauth}},
        "vault": {
            "conn_type": "veeva_vault",
            "host": url,
            "login": "hostile@vault.example",
            "password": os.environ["HOSTILE_VAULT_PASSWORD"],
            "extra": {**LIMITS, "max_body_bytes": CAP},
        },
    }
    for name, value in conns.items():
        os.environ[f"AIRFLOW_CONN_{name.upper()}"] = json.dumps(value)


def _calls(conn: str, call: str, asynchronous: bool) -> Callable[[], Any]:
    from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
    from clinical_rules_provider.hooks.vault import VaultHook
    from clinical_rules_provider.triggers import _checks
    from clinical_rules_provider.triggers.rule_job import ClinicalOneRuleJobTrigger

    if call == "trigger":
        _checks.RULE_POLL_FLOOR = 0.05  # the probe's server answers at once: poll below the 1 s floor
        trigger = ClinicalOneRuleJobTrigger(
            study_id=STUDY,
            study_mode="test",
            rule_ids=[RULE],
            end_time=time.time() + 1.0,
            started_after="2026-01-01T00:00:00+00:00",
            poll_interval=0.05,
            clinical_one_conn_id=conn,
        )

        async def events() -> list[Any]:
            return [event.payload async for event in trigger.run()]

        return lambda: asyncio.run(asyncio.wait_for(events(), BOUND * 2))
    c1 = ClinicalOneHook(conn) if conn.startswith("c1") else None
    vault = VaultHook(conn) if conn == "vault" else None
    sync: dict[str, Callable[[], Any]] = {
        "history": lambda: c1.get_rerun_history(STUDY, "test", RULE),  # type: ignore[union-attr]
        "cancel": lambda: c1.cancel_rule_jobs(STUDY, "test", [RULE]),  # type: ignore[union-attr]
        "list": lambda: list(c1.list_rules(STUDY, "test")),  # type: ignore[union-attr]
        "vault_job": lambda: vault.get_job_status(9),  # type: ignore[union-attr]
        "monitors": lambda: list(vault.list_job_monitors()),  # type: ignore[union-attr]
    }
    if not asynchronous:
        return sync[call]

    async def drain(items: Any) -> list[Any]:
        return [item async for item in items]

    coros: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "history": lambda: c1.aget_rerun_history(STUDY, "test", RULE),  # type: ignore[union-attr]
        "cancel": lambda: c1.acancel_rule_jobs(STUDY, "test", [RULE]),  # type: ignore[union-attr]
        "list": lambda: drain(c1.alist_rules(STUDY, "test")),  # type: ignore[union-attr]
        "vault_job": lambda: vault.aget_job_status(9),  # type: ignore[union-attr]
        "monitors": lambda: drain(vault.alist_job_monitors()),  # type: ignore[union-attr]
    }
    hook = c1 or vault

    async def run() -> Any:
        try:
            return await coros[call]()
        finally:
            await hook.aclose()  # type: ignore[union-attr]

    return lambda: asyncio.run(run())


def _bounded(call: Callable[[], Any], seconds: float) -> tuple[str, str]:
    """("ok" | "provider-error" | "raw" | "hang", detail)."""
    from clinical_rules_provider.exceptions import ClinicalRulesError

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return "hang", f"still running after {seconds} s"
    error = outcome.get("error")
    if error is None:
        value = outcome.get("value")
        if isinstance(value, list) and value and isinstance(value[0], dict) and "status" in value[0]:
            return "ok", f"trigger event {value[0]['status']}"  # a trigger's events
        return "ok", type(value).__name__
    if isinstance(error, ClinicalRulesError):
        print(f"provider error: {type(error).__name__}: {error}")  # scanned for secrets
        return "provider-error", type(error).__name__
    return "raw", f"{type(error).__name__}: {str(error)[:200]}"


def main(out: Path) -> int:
    from clinical_rules_provider import _state
    from tests.hostile.server import HostileServer

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # DEBUG lines are scanned too
    server = HostileServer()
    server.start()
    _connections(server.url)
    results: list[dict[str, Any]] = []
    peak = 0
    started = time.monotonic()
    for probe in probes():
        for asynchronous in (False, True) if probe.call != "trigger" else (True,):
            server.reset()
            for method, path, handler in probe.routes:
                server.route(method, path, handler)
            _state.TOKENS.clear()
            _state.SESSIONS.clear()
            _state.CONNECTIONS.clear()
            if probe.big_body:
                tracemalloc.start()
            t0 = time.monotonic()
            kind, detail = _bounded(_calls(probe.conn, probe.call, asynchronous), BOUND)
            if probe.big_body:
                peak = max(peak, tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            entry = {
                "probe": probe.name,
                "mode": "async" if asynchronous else "sync",
                "outcome": kind,
                "detail": detail,
                "seconds": round(time.monotonic() - t0, 2),
            }
            results.append(entry)
            print(json.dumps(entry), flush=True)
    server.stop()
    report = {
        "probes_tried": len(results),
        "hangs": sum(1 for r in results if r["outcome"] == "hang"),
        "raw_exceptions_escaped": sum(1 for r in results if r["outcome"] == "raw"),
        "provider_errors": sum(1 for r in results if r["outcome"] == "provider-error"),
        "completed": sum(1 for r in results if r["outcome"] == "ok"),
        "body_cap_bytes": CAP,
        "peak_memory_bytes_over_the_cap": peak,
        "slowest_probe_seconds": max(r["seconds"] for r in results),
        "seconds": round(time.monotonic() - started, 1),
        "problems": [r for r in results if r["outcome"] in ("hang", "raw")],
    }
    out.write_text(json.dumps(report, indent=2))
    Path(str(out) + ".issued").write_text("\n".join(ISSUED))
    return 0


def hostile_runs() -> dict[str, Any]:
    """Run the probes in their own process and scan everything it printed for secrets."""
    secret_values = {
        "HOSTILE_TOKEN": "st-" + secrets.token_hex(12),
        "HOSTILE_CLIENT_SECRET": "cs-" + secrets.token_hex(12),
        "HOSTILE_VAULT_PASSWORD": "vp-" + secrets.token_hex(12),
    }
    report, issued = run_watched("reliability.hostile", [], secret_values, timeout=1800)
    report["secrets_watched"] = len(secret_values) + issued
    return report


def summary(report: dict[str, Any]) -> bool:
    """Print the hostile section's figures; True when nothing hung, escaped or leaked."""
    print(
        f"hostile probes:      {report['probes_tried']} in {report['seconds']} s (slowest {report['slowest_probe_seconds']} s)"
    )
    print(
        f"  hangs {report['hangs']}, raw exceptions escaped {report['raw_exceptions_escaped']}, "
        f"secrets seen {report['secret_occurrences']}, peak memory {report['peak_memory_bytes_over_the_cap']} B "
        f"reading replies beyond a {report['body_cap_bytes']} B cap"
    )
    for problem in report["problems"][:5]:
        print(f"  PROBLEM {problem}")
    return (
        report["hangs"] == 0
        and report["raw_exceptions_escaped"] == 0
        and report["secret_occurrences"] == 0
        and report["peak_memory_bytes_over_the_cap"] < 4 * report["body_cap_bytes"]
    )


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
