"""`make ui-check`: the provider's connection forms in a real Airflow UI, driven by headless Chromium.

What it does, from a fresh clone (only Python + pip, and apt as root for the browser):

1. Installs Debian's ``chromium`` and ``chromium-driver`` with apt-get when
   ``/usr/bin/chromium`` or ``/usr/bin/chromedriver`` is missing (root only).
2. Creates a throw-away ``AIRFLOW_HOME`` (SQLite), runs ``airflow db migrate`` and starts
   ``airflow api-server`` on 127.0.0.1 on a free port, with the SimpleAuthManager letting
   everyone in as admin and connection testing enabled. Starts the simulator on loopback.
3. For ``clinical_one`` and ``veeva_vault``: opens Admin > Connections > Add Connection,
   picks the type and checks the form against the provider info (every ``conn-fields``
   label, masked inputs exactly for ``format: password``, relabeled / hidden / placeholder
   standard fields), fills it in for the simulator, saves it and checks what was stored.
   Then clicks each row's "Test Connection" button and checks the success toast carries
   the message of the hook's ``test_connection()``.
4. Writes ``docs/img/clinical_one_connection.png``, ``docs/img/veeva_vault_connection.png``
   (standard and extra fields of the filled-in form, side by side) and
   ``docs/img/connection_test_ok.png`` (the connection list after both tests: green test
   icons and the Clinical One success toast).
5. Prints PASS/FAIL per check and exits non-zero on any failure. The API server, the
   simulator and the browser are always shut down.
6. Then runs ``scripts/ui_check_first_open.py``: the whole ``make up`` stack, its DAG list
   at first open and a task's extra link on the *Details* tab, photographed
   (``docs/img/first_open_dag_list.png``, ``docs/img/task_extra_link.png``).

The connection's port is filled in as well as the full URL in host: Airflow 3.3.2's "Test
Connection" button sends ``port: 0`` for a connection without a port, and the API then
rejects the test with 400 "The host or port to test differs from the stored connection"
(fixed upstream by apache/airflow#73298, not in 3.3.2). The hooks honour the port either way.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

ROOT = Path(__file__).resolve().parent.parent
IMG_DIR = ROOT / "docs" / "img"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
)
FORM_WINDOW = (1280, 2200)  # tall enough for the whole dialog with the extra fields open
LIST_WINDOW = (1280, 800)
SERVER_START_TIMEOUT = 120.0
UI_TIMEOUT = 20.0
STUDY_ID = "36753A48BBA048CB98A5F3278146118D"  # the simulator's example study

T = TypeVar("T")


# --- reporting -----------------------------------------------------------------------------


@dataclass
class Report:
    """PASS/FAIL results, printed as they come and summarised at the end."""

    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record one check; ``detail`` says what was seen (shown for both outcomes)."""
        self.results.append((name, ok, detail))
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}" + (f" -- {detail}" if detail else ""), flush=True)
        return ok

    def equal(self, name: str, seen: object, expected: object) -> bool:
        """Check ``seen == expected`` and say both when they differ."""
        if seen == expected:
            return self.check(name, True, repr(seen))
        return self.check(name, False, f"expected {expected!r}, saw {seen!r}")

    @property
    def failed(self) -> list[tuple[str, bool, str]]:
        return [result for result in self.results if not result[1]]

    def summary(self) -> None:
        """Print every check once more, then the totals."""
        section("Summary")
        for name, ok, _ in self.results:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}")
        passed = len(self.results) - len(self.failed)
        verdict = "PASS" if not self.failed else "FAIL"
        print(f"\n{verdict}: {passed} passed, {len(self.failed)} failed", flush=True)


def section(title: str) -> None:
    """Print a section header."""
    print(f"\n== {title} " + "=" * max(0, 72 - len(title)), flush=True)


# --- what the forms should look like -------------------------------------------------------


@dataclass(frozen=True)
class FormCase:
    """One connection type to add through the UI, and what its form and test must show."""

    conn_type: str
    conn_id: str
    must_have_labels: dict[str, str]  # fixed expectations, independent of the provider info
    standard_values: dict[str, str]  # form field name -> value typed in
    extra_values: dict[str, str]  # conn-fields name -> value typed in
    extra_choices: dict[str, str]  # conn-fields name -> dropdown option picked
    test_message_prefix: str  # start of the hook's test_connection() success message
    screenshot: Path

    def connection_type(self) -> dict[str, Any]:
        """This type's entry in the provider info (what Airflow's ProvidersManager reads)."""
        from clinical_rules_provider import get_provider_info

        for entry in get_provider_info()["connection-types"]:
            if entry["connection-type"] == self.conn_type:
                return dict(entry)
        raise LookupError(f"provider info declares no connection type {self.conn_type!r}")


