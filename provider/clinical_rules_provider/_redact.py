"""Known secrets, kept so text a server echoes back can be scrubbed of them, and cache keys
that stand for credentials without holding them. No Airflow here: exceptions use it.

``transport.secrets.register_secret`` feeds the registry (``_state.SECRETS``, the newest 1024);
:class:`~clinical_rules_provider.exceptions.ClinicalRulesError` runs every message through it.
"""

from __future__ import annotations

import hashlib
import os

from clinical_rules_provider._state import SECRETS

REDACTED = "***"
# Shorter values would blank out ordinary words; Airflow's masker skips them too.
MIN_LENGTH = 4
# Keys the fingerprints, so a fingerprint seen in a dump cannot be brute-forced offline.
_PROCESS_KEY = os.urandom(32)


def remember(value: object) -> None:
    """Add ``value`` (and each of its lines, for CR/LF-tainted values) to the known secrets."""
    if not isinstance(value, str):
        return
    for part in {line.strip() for line in (value, *value.splitlines())}:
        if len(part) >= MIN_LENGTH:
            SECRETS.put(part, None)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***`` (longest first, so overlaps go whole)."""
    if not len(SECRETS) or not text:
        return text
    found = [secret for secret in SECRETS.snapshot() if secret in text]
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def fingerprint(*parts: object) -> str:
    """A keyed hash of everything that authenticates: token and session caches key by it, so
    other (or wrong) credentials never match, and no secret is kept as a key."""
    digest = hashlib.blake2b(key=_PROCESS_KEY, digest_size=32)
    for part in parts:
        data = repr(part).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()
