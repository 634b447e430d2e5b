"""The fault settings of one simulator (`FaultConfig`) and the fault kinds it knows.

`faults.py` applies them to requests; both names are importable from there.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_FAULT_KINDS",
    "EXPIRY_FAULTS",
    "FAULT_KINDS",
    "LIVE_SCOPE_KEY",
    "LOST_REPLY_FAULTS",
    "FaultConfig",
]

# Faults that only change state (expire Vault sessions / Clinical One OAuth2 tokens) before
# the request is handled normally, so the client's re-authentication path runs.
EXPIRY_FAULTS = frozenset({"session_expiry", "token_expiry"})
# Faults after the service has fully processed the request (rule jobs started, jobs
# cancelled): only the reply is lost, as a dropped connection, a gateway 504 or a read timeout.
LOST_REPLY_FAULTS = frozenset({"lost_reply_drop", "lost_reply_504", "lost_reply_timeout"})
FAULT_KINDS = (
    EXPIRY_FAULTS
    | LOST_REPLY_FAULTS
    | {"400", "429", "500", "502", "503", "504", "drop", "malformed_json", "read_timeout"}
)
# Random faults default to what a well-behaved client retries (DESIGN: 429/502/503/504).
DEFAULT_FAULT_KINDS = frozenset({"429", "502", "503", "504"})
# Scope key set by LiveSimulator / __main__: the app is served by uvicorn over a real socket.
LIVE_SCOPE_KEY = "clinical_rules_sim.live"
CONTROL_PREFIX = "/_sim"


def _check_kinds(kinds: Iterable[str], field: str) -> list[str]:
    result = [str(k) for k in kinds]
    unknown = sorted(set(result) - FAULT_KINDS)
    if unknown:
        choices = sorted(FAULT_KINDS)
        raise ValueError(f"{field}: unknown fault kind(s) {unknown}; choose from {choices}")
    return result


@dataclass
class FaultConfig:
    """What to inject into the next requests; mutable between (and during) test runs."""

    latency_ms: float = 0.0  # response time: work is done on arrival, answers leave at arrival + this
    fault_rate: float = 0.0
    fault_kinds: frozenset[str] = DEFAULT_FAULT_KINDS
    retry_after: int = 1
    read_timeout_seconds: float = 2.0
    path_filter: str | None = None
    seed: int | None = None
    script: deque[str] = field(default_factory=deque)
    injected: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    _SETTABLE = (
        "latency_ms",
        "fault_rate",
        "fault_kinds",
        "retry_after",
        "read_timeout_seconds",
        "path_filter",
        "seed",
        "script",
    )

    def __post_init__(self) -> None:
        self.configure(
            fault_kinds=self.fault_kinds,
            fault_rate=self.fault_rate,
            seed=self.seed,
            path_filter=self.path_filter,
            script=list(self.script),
        )

    def configure(self, **values: Any) -> FaultConfig:
        """Validate and set fields by name (as `POST /_sim/faults` does); returns self."""
        unknown = sorted(set(values) - set(self._SETTABLE))
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; allowed {list(self._SETTABLE)}")
        with self._lock:
            for name, value in values.items():
                self._set(name, value)
        return self

    def _set(self, name: str, value: Any) -> None:
        if name == "fault_kinds":
            kinds = [value] if isinstance(value, str) else list(value)
            self.fault_kinds = frozenset(_check_kinds(kinds, name))
        elif name == "fault_rate":
            rate = float(value)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault_rate must be between 0 and 1, got {value!r}")
            self.fault_rate = rate
        elif name in ("latency_ms", "read_timeout_seconds"):
            number = float(value)
            if number < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            setattr(self, name, number)
        elif name == "retry_after":
            seconds = int(value)
            if seconds < 0:
                raise ValueError(f"retry_after must be >= 0, got {value!r}")
            self.retry_after = seconds
        elif name == "path_filter":
            try:
                re.compile(str(value))
            except re.error as exc:
                raise ValueError(f"path_filter is not a valid regular expression: {exc}") from None
            self.path_filter = None if value is None else str(value)
        elif name == "seed":
            self.seed = None if value is None else int(value)
            self.rng.seed(self.seed)
        elif name == "script":
            self.script = deque(_check_kinds([value] if isinstance(value, str) else value, name))

    def enqueue(self, *kinds: str) -> None:
        """Queue faults for the next matching requests, in order, before any random draw."""
        with self._lock:
            self.script.extend(_check_kinds(kinds, "enqueue"))

    def clear(self) -> None:
        """Back to defaults: no latency, no faults, empty queue and counters."""
        with self._lock:
            self.latency_ms = 0.0
            self.fault_rate = 0.0
            self.fault_kinds = DEFAULT_FAULT_KINDS
            self.retry_after = 1
            self.read_timeout_seconds = 2.0
            self.path_filter = None
            self.seed = None
            self.rng.seed(None)
            self.script.clear()
            self.injected.clear()

    def applies_to(self, path: str) -> bool:
        """Control routes are never faulted; the path filter narrows everything else."""
        if path.startswith(CONTROL_PREFIX):
            return False
        return self.path_filter is None or re.search(self.path_filter, path) is not None

    def next_fault(self, path: str) -> str | None:
        """Pick the fault for one request (queue first, then a seeded random draw) and count it."""
        with self._lock:
            if not self.applies_to(path):
                return None
            kind: str | None = None
            if self.script:
                kind = self.script.popleft()
            elif self.fault_kinds and self.fault_rate > 0 and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(sorted(self.fault_kinds))
            if kind is not None:
                self.injected[kind] += 1
            return kind

    def snapshot(self) -> dict[str, Any]:
        """The settable fields, to restore later with `configure(**snapshot)`."""
        with self._lock:
            view = {name: getattr(self, name) for name in self._SETTABLE}
            view["script"] = list(self.script)
            return view

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for `/_sim/faults` and `/_sim/state`."""
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "fault_rate": self.fault_rate,
                "fault_kinds": sorted(self.fault_kinds),
                "retry_after": self.retry_after,
                "read_timeout_seconds": self.read_timeout_seconds,
                "path_filter": self.path_filter,
                "seed": self.seed,
                "script": list(self.script),
                "injected": dict(self.injected),
            }
