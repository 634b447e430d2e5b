"""Known secrets, kept so text a server echoes back can be scrubbed of them, and cache keys
that stand for credentials without holding them. No Airflow here: exceptions use it.

:func:`clinical_rules_provider.hooks._secrets.register_secret` feeds the registry (and
Airflow's masker); :class:`~clinical_rules_provider.exceptions.ClinicalRulesError` runs
every message through :func:`redact`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

REDACTED = "***"
# Shorter values would blank out ordinary words; Airflow's masker skips them too.
MIN_LENGTH = 4
# The newest secrets are kept; a process holds a few per connection.
MAX_SECRETS = 1024

_lock = threading.Lock()
_known: OrderedDict[str, None] = OrderedDict()
# Keys the fingerprints, so a fingerprint seen in a dump cannot be brute-forced offline.
_PROCESS_KEY = os.urandom(32)


def remember(value: object) -> None:
    """Add ``value`` (and each of its lines, for CR/LF-tainted values) to the known secrets."""
    if not isinstance(value, str):
        return
    with _lock:
        for part in {line.strip() for line in (value, *value.splitlines())}:
            if len(part) >= MIN_LENGTH:
                _known[part] = None
                _known.move_to_end(part)
        while len(_known) > MAX_SECRETS:
            _known.popitem(last=False)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***`` (longest first, so overlaps go whole)."""
    if not _known or not text:
        return text
    with _lock:
        found = [secret for secret in _known if secret in text]
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def fingerprint(*parts: object) -> str:
    """A keyed hash of everything that authenticates: equal credentials, equal fingerprint.

    Caches key tokens and sessions by it, so a connection with another (or a wrong)
    password or client secret never matches, and no secret is kept as a key.
    """
    digest = hashlib.blake2b(key=_PROCESS_KEY, digest_size=32)
    for part in parts:
        data = repr(part).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()