def form_cases(sim_url: str, sim_port: int) -> list[FormCase]:
    """The two connection types of the provider, filled in for the simulator at ``sim_url``."""
    return [
        FormCase(
            conn_type="clinical_one",
            conn_id="ui_check_clinical_one",
            must_have_labels={
                "host": "Clinical One base URL",
                "token_url": "OAuth2 token URL",
                "client_secret": "OAuth2 client secret",
                "study_id": "Default study ID",
                "service_timezone": "Service timezone",
            },
            standard_values={
                "host": sim_url,
                "port": str(sim_port),
                "login": "demo-user",
                "password": "demo-password",
            },
            extra_values={"study_id": STUDY_ID},
            extra_choices={"study_mode": "test"},
            test_message_prefix=f"Connected with basic auth; study {STUDY_ID} (test) has ",
            screenshot=IMG_DIR / "clinical_one_connection.png",
        ),
        FormCase(
            conn_type="veeva_vault",
            conn_id="ui_check_veeva_vault",
            must_have_labels={
                "host": "Vault DNS",
                "api_version": "API version",
                "session_id": "Session ID (skips login)",
                "client_id": "Client ID (X-VaultAPI-ClientID)",
            },
            standard_values={
                "host": sim_url,
                "port": str(sim_port),
                "login": "integration@sim.example",
                "password": "sim-password",
            },
            extra_values={"client_id": "airflow-ui-check"},
            extra_choices={},
            test_message_prefix="Connected to Vault API v26.1; ",
            screenshot=IMG_DIR / "veeva_vault_connection.png",
        ),
    ]


# --- step 1: the browser -------------------------------------------------------------------


def ensure_browser() -> None:
    """Install Debian's Chromium and ChromeDriver with apt-get unless both are present."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        print(f"  found {CHROMIUM} and {CHROMEDRIVER}")
        return
    print(f"  missing: {', '.join(missing)}")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{', '.join(missing)} missing and apt-get not found; install Chromium by hand")
    if os.geteuid() != 0:
        raise RuntimeError(
            f"{', '.join(missing)} missing and not running as root: run "
            f"`apt-get install -y {' '.join(APT_PACKAGES)}` as root (or re-run this script as root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *APT_PACKAGES]):
        print(f"  $ {' '.join(command)}", flush=True)
        subprocess.run(command, check=True, env=env)
    still_missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if still_missing:
        raise RuntimeError(f"apt-get finished but {', '.join(still_missing)} still missing")


# --- step 2: Airflow and the simulator -----------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path) -> dict[str, str]:
    """A clean environment for the Airflow CLI: no inherited ``AIRFLOW_*`` settings or connections."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_")}
    dags = home / "dags"
    dags.mkdir(exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return env


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_process_group(process: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM the process group ``process`` leads (started with a new session), then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            print(f"  stopped {name} (pid {process.pid})")
            return
        except subprocess.TimeoutExpired:
            continue
    print(f"  WARNING: {name} (pid {process.pid}) did not exit")


@contextmanager
def airflow_api_server() -> Iterator[str]:
    """A migrated SQLite Airflow home and ``airflow api-server`` on loopback; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="ui-check-airflow-") as tmp:
        home = Path(tmp)
        env = airflow_env(home)
        airflow = [sys.executable, "-m", "airflow"]
        print(f"  AIRFLOW_HOME={home}")
        print("  $ airflow db migrate", flush=True)
        migrate = subprocess.run(
            [*airflow, "db", "migrate"], env=env, cwd=home, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}"
            )
        port = free_port()
        log_path = home / "api-server.log"
        print(f"  $ airflow api-server --host 127.0.0.1 --port {port}  (log: {log_path})", flush=True)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so teardown reaches any children
            )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_for_api_server(process, base_url, log_path)
            version = http_json(f"{base_url}/api/v2/version")["version"]
            print(f"  Airflow {version} API server ready at {base_url} (pid {process.pid})")
            yield base_url
        finally:
            stop_process_group(process, "airflow api-server")


def wait_for_api_server(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Wait until the API server answers its health endpoint; fail early if it exits."""

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"airflow api-server exited ({process.returncode}):\n{log_tail(log_path)}")
        try:
            http_json(f"{base_url}/api/v2/monitor/health", timeout=2)
        except (OSError, ValueError):
            return False
        return True

    try:
        wait_until(healthy, SERVER_START_TIMEOUT, "the Airflow API server")
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}\n{log_tail(log_path)}") from None


