"""Glob matching (``*``, ``?``, ``[seq]``, ``[!seq]``, as :mod:`fnmatch`) in bounded time.

``fnmatch`` translates a pattern in time quadratic in its ``[`` count (40 kB of ``[`` took
minutes) and hands the result to a backtracking regex engine. Here a pattern is at most
:data:`MAX_PATTERN_LENGTH` characters, translated in one pass, and cut at its ``*`` into
fixed-width pieces: the first must match at the start of the name, the last at its end,
and each one between is found leftmost after the previous one (leftmost is always right
for ``*``, so nothing is ever retried). Matching a name costs at most its length times the
pattern's length, whatever the pattern.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from clinical_rules_provider._show import shown

__all__ = ["MAX_PATTERN_LENGTH", "Glob", "compile_glob"]

MAX_PATTERN_LENGTH = 256
"""The longest glob accepted, in characters (a job title in Vault is at most 255)."""


@dataclass(frozen=True)
class Glob:
    """A compiled glob: fixed-width pieces between its ``*`` (one piece: no ``*``)."""

    pieces: tuple[re.Pattern[str], ...]
    widths: tuple[int, ...]

    def matches(self, name: str) -> bool:
        """True when the whole of ``name`` matches the glob."""
        first, last = self.pieces[0], self.pieces[-1]
        if len(self.pieces) == 1:
            return first.fullmatch(name) is not None
        if first.match(name) is None:
            return False
        start, end = self.widths[0], len(name) - self.widths[-1]
        if end < start or last.fullmatch(name, end) is None:
            return False
        for piece in self.pieces[1:-1]:
            found = piece.search(name, start, end)
            if found is None:
                return False
            start = found.end()
        return True


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str, field: str) -> Glob:
    """Compile ``pattern``; longer than :data:`MAX_PATTERN_LENGTH` is a ``ValueError`` naming ``field``."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"{field}: {shown(pattern)} is a glob of {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}"
        )
    pieces: list[list[str]] = [[]]
    closes = _next_close(pattern)
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if pieces[-1] or len(pieces) == 1:
                pieces.append([])
        elif ch == "?":
            pieces[-1].append(".")
        elif ch == "[":
            token, i = _char_class(pattern, i, closes)
            pieces[-1].append(token)
        else:
            pieces[-1].append(re.escape(ch))
    compiled = tuple(re.compile("".join(tokens), re.DOTALL) for tokens in pieces)
    return Glob(compiled, tuple(len(tokens) for tokens in pieces))


def _next_close(pattern: str) -> list[int]:
    """For each index, the index of the next ``]`` at or after it (``-1``: none), in one pass."""
    closes = [-1] * (len(pattern) + 1)
    for k in range(len(pattern) - 1, -1, -1):
        closes[k] = k if pattern[k] == "]" else closes[k + 1]
    return closes


def _char_class(pattern: str, i: int, closes: list[int]) -> tuple[str, int]:
    """The regex for the ``[...]`` opened just before ``i``, and the index after it. Like
    fnmatch: ``!`` negates, a ``]`` first is literal, ``a-z`` is a range (an empty one
    matches nothing), and an unclosed ``[`` is a literal ``[``."""
    j = i + 1 if i < len(pattern) and pattern[i] == "!" else i
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    close = closes[j] if j <= len(pattern) else -1
    if close < 0:
        return re.escape("["), i
    content = pattern[i:close]
    negate = content.startswith("!")
    body = content[1:] if negate else content
    parts: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low <= high:
                parts.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            parts.append(re.escape(body[k]))
            k += 1
    if not parts:  # only empty ranges: fnmatch matches nothing (or, negated, any character)
        return ("." if negate else "(?!)"), close + 1
    return f"[{'^' if negate else ''}{''.join(parts)}]", close + 1
