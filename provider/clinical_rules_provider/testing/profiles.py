"""Simulator profiles: whole tenants in one word, for tests, the demo and ``reliability/``.

``"realistic"`` is a tenant unlike the worker it serves, as a real one may be: its clock runs
3 minutes behind, it writes ``jobStartDate`` in a local zone with DST (America/New_York) and
with whole seconds only (``.000``), an accepted update waits in a queue before its job starts
(answered ``Queued``), and publish-run replies are lost after the service has processed them.
Any of it can be overridden: ``SimulatorState(profile="realistic", clock_offset_seconds=300)``.
"""

from __future__ import annotations

from typing import Any

from clinical_rules_provider.testing.fault_config import LOST_REPLY_FAULTS, FaultConfig

__all__ = ["PROFILES", "REALISTIC", "REALISTIC_FAULTS", "apply_profile"]

REALISTIC: dict[str, Any] = {
    "clock_offset_seconds": -180.0,
    "job_queue_seconds": 1.0,
    "second_precision_stamps": True,
}
REALISTIC_TIMEZONE = "America/New_York"
# Lost replies only where they matter most (publish runs), at a rate a test can live with.
REALISTIC_FAULTS: dict[str, Any] = {
    "fault_kinds": sorted(LOST_REPLY_FAULTS),
    "fault_rate": 0.3,
    "path_filter": "/rulemgt/studies/[^/]+/[^/]+/(AllData|FutureData)$",
}
PROFILES = {"realistic": (REALISTIC, REALISTIC_TIMEZONE, REALISTIC_FAULTS)}


def apply_profile(
    profile: str, service_timezone: str, faults: FaultConfig | None, settings: dict[str, Any]
) -> tuple[str, FaultConfig, dict[str, Any]]:
    """The state's (zone, faults, settings) under ``profile``; explicit values win.

    A zone other than UTC, or a fault config passed in, is kept as given.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {profile!r}")
    defaults, zone, fault_values = PROFILES[profile]
    chosen = faults if faults is not None else FaultConfig(**fault_values)
    return (zone if service_timezone == "UTC" else service_timezone), chosen, {**defaults, **settings}