@contextmanager
def simulator() -> Iterator[Any]:
    """The Clinical One + Vault simulator on a free loopback port (a daemon thread here)."""
    from clinical_rules_provider.testing import LiveSimulator

    sim = LiveSimulator().start()
    print(f"  simulator at {sim.url}")
    try:
        yield sim
    finally:
        sim.stop()
        print("  stopped the simulator")


# --- step 3: the browser session -----------------------------------------------------------


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Debian's ChromeDriver (no Selenium Manager download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="ui-check-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        service = Service(executable_path=str(CHROMEDRIVER))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_window_size(*FORM_WINDOW)
        driver.set_script_timeout(UI_TIMEOUT)
        try:
            yield driver
        finally:
            driver.quit()  # ends Chromium and ChromeDriver
            print("  closed the browser")


def wait_for(driver: Any, find: Callable[[Any], T], what: str, timeout: float = UI_TIMEOUT) -> T:
    """Wait until ``find(driver)`` returns something truthy (Selenium exceptions count as not yet)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def attempt(drv: Any) -> T | bool:
        try:
            return find(drv) or False
        except WebDriverException:
            return False

    return cast("T", WebDriverWait(driver, timeout).until(attempt, message=f"waiting for {what}"))


def xpath_literal(text: str) -> str:
    """``text`` as an XPath string literal (the values here never hold both quote kinds)."""
    return f'"{text}"' if '"' not in text else f"'{text}'"


def field_label(element: Any) -> str:
    """The label Chakra shows for a form input: the ``label`` of its enclosing field root."""
    from selenium.webdriver.common.by import By

    root = element.find_element(By.XPATH, "./ancestor::*[@data-scope='field' and @data-part='root'][1]")
    label = root.find_element(By.XPATH, ".//label[@data-part='label']")
    return " ".join(str(label.get_attribute("textContent")).replace("*", " ").split())


def pick_option(driver: Any, combobox: Any, option_text: str) -> None:
    """Choose ``option_text`` in a react-select: type to filter, click the exact option."""
    from selenium.webdriver.common.by import By

    wait_for(driver, lambda d: combobox.is_enabled(), "the dropdown to enable")
    combobox.click()
    combobox.send_keys(option_text)
    literal = xpath_literal(option_text)
    option = wait_for(
        driver,
        lambda d: d.find_element(By.XPATH, f"//*[@role='option' and normalize-space()={literal}]"),
        f"option {option_text!r}",
    )
    option.click()


def open_accordion(driver: Any, dialog: Any, title: str) -> None:
    """Expand the dialog's accordion section ``title`` (the others collapse)."""
    from selenium.webdriver.common.by import By

    trigger = dialog.find_element(
        By.XPATH, f".//button[@data-part='item-trigger' and normalize-space()={xpath_literal(title)}]"
    )
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    content_id = trigger.get_attribute("aria-controls")
    wait_for(driver, lambda d: d.find_element(By.ID, content_id).is_displayed(), f"section {title!r}")
    time.sleep(0.4)  # let the expand animation finish before screenshots


def blur(dialog: Any) -> None:
    """Click the dialog's heading: closes open dropdowns and takes the focus off the inputs."""
    from selenium.webdriver.common.by import By

    dialog.find_element(By.CSS_SELECTOR, "h2").click()
    time.sleep(0.2)


