"""The probes of the hostile section of ``make reliability`` (see :mod:`reliability.hostile`):
each names a misbehaviour, the routes that script it on the loopback server of
``tests/hostile/server.py``, the connection it is tried on and the hook call that meets it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

STUDY = "36753A48BBA048CB98A5F3278146118D"
RULE = "8E2253D8E53A4A46BAE3E4952CBE9E5A"
JOB = "0E2428167F66445BAB544C7CDD884E87"
API = "/api/v26.1"
HISTORY = f"/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/rerunhistory/{RULE}"
CANCEL = f"/ec-rule-svc/rest/v1.0/studies/{STUDY}/test/cancelRuleJob"
FILTER = f"/ec-rule-designer-svc/rest/v1.0/rulemgt/studies/{STUDY}/test/filteredlist"
TOKEN = "/oauth2/v1/token"
CAP = 1 << 20  # the body cap the probes run with (bytes)
LIMITS = {"timeout": 0.5, "deadline": 1.5, "max_retries": 2, "retry_backoff": 0.01, "max_wait": 5}


@dataclass
class Probe:
    """One misbehaviour, the connection it is tried on, and the call that meets it."""

    name: str
    routes: list[tuple[str, str, Any]]
    conn: str  # "c1", "c1_oauth" or "vault"
    call: str  # a key of CALLS
    big_body: bool = False


def probes() -> list[Probe]:
    """Every probe, in the order they run (issued tokens are recorded in :data:`ISSUED`)."""
    from tests.hostile.server import endless_chunks, hang, raw, reply, sequence, trickle

    ok_history = {"status": "SUCCESS", "ruleHistory": []}
    ok_token = reply(200, {"access_token": _issue("tok"), "expires_in": 600})
    job = {"ruleId": RULE, "jobId": JOB, "jobStatus": "Success", "jobStartDate": "2026-11-27 10:00:00.000"}
    delay = {"X-VaultAPI-BurstLimitRemaining": "0"}
    limited = {"responseStatus": "FAILURE", "errors": [{"type": "API_LIMIT_EXCEEDED"}]}
    vjob = {"responseStatus": "SUCCESS", "data": {"id": 9, "status": "RUNNING"}}
    huge = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{"
    probes = [
        Probe("token endpoint never answers", [("POST", TOKEN, hang())], "c1_oauth", "history"),
        Probe("vault login never answers", [("POST", f"{API}/auth", hang())], "vault", "vault_job"),
        Probe(
            "body trickled byte by byte",
            [("GET", HISTORY, trickle(b"{" + b" " * 400 + b"}"))],
            "c1",
            "history",
        ),
        Probe(
            "headers trickled byte by byte",
            [("GET", HISTORY, trickle(b"{}", headers_too=True))],
            "c1",
            "history",
        ),
        Probe("reply never sent", [("GET", HISTORY, hang())], "c1", "history"),
        Probe("endless chunked reply", [("GET", HISTORY, endless_chunks())], "c1", "history", big_body=True),
        Probe(
            "endless token reply", [("POST", TOKEN, endless_chunks())], "c1_oauth", "history", big_body=True
        ),
        Probe(
            "endless vault login reply",
            [("POST", f"{API}/auth", endless_chunks())],
            "vault",
            "vault_job",
            big_body=True,
        ),
        Probe("Content-Length of 10 GiB", [("GET", HISTORY, raw(huge))], "c1", "history", big_body=True),
        Probe(
            "JSON nested 100 000 deep",
            [("GET", HISTORY, reply(200, b"[" * 100_000 + b"]" * 100_000))],
            "c1",
            "history",
        ),
        Probe("not HTTP at all", [("GET", HISTORY, raw(b"\x00\xff garbage\r\n\r\n"))], "c1", "history"),
        Probe(
            "gzip body that is not gzip",
            [("GET", HISTORY, reply(200, b"not gzip", headers={"Content-Encoding": "gzip"}))],
            "c1",
            "history",
        ),
        Probe(
            "jobStartDate 'now'",
            [("GET", HISTORY, reply(200, {**ok_history, "ruleHistory": [{**job, "jobStartDate": "now"}]}))],
            "c1",
            "history",
        ),
        Probe(
            "jobStartDate in year 99999",
            [
                (
                    "GET",
                    HISTORY,
                    reply(
                        200,
                        {**ok_history, "ruleHistory": [{**job, "jobStartDate": "99999-01-01 00:00:00.000"}]},
                    ),
                )
            ],
            "c1",
            "history",
        ),
        Probe(
            "ruleHistory a number",
            [("GET", HISTORY, reply(200, {"status": "SUCCESS", "ruleHistory": 5}))],
            "c1",
            "history",
        ),
        Probe(
            "jobStatus a number",
            [("PUT", CANCEL, reply(200, {"errorMessage": "Success", "jobStatus": 5}))],
            "c1",
            "cancel",
        ),
        Probe("resultData a string", [("POST", FILTER, reply(200, {"resultData": "x"}))], "c1", "list"),
        Probe(
            "vault data null",
            [("GET", f"{API}/services/jobs/9", reply(200, {"responseStatus": "SUCCESS", "data": None}))],
            "vault",
            "vault_job",
        ),
        Probe(
            "vault monitors data a number",
            [
                (
                    "GET",
                    f"{API}/services/jobs/monitors",
                    reply(200, {"responseStatus": "SUCCESS", "data": 5, "responseDetails": 5}),
                )
            ],
            "vault",
            "monitors",
        ),
        Probe(
            "Retry-After of a day",
            [("GET", HISTORY, reply(429, {}, headers={"Retry-After": "86400"}))],
            "c1",
            "history",
        ),
        Probe(
            "Retry-After far in the future",
            [("GET", HISTORY, reply(503, {}, headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}))],
            "c1",
            "history",
        ),
        Probe(
            "Retry-After NaN",
            [
                (
                    "GET",
                    HISTORY,
                    sequence(reply(503, {}, headers={"Retry-After": "nan"}), reply(200, ok_history)),
                )
            ],
            "c1",
            "history",
        ),
        Probe(
            "Retry-After infinite",
            [
                (
                    "GET",
                    HISTORY,
                    sequence(reply(429, {}, headers={"Retry-After": "inf"}), reply(200, ok_history)),
                )
            ],
            "c1",
            "history",
        ),
        Probe(
            "vault delay of a day at the burst limit",
            [
                (
                    "GET",
                    f"{API}/services/jobs/9",
                    reply(200, vjob, headers={**delay, "X-VaultAPI-ResponseDelay": "86400000"}),
                )
            ],
            "vault",
            "vault_job",
        ),
        Probe(
            "vault delay NaN on API_LIMIT_EXCEEDED",
            [
                (
                    "GET",
                    f"{API}/services/jobs/9",
                    sequence(
                        reply(200, limited, headers={"X-VaultAPI-ResponseDelay": "NaN"}), reply(200, vjob)
                    ),
                )
            ],
            "vault",
            "vault_job",
        ),
        Probe(
            "expires_in of 400 digits",
            [
                (
                    "POST",
                    TOKEN,
                    reply(
                        200,
                        b'{"access_token": "'
                        + _issue("tok").encode()
                        + b'", "expires_in": '
                        + b"9" * 400
                        + b"}",
                    ),
                ),
                ("GET", HISTORY, reply(200, ok_history)),
            ],
            "c1_oauth",
            "history",
        ),
        Probe(
            "token with CR/LF",
            [
                (
                    "POST",
                    TOKEN,
                    reply(200, {"access_token": _issue("tok") + "\r\nX-Injected: 1", "expires_in": 600}),
                )
            ],
            "c1_oauth",
            "history",
        ),
        Probe(
            "vault session with CR/LF",
            [
                (
                    "POST",
                    f"{API}/auth",
                    reply(200, {"responseStatus": "SUCCESS", "sessionId": _issue("sess") + "\r\nX: 1"}),
                )
            ],
            "vault",
            "vault_job",
        ),
        Probe(
            "token refused right after renewal",
            [("POST", TOKEN, ok_token), ("GET", HISTORY, reply(401, {}))],
            "c1_oauth",
            "history",
        ),
        Probe(
            "trigger against trickled headers",
            [("GET", HISTORY, trickle(b"{}", headers_too=True))],
            "c1",
            "trigger",
        ),
        Probe(
            "trigger with refused renewed token",
            [("POST", TOKEN, ok_token), ("GET", HISTORY, reply(401, {}))],
            "c1_oauth",
            "trigger",
        ),
    ]
    return probes


ISSUED: list[str] = []
"""Tokens and session ids the probes hand out: scanned for in everything the probes print."""


def _issue(kind: str) -> str:
    value = f"{kind}-{secrets.token_hex(12)}"
    ISSUED.append(value)
    return value
