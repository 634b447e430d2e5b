"""`make up`: a real local Airflow 3 beside the simulator, until Ctrl-C.

api-server, scheduler, dag-processor and triggerer run as separate processes on 127.0.0.1
(SQLite, LocalExecutor) in a project-local ``AIRFLOW_HOME`` (``.stack/``), with the example
DAGs loaded and the ``clinical_one_default`` / ``veeva_vault_default`` connections pointing
at the simulator (their link templates open the simulator's own ``/_sim/ui`` pages, and
``CLINICAL_ONE_ASSET_HOST`` names it, so the asset examples announce the right asset).
The examples that need a setting of yours or act for real start paused (their DAG says
``is_paused_upon_creation=True``); the stack prints each one's description, which says what
to set. Every other example is unpaused and its first scheduled run is green. Every component gets its own process group; Ctrl-C (SIGINT), SIGTERM or
SIGHUP stop every group and any descendant that left its group, then the script exits.
A component that dies is restarted (at most ``MAX_RESTARTS`` times); the stack file
``<home>/stack.json`` always lists the current process ids, URLs and login.

    python scripts/stack.py [--home .stack] [--port 8080] [--sim-port 8765] [--dags DIR|FILE ...]

Installs nothing: it uses the Airflow and simulator of the running interpreter's venv.
Every wait has a timeout.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from stack_procs import free_port, kill_tree, port_busy, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
MAX_RESTARTS = 3
USER = "admin"


class Stack:
    """The processes of one local stack; ``start()``, ``supervise()``, ``stop()`` (idempotent)."""

    def __init__(
        self,
        home: Path,
        *,
        api_port: int = 8080,
        sim_port: int = 8765,
        dags: Sequence[Path] = (ROOT / "example_dags",),
        password: str | None = None,
        say: Callable[[str], None] = print,
        restart: bool = True,
    ) -> None:
        self.home = home.resolve()
        self.api_port = api_port or free_port()
        self.sim_port = sim_port or free_port()
        self.dags = [Path(d).resolve() for d in dags]
        self.password = password or secrets.token_urlsafe(9)
        self.say = say
        self.components: tuple[str, ...] = COMPONENTS
        self.restart = restart
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = dict.fromkeys(("simulator", *self.components), 0)
        self.stopping = False
        self.env_cache: dict[str, str] = {}
        self.log_ports = (free_port(), free_port())
        self.ready = False
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"

    # --- setup ----------------------------------------------------------------------------

    def dag_files(self) -> list[Path]:
        """Every ``*.py`` of each given folder, and each given file."""
        return [p for d in self.dags for p in (sorted(d.glob("*.py")) if d.is_dir() else [d])]

    def dags_folder(self) -> Path:
        """The one folder Airflow reads: the given folder, or links to every given DAG file."""
        if len(self.dags) == 1 and self.dags[0].is_dir():
            return self.dags[0]
        folder = self.home / "dags"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for path in self.dag_files():
            (folder / path.name).symlink_to(path)
        return folder

    def expected_dag_ids(self) -> set[str]:
        """DAG files here are named after their DAG (``republish_rules.py`` -> ``republish_rules``)."""
        return {p.stem for p in self.dag_files() if not p.stem.startswith("_")}

    def env(self) -> dict[str, str]:
        """Configuration every component shares (secrets are per stack and never printed)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        jwt = self.home / "jwt_secret"
        if not jwt.exists():
            jwt.write_text(secrets.token_urlsafe(32))
        prefix = "AIRFLOW__"
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                f"{prefix}CORE__DAGS_FOLDER": str(self.dags_folder()),
                f"{prefix}CORE__LOAD_EXAMPLES": "False",
                f"{prefix}CORE__EXECUTOR": "LocalExecutor",
                f"{prefix}CORE__PARALLELISM": "8",
                f"{prefix}CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                f"{prefix}CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                f"{prefix}CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
                f"{prefix}CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                f"{prefix}DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                f"{prefix}API__HOST": "127.0.0.1",
                f"{prefix}API__PORT": str(self.api_port),
                f"{prefix}API__WORKERS": "1",
                f"{prefix}API__BASE_URL": self.api_url,
                f"{prefix}API_AUTH__JWT_SECRET": jwt.read_text(),
                f"{prefix}API__SECRET_KEY": jwt.read_text(),
                f"{prefix}DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                f"{prefix}LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                # The log servers of the scheduler and triggerer: free ports, so stacks coexist.
                f"{prefix}LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_ports[0]),
                f"{prefix}LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_ports[1]),
                # The asset examples' host: the simulator's, as the connection's base URL.
                "CLINICAL_ONE_ASSET_HOST": urlsplit(self.sim_url).netloc,
            }
        )
        return env

    def connections(self) -> dict[str, Any]:
        """Both default connections, pointing at this stack's simulator; their link templates
        open the simulator's pages (``/_sim/ui``, a path joined to the connection's host)."""
        from clinical_rules_provider.testing import EXAMPLE_STUDY_ID as STUDY_ID
        from clinical_rules_provider.testing.ui_pages import RULES_PAGE, VAULT_JOB_PAGE

        return {
            "clinical_one_default": {
                "conn_type": "clinical_one",
                "host": self.sim_url,
                "login": "demo-user",
                "password": "demo-password",
                "extra": json.dumps(
                    {
                        "study_id": STUDY_ID,
                        "study_mode": "test",
                        "service_timezone": "UTC",
                        "rules_url_template": RULES_PAGE,
                    }
                ),
            },
            "veeva_vault_default": {
                "conn_type": "veeva_vault",
                "host": self.sim_url,
                "login": "integration@sim.example",
                "password": "sim-password",
                "extra": json.dumps({"client_id": "airflow-stack", "job_url_template": VAULT_JOB_PAGE}),
            },
        }

    def prepare(self, env: dict[str, str]) -> None:
        """Migrate the SQLite database and load the connections (idempotent, bounded)."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({USER: self.password}))
        conns = self.home / "connections.json"
        conns.write_text(json.dumps(self.connections()))
        for argv in (["db", "migrate"], ["connections", "import", "--overwrite", str(conns)]):
            self.say(f"airflow {' '.join(argv[:2])} ...")
            log = (self.home / "logs" / "setup.log").open("ab")
            subprocess.run(
                [str(BIN / "airflow"), *argv], env=env, stdout=log, stderr=log, check=True, timeout=600
            )

    # --- processes ------------------------------------------------------------------------

    def argv(self, name: str) -> list[str]:
        if name == "simulator":
            return [sys.executable, "-m", "clinical_rules_provider.testing", "--port", str(self.sim_port)]
        return [str(BIN / "airflow"), name]

    def spawn(self, name: str, env: dict[str, str]) -> None:
        log = (self.home / "logs" / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            self.argv(name),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **self.spawn_options(name),
        )
        self.write_state()

    def spawn_options(self, name: str) -> dict[str, Any]:
        """More ``Popen`` arguments for one component (none here; the HA stack's Postgres runs
        as its own user when the stack runs as root)."""
        return {}

    def describe(self) -> list[str]:
        """Extra lines for the banner: what runs where (the HA stack lists every process)."""
        return []

    def write_state(self) -> None:
        state = {
            "api_url": self.api_url,
            "sim_url": self.sim_url,
            "user": USER,
            "password": self.password,
            "home": str(self.home),
            "supervisor_pid": os.getpid(),
            "pids": {name: proc.pid for name, proc in self.procs.items()},
            "restarts": self.restarts,
            "ready": self.ready and not self.stopping,
        }
        path = self.home / "stack.json"
        path.with_suffix(".tmp").write_text(json.dumps(state, indent=2))
        path.with_suffix(".tmp").replace(path)

    def start(self, timeout: float = 600) -> None:
        """Everything up, the DAGs parsed; raises (after stopping what started) when not in time."""
        for port in (self.api_port, self.sim_port):
            if port_busy(port):
                raise RuntimeError(f"port {port} on 127.0.0.1 is taken (an old stack?); pick another")
        self.home.mkdir(parents=True, exist_ok=True)
        env = self.env()
        try:
            self.prepare(env)
            for name in ("simulator", *self.components):
                self.spawn(name, env)
            self.say("waiting for the simulator, the api-server and every component to report healthy ...")
            wait_for("simulator", lambda: httpx.get(f"{self.sim_url}/_sim/health").is_success, 60)
            wait_for("Airflow components", self.healthy, timeout)
            token = self.token()
            wait_for("example DAGs", lambda: self.dags_loaded(token), timeout)
        except BaseException:
            self.stop()
            raise
        self.env_cache = env
        self.ready = True
        self.write_state()

    def healthy(self) -> bool:
        body = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((body.get(p) or {}).get("status") == "healthy" for p in parts)

    def token(self) -> str:
        reply = httpx.post(
            f"{self.api_url}/auth/token", json={"username": USER, "password": self.password}, timeout=10
        )
        reply.raise_for_status()
        return str(reply.json()["access_token"])

    def dag_list(self, token: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{self.api_url}/api/v2/dags",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        return list(reply.json()["dags"])

    def dags_loaded(self, token: str) -> bool:
        return self.expected_dag_ids() <= {d["dag_id"] for d in self.dag_list(token)}

    def paused(self) -> dict[str, str]:
        """The paused DAGs and their descriptions (each says what to set before unpausing)."""
        return {
            d["dag_id"]: d.get("description") or "" for d in self.dag_list(self.token()) if d["is_paused"]
        }

    def supervise(self, every: float = 1.0) -> None:
        """Until stopped: restart a component that exited (``MAX_RESTARTS`` each), else stop all."""
        while not self.stopping:
            for name, proc in list(self.procs.items()):
                if proc.poll() is None or self.stopping:
                    continue
                self.kill_tree(name, proc)  # whatever it left behind
                if not self.restart:
                    self.say(f"{name} exited ({proc.returncode}); not restarting it (--no-restart)")
                    del self.procs[name]
                    self.write_state()
                    continue
                if self.restarts[name] >= MAX_RESTARTS:
                    self.say(
                        f"{name} exited ({proc.returncode}) {MAX_RESTARTS + 1} times; stopping the stack"
                    )
                    self.stop()
                    raise SystemExit(1)
                self.restarts[name] += 1
                self.say(f"{name} exited ({proc.returncode}); restarting it (restart {self.restarts[name]})")
                self.spawn(name, self.env_cache)
            time.sleep(every)

    def kill_tree(self, name: str, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM the process group and every descendant, SIGKILL what is left after ``grace``."""
        stubborn = kill_tree(proc, grace)
        if stubborn:
            self.say(f"{name}: {stubborn} process(es) ignored SIGTERM for {grace:.0f} s; SIGKILL")

    def stop(self) -> None:
        """Stop every component, newest first; safe to call twice (atexit + signal)."""
        if self.stopping and not self.procs:
            return
        self.stopping = True
        for name in reversed(list(self.procs)):
            self.kill_tree(name, self.procs.pop(name))
        self.write_state()


