"""An in-memory stand-in for Airflow 3.3's ``context["task_state_store"]``, for tests and
``reliability/``: the same ``get``/``set``/``delete``/``clear`` calls, values kept as JSON
(so whatever is stored must survive the trip, as in Airflow's database), and ``on_set`` to
act at the moment a value is written (e.g. to "kill the worker" right after a checkpoint).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

__all__ = ["InMemoryTaskStateStore"]


class InMemoryTaskStateStore:
    """Key/value per task instance that outlives a try: pass the same one to each ``execute``."""

    def __init__(self, on_set: Callable[[str, Any], None] | None = None) -> None:
        self._values: dict[str, str] = {}
        self.on_set = on_set
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key`` (JSON-decoded), or ``default``."""
        raw = self._values.get(key)
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        """Store ``value`` as JSON, as Airflow's store does (``None`` refused; ``retention`` ignored)."""
        if value is None:
            raise ValueError("Cannot set value as None")
        self._values[key] = json.dumps(value)
        self.writes += 1
        if self.on_set is not None:
            self.on_set(key, value)

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""
        self._values.pop(key, None)

    def clear(self) -> None:
        """Forget every key."""
        self._values.clear()

    def __repr__(self) -> str:
        return f"InMemoryTaskStateStore(keys={sorted(self._values)})"
