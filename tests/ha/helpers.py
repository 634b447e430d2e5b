"""What the HA scenarios read from the stack: which triggerer runs what, and kill -9."""

from __future__ import annotations

import contextlib
import os
import re
import signal

import psutil

from tests.stack.client import StackProcess

RUNNING = re.compile(r"(\d+) (triggers|watchers) currently running")
TRIGGER_LOG = re.compile(r"\.log\.trigger\.(\d+)\.log$")
FIRED = re.compile(r"Trigger fired event.*?'rule_id': '([0-9A-F]{32})', 'job_id': '([0-9A-F]+)'")


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


def fired(stack: StackProcess, rules: list[str]) -> dict[str, list[str]]:
    """Job ids of the watchers' asset events per rule, from every triggerer's log."""
    jobs: dict[str, list[str]] = {}
    for log in (stack.home / "logs").glob("triggerer-*.log"):
        for rule_id, job_id in FIRED.findall(log.read_text(errors="replace")):
            if rule_id in rules:
                jobs.setdefault(rule_id, []).append(job_id)
    return jobs


def kill_9(stack: StackProcess, name: str) -> int:
    """``kill -9`` the component's whole process group (as a host that dies would); its pid."""
    pid = int(stack.state()["pids"][name])
    os.killpg(pid, signal.SIGKILL)
    return pid
