"""Class 3: reply bodies are bounded (endless streams, huge Content-Length, deep JSON)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from clinical_rules_provider.exceptions import ResponseTooLargeError, UnexpectedResponseError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from tests.conftest import RULE_A, STUDY
from tests.hostile.conftest import API, HISTORY, TOKEN_PATH, abounded, bounded
from tests.hostile.server import Handler, HostileServer, Request, Writer, endless_chunks, hang, raw, reply

Conn = Callable[..., str]
CAP = 1 << 20


def test_an_endless_chunked_reply_stops_at_the_body_cap_in_bounded_memory(
    hostile: HostileServer, c1: Conn
) -> None:
    hostile.route("GET", HISTORY, endless_chunks())
    assert _peak_of_a_refused_history(c1(max_body_bytes=CAP, deadline=30)) < 4 * CAP


def _peak_of_a_refused_history(conn: str) -> int:
    """Read a rule's history, which must fail on the body cap; the traced memory peak meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError, match="max_body_bytes"):
            bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_an_endless_chunked_reply_stops_at_the_body_cap_in_async_calls(
    hostile: HostileServer, vault: Conn
) -> None:
    hostile.route("GET", f"{API}/services/jobs/9", endless_chunks())
    hook = VaultHook(vault(max_body_bytes=CAP, deadline=30))
    with pytest.raises(ResponseTooLargeError):
        await abounded(hook.aget_job_status(9))
    await hook.aclose()


def test_a_declared_content_length_above_the_cap_is_refused_before_reading(
    hostile: HostileServer, c1: Conn
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{"
    hostile.route("GET", HISTORY, _then_hang(raw(head)))
    conn = c1(max_body_bytes=CAP, timeout=5, deadline=30)
    with pytest.raises(ResponseTooLargeError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A), 3)


def test_an_endless_token_reply_stops_at_the_body_cap(hostile: HostileServer, c1_oauth: Conn) -> None:
    hostile.route("POST", TOKEN_PATH, endless_chunks())
    conn = c1_oauth(max_body_bytes=CAP, deadline=30)
    with pytest.raises(ResponseTooLargeError):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))


@pytest.mark.parametrize("depth", [100_000])
def test_json_nested_too_deep_is_a_provider_error_not_a_recursion_error(
    hostile: HostileServer, c1: Conn, depth: int
) -> None:
    hostile.route("GET", HISTORY, reply(200, b"[" * depth + b"]" * depth))
    conn = c1(max_body_bytes=CAP)
    with pytest.raises(UnexpectedResponseError, match="nested too deeply"):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))


def _then_hang(first: Handler) -> Handler:
    """Send ``first`` and keep the connection open without finishing the body."""

    async def handle(request: Request, writer: Writer) -> None:
        await first(request, writer)
        await hang()(request, writer)

    return handle


def _bomb(size: int, encoding: str) -> bytes:
    """``size`` blanks, gzip- or zlib-compressed a MiB at a time (never held inflated)."""
    squeeze = zlib.compressobj(9, wbits=zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    blanks = b" " * (1 << 20)
    return b"".join(squeeze.compress(blanks) for _ in range(size >> 20)) + squeeze.flush()


def _encoded_reply(body: bytes, encoding: str) -> Handler:
    return raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: "
        + encoding.encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_body_cap_after_decoding(
    hostile: HostileServer, c1: Conn, encoding: str
) -> None:
    packed = _bomb(256 * CAP, encoding)  # 256 MiB of blanks in about 256 KiB, under the cap
    assert len(packed) < CAP
    hostile.route("GET", HISTORY, _encoded_reply(packed, encoding))
    assert _peak_of_a_refused_history(c1(max_body_bytes=CAP, deadline=30)) < 8 * CAP


async def test_a_compression_bomb_stops_at_the_body_cap_in_async_calls(
    hostile: HostileServer, vault: Conn
) -> None:
    hostile.route("GET", f"{API}/services/jobs/9", _encoded_reply(_bomb(64 * CAP, "gzip"), "gzip"))
    hook = VaultHook(vault(max_body_bytes=CAP, deadline=30))
    with pytest.raises(ResponseTooLargeError):
        await abounded(hook.aget_job_status(9))
    await hook.aclose()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_reply_under_the_cap_is_decoded(hostile: HostileServer, c1: Conn, encoding: str) -> None:
    history = {
        "status": "SUCCESS",
        "ruleHistory": [
            {"ruleId": RULE_A, "jobId": "0E2428167F66445BAB544C7CDD884E87", "jobStatus": "Success"}
        ],
    }
    body = json.dumps(history).encode()
    if encoding == "gzip":
        packed = gzip.compress(body)
    elif encoding == "deflate":
        packed = zlib.compress(body)
    else:  # some servers send raw deflate without the zlib header
        squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = squeeze.compress(body) + squeeze.flush()
    hostile.route("GET", HISTORY, _encoded_reply(packed, encoding.replace("raw-", "")))
    conn = c1(max_body_bytes=CAP)
    result = bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert [job.job_status for job in result.rule_history] == ["Success"]


def test_a_reply_in_an_encoding_that_was_not_asked_for_is_refused(hostile: HostileServer, c1: Conn) -> None:
    hostile.route("GET", HISTORY, _encoded_reply(b"\x00" * 64, "gzip, gzip"))
    conn = c1(max_body_bytes=CAP)
    with pytest.raises(UnexpectedResponseError, match="Content-Encoding"):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
