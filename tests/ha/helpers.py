"""What the HA scenarios read from the stack: which triggerer or worker runs what, and kill -9."""

from __future__ import annotations

import contextlib
import os
import re
import signal

import psutil

from tests.stack.client import StackProcess

RUNNING = re.compile(r"(\d+) (triggers|watchers) currently running")
TRIGGER_LOG = re.compile(r"\.log\.trigger\.(\d+)\.log$")


def running(stack: StackProcess, name: str) -> dict[str, int]:
    """The last ``N triggers/watchers currently running`` a triggerer logged (0 before any)."""
    counts = {"triggers": 0, "watchers": 0}
    text = (stack.home / "logs" / f"{name}.log").read_text(errors="replace")
    for count, kind in RUNNING.findall(text):
        counts[kind] = int(count)
    return counts


def triggerer_job_id(stack: StackProcess, name: str) -> int | None:
    """The ``TriggererJob`` id of a triggerer process: each keeps its triggers' log files
    (``...log.trigger.<job id>.log``) open while it runs them; None while it runs none."""
    try:
        root = psutil.Process(int(stack.state()["pids"][name]))
        family = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, KeyError):
        return None
    for process in family:
        with contextlib.suppress(psutil.Error):
            for opened in process.open_files():
                if found := TRIGGER_LOG.search(opened.path):
                    return int(found.group(1))
    return None


def kill_9(stack: StackProcess, name: str) -> list[psutil.Process]:
    """``kill -9`` the component as a host that dies would: its process group and every
    descendant, also those in a group of their own (a task runner is, see Airflow's
    supervisor); the processes killed, for the caller to check none outlives the kill."""
    pid = int(stack.state()["pids"][name])
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    return family


def component_of(stack: StackProcess, pid: int) -> str | None:
    """The stack component (``worker-1``, ...) whose process tree holds ``pid``."""
    by_pid = {int(p): name for name, p in stack.state()["pids"].items()}
    try:
        chain = [psutil.Process(pid), *psutil.Process(pid).parents()]
    except psutil.NoSuchProcess:
        return None
    return next((by_pid[p.pid] for p in chain if p.pid in by_pid), None)