def stitch_side_by_side(driver: Any, left_png_b64: str, right_png_b64: str) -> bytes:
    """Two PNG screenshots side by side in one PNG, composed on a canvas in the browser."""
    script = """
        const [left, right, done] = arguments;
        const load = (data) => new Promise((resolve, reject) => {
            const image = new Image();
            image.onload = () => resolve(image);
            image.onerror = reject;
            image.src = "data:image/png;base64," + data;
        });
        Promise.all([load(left), load(right)]).then(([a, b]) => {
            const gap = 24;
            const canvas = document.createElement("canvas");
            canvas.width = a.width + b.width + 3 * gap;
            canvas.height = Math.max(a.height, b.height) + 2 * gap;
            const context = canvas.getContext("2d");
            context.fillStyle = "#cbd5e1";
            context.fillRect(0, 0, canvas.width, canvas.height);
            context.drawImage(a, gap, gap);
            context.drawImage(b, a.width + 2 * gap, gap);
            done(canvas.toDataURL("image/png").split(",")[1]);
        }, (error) => done("ERROR " + error));
    """
    result = str(driver.execute_async_script(script, left_png_b64, right_png_b64))
    if result.startswith("ERROR"):
        raise RuntimeError(f"could not compose the screenshot: {result}")
    return base64.b64decode(result)


def save_png(path: Path, data: bytes) -> None:
    """Write a PNG under docs/img and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"  wrote {path.relative_to(ROOT)} ({len(data) // 1024} KiB)")


# --- step 3a: one connection form ----------------------------------------------------------


def open_add_dialog(driver: Any, base_url: str, case: FormCase) -> Any:
    """Connections page > Add Connection > id and type; returns the dialog element."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/connections")
    wait_for(
        driver,
        lambda d: d.find_element(By.XPATH, "//button[normalize-space()='Add Connection']"),
        "Add button",
    ).click()
    dialog = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "[role=dialog]"), "the dialog")
    dialog.find_element(By.NAME, "connection_id").send_keys(case.conn_id)
    hook_name = case.connection_type()["hook-name"]
    type_box = dialog.find_element(
        By.XPATH, ".//label[starts-with(normalize-space(),'Connection Type')]/../..//input[@role='combobox']"
    )
    pick_option(driver, type_box, hook_name)
    wait_for(driver, lambda d: dialog.find_element(By.NAME, "host"), "the standard fields")
    return dialog


def check_standard_fields(report: Report, dialog: Any, case: FormCase) -> None:
    """Relabeled, hidden and placeholder standard fields from ``ui-field-behaviour``; password masked."""
    from selenium.webdriver.common.by import By

    behaviour = case.connection_type().get("ui-field-behaviour", {})
    tag = case.conn_type
    for name, label in behaviour.get("relabeling", {}).items():
        element = dialog.find_element(By.NAME, name)
        report.equal(f"{tag}: standard field {name!r} relabeled", field_label(element), label)
    for name in behaviour.get("hidden-fields", []):
        shown = [e for e in dialog.find_elements(By.NAME, name) if e.is_displayed()]
        report.check(f"{tag}: standard field {name!r} hidden", not shown, f"{len(shown)} visible input(s)")
    for name, text in behaviour.get("placeholders", {}).items():
        if name == "extra":
            continue  # Airflow 3's form has no placeholder for the extra JSON editor
        element = dialog.find_element(By.NAME, name)
        report.equal(f"{tag}: placeholder of {name!r}", element.get_attribute("placeholder"), text)
    password = dialog.find_element(By.NAME, "password")
    report.equal(f"{tag}: standard password is a masked input", password.get_attribute("type"), "password")


def check_extra_fields(report: Report, dialog: Any, case: FormCase) -> None:
    """Every ``conn-fields`` entry shows with its label; masked exactly when ``format: password``."""
    from selenium.webdriver.common.by import By

    tag = case.conn_type
    fields: dict[str, dict[str, Any]] = case.connection_type().get("conn-fields", {})
    for name, spec in fields.items():
        found = dialog.find_elements(By.NAME, f"element_{name}")
        if not report.check(f"{tag}: extra field {name!r} present", bool(found), f"input element_{name}"):
            continue
        element = found[0]
        report.equal(f"{tag}: extra field {name!r} label", field_label(element), spec["label"])
        secret = spec.get("schema", {}).get("format") == "password"
        kind = element.get_attribute("type")
        if secret:
            report.equal(f"{tag}: secret {name!r} is a masked input", kind, "password")
        else:
            report.check(f"{tag}: {name!r} is not masked", kind != "password", f"input type {kind!r}")


