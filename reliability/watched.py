"""Run a reliability worker in its own process and scan everything it left for secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_watched(
    module: str, args: list[str], secret_values: dict[str, str], *, timeout: float
) -> tuple[dict[str, Any], int]:
    """Run ``python -m module *args OUT`` with ``secret_values`` in its environment.

    The worker writes its JSON report to ``OUT`` and the tokens and session ids it was issued
    to ``OUT.issued``. Returns the report, with ``secret_occurrences`` (configured and issued
    secrets found in its output and report) and ``output_bytes_scanned`` added, and the number
    of issued secrets watched.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        env = {**os.environ, **secret_values, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        done = subprocess.run(
            [sys.executable, "-m", module, *args, str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if not out.exists():
            raise RuntimeError(f"{module} crashed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        report: dict[str, Any] = json.loads(out.read_text())
        issued = [line for line in Path(str(out) + ".issued").read_text().splitlines() if line]
    haystack = done.stdout + done.stderr + json.dumps(report)
    watched = list(secret_values.values()) + issued
    report["secret_occurrences"] = sum(haystack.count(value) for value in watched)
    report["output_bytes_scanned"] = len(haystack)
    return report, len(issued)
