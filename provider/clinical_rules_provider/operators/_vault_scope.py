"""Which Vault jobs the stale canceller may touch, and how old each one is.

A Vault holds every team's jobs, so the scope is checked twice: at DAG parse time for the
values written in the DAG, and again at execute, before any request, once templates have
been rendered.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clinical_rules_provider._show import shown
from clinical_rules_provider.models.times import utc_now
from clinical_rules_provider.task_helpers import is_template

if TYPE_CHECKING:
    from clinical_rules_provider.models.vault import VaultJob

OWNER_ME = "me"
OWNER_ANY = "any"
_OWNER_FORM = '"me", "any", a Vault user id, or a list of user ids (and/or "me")'
MAX_TITLE_PATTERNS = 100
MAX_PATTERN_LENGTH = 256
"""The longest glob accepted, in characters (a job title in Vault is at most 255)."""


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str, field: str) -> re.Pattern[str]:
    """``pattern`` as :mod:`fnmatch` reads it; longer than :data:`MAX_PATTERN_LENGTH` is a
    ``ValueError`` naming ``field``.

    The cap bounds ``fnmatch.translate`` (quadratic in the ``[`` count: 40 kB of ``[`` took
    minutes). The regex it builds commits to the leftmost match of each piece between ``*``,
    so matching a name costs at most its length times the pattern's.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"{field}: {shown(pattern)} is a glob of {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}"
        )
    return re.compile(fnmatch.translate(pattern))


def _is_templated(value: Any) -> bool:
    """True when the value is only known after rendering (a Jinja string or an XComArg)."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, (list, tuple)):  # one level only: a nested list is refused by the parse
        return any(_is_templated(item) for item in value if not isinstance(item, (list, tuple)))
    return value is not None and not isinstance(value, (int, bool))


def parse_owner(value: Any) -> tuple[str, ...] | None:
    """``None`` for ``"any"``; otherwise the owners: user ids (as strings) and/or ``"me"``."""
    if isinstance(value, str) and value.strip().lower() == OWNER_ANY:
        return None
    items = [value] if isinstance(value, (str, int)) else value
    owners = [_owner_item(item) for item in items] if isinstance(items, (list, tuple)) else []
    if owners and None not in owners:
        return tuple(dict.fromkeys(o for o in owners if o is not None))
    raise ValueError(f"job_owner: expected {_OWNER_FORM}, got {shown(value)}")


def _owner_item(item: Any) -> str | None:
    """``"me"``, or a positive user id as a string (an int or its digits); else ``None``."""
    if isinstance(item, bool) or not isinstance(item, (str, int)):
        return None
    text = str(item).strip()
    if text.lower() == OWNER_ME:
        return OWNER_ME
    return str(int(text)) if text.isdigit() and int(text) > 0 else None


def parse_names(value: Any, field: str) -> tuple[str, ...]:
    """A string or a list of non-empty strings (``None`` and ``""`` mean "not given"), casefolded:
    globs and job types match case-insensitively."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ()
    items = [value] if isinstance(value, str) else value
    if isinstance(items, (list, tuple)) and all(isinstance(i, str) and i.strip() for i in items):
        return tuple(dict.fromkeys(i.strip().casefold() for i in items))
    raise ValueError(f"{field}: expected a string or a list of non-empty strings, got {shown(value)}")


def parse_title_patterns(value: Any) -> tuple[str, ...]:
    """Globs as :func:`parse_names` reads them, at most :data:`MAX_TITLE_PATTERNS` of at most
    :data:`MAX_PATTERN_LENGTH` characters each, so matching stays fast whatever the DAG passes."""
    patterns = parse_names(value, "title_pattern")
    if len(patterns) > MAX_TITLE_PATTERNS:
        raise ValueError(f"title_pattern: {len(patterns)} globs; at most {MAX_TITLE_PATTERNS}")
    for pattern in patterns:
        compile_glob(pattern, "title_pattern")
    return patterns


_parse_job_types = functools.partial(parse_names, field="job_types")
_ANY_WITHOUT_SCOPE = (
    'job_owner="any" would reach every team\'s Vault jobs: also give title_pattern (a glob on the '
    'job title/name) or job_types, or keep job_owner="me" (the default) or a list of user ids'
)


@dataclass(frozen=True)
class VaultJobScope:
    """Owners (``None`` = anyone), title/name globs and job types: a stale job must match
    every part that is set. ``job_owner="any"`` needs another part."""

    owners: tuple[str, ...] | None
    title_patterns: tuple[str, ...] = ()
    job_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.owners is None and not (self.title_patterns or self.job_types):
            raise ValueError(_ANY_WITHOUT_SCOPE)

    @classmethod
    def parse(cls, owner: Any, title_pattern: Any, job_types: Any) -> VaultJobScope:
        """Validate the three scope parameters."""
        return cls(parse_owner(owner), parse_title_patterns(title_pattern), _parse_job_types(job_types))

    def owner_ids(self, me: Callable[[], str]) -> frozenset[str] | None:
        """The owners with ``"me"`` resolved (``me`` is called only when needed)."""
        if self.owners is None:
            return None
        return frozenset(me() if owner == OWNER_ME else owner for owner in self.owners)

    def matches(self, job: VaultJob, owner_ids: frozenset[str] | None) -> bool:
        """True when the job is inside every part of the scope that is set."""
        if owner_ids is not None and (job.created_by is None or str(job.created_by).strip() not in owner_ids):
            return False
        if self.title_patterns:
            names = [n.casefold() for n in (job.title, job.job_name) if n]
            globs = [compile_glob(p, "title_pattern") for p in self.title_patterns]
            if not any(glob.match(n) for n in names for glob in globs):
                return False
        return not self.job_types or (job.job_type or "").casefold() in self.job_types

    def describe(self, owner_ids: frozenset[str] | None) -> dict[str, Any]:
        """The scope as plain JSON data for the report."""
        return {
            "job_owner": OWNER_ANY if owner_ids is None else sorted(owner_ids),
            "title_pattern": list(self.title_patterns),
            "job_types": list(self.job_types),
        }


def check_scope_at_parse(owner: Any, title_pattern: Any, job_types: Any) -> None:
    """Validate what the DAG file fixes; templated parts are checked again at execute."""
    parts = ((owner, parse_owner), (title_pattern, parse_title_patterns), (job_types, _parse_job_types))
    fixed: list[Any] = [parse(value) for value, parse in parts if not _is_templated(value)]
    if len(fixed) == len(parts):
        VaultJobScope(*fixed)


# The dates a job's age may come from: only those Vault's reference shows.
AGE_FIELDS = ("modified_date", "run_start_date", "created_date")


def age_since(job: VaultJob, now: datetime | None = None) -> tuple[str, datetime] | None:
    """Since when the job has been as it is, and the field that says so; ``None``: unknown.

    The latest of the :data:`AGE_FIELDS` (``run_start_date`` once it has passed), so the age is
    never overstated; a date the row has that is no date makes the age unknown (never stale).
    See the "cancel stale jobs" guide.
    """
    if any(name in job.unreadable_dates for name in AGE_FIELDS):
        return None
    moment = now if now is not None else utc_now()
    dates = [
        (name, when)
        for name in AGE_FIELDS
        if (when := getattr(job, name)) is not None and (name != "run_start_date" or when <= moment)
    ]
    return max(dates, key=lambda item: item[1], default=None)