def check_must_have_labels(report: Report, dialog: Any, case: FormCase) -> None:
    """The labels the brief names, independent of what the provider info says today."""
    from selenium.webdriver.common.by import By

    for name, label in case.must_have_labels.items():
        candidates = dialog.find_elements(By.NAME, name) or dialog.find_elements(By.NAME, f"element_{name}")
        seen = field_label(candidates[0]) if candidates else None
        report.equal(f"{case.conn_type}: shows {label!r}", seen, label)


def fill_standard_fields(dialog: Any, case: FormCase) -> None:
    """Type host, port, login and password."""
    from selenium.webdriver.common.by import By

    for name, value in case.standard_values.items():
        element = dialog.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def fill_extra_fields(driver: Any, report: Report, dialog: Any, case: FormCase) -> None:
    """Type the extra text fields and pick the dropdown options."""
    from selenium.webdriver.common.by import By

    for name, value in case.extra_values.items():
        element = dialog.find_element(By.NAME, f"element_{name}")
        element.clear()
        element.send_keys(value)
    for name, option in case.extra_choices.items():
        combobox = dialog.find_element(By.CSS_SELECTOR, f"#element_{name} input[role=combobox]")
        pick_option(driver, combobox, option)
        hidden = dialog.find_element(By.CSS_SELECTOR, f"input[type=hidden][name=element_{name}]")
        report.equal(f"{case.conn_type}: dropdown {name!r} set", hidden.get_attribute("value"), option)


