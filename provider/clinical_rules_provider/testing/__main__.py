"""`python -m clinical_rules_provider.testing`: serve the simulator until Ctrl-C.

For the demo and manual exploration; tests use `LiveSimulator` or the pytest fixtures.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from clinical_rules_provider.testing.faults import DEFAULT_FAULT_KINDS, FAULT_KINDS, FaultConfig
from clinical_rules_provider.testing.state import Settings, SimulatorState

# With fault_rate=0.2 this seed draws a fault for requests 1, 7, 16, 17 and 19; seed 0, the
# old default, draws none in the first 25 requests, so `--fault-rate 0.2` looked broken.
DEFAULT_FAULT_SEED = 1


def _credentials_help() -> str:
    defaults = Settings()
    users = ", ".join(f"{u} / {p}" for u, p in defaults.c1_basic_users.items())
    clients = ", ".join(f"{c} / {s}" for c, s in defaults.oauth_clients.items())
    return (
        "default credentials:\n"
        f"  Clinical One Basic user:      {users}\n"
        f"  Clinical One static bearer:   {', '.join(defaults.static_tokens)}\n"
        f"  OAuth2 client (POST /oauth2/v1/token, client_credentials or password grant):\n"
        f"                                {clients}\n"
        f"  issued tokens live {defaults.token_ttl_seconds:g} s; fault kind token_expiry revokes them\n"
        f"  Vault (POST /api/{{v}}/auth):   {defaults.vault_username} / {defaults.vault_password}\n"
        "change them with POST /_sim/settings (c1_auth_required=false disables Clinical One auth)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m clinical_rules_provider.testing`` (host, port, seeds, faults)."""
    parser = argparse.ArgumentParser(
        prog="python -m clinical_rules_provider.testing",
        description="Serve the Clinical One + Veeva Vault simulator on loopback.",
        epilog=_credentials_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=0, help="seed for the generated data")
    parser.add_argument("--rule-count", type=int, default=12)
    parser.add_argument("--vault-job-count", type=int, default=12)
    parser.add_argument("--timezone", default="UTC", help="service timezone of jobStartDate")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="service response time: answers leave at arrival + this"
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="0..1")
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=DEFAULT_FAULT_SEED,
        help="seed for the random fault draws; the default one faults the very first request at "
        "--fault-rate 0.2 (seed 0 would not fault any of the first 25)",
    )
    parser.add_argument(
        "--fault-kinds",
        default=",".join(sorted(DEFAULT_FAULT_KINDS)),
        help=f"comma-separated, from: {', '.join(sorted(FAULT_KINDS))}",
    )
    parser.add_argument("--log-level", default="info")
    return parser


def build_state(args: argparse.Namespace) -> SimulatorState:
    """The state the CLI serves: seeded data, and faults drawn with `--fault-seed`."""
    kinds = [k.strip() for k in args.fault_kinds.split(",") if k.strip()]
    faults = FaultConfig(
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_kinds=frozenset(kinds),
        seed=args.fault_seed,
    )
    return SimulatorState(
        faults=faults,  # also what POST /_sim/reset returns to
        seed=args.seed,
        rule_count=args.rule_count,
        vault_job_count=args.vault_job_count,
        service_timezone=args.timezone,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the simulator until interrupted (the module's entry point)."""
    args = build_parser().parse_args(argv)
    # Heavy imports only once we know we will serve.
    import uvicorn

    from clinical_rules_provider.testing.app import create_app
    from clinical_rules_provider.testing.server import live_app, quiet_injected_faults

    state = build_state(args)
    quiet_injected_faults()
    print(f"Clinical rules simulator on http://{args.host}:{args.port} (Ctrl-C to stop)")
    print("Default credentials: see --help.")
    uvicorn.run(
        live_app(create_app(state)),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
