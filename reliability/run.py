"""``make reliability``: fault-injected runs of the three user jobs, bad-input fuzzing and a
secret scan; prints the figures and writes ``reliability/results.json``.

    python -m reliability.run [--runs 100] [--fault-rate 0.2] [--fuzz 1000]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from reliability.watched import run_watched

ROOT = Path(__file__).resolve().parent.parent


def fault_runs(runs: int, fault_rate: float) -> dict[str, Any]:
    """Run the worker in its own process and scan all it printed and pushed for secrets."""
    secret_values = {
        "REL_CLIENT_SECRET": "cs-" + secrets.token_hex(12),
        "REL_VAULT_PASSWORD": "vp-" + secrets.token_hex(12),
    }
    report, issued = run_watched(
        "reliability.worker", [str(runs), str(fault_rate)], secret_values, timeout=3600
    )
    report["secrets_watched"] = {"configured": len(secret_values), "issued_tokens_and_sessions": issued}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fuzz", type=int, default=1000, help="invalid inputs to generate")
    parser.add_argument("--out", type=Path, default=ROOT / "reliability" / "results.json")
    parser.add_argument(
        "--hostile", action=argparse.BooleanOptionalAction, default=True, help="probe a misbehaving server"
    )
    parser.add_argument(
        "--realistic-runs",
        type=int,
        default=None,
        help="publish runs on the realistic tenant (default: --runs)",
    )
    args = parser.parse_args(argv)

    from reliability.fuzz import fuzz

    print(f"Fuzzing {args.fuzz} invalid inputs ...", flush=True)
    fuzz_report = fuzz(args.fuzz)
    print(f"Fault-injected runs: {args.runs} at {args.fault_rate:.0%} transient faults ...", flush=True)
    runs = fault_runs(args.runs, args.fault_rate)
    from reliability.durable_publish import durable_runs

    realistic_runs = args.runs if args.realistic_runs is None else args.realistic_runs
    print(f"Publish runs on the realistic tenant: {realistic_runs} ...", flush=True)
    realistic = durable_runs(realistic_runs, args.fault_rate)
    results = {"fault_runs": runs, "realistic_publish": realistic, "bad_input": fuzz_report}
    hostile_ok = True
    if args.hostile:
        from reliability.hostile import hostile_runs, summary

        print("Hostile-server probes ...", flush=True)
        results["hostile"] = hostile = hostile_runs()
        hostile_ok = summary(hostile)
    args.out.write_text(json.dumps(results, indent=2))
    ok = (
        runs["correct_runs"] == args.runs
        and runs["secret_occurrences"] == 0
        and fuzz_report["rejected"] >= args.fuzz
        and fuzz_report["requests_sent"] == 0
        and not fuzz_report["not_rejected"]
        and hostile_ok
        and realistic["rules_applied_twice"] == 0
        and realistic["rules_skipped"] == 0
        and realistic["runs_green"] == realistic_runs
    )
    print(
        f"runs correct:        {runs['correct_runs']}/{args.runs} at {args.fault_rate:.0%} faults ({runs['seconds']} s)"
    )
    print(f"faults injected:     {sum(runs['faults_injected'].values())} {runs['faults_injected']}")
    print(f"retries made:        {sum(runs['retries'].values())} {runs['retries']}")
    print(f"publish replies lost after processing, reconciled: {runs.get('publish_replies_lost', 0)}")
    print(
        f"realistic tenant:    {realistic['runs_green']}/{realistic_runs} publishes green; rules applied twice: "
        f"{realistic['rules_applied_twice']}, rules skipped: {realistic['rules_skipped']} of "
        f"{realistic['rules_published']} ({realistic['publish_replies_lost']} publish replies lost, "
        f"{realistic['workers_killed']} workers killed, {realistic['seconds']} s)"
    )
    print(
        f"bad inputs rejected: {fuzz_report['rejected']} of {fuzz_report['generated']} with ValueError naming the field; requests sent: {fuzz_report['requests_sent']}"
    )
    print(f"odd-but-valid input accepted and normalised: {fuzz_report['valid_accepted']}")
    print(
        f"secret occurrences:  {runs['secret_occurrences']} in {runs['output_bytes_scanned']} bytes of logs, XCom and reports"
    )
    for failure in runs["failures"][:5]:
        print(f"FAILED run {failure['run']}: {failure['failed_checks']}")
    print(f"written: {args.out}  -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
