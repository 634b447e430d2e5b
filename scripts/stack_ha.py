"""`make up-ha`: Airflow as teams run it past one machine, on 127.0.0.1, until Ctrl-C.

Postgres (the metadata database) and Redis (the Celery broker) run as throw-away instances of
the stack itself: a fresh cluster in a temporary folder on free ports, not the system services,
removed on stop. Beside them: ``CeleryExecutor`` with two workers (concurrency 2 each: the
machine has 2 cores), two schedulers, two triggerers, the dag-processor, the api-server and the
simulator, with the connections pointing at it. Every process is supervised and stopped as in
``scripts/stack.py`` (Ctrl-C stops the databases too; nothing is left running).

A triggerer here heartbeats every 2 s and counts as dead after ``TRIGGERER_THRESHOLD`` s, so
the other triggerer takes its triggers over quickly (Airflow's defaults: 5 s and 30 s). A
running task whose worker stops heartbeating for ``TASK_HEARTBEAT_TIMEOUT`` s (a worker host
that died) is failed, and retried if it has retries, by the scheduler that queued it, which
looks every ``TASK_HEARTBEAT_CHECK`` s (Airflow's defaults: 300 s and 10 s).

    python scripts/stack_ha.py [--home .stack-ha] [--port 8080] [--sim-port 8765] [--no-restart]

Needs the Debian packages ``postgresql`` and ``redis-server`` (``make up-ha`` installs them)
and the Celery and Postgres providers in the running interpreter's venv.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from stack_procs import free_port, port_busy, wait_for

from stack import BIN, Stack, main

SCHEDULERS, TRIGGERERS, WORKERS = 2, 2, 2
WORKER_CONCURRENCY = 2
TRIGGERER_HEARTBEAT, TRIGGERER_THRESHOLD = 2, 10
TASK_HEARTBEAT_TIMEOUT, TASK_HEARTBEAT_CHECK = 30, 5
DB = "airflow"


def postgres_bin() -> Path:
    """The newest Debian Postgres server's bin folder (Debian keeps initdb off the PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("no Postgres server: apt-get install -y postgresql (make up-ha does)")
    return found[-1].parent


