"""Ports and process trees on 127.0.0.1: what ``scripts/stack.py`` and ``stack_ha.py`` need
from the operating system. Every wait has a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll ``check`` until it returns a truthy value; raise naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(every)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s" + (f" (last error: {last})" if last else ""))


def kill_tree(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """SIGTERM ``proc``'s process group and every descendant (also those that left the group),
    SIGKILL what is left after ``grace``; how many ignored SIGTERM (0: all stopped by it)."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    stubborn = 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(sig)
        _, alive = psutil.wait_procs(family, timeout=grace if sig == signal.SIGTERM else 5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        if not alive and proc.poll() is not None:
            break
        stubborn = stubborn or len(alive)
    return stubborn
