"""Class 2: waits a server asks for (Retry-After, Vault delays) are capped; NaN and infinity ignored."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from clinical_rules_provider.exceptions import WaitTooLongError
from clinical_rules_provider.hooks.clinical_one import ClinicalOneHook
from clinical_rules_provider.hooks.vault import VaultHook
from tests.conftest import RULE_A, STUDY
from tests.hostile.conftest import API, HISTORY, abounded, bounded
from tests.hostile.server import HostileServer, reply, sequence

Conn = Callable[..., str]
HISTORY_OK = {"status": "SUCCESS", "ruleHistory": []}
JOB_OK = {"responseStatus": "SUCCESS", "data": {"id": 9, "status": "RUNNING"}}
LIMITED = {"responseStatus": "FAILURE", "errors": [{"type": "API_LIMIT_EXCEEDED", "message": "slow down"}]}


@pytest.mark.parametrize("retry_after", ["86400", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_above_max_wait_fails_at_once_instead_of_sleeping(
    hostile: HostileServer, c1: Conn, retry_after: str
) -> None:
    hostile.route("GET", HISTORY, reply(429, {}, headers={"Retry-After": retry_after}))
    conn = c1(max_retries=3, max_wait=5, deadline=600)
    started = time.monotonic()
    with pytest.raises(WaitTooLongError, match="max_wait"):
        bounded(lambda: ClinicalOneHook(conn).get_rerun_history(STUDY, "test", RULE_A))
    assert time.monotonic() - started < 1
    assert hostile.count(HISTORY) == 1


@pytest.mark.parametrize("retry_after", ["nan", "inf"])
async def test_a_nan_or_infinite_retry_after_is_ignored(
    hostile: HostileServer, c1: Conn, retry_after: str
) -> None:
    hostile.route(
        "GET", HISTORY, sequence(reply(503, {}, headers={"Retry-After": retry_after}), reply(200, HISTORY_OK))
    )
    hook = ClinicalOneHook(c1(max_retries=2, max_wait=5))
    history = await abounded(hook.aget_rerun_history(STUDY, "test", RULE_A), 3)
    assert history.rule_history == []
    await hook.aclose()


def test_a_huge_vault_response_delay_at_the_burst_limit_fails_at_once(
    hostile: HostileServer, vault: Conn
) -> None:
    delay = {"X-VaultAPI-BurstLimitRemaining": "0", "X-VaultAPI-ResponseDelay": "86400000"}
    hostile.route("GET", f"{API}/services/jobs/9", reply(200, JOB_OK, headers=delay))
    conn = vault(max_wait=5)
    with pytest.raises(WaitTooLongError, match="max_wait"):
        bounded(lambda: VaultHook(conn).get_job_status(9))


@pytest.mark.parametrize("delay", ["NaN", "infinity"])
def test_a_nan_or_infinite_vault_delay_is_ignored(hostile: HostileServer, vault: Conn, delay: str) -> None:
    headers = {"X-VaultAPI-ResponseDelay": delay}
    hostile.route(
        "GET", f"{API}/services/jobs/9", sequence(reply(200, LIMITED, headers=headers), reply(200, JOB_OK))
    )
    conn = vault(max_retries=2)
    job = bounded(lambda: VaultHook(conn).get_job_status(9), 4)
    assert job.job_id == 9
