"""`SimulatorState`: the one object the routes and tests share, behind one lock.

It holds the settings, the Clinical One rules and jobs, OAuth2 tokens and the request
log; its Vault half is `VaultStateMixin` (``vault_state.py``). Job statuses are derived
lazily from `state.clock`, so tests can swap in a `ManualClock` and step time.
"""

from __future__ import annotations

import copy
import random
import secrets
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from clinical_rules_provider.testing import _seed
from clinical_rules_provider.testing.clock import Clock, ManualClock, utc_now
from clinical_rules_provider.testing.faults import FaultConfig, RequestRecord
from clinical_rules_provider.testing.vault_state import VaultJob, VaultStateMixin

# ManualClock and VaultJob are defined in clock.py and vault_state.py; importable here too.
__all__ = [
    "ACTIVE_RULE_JOB_STATUSES",
    "SETTING_NAMES",
    "Clock",
    "ManualClock",
    "Rule",
    "RuleJob",
    "Settings",
    "SimulatorState",
    "VaultJob",
    "utc_now",
]

ACTIVE_RULE_JOB_STATUSES = frozenset({"Pending", "Running"})
_UTC = timezone.utc


def _compact(uuid: str) -> str:
    """Ids are stored uppercase compact; helpers accept either form, any case."""
    return uuid.replace("-", "").upper()


@dataclass
class RuleJob:
    """One rule execution; `running_seconds=None` models a job stuck in Running."""

    job_id: str
    group_job_id: str
    rule_id: str
    started: datetime
    outcome: str = "Success"
    user_id: str = _seed.API_USER_ID
    pending_seconds: float = 0.5
    running_seconds: float | None = 1.5
    fixed_status: str | None = None
    cancelled_at: datetime | None = None
    passed_subjects: int = 10
    failed_subjects: int = 0

    def status(self, now: datetime) -> str:
        """Pending -> Running -> outcome, unless pinned (history) or cancelled."""
        if self.fixed_status is not None:
            return self.fixed_status
        if self.cancelled_at is not None:
            return "Cancelled"
        elapsed = (now - self.started).total_seconds()
        if elapsed < self.pending_seconds:
            return "Pending"
        if self.running_seconds is None or elapsed < self.pending_seconds + self.running_seconds:
            return "Running"
        return self.outcome

    def subject_counts(self, now: datetime) -> tuple[int, int]:
        """(passed, failed) subjects; zero until the job has finished."""
        if self.status(now) in ACTIVE_RULE_JOB_STATUSES | {"Cancelled"}:
            return 0, 0
        return self.passed_subjects, self.failed_subjects


@dataclass
class Rule:
    """A rule in one (study, mode); `invalid` makes publishing it fail validation.

    `publish_status` is the item `jobStatus` a publish reports for it (`Success`, or seed
    002's `InProgress`/`Queued`); a valid rule with `validation_status=False` is updated
    with `ruleValidationStatus: false` and its `validation_message` (a warning).
    """

    rule_id: str
    name: str
    study_id: str
    mode: str
    rule_state: str = "publish"
    enabled: bool = True
    training: bool = False
    publish_run: str = "FutureData"
    form_id: str = _seed.FORMS[0][0]
    form_name: str = _seed.FORMS[0][1]
    form_ref_name: str = _seed.FORMS[0][2]
    item_id: str = _seed.FORMS[0][3][0][0]
    question_name: str = _seed.FORMS[0][3][0][1]
    question_ref_name: str = _seed.FORMS[0][3][0][2]
    ref_name: str = "SIM_RULE"
    description: str = "Simulated rule."
    user_id: str = _seed.USERS[0][0]
    user_name: str = _seed.USERS[0][1]
    last_modified: datetime = _seed.BASE_MODIFIED
    display_order: int = 10
    action_target: str = "VISIT"
    action_type: str = "CREATE_QUERY"
    validation_status: bool = True
    validation_message: str = "Rule evaluated successfully."
    outcome: str = "Success"
    uncancellable: bool = False
    invalid: bool = False
    publish_status: str = "Success"
    jobs: list[RuleJob] = field(default_factory=list)

    @property
    def latest_job(self) -> RuleJob | None:
        """The rule's newest job, started or queued (``None`` before any)."""
        return self.jobs[-1] if self.jobs else None

    def seen_jobs(self, now: datetime) -> list[RuleJob]:
        """The jobs the service shows at ``now``: a queued job appears once it has started."""
        return [job for job in self.jobs if job.started <= now]


