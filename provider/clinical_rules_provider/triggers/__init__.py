"""Async triggers behind the deferrable sensors and operators."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["SerializesArguments"]


class SerializesArguments:
    """``serialize()`` for a trigger that keeps each constructor argument under its own name.

    Every argument then round-trips by construction, in the constructor's order: an event
    trigger's hash is taken over the serialized kwargs in that order, so it must not change.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs: every constructor argument, read back from its attribute."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]  # without ``self``
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            name: getattr(self, name) for name in names
        }