class HaStack(Stack):
    """``Stack`` with Postgres, Redis, Celery workers and two of each scheduler and triggerer."""

    def __init__(self, home: Path, **kwargs: Any) -> None:
        super().__init__(home, **kwargs)
        self.components = (
            "api-server",
            *(f"scheduler-{n}" for n in range(1, SCHEDULERS + 1)),
            "dag-processor",
            *(f"triggerer-{n}" for n in range(1, TRIGGERERS + 1)),
            *(f"worker-{n}" for n in range(1, WORKERS + 1)),
        )
        self.restarts = dict.fromkeys(("postgres", "redis", "simulator", *self.components), 0)
        self.pg_port, self.redis_port = free_port(), free_port()
        self.log_server_ports = {name: free_port() for name in self.components}
        self.tmp = Path(tempfile.mkdtemp(prefix="airflow-ha-"))
        # Postgres refuses to run as root: as root (CI), its cluster belongs to the postgres user.
        self.pg_user = "postgres" if os.geteuid() == 0 else None
        self.db_url = f"postgresql+psycopg2://{DB}@127.0.0.1:{self.pg_port}/{DB}"
        self.broker_url = f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        env = super().env()
        prefix = "AIRFLOW__"
        env.update(
            {
                f"{prefix}CORE__EXECUTOR": "CeleryExecutor",
                f"{prefix}DATABASE__SQL_ALCHEMY_CONN": self.db_url,
                f"{prefix}CELERY__BROKER_URL": self.broker_url,
                f"{prefix}CELERY__RESULT_BACKEND": f"db+postgresql://{DB}@127.0.0.1:{self.pg_port}/{DB}",
                f"{prefix}CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                f"{prefix}TRIGGERER__JOB_HEARTBEAT_SEC": str(TRIGGERER_HEARTBEAT),
                f"{prefix}TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_THRESHOLD),
                # The surviving scheduler adopts a dead one's queued and running tasks this often.
                f"{prefix}SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
                f"{prefix}SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
                # A task whose worker died: failed (and retried) after this long without heartbeat.
                f"{prefix}SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT),
                f"{prefix}SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": str(
                    TASK_HEARTBEAT_CHECK
                ),
            }
        )
        return env

    def spawn(self, name: str, env: dict[str, str]) -> None:
        """Each scheduler, triggerer and worker serves its logs on its own port (one host)."""
        port = str(self.log_server_ports.get(name, 0))
        own = {
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": port,
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": port,
        }
        super().spawn(name, {**env, **own} if name in self.log_server_ports else env)

    def spawn_options(self, name: str) -> dict[str, Any]:
        return {"user": self.pg_user} if name == "postgres" and self.pg_user else {}

    def argv(self, name: str) -> list[str]:
        role = name.rsplit("-", 1)[0]
        if name == "postgres":
            return [
                str(postgres_bin() / "postgres"),
                *("-D", str(self.tmp / "pg"), "-p", str(self.pg_port), "-k", str(self.tmp)),
                *("-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"),
                *("-c", "fsync=off", "-c", "full_page_writes=off"),  # throw-away: speed over safety
            ]
        if name == "redis":
            return [
                "redis-server",
                *("--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(self.tmp)),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ]
        if role == "worker":
            return [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h"]
        if role in ("scheduler", "triggerer"):
            return [str(BIN / "airflow"), role]
        return super().argv(name)

    def prepare(self, env: dict[str, str]) -> None:
        """A fresh Postgres cluster and Redis, the ``airflow`` database, then as ``make up``."""
        for port in (self.pg_port, self.redis_port):
            if port_busy(port):
                raise RuntimeError(f"port {port} on 127.0.0.1 is taken; try again")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        setup = (self.home / "logs" / "setup.log").open("ab")
        pg = postgres_bin()
        if self.pg_user:
            owner = pwd.getpwnam(self.pg_user)
            os.chown(self.tmp, owner.pw_uid, owner.pw_gid)
        self.say(f"initdb (Postgres {pg.parent.name}) in {self.tmp} ...")
        subprocess.run(
            [str(pg / "initdb"), "-D", str(self.tmp / "pg"), "-U", DB, "--auth=trust", "-E", "UTF8"],
            stdout=setup,
            stderr=setup,
            check=True,
            timeout=120,
            user=self.pg_user,
            env={**os.environ, "LC_ALL": "C"},
        )
        self.spawn("postgres", env)
        self.spawn("redis", env)
        createdb = [str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", DB, DB]
        wait_for(
            "Postgres", lambda: subprocess.run(createdb, capture_output=True, timeout=30).returncode == 0, 60
        )
        wait_for("Redis", lambda: port_busy(self.redis_port), 30)
        super().prepare(env)

    def healthy(self) -> bool:
        """Every component as in ``make up``, and each Celery worker has said it is ready."""
        workers = [n for n in self.components if n.startswith("worker-")]
        logs = {n: (self.home / "logs" / f"{n}.log").read_text(errors="replace") for n in workers}
        return super().healthy() and all(f"{n}@" in log and "ready." in log for n, log in logs.items())

    def describe(self) -> list[str]:
        lines = [
            f"Postgres:        127.0.0.1:{self.pg_port} (database {DB}, user {DB}; data in {self.tmp})",
            f"Redis (broker):  127.0.0.1:{self.redis_port}",
            f"Celery:          {WORKERS} workers x concurrency {WORKER_CONCURRENCY}",
            f"triggerers:      heartbeat {TRIGGERER_HEARTBEAT} s, taken over after {TRIGGERER_THRESHOLD} s",
            f"tasks:           failed (retried) {TASK_HEARTBEAT_TIMEOUT} s after their worker's last heartbeat",
        ]
        return lines + [f"{name:<16} pid {proc.pid}" for name, proc in self.procs.items()]

    def stop(self) -> None:
        """Stop everything (the databases last: they started first), then remove their data."""
        super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(kind=HaStack, home=".stack-ha"))