@dataclass
class Settings:
    """Switches a test may flip (also as attributes of the state); reset() restores them."""

    pending_seconds: float = 0.5
    running_seconds: float = 1.5
    cancelling_seconds: float = 1.0
    ignore_paging: bool = False
    report_total_count: bool = True
    vault_item_errors_as_list: bool = False
    enforce_job_status_rate_limit: bool = False
    vault_username: str = "integration@sim.example"
    vault_password: str = "sim-password"
    burst_limit: int = 2000
    burst_window_seconds: float = 300.0
    burst_exhausted_delay_ms: int = 500
    session_ttl_seconds: float = 1200.0
    job_status_min_interval_seconds: float = 10.0
    # Clinical One auth (see testing/auth.py): Basic users, OAuth2 clients, static bearers.
    c1_auth_required: bool = True
    c1_basic_users: dict[str, str] = field(default_factory=lambda: {"demo-user": "demo-password"})
    oauth_clients: dict[str, str] = field(default_factory=lambda: {"sim-client": "sim-client-secret"})
    static_tokens: tuple[str, ...] = ("sim-static-token",)
    token_ttl_seconds: float = 600.0
    # A tenant unlike the worker (see testing/profiles.py, profile="realistic"): the service
    # clock runs this far from the simulator's clock, an accepted update waits this long before
    # its job starts (and is answered ``Queued``), and jobStartDate may have whole seconds only.
    clock_offset_seconds: float = 0.0
    job_queue_seconds: float = 0.0
    second_precision_stamps: bool = False


SETTING_NAMES = frozenset(f.name for f in fields(Settings))


