"""`/_sim/ui/*`: the pages the stack's link templates open, obviously the simulator's."""

from __future__ import annotations

import httpx

from clinical_rules_provider.links import JOB_FIELDS, RULES_FIELDS, check_template
from clinical_rules_provider.testing import STALE_RULE_ID
from clinical_rules_provider.testing.ui_pages import RULES_PAGE, VAULT_JOB_PAGE
from tests.testing.conftest import EXEC, S, hyphenate

QUEUED_JOB = 1046892  # seeded QUEUED


async def test_the_rules_page_lists_each_rule_and_its_latest_job_status(
    anon_client: httpx.AsyncClient,
) -> None:
    reply = await anon_client.get(f"/_sim/ui/studies/{S}/test/rules")  # no credentials needed
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "simulator" in reply.text and "not a Clinical One or Veeva Vault page" in reply.text
    row = reply.text.split(f"<td>{STALE_RULE_ID}</td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>Running</td>" in row  # the seeded stale job


async def test_the_rules_page_accepts_the_hyphenated_study_id(anon_client: httpx.AsyncClient) -> None:
    reply = await anon_client.get(f"/_sim/ui/studies/{hyphenate(S)}/test/rules")
    assert reply.status_code == 200 and STALE_RULE_ID in reply.text


async def test_the_rules_page_of_an_unknown_study_is_a_404_page(anon_client: httpx.AsyncClient) -> None:
    reply = await anon_client.get(f"/_sim/ui/studies/{'0' * 32}/test/rules")
    assert reply.status_code == 404 and "no such study" in reply.text


async def test_the_vault_job_page_shows_the_job_status(anon_client: httpx.AsyncClient) -> None:
    reply = await anon_client.get(f"/_sim/ui/vault/jobs/{QUEUED_JOB}")
    assert reply.status_code == 200
    assert "<td>status</td><td>QUEUED</td>" in reply.text and "simulator" in reply.text
    missing = await anon_client.get("/_sim/ui/vault/jobs/not-a-job")
    assert missing.status_code == 404


async def test_the_pages_escape_what_they_show(anon_client: httpx.AsyncClient) -> None:
    reply = await anon_client.get("/_sim/ui/studies/%3Cscript%3E/test/rules")
    assert "<script>" not in reply.text and "&lt;script&gt;" in reply.text


async def test_pages_are_neither_logged_nor_faulted(client: httpx.AsyncClient, sim_state) -> None:  # type: ignore[no-untyped-def]
    sim_state.faults.enqueue("503")
    assert (await client.get(f"/_sim/ui/studies/{S}/test/rules")).status_code == 200
    assert sim_state.requests_to("/_sim/ui") == []
    assert (await client.get(f"{EXEC}/rerunhistory/{STALE_RULE_ID}")).status_code == 503  # still queued


def test_the_page_paths_are_valid_link_templates() -> None:
    assert check_template(RULES_PAGE, RULES_FIELDS, "rules_url_template") == RULES_PAGE
    assert check_template(VAULT_JOB_PAGE, JOB_FIELDS, "job_url_template") == VAULT_JOB_PAGE
