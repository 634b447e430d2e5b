"""What one publish has established so far, in a form that can outlive the try that wrote it.

The operator saves it to Airflow's task state store (3.3+) each time it changes, the first
time before anything is sent, so a retried try reconciles instead of publishing again (the
guide "Republish rules"). Kept free of Airflow imports, like the rest of ``clients/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

LEDGER_VERSION = 1


def job_key(job_id: object) -> str:
    """A job id as compared across reads: compact and uppercase (ids may come in either UUID form)."""
    return str(job_id).replace("-", "").upper()


@dataclass
class PublishLedger:
    """The state of one publish, JSON-ready (see :meth:`to_json`).

    ``snapshot``: each rule's job ids before the first send, read through ``endpoint`` (later
    reads must use the same one, or ids would not compare). ``applied``: the evidence (the reply,
    or the new job id); ``failed``: the service's reason. A rule in neither, once ``sent``, is
    unsettled. ``save`` (not serialized) is called on every change.
    """

    study_id: str = ""
    mode: str = ""
    publish_run: str = ""
    endpoint: str | None = None
    snapshot: dict[str, list[str]] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    sent: bool = False
    save: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)

    def begin(self, study_id: str, mode: str, publish_run: str) -> None:
        """Bind an empty ledger to this publish; a ledger of another publish starts over."""
        if (self.study_id, self.mode, self.publish_run) != (study_id, mode, publish_run):
            fresh = PublishLedger(study_id=study_id, mode=mode, publish_run=publish_run)
            self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "save"})

    @property
    def resumed(self) -> bool:
        """True when an earlier try may have sent updates (so unsettled rules are in doubt)."""
        return self.sent

    def unsettled(self, rule_ids: list[str]) -> list[str]:
        """Rules of ``rule_ids`` neither applied nor failed."""
        return [r for r in rule_ids if r not in self.applied and r not in self.failed]

    def checkpoint(self) -> None:
        """Hand the current state to ``save`` (the task state store), if there is one."""
        if self.save is not None:
            self.save(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """Every field but ``save``, with the format's version."""
        state = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "save"}
        return {"version": LEDGER_VERSION, **state}

    @classmethod
    def from_json(
        cls, data: object, save: Callable[[dict[str, Any]], None] | None = None
    ) -> PublishLedger | None:
        """A ledger from :meth:`to_json` output; ``None`` for anything else (never raises)."""
        if not isinstance(data, Mapping) or data.get("version") != LEDGER_VERSION:
            return None
        try:
            return cls(
                study_id=str(data["study_id"]),
                mode=str(data["mode"]),
                publish_run=str(data["publish_run"]),
                endpoint=None if data.get("endpoint") is None else str(data["endpoint"]),
                snapshot={str(r): [job_key(j) for j in ids] for r, ids in dict(data["snapshot"]).items()},
                applied={str(r): str(v) for r, v in dict(data["applied"]).items()},
                failed={str(r): str(v) for r, v in dict(data["failed"]).items()},
                sent=bool(data["sent"]),
                save=save,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
