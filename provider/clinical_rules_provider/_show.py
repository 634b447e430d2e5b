"""How a validation message quotes the bad value: at most :data:`MAX_SHOWN` characters.

A 10 MB string, a list nested thousands of levels deep or an object whose ``repr`` fails
makes a short message, built in bounded time (``reprlib`` reads only the first items,
characters and levels). No Airflow here: models, clients and DAG-parse-time code use it.
"""

from __future__ import annotations

import reprlib

__all__ = ["MAX_SHOWN", "shown"]

MAX_SHOWN = 100
"""The longest quotation of a bad value in a message, in characters (``...`` included)."""

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = MAX_SHOWN
_REPR.maxother = MAX_SHOWN
_REPR.maxlong = 40
for _name in ("maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdict", "maxdeque", "maxarray"):
    setattr(_REPR, _name, 6)


def shown(value: object) -> str:
    """``repr(value)``, cut to at most :data:`MAX_SHOWN` characters (``...`` marks a cut)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails is the value's problem, not the message's
        text = f"<{type(value).__name__}>"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