def save_connection(driver: Any, dialog: Any, case: FormCase) -> None:
    """Click Save and wait for the new row in the connection list."""
    from selenium.webdriver.common.by import By

    save = dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']")
    wait_for(driver, lambda d: save.is_enabled(), "the Save button to enable")
    save.click()
    literal = xpath_literal(case.conn_id)
    wait_for(driver, lambda d: d.find_element(By.XPATH, f"//td[normalize-space()={literal}]"), "the new row")
    wait_for(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"), "the dialog to close")


def check_stored_connection(report: Report, base_url: str, case: FormCase) -> None:
    """What the REST API returns for the saved connection (password masked as ``***``)."""
    stored = http_json(f"{base_url}/api/v2/connections/{case.conn_id}")
    tag = case.conn_type
    report.equal(f"{tag}: stored conn_type", stored.get("conn_type"), case.conn_type)
    report.equal(f"{tag}: stored host", stored.get("host"), case.standard_values["host"])
    report.equal(f"{tag}: stored login", stored.get("login"), case.standard_values["login"])
    report.equal(f"{tag}: stored password is redacted", stored.get("password"), "***")
    extra = json.loads(stored.get("extra") or "{}")
    for name, value in {**case.extra_values, **case.extra_choices}.items():
        report.equal(f"{tag}: stored extra {name!r}", extra.get(name), value)


def add_connection(driver: Any, report: Report, base_url: str, case: FormCase) -> None:
    """Add one connection through the UI, checking the form on the way; writes its screenshot."""
    dialog = open_add_dialog(driver, base_url, case)
    check_standard_fields(report, dialog, case)
    fill_standard_fields(dialog, case)
    blur(dialog)
    standard_shot = dialog.screenshot_as_base64
    open_accordion(driver, dialog, "Extra Fields")
    check_extra_fields(report, dialog, case)
    check_must_have_labels(report, dialog, case)
    fill_extra_fields(driver, report, dialog, case)
    blur(dialog)
    extra_shot = dialog.screenshot_as_base64
    save_png(case.screenshot, stitch_side_by_side(driver, standard_shot, extra_shot))
    save_connection(driver, dialog, case)
    check_stored_connection(report, base_url, case)


# --- step 3b: Test Connection from the list ------------------------------------------------


def toast_texts(driver: Any) -> list[str]:
    """Every toast on screen as "title: description"."""
    from selenium.webdriver.common.by import By

    texts = []
    for toast in driver.find_elements(By.CSS_SELECTOR, "[data-scope=toast][data-part=root]"):
        parts = toast.find_elements(By.CSS_SELECTOR, "[data-part=title], [data-part=description]")
        words = [" ".join(str(part.get_attribute("textContent")).split()) for part in parts]
        texts.append(": ".join(word for word in words if word))
    return texts


def wait_for_no_toasts(driver: Any, timeout: float = 15.0) -> None:
    """Wait until earlier toasts are gone, so each test's toast shows alone (and alone on the PNG)."""
    from selenium.common.exceptions import TimeoutException

    with suppress(TimeoutException):  # an overlapping toast only spoils the picture
        wait_for(driver, lambda d: not toast_texts(d), "earlier toasts to close", timeout=timeout)


def click_when_clear(driver: Any, element: Any, what: str) -> None:
    """Click ``element``, retrying while something (a fading tooltip) covers it."""

    def click(_: Any) -> bool:
        element.click()
        return True

    wait_for(driver, click, what)


def move_pointer_away(driver: Any) -> None:
    """Hover the page heading, so the last button's tooltip closes."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h2")).perform()


def check_test_button(driver: Any, report: Report, case: FormCase) -> None:
    """Click the row's Test Connection button; the success toast must carry the hook's message."""
    from selenium.webdriver.common.by import By

    literal = xpath_literal(case.conn_id)
    row = wait_for(
        driver, lambda d: d.find_element(By.XPATH, f"//tr[td[normalize-space()={literal}]]"), case.conn_id
    )
    button = row.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")
    click_when_clear(driver, button, f"the Test Connection button of {case.conn_id}")
    wanted = case.test_message_prefix

    def matching() -> list[str]:
        return [t for t in toast_texts(driver) if wanted in t or "Test Connection Failed" in t]

    try:
        found = wait_for(driver, lambda d: matching(), f"the test result toast of {case.conn_id}")
    except Exception:  # a timeout: report what is on screen instead
        found = toast_texts(driver)
    text = next((t for t in found if wanted in t), found[0] if found else "(no toast)")
    ok = "Test Connection Successful" in text and wanted in text
    report.check(f"{case.conn_type}: Test Connection succeeds in the UI", ok, text)
    move_pointer_away(driver)


# --- main ----------------------------------------------------------------------------------


def run_ui_checks(report: Report, base_url: str, sim: Any) -> None:
    """Both connection forms, then both tests from the list; screenshots along the way."""
    cases = form_cases(sim.url, sim.port)
    with chromium() as driver:
        for case in cases:
            section(f"Add a {case.conn_type} connection")
            guarded(
                report,
                f"{case.conn_type}: add-connection flow",
                add_connection,
                driver,
                report,
                base_url,
                case,
            )
        section("Test Connection from the connection list")
        driver.set_window_size(*LIST_WINDOW)
        driver.get(f"{base_url}/connections")
        for case in reversed(cases):  # Clinical One last: its toast (with the study) goes on the PNG
            wait_for_no_toasts(driver)
            guarded(report, f"{case.conn_type}: test flow", check_test_button, driver, report, case)
        time.sleep(0.6)  # let the toast finish sliding in
        save_png(IMG_DIR / "connection_test_ok.png", base64.b64decode(driver.get_screenshot_as_base64()))


def guarded(report: Report, name: str, step: Callable[..., None], *args: Any) -> None:
    """Run ``step(*args)``; an exception becomes a FAIL (with its message) instead of ending the run."""
    try:
        step(*args)
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        report.check(name, False, f"aborted: {type(exc).__name__}: {first_line}")


def main() -> int:
    """Run every step; 0 when every check passed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on SIGTERM too
    started = time.monotonic()
    report = Report()
    with ExitStack() as stack:
        step = "Chromium and ChromeDriver installed"
        try:
            section("Chromium and ChromeDriver")
            ensure_browser()
            report.check(step, True, f"{CHROMIUM}, {CHROMEDRIVER}")
            step = "Airflow API server up on loopback"
            section("Airflow API server and simulator")
            base_url = stack.enter_context(airflow_api_server())
            report.check(step, True, base_url)
            step = "simulator up on loopback"
            sim = stack.enter_context(simulator())
            report.check(step, True, sim.url)
            step = "browser session"
            run_ui_checks(report, base_url, sim)
        except Exception as exc:
            report.check(step, False, f"{type(exc).__name__}: {exc}")
        finally:
            section("Shutting down")
    report.summary()
    print(f"Run time: {time.monotonic() - started:.1f} s")
    return 1 if report.failed else 0


if __name__ == "__main__":
    forms = main()
    section("First open (make up): the DAG list and a task's extra link")
    first_open = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "ui_check_first_open.py")], check=False
    )
    sys.exit(forms or first_open.returncode)
