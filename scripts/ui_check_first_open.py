"""`make ui-check`, part 2: what `make up` shows first, in headless Chromium.

Starts the stack of ``scripts/stack.py`` (free ports, a throw-away home), waits for the first
scheduled run of the unpaused examples (``republish_rules``) to end, runs
``rules_asset_publisher`` once, then checks and photographs, logged in as the stack's admin:

1. the DAG list: no failed run, ``gate_on_rule_jobs`` and ``cancel_stale_jobs`` paused
   (``docs/img/first_open_dag_list.png``);
2. the publish task instance's *Details* tab: the **Clinical One rules** extra link, pointing
   at the simulator's rules page (``docs/img/task_extra_link.png``).

Called by ``scripts/ui_check.py`` after the connection forms (Chromium and selenium are
already there); runnable alone: ``python scripts/ui_check_first_open.py``. Exits non-zero on
a failed check; the stack and the browser are always stopped.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from stack import USER, Stack  # noqa: E402 - the script folder, put on the path just above

IMG_DIR = ROOT / "docs" / "img"
PAUSED = {"gate_on_rule_jobs", "cancel_stale_jobs"}
WINDOW = (1400, 900)
TIMEOUT = 600.0


def wait(what: str, check: Any, timeout: float = TIMEOUT, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what}: not after {timeout:.0f} s")


class Api:
    """The stack's REST API as its admin."""

    def __init__(self, stack: Stack) -> None:
        self.token = stack.token()
        self.http = httpx.Client(
            base_url=f"{stack.api_url}/api/v2", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def get(self, path: str, **params: Any) -> Any:
        reply = self.http.get(path, params=params)
        reply.raise_for_status()
        return reply.json()

    def finished_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
        return dict(
            wait(f"{dag_id} {run_id}", lambda: (r := self.get(path))["state"] in ("success", "failed") and r)
        )


def chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def page_text_contains(driver: Any, text: str, timeout: float = 30.0) -> bool:
    try:
        wait(repr(text), lambda: text in _body(driver), timeout, 0.5)
    except TimeoutError:
        return False
    return True


def signed_in(driver: Any, stack: Stack, expected: str) -> bool:
    """Wait for ``expected`` on the page; if the UI shows its sign-in form instead, sign in
    there as a user would, then wait again.

    The ``_token`` cookie set before loading the page is usually enough, but once (CI,
    2026-12-06) the UI still sent the browser to the form, and the check failed on a page
    that had nothing wrong with it.
    """
    form = "Sign into Airflow"
    try:
        wait(
            "the page or the sign-in form",
            lambda: expected in _body(driver) or form in _body(driver),
            30,
            0.5,
        )
    except TimeoutError:
        return False
    if expected in _body(driver):
        return True
    password = driver.find_element("css selector", "input[type='password']")
    name = next(
        e for e in driver.find_elements("css selector", "input") if e.get_attribute("type") != "password"
    )
    name.send_keys(USER)
    password.send_keys(stack.password + "\n")
    return page_text_contains(driver, expected)


def _body(driver: Any) -> str:
    return str(driver.find_element("tag name", "body").text)


def run_checks(stack: Stack, failures: list[str]) -> None:
    api = Api(stack)
    dags = {d["dag_id"]: d for d in api.get("/dags", limit=100)["dags"]}
    if {d for d, info in dags.items() if info["is_paused"]} != PAUSED:
        failures.append(f"paused DAGs: {sorted(d for d, i in dags.items() if i['is_paused'])}")
    scheduled = wait(
        "republish_rules' first run", lambda: api.get("/dags/republish_rules/dagRuns")["dag_runs"]
    )
    if api.finished_run("republish_rules", scheduled[0]["dag_run_id"])["state"] != "success":
        failures.append("republish_rules' first scheduled run did not succeed")
    reply = api.http.post("/dags/rules_asset_publisher/dagRuns", json={"logical_date": None})
    reply.raise_for_status()
    run_id = reply.json()["dag_run_id"]
    if api.finished_run("rules_asset_publisher", run_id)["state"] != "success":
        failures.append("rules_asset_publisher did not succeed")
    wait("the consumer's run", lambda: api.get("/dags/rules_asset_consumer/dagRuns")["dag_runs"])
    wait(
        "every run to finish", lambda: not api.get("/dags/~/dagRuns", state=["queued", "running"])["dag_runs"]
    )
    failed = api.get("/dags/~/dagRuns", state=["failed"])["dag_runs"]
    if failed:
        failures.append(f"failed runs: {[(r['dag_id'], r['dag_run_id']) for r in failed]}")

    driver = chromium()
    try:
        driver.get(f"{stack.api_url}/")
        driver.add_cookie({"name": "_token", "value": api.token, "path": "/"})
        driver.set_window_size(WINDOW[0], 1200)  # all six examples
        driver.get(f"{stack.api_url}/dags")
        if not signed_in(driver, stack, "republish_rules"):
            failures.append("the DAG list does not show republish_rules")
        time.sleep(2)  # let the run bars render
        IMG_DIR.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(IMG_DIR / "first_open_dag_list.png"))
        driver.set_window_size(*WINDOW)
        details = f"{stack.api_url}/dags/rules_asset_publisher/runs/{quote(run_id, safe='')}/tasks/republish/details"
        driver.get(details)
        if not page_text_contains(driver, "Clinical One rules"):
            failures.append("the task's Details tab shows no 'Clinical One rules' link")
        hrefs = [a.get_attribute("href") or "" for a in driver.find_elements("tag name", "a")]
        if not any(h.startswith(f"{stack.sim_url}/_sim/ui/studies/") for h in hrefs):
            failures.append("no link on the Details tab points at the simulator's rules page")
        time.sleep(1)
        driver.save_screenshot(str(IMG_DIR / "task_extra_link.png"))
    finally:
        driver.quit()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ui-check-stack-") as home:
        stack = Stack(
            Path(home), api_port=0, sim_port=0, say=lambda line: print(f"  [stack] {line}", flush=True)
        )
        failures: list[str] = []
        try:
            stack.start(timeout=TIMEOUT)
            run_checks(stack, failures)
        finally:
            stack.stop()
    for failure in failures:
        print(f"  FAIL {failure}")
    print("first open: " + ("FAIL" if failures else "PASS (2 screenshots in docs/img/)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