class SimulatorState(VaultStateMixin):
    """All simulator data behind one re-entrant lock (uvicorn thread + test thread)."""

    settings: Settings

    def __init__(
        self,
        *,
        seed: int = 0,
        rule_count: int = 12,
        vault_job_count: int = 12,
        service_timezone: str = "UTC",
        clock: Clock | None = None,
        faults: FaultConfig | None = None,
        profile: str | None = None,
        **settings: Any,
    ) -> None:
        if profile is not None:
            from clinical_rules_provider.testing.profiles import apply_profile

            service_timezone, faults, settings = apply_profile(profile, service_timezone, faults, settings)
        unknown = sorted(set(settings) - SETTING_NAMES)
        if unknown:
            raise TypeError(f"unknown simulator setting(s): {unknown}")
        self.lock = threading.RLock()
        self.seed, self.rule_count, self.vault_job_count = seed, rule_count, vault_job_count
        initial = copy.deepcopy(Settings(**settings))  # not shared with the caller
        self._initial = (service_timezone, clock or utc_now, initial)
        self.faults = faults if faults is not None else FaultConfig()
        self._initial_faults = self.faults.snapshot()
        self.reset()

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__.get("settings")
        if name in SETTING_NAMES and settings is not None:
            return getattr(settings, name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SETTING_NAMES:
            setattr(self.settings, name, value)
        else:
            super().__setattr__(name, value)

    def reset(self) -> None:
        """Re-seed all data, restore settings and clock, clear sessions, tokens, logs, faults."""
        with self.lock:
            self.service_timezone, self.clock, initial = self._initial
            self.settings = copy.deepcopy(initial)  # deep: the credential dicts are mutable
            self.faults.clear()
            self.faults.configure(**self._initial_faults)
            self.request_log: list[RequestRecord] = []
            self.tokens: dict[str, datetime] = {}  # issued OAuth2 access token -> expiry
            self.tokens_issued = 0
            self._rng = random.Random(f"{self.seed}:runtime")
            self._rules: dict[tuple[str, str], dict[str, Rule]] = {}
            self._reset_vault()
            for study in (_seed.EXAMPLE_STUDY_ID, _seed.SECOND_STUDY_ID):
                for mode in _seed.MODES:
                    _seed.seed_rules(self, study, mode)
            _seed.seed_vault(self)

    def now(self) -> datetime:
        """The service's time: the clock, moved by ``clock_offset_seconds``."""
        offset = self.settings.clock_offset_seconds
        return self.clock() + timedelta(seconds=offset) if offset else self.clock()

    def format_job_start(self, when: datetime) -> str:
        """`yyyy-MM-dd HH:mm:ss.SSS` in the service timezone (`.000` with second precision)."""
        zone = _UTC if self.service_timezone == "UTC" else ZoneInfo(self.service_timezone)
        local = when.astimezone(zone)
        millis = 0 if self.settings.second_precision_stamps else local.microsecond // 1000
        return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{millis:03d}"

    def new_hex_id(self) -> str:
        """A new 32-hex-digit id (uppercase compact UUID form), from the seeded generator."""
        return f"{self._rng.getrandbits(128):032X}"

    # ----- Clinical One -------------------------------------------------------
    def has_study(self, study_id: str, mode: str) -> bool:
        """True when the simulator holds rules for this study and mode."""
        return (_compact(study_id), mode) in self._rules

    def studies(self) -> list[tuple[str, str]]:
        """The (compact study id, mode) pairs the simulator holds, sorted."""
        with self.lock:
            return sorted(self._rules)

    def rules(self, study_id: str, mode: str) -> list[Rule]:
        """Rules of one (study, mode) in insertion order ([] for an unknown study)."""
        with self.lock:
            return list(self._rules.get((_compact(study_id), mode), {}).values())

    def rule(self, study_id: str, mode: str, rule_id: str) -> Rule | None:
        """One rule of a study, by id in either UUID form (``None`` when unknown)."""
        with self.lock:
            return self._rules.get((_compact(study_id), mode), {}).get(_compact(rule_id))

    def add_rule(
        self,
        study_id: str,
        mode: str = "test",
        *,
        rule_id: str | None = None,
        name: str | None = None,
        **attrs: Any,
    ) -> Rule:
        """Create (or replace) a rule; the (study, mode) is created on demand."""
        with self.lock:
            rid = _compact(rule_id or self.new_hex_id())
            rule = Rule(
                rule_id=rid,
                name=name or f"Simulated rule {rid[:6]}",
                study_id=_compact(study_id),
                mode=mode,
                **attrs,
            )
            self._rules.setdefault((rule.study_id, mode), {})[rid] = rule
            return rule

    def start_job(
        self,
        rule: Rule,
        *,
        group_job_id: str | None = None,
        started: datetime | None = None,
        stuck: bool = False,
        fixed_status: str | None = None,
    ) -> RuleJob:
        """Append a job: a fresh run by default, a never-ending one (`stuck`) or pinned history."""
        with self.lock:
            job = RuleJob(
                job_id=self.new_hex_id(),
                group_job_id=group_job_id or self.new_hex_id(),
                rule_id=rule.rule_id,
                started=started or self.now(),
                outcome=rule.outcome,
                pending_seconds=0.0 if stuck else self.settings.pending_seconds,
                running_seconds=None if stuck else self.settings.running_seconds,
                fixed_status=fixed_status,
                failed_subjects=0 if rule.outcome == "Success" else 3,
            )
            rule.jobs.append(job)
            return job

    def latest_job(self, study_id: str, mode: str, rule_id: str) -> RuleJob | None:
        """The latest job the service shows (a queued one once it has started)."""
        rule = self.rule(study_id, mode, rule_id)
        seen = rule.seen_jobs(self.now()) if rule else []
        return seen[-1] if seen else None

    def job_status(self, job: RuleJob) -> str:
        """The job's status as the service reports it now (by the simulator's clock)."""
        return job.status(self.now())

    def cancel_rule(self, rule: Rule) -> tuple[RuleJob | None, str | None]:
        """Cancel the latest active job; returns (latest job, status to report)."""
        with self.lock:
            now = self.now()
            seen = rule.seen_jobs(now)
            job = seen[-1] if seen else None
            status = job.status(now) if job else None
            if job is None or status not in ACTIVE_RULE_JOB_STATUSES:
                return job, status
            if rule.uncancellable:
                return job, "Failed to cancel job"
            job.cancelled_at = now
            return job, "Cancelled"

    def issue_token(self) -> str:
        """A new opaque OAuth2 access token, valid for `token_ttl_seconds` of `clock`."""
        with self.lock:
            token = secrets.token_urlsafe(32)
            ttl = timedelta(seconds=self.settings.token_ttl_seconds)
            self.tokens[token] = self.now() + ttl
            self.tokens_issued += 1
            return token

    def token_valid(self, token: str) -> bool:
        """True while an issued token has not expired (expired ones are forgotten)."""
        with self.lock:
            expires = self.tokens.get(token)
            if expires is None or self.now() >= expires:
                self.tokens.pop(token, None)
                return False
            return True

    def expire_tokens(self, min_age: float = 0.0) -> None:
        """Invalidate issued OAuth2 tokens at least ``min_age`` seconds old (static tokens are unaffected).

        A random expiry fault spares tokens issued within the last second: a real token
        does not expire moments after it was issued, and a refusal of a freshly renewed
        token is, to the provider, a credentials error that fails at once.
        """
        with self.lock:
            ttl = timedelta(seconds=self.settings.token_ttl_seconds)
            born_before = self.now() - timedelta(seconds=min_age)
            for token, expires in list(self.tokens.items()):
                if expires - ttl <= born_before:
                    del self.tokens[token]

    # ----- request log --------------------------------------------------------
    def log_request(
        self, *, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> RequestRecord:
        """Record one request the simulator received (for assertions in tests)."""
        record = RequestRecord(method, path, query, headers, body, self.now())
        with self.lock:
            self.request_log.append(record)
        return record

    @property
    def request_count(self) -> int:
        """How many requests the simulator has received."""
        return len(self.request_log)

    def requests_to(self, fragment: str) -> list[RequestRecord]:
        """Logged requests whose path contains `fragment`."""
        with self.lock:
            return [r for r in self.request_log if fragment in r.path]