def main(argv: Sequence[str] | None = None, kind: type[Stack] = Stack, home: str = ".stack") -> int:
    """``make up`` (and, with ``kind`` the HA stack, ``make up-ha``) until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog=sys.argv[0], description=(sys.modules[kind.__module__].__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--home", type=Path, default=ROOT / home, help=f"AIRFLOW_HOME (default {home}/)")
    parser.add_argument("--port", type=int, default=8080, help="api-server / UI port (0: any free port)")
    parser.add_argument("--sim-port", type=int, default=8765, help="simulator port (0: any free port)")
    parser.add_argument(
        "--dags", type=Path, action="append", help="DAG folder or file (repeatable); default example_dags/"
    )
    parser.add_argument("--password", help=f"password of user {USER!r} (default: a new random one)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for readiness")
    parser.add_argument("--no-restart", action="store_true", help="leave a component that exits down")
    args = parser.parse_args(argv)
    stack = kind(
        args.home,
        api_port=args.port,
        sim_port=args.sim_port,
        dags=args.dags or [ROOT / "example_dags"],
        password=args.password,
        say=lambda line: print(f"[stack] {line}", flush=True),
        restart=not args.no_restart,
    )

    def on_signal(signum: int, frame: Any) -> None:
        stack.say(f"{signal.Signals(signum).name}: stopping everything the stack started ...")
        stack.stop()
        raise SystemExit(0)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(stack.stop)
    started = time.monotonic()
    stack.start(timeout=args.timeout)
    print(
        f"\nAirflow {_airflow_version()} is up in {time.monotonic() - started:.0f} s\n"
        f"  UI and REST API: {stack.api_url}\n"
        f"  login:           {USER} / {stack.password}\n"
        f"  simulator:       {stack.sim_url}  (request log: {stack.sim_url}/_sim/requests)\n"
        f"  AIRFLOW_HOME:    {stack.home}  (logs in logs/, process ids in stack.json)\n"
        + "".join(f"  {line}\n" for line in stack.describe())
        + "Press Ctrl-C to stop everything.",
        flush=True,
    )
    with contextlib.suppress(httpx.HTTPError):  # only a listing: the stack is up either way
        for dag_id, why in sorted(stack.paused().items()):
            print(f"  paused: {dag_id}: {why}", flush=True)
    stack.supervise()
    return 0


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow-core")


if __name__ == "__main__":
    sys.exit(main())
