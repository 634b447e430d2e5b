"""Values validated once, at the boundary (task or trigger construction, a public hook method);
hooks and clients trust them. Each ``of()`` returns a value of its type unchanged, so a
trigger's polls check nothing again (``docs/reference/models.md``, "Checked values").
"""

from __future__ import annotations

from typing import NamedTuple

from clinical_rules_provider.models.enums import StudyMode, parse_choice
from clinical_rules_provider.models.ids import compact_id, normalize_list, vault_job_id


class CompactId(str):
    """An id already checked and written in the uppercase compact form requests use."""

    __slots__ = ()

    @classmethod
    def of(cls, value: object, field: str) -> CompactId:
        """``value`` itself when it is one already; else checked (either UUID form accepted)."""
        return value if type(value) is cls else cls(compact_id(value, field))


class StudyRef(NamedTuple):
    """A study and its mode, the ``{studyId}/{mode}`` of every Clinical One path."""

    study_id: CompactId
    mode: StudyMode

    @classmethod
    def of(cls, study_id: object, mode: object, mode_field: str = "mode") -> StudyRef:
        """Check both (each only when it is not a checked value already)."""
        checked = mode if isinstance(mode, StudyMode) else parse_choice(mode, StudyMode, mode_field)
        return cls(CompactId.of(study_id, "study_id"), checked)

    def path_args(self) -> dict[str, str]:
        """``study_id`` and ``mode`` as the path templates name them."""
        return {"study_id": str(self.study_id), "mode": self.mode.value}


class PollEndpoint(str):
    """``rerun_history`` (one request per rule) or ``job_status`` (bulk, 500 rules per request)."""

    __slots__ = ()

    @classmethod
    def of(cls, value: object) -> PollEndpoint:
        """``value`` itself when it is one already; else checked (:func:`check_poll_endpoint`)."""
        from clinical_rules_provider.job_options import check_poll_endpoint

        return value if type(value) is cls else cls(check_poll_endpoint(value))  # type: ignore[arg-type]


class RuleIds(tuple[str, ...]):
    """Rule ids: a non-empty list, each compact and uppercase, duplicates dropped (first kept).
    The type is the proof of the check; its items are plain strings (a trigger serializes them).
    Built directly only from ids already compact."""

    __slots__ = ()

    @classmethod
    def of(cls, values: object, field: str = "rule_ids") -> RuleIds:
        """``values`` itself when it is one already; else every id checked (a bare string refused)."""
        return values if type(values) is cls else cls(normalize_list(values, field, compact_id))


class VaultJobIds(tuple[int, ...]):
    """Vault job ids: a non-empty list of positive integers (numeric strings accepted), no repeats."""

    __slots__ = ()

    @classmethod
    def of(cls, values: object, field: str = "job_ids") -> VaultJobIds:
        """``values`` itself when it is one already; else every id checked."""
        return values if type(values) is cls else cls(normalize_list(values, field, vault_job_id))


__all__ = ["CompactId", "PollEndpoint", "RuleIds", "StudyRef", "VaultJobIds"]
