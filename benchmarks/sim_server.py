"""The simulator in its own process, seeded for P2-P5, on 127.0.0.1 with injected latency.

Started by ``run.py`` so the server's CPU and memory never show up in the client's
measurements. It writes its port to ``--port-file`` once it accepts connections and stops
by itself after ``--max-seconds``, when its parent exits, or on SIGTERM/SIGINT.

One benchmark-only shortcut: the simulator's ``filteredlist`` renders and sorts *every*
rule of the study on each page request (about 0.6 s per page at 100 000 rules, so 100
pages would dominate the run). For the static P5 study only, and only for unfiltered
requests, this server renders and sorts the rows once with the simulator's own helpers
and serves slices of them; the bytes a client receives are the same. Latency injection,
auth and the request log still apply (they live in the middleware and the route guard).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import (
    MODE,
    P2_STUDY,
    P2_TAG,
    P3_STUDY,
    P3_TAG,
    P3C_STUDY,
    P3C_TAG,
    P5_STUDY,
    P5_TAG,
    P6_STUDY,
    P6_TAG,
    VAULT_JOB_BASE,
    rule_id,
)

from clinical_rules_provider.testing import FaultConfig, LiveSimulator, SimulatorState


def seed(state: SimulatorState, args: argparse.Namespace) -> dict[str, int]:
    """P2: rules with one finished job each; P3, P3c: rules without jobs (the child publishes them);
    P4: QUEUED Vault jobs; P5: a large static study."""
    long_ago = state.now() - timedelta(hours=2)
    for i in range(args.p2_rules):
        rule = state.add_rule(P2_STUDY, MODE, rule_id=rule_id(P2_TAG, i))
        state.start_job(rule, started=long_ago)
    for i in range(args.p3_rules):
        state.add_rule(P3_STUDY, MODE, rule_id=rule_id(P3_TAG, i))
    for i in range(args.p3c_rules):
        state.add_rule(P3C_STUDY, MODE, rule_id=rule_id(P3C_TAG, i))
    for i in range(args.vault_jobs):
        state.add_vault_job(status="QUEUED", job_id=VAULT_JOB_BASE + i)
    for i in range(args.p5_rules):
        state.add_rule(P5_STUDY, MODE, rule_id=rule_id(P5_TAG, i))
    for i in range(args.p6_rules):  # P6: each with a finished job, as a republished rule has
        state.start_job(state.add_rule(P6_STUDY, MODE, rule_id=rule_id(P6_TAG, i)), started=long_ago)
    return {
        "p2_rules": args.p2_rules,
        "p3_rules": args.p3_rules,
        "p3c_rules": args.p3c_rules,
        "vault_jobs": args.vault_jobs,
        "p5_rules": args.p5_rules,
        "p6_rules": args.p6_rules,
    }


def memoize_big_filtered_list(state: SimulatorState) -> bool:
    """Serve unfiltered P5 pages from rows rendered once (see the module docstring).

    Returns False (and leaves the simulator untouched) if its helpers have moved.
    """
    from clinical_rules_provider.testing import clinical_one_routes as c1

    summary = getattr(c1, "_summary", None)
    sort_key = getattr(c1, "_sort_key", None)
    default_sort = getattr(c1, "_DEFAULT_SORT", None)
    paging = getattr(c1, "_paging", None)
    invalid = getattr(c1, "Invalid", None)
    if summary is None or sort_key is None or default_sort is None or paging is None or invalid is None:
        return False
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    original = c1.ClinicalOneApi.filtered_list
    cache: dict[int, list[dict[str, Any]]] = {}

    def rows() -> list[dict[str, Any]]:
        rules = state.rules(P5_STUDY, MODE)
        if len(rules) not in cache:
            rendered = [summary(r) for r in rules]
            rendered.sort(key=lambda row: row["ruleId"])
            for column in reversed(default_sort):
                rendered.sort(key=sort_key(column))
            cache.clear()
            cache[len(rules)] = rendered
        return cache[len(rules)]

    async def filtered_list(self: Any, request: Request) -> JSONResponse:
        if c1.normalize_uuid(request.path_params.get("study_id")) != P5_STUDY:
            return await original(self, request)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return await original(self, request)
        given = {k for k, v in body.items() if v is not None} if isinstance(body, dict) else {"?"}
        if given - {"offset", "limit"} or request.path_params.get("mode") != MODE:
            return await original(self, request)
        try:
            offset, limit = paging(body)
        except invalid:
            return await original(self, request)
        all_rows = rows()
        page = {
            "resultData": all_rows[offset : offset + limit],
            "totalCount": len(all_rows),
            "offset": offset,
            "limit": limit,
        }
        return JSONResponse(page)

    try:
        rows()  # render once now, not on the first timed request
    except Exception as exc:  # the simulator changed shape: serve it unmodified (slower)
        print(f"sim_server: not memoizing filteredlist ({type(exc).__name__}: {exc})", file=sys.stderr)
        return False
    c1.ClinicalOneApi.filtered_list = filtered_list  # type: ignore[method-assign]
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--p2-rules", type=int, default=500)
    parser.add_argument("--p3-rules", type=int, default=1000)
    parser.add_argument("--p3c-rules", type=int, default=2000)
    parser.add_argument("--vault-jobs", type=int, default=40_000)
    parser.add_argument("--p5-rules", type=int, default=100_000)
    parser.add_argument("--p6-rules", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()

    started = time.monotonic()
    parent = os.getppid()
    state = SimulatorState(faults=FaultConfig(latency_ms=args.latency_ms))
    seeded = seed(state, args)
    memoized = memoize_big_filtered_list(state)
    # The seed is long-lived: keep the collector from rescanning it on every full collection,
    # which would stall a one-process stand-in for a service that runs on many servers.
    gc.freeze()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LiveSimulator(state, host="127.0.0.1", port=0, log_level="warning") as sim:
        info = {"port": sim.port, "pid": os.getpid(), "seeded": seeded, "memoized_filtered_list": memoized}
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(args.port_file)  # atomic: the parent never reads a half-written file
        while not stop.wait(0.5):
            if time.monotonic() - started > args.max_seconds:
                print("sim_server: max lifetime reached, stopping", file=sys.stderr)
                break
            if os.getppid() != parent:
                print("sim_server: parent exited, stopping", file=sys.stderr)
                break


if __name__ == "__main__":
    main()
