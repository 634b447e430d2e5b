"""The Vault half of `SimulatorState`: jobs, sessions and the burst limit.

Kept apart from `state.py` so that module stays about Clinical One data and shared
plumbing; `SimulatorState` inherits `VaultStateMixin`, so callers see one object.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from clinical_rules_provider.testing import _seed

if TYPE_CHECKING:
    from clinical_rules_provider.testing.state import Settings

__all__ = ["VaultJob", "VaultStateMixin"]


@dataclass
class VaultJob:
    """A Vault job instance; only CANCELLING advances on its own (to CANCELLED)."""

    job_id: int
    status: str
    created: datetime
    title: str = "Simulated job"
    job_name: str = "sim_job__c"
    job_type: str = "sdk_job"
    created_by: int = _seed.VAULT_USER_ID
    # Last status change: when a QUEUED job entered the queue, a RUNNING one started, ...
    modified: datetime | None = None
    # A SCHEDULED job's run_start is its planned start (Vault's monitor example shows it so).
    run_start: datetime | None = None
    run_end: datetime | None = None
    cancel_requested: datetime | None = None
    last_status_read: datetime | None = None

    def current_status(self, now: datetime, cancelling_seconds: float) -> str:
        """The job's status at ``now``: a cancel finishes ``cancelling_seconds`` after it was asked for."""
        if self.status == "CANCELLING" and self.cancel_requested is not None:
            done_at = self.cancel_requested + timedelta(seconds=cancelling_seconds)
            if now >= done_at:
                self.status, self.run_end, self.modified = "CANCELLED", done_at, done_at
        return self.status


class VaultStateMixin:
    """Vault jobs, sessions, client ids and burst accounting, for `SimulatorState`.

    The state supplies ``lock``, ``settings`` and ``now()``, and calls `_reset_vault`
    from its ``reset()``.
    """

    lock: threading.RLock
    settings: Settings

    if TYPE_CHECKING:

        def now(self) -> datetime:
            """The simulator's clock (provided by ``SimulatorState``)."""

    def _reset_vault(self) -> None:
        """Forget every Vault job, session, client id and the burst window (before seeding)."""
        self.vault_client_ids: Counter[str] = Counter()
        self.sessions: dict[str, datetime] = {}
        self._burst: tuple[datetime, int] | None = None
        self._vault_jobs: dict[int, VaultJob] = {}

    def add_vault_job(
        self,
        *,
        status: str = "QUEUED",
        created: datetime | None = None,
        job_id: int | None = None,
        title: str | None = None,
        **attrs: Any,
    ) -> VaultJob:
        """Create a Vault job; RUNNING/terminal jobs get run dates unless given."""
        if status not in _seed.VAULT_STATUSES:
            raise ValueError(f"unknown Vault job status {status!r}")
        with self.lock:
            jid = job_id if job_id is not None else max(self._vault_jobs, default=1070000) + 1
            when = created or self.now()
            job = VaultJob(jid, status, when, title=title or f"Simulated job {jid}", **attrs)
            if job.run_start is None and status not in _seed.VAULT_CANCELLABLE:
                job.run_start = when + timedelta(seconds=5)
            if job.run_end is None and status in _seed.VAULT_TERMINAL:
                job.run_end = when + timedelta(minutes=7)
            if job.modified is None:
                started = job.run_start if status not in _seed.VAULT_CANCELLABLE else None
                job.modified = job.run_end or started or when
            self._vault_jobs[jid] = job
            return job

    def vault_job(self, job_id: int) -> VaultJob | None:
        """One Vault job by id, its status brought up to date (``None`` when unknown)."""
        with self.lock:
            job = self._vault_jobs.get(job_id)
            if job is not None:
                job.current_status(self.now(), self.settings.cancelling_seconds)
            return job

    def vault_jobs(self) -> list[VaultJob]:
        """All Vault jobs, oldest first, with CANCELLING ones advanced."""
        with self.lock:
            now = self.now()
            for job in self._vault_jobs.values():
                job.current_status(now, self.settings.cancelling_seconds)
            return sorted(self._vault_jobs.values(), key=lambda j: (j.created, j.job_id))

    def cancel_vault_job(self, job_id: int) -> bool:
        """SCHEDULED/QUEUED/QUEUEING -> CANCELLING; False when not cancellable or unknown."""
        return self.cancel_vault_jobs([job_id])[0]

    def cancel_vault_jobs(self, job_ids: list[int]) -> list[bool]:
        """Cancel many jobs under one lock and one clock reading (a 500-job request is one call)."""
        with self.lock:
            now, linger = self.now(), self.settings.cancelling_seconds
            outcome = []
            for job_id in job_ids:
                job = self._vault_jobs.get(job_id)
                ok = job is not None and job.current_status(now, linger) in _seed.VAULT_CANCELLABLE
                if ok:
                    job.status, job.cancel_requested = "CANCELLING", now  # type: ignore[union-attr]
                    job.modified = now  # type: ignore[union-attr]
                outcome.append(ok)
            return outcome

    def create_session(self) -> str:
        """Open a Vault session and return its id."""
        with self.lock:
            session_id = secrets.token_hex(32).upper()
            self.sessions[session_id] = self.now()
            return session_id

    def touch_session(self, session_id: str) -> bool:
        """True (and refreshed) when the session exists and has not idled out."""
        with self.lock:
            last, now = self.sessions.get(session_id), self.now()
            if last is None or (now - last).total_seconds() > self.settings.session_ttl_seconds:
                self.sessions.pop(session_id, None)
                return False
            self.sessions[session_id] = now
            return True

    def expire_sessions(self) -> None:
        """End every session, as a Vault restart or timeout would (the next call gets ``INVALID_SESSION_ID``)."""
        with self.lock:
            self.sessions.clear()

    def consume_burst(self) -> tuple[int, int]:
        """Count one Vault call in the burst window: (limit, remaining), negative once over."""
        with self.lock:
            now, window = self.now(), self.settings.burst_window_seconds
            start, used = self._burst or (now, 0)
            if (now - start).total_seconds() >= window:
                start, used = now, 0
            self._burst = (start, used + 1)
            return self.settings.burst_limit, self.settings.burst_limit - used - 1
